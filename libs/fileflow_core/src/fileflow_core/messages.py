"""Message contract between the watcher and the ingestor: encode, and decode with validation.

v1 is one event per message. v2 is a batch, ``{"schema_version": 2, "events": [v1, ...]}``: at
thousands of files a second the broker's cost per message dominates, so the watcher sends the
events ready together in one message. The ingestor reads both; each event of a batch is still
settled on its own (retried, dead-lettered) as a v1 message.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from fileflow_core.errors import MessageDecodeError
from fileflow_core.paths import validate_relative_path
from fileflow_core.settings import ROOT_ID_PATTERN

SCHEMA_VERSION = 1
BATCH_SCHEMA_VERSION = 2
MAX_MESSAGE_BYTES = 64 * 1024
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 4 * 1024 * 1024


class Operation(enum.StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


# Deletions jump the queue: they are cheap and free a path for its next version.
PRIORITY = {Operation.DELETE: 5, Operation.UPSERT: 1}
MAX_PRIORITY = 9


class FileEvent(BaseModel):
    """ "Path P under root R may have changed": a hint the ingestor reconciles against the disk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    root_id: str = Field(pattern=ROOT_ID_PATTERN)
    path: str = Field(min_length=1, max_length=4096)
    op: Operation
    size: int | None = Field(default=None, ge=0)
    mtime_ns: int | None = Field(default=None, ge=0)
    inode: int | None = Field(default=None, ge=0)
    seen_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    priority: int = Field(default=1, ge=0, le=MAX_PRIORITY)
    reprocess: bool = False
    source: dict[str, str] | None = None  # e.g. the git remote and branch of the root

    @field_validator("path")
    @classmethod
    def _path_is_relative_and_clean(cls, value: str) -> str:
        return validate_relative_path(value)

    @classmethod
    def observed(
        cls,
        root_id: str,
        path: str,
        op: Operation,
        *,
        size: int | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
        reprocess: bool = False,
        source: dict[str, str] | None = None,
        seen_at: datetime | None = None,
    ) -> FileEvent:
        return cls(
            root_id=root_id,
            path=path,
            op=op,
            size=size,
            mtime_ns=mtime_ns,
            inode=inode,
            seen_at=seen_at or datetime.now(UTC),
            priority=PRIORITY[op],
            reprocess=reprocess,
            source=source,
        )


class EventBatch(BaseModel):
    """v2: several events in one message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[2] = 2
    events: list[FileEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One event of a batch message: the event, or why it is not a valid one."""

    event: FileEvent | None
    error: MessageDecodeError | None = None
    raw: Any = None  # the entry's JSON data, kept only for an invalid one

    def body(self) -> bytes:
        """The entry as a message of its own (v1), for retrying or dead-lettering it alone."""
        if self.event is not None:
            return encode_event(self.event)
        return orjson.dumps(self.raw)


# pydantic's serializer writes the JSON itself: a third faster than a dict for orjson.
_EVENT_JSON = TypeAdapter(FileEvent)
_EVENTS_JSON = TypeAdapter(list[FileEvent])


def encode_event(event: FileEvent) -> bytes:
    return _EVENT_JSON.dump_json(event)


def encode_events(events: Sequence[FileEvent]) -> bytes:
    """One message for ``events``: v1 for a single event (any ingestor reads it), else v2."""
    if len(events) == 1:
        return encode_event(events[0])
    return b'{"schema_version":%d,"events":%b}' % (
        BATCH_SCHEMA_VERSION,
        _EVENTS_JSON.dump_json(list(events)),
    )


def decode_event(body: bytes) -> FileEvent:
    """Validate a v1 message body; anything else raises ``MessageDecodeError``."""
    decoded = decode_message(body)
    if isinstance(decoded, FileEvent):
        return decoded
    raise MessageDecodeError("message is a batch of events (v2), expected one event (v1)")


def decode_message(body: bytes) -> FileEvent | list[BatchEntry]:
    """Validate a message body: one event (v1) or a batch (v2), whose entries are checked one
    by one so that an invalid entry does not take the valid ones down with it. Anything else
    raises ``MessageDecodeError``."""
    if len(body) > MAX_BATCH_BYTES:
        raise MessageDecodeError(f"message is {len(body)} bytes, over {MAX_BATCH_BYTES}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MessageDecodeError(f"message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageDecodeError(f"message is JSON {type(data).__name__}, expected an object")
    version = data.get("schema_version")
    if _is_version(version, SCHEMA_VERSION):
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageDecodeError(f"message is {len(body)} bytes, over {MAX_MESSAGE_BYTES}")
        return _validated_event(body)
    if _is_version(version, BATCH_SCHEMA_VERSION):
        return _decode_batch(body, data)
    raise MessageDecodeError(f"unsupported schema_version {version!r}, this reads 1 and 2")


def _is_version(value: object, version: int) -> bool:
    # An int, exactly: true and 1.0 compare equal to 1 but are not versions.
    return type(value) is int and value == version


def _validated_event(body: bytes) -> FileEvent:
    try:
        # Strict: a string is not a size, true is not a version.
        return FileEvent.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise MessageDecodeError(f"invalid event: {_reasons(exc)}") from None


def _decode_batch(body: bytes, data: dict[str, Any]) -> list[BatchEntry]:
    try:
        return [
            BatchEntry(event) for event in EventBatch.model_validate_json(body, strict=True).events
        ]
    except ValidationError:
        pass  # find out which entries are at fault
    entries = data.get("events")
    unexpected = sorted(set(data) - {"schema_version", "events"})
    if unexpected:
        raise MessageDecodeError(f"invalid batch: unexpected fields {', '.join(unexpected)}")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH_EVENTS:
        raise MessageDecodeError(
            f"invalid batch: 'events' must be a list of 1 to {MAX_BATCH_EVENTS} events"
        )
    return [_batch_entry(entry) for entry in entries]


def _batch_entry(entry: Any) -> BatchEntry:
    if not isinstance(entry, dict):
        error = MessageDecodeError(
            f"batch entry is JSON {type(entry).__name__}, expected an object"
        )
        return BatchEntry(None, error, entry)
    body = orjson.dumps(entry)
    try:
        if not _is_version(entry.get("schema_version"), SCHEMA_VERSION):
            raise MessageDecodeError(
                f"unsupported schema_version {entry.get('schema_version')!r} in a batch entry, "
                "expected 1"
            )
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageDecodeError(f"batch entry is {len(body)} bytes, over {MAX_MESSAGE_BYTES}")
        return BatchEntry(_validated_event(body))
    except MessageDecodeError as exc:
        return BatchEntry(None, exc, entry)


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
    )
