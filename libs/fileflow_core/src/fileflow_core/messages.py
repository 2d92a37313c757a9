"""Message contract between the watcher and the ingestor: encode, and decode with validation.

v1 is one event per message. v2 is a batch, ``{"schema_version": 2, "events": [v1, ...]}``: at
thousands of files a second the broker's cost per message dominates, so the watcher sends the
events ready together in one message. v3 is a v1 event whose path is not valid UTF-8: JSON
cannot carry it, so ``path_bytes`` holds its exact bytes (base64) and ``path`` its readable form
(each invalid byte as ``\\xNN``). Events whose path is text stay v1, so an ingestor that reads
only v1 and v2 still reads them. The ingestor reads all three; a batch may hold v1 and v3
events; each event of a batch is still settled on its own (retried, dead-lettered) as a message
of its own.
"""

from __future__ import annotations

import base64
import binascii
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
from fileflow_core.ids import ROOT_ID_PATTERN
from fileflow_core.paths import (
    display_path,
    is_text,
    path_bytes,
    path_from_bytes,
    validate_relative_path,
)

SCHEMA_VERSION = 1
BATCH_SCHEMA_VERSION = 2
BYTES_PATH_SCHEMA_VERSION = 3
EVENT_VERSIONS = (SCHEMA_VERSION, BYTES_PATH_SCHEMA_VERSION)
# Far past Linux's PATH_MAX (4096): a tree nested deeper still has paths relative to its root.
MAX_PATH_BYTES = 16 * 1024
# One event, its path escaped (up to 4 characters a byte) and in base64 besides.
MAX_MESSAGE_BYTES = 128 * 1024
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
    # Held as str, losslessly: any byte that is not UTF-8 is a lone surrogate (see ``paths``).
    path: str
    op: Operation
    size: int | None = Field(default=None, ge=0)
    mtime_ns: int | None = Field(default=None, ge=0)
    inode: int | None = Field(default=None, ge=0)
    seen_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    priority: int = Field(default=1, ge=0, le=MAX_PRIORITY)
    reprocess: bool = False
    source: dict[str, str] | None = None  # e.g. the git remote and branch of the root

    # "plain": pydantic's own check of a str refuses the surrogates that hold the bytes.
    @field_validator("path", mode="plain")
    @classmethod
    def _path_is_relative_and_clean(cls, value: object) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError("path must be a non-empty string")
        if len(value) > MAX_PATH_BYTES and len(path_bytes(value)) > MAX_PATH_BYTES:
            raise ValueError(f"path is over {MAX_PATH_BYTES} bytes")
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


class _BytesPathEvent(BaseModel):
    """The wire form of v3: a v1 event whose path travels as bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[3]
    root_id: str
    path: str
    path_bytes: str
    op: Operation
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    seen_at: datetime
    priority: int = 1
    reprocess: bool = False
    source: dict[str, str] | None = None


def encode_event(event: FileEvent) -> bytes:
    if is_text(event.path):
        return _EVENT_JSON.dump_json(event)
    return orjson.dumps(_bytes_path_form(event))


def _bytes_path_form(event: FileEvent) -> dict[str, Any]:
    data = event.model_dump(mode="json", exclude={"path"})
    data.update(
        schema_version=BYTES_PATH_SCHEMA_VERSION,
        path=display_path(event.path),
        path_bytes=base64.b64encode(path_bytes(event.path)).decode(),
    )
    return data


def encode_events(events: Sequence[FileEvent]) -> bytes:
    """One message for ``events``: one event alone (v1, or v3 for a path that is not text),
    else a batch (v2)."""
    if len(events) == 1:
        return encode_event(events[0])
    if all(is_text(event.path) for event in events):
        listed = _EVENTS_JSON.dump_json(list(events))
    else:
        listed = b"[%b]" % b",".join(encode_event(event) for event in events)
    return b'{"schema_version":%d,"events":%b}' % (BATCH_SCHEMA_VERSION, listed)


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
    if any(_is_version(version, v) for v in EVENT_VERSIONS):
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageDecodeError(f"message is {len(body)} bytes, over {MAX_MESSAGE_BYTES}")
        return _validated_event(body, version)
    if _is_version(version, BATCH_SCHEMA_VERSION):
        return _decode_batch(body, data)
    raise MessageDecodeError(f"unsupported schema_version {version!r}, this reads 1, 2 and 3")


def _is_version(value: object, version: int) -> bool:
    # An int, exactly: true and 1.0 compare equal to 1 but are not versions.
    return type(value) is int and value == version


def _validated_event(body: bytes, version: object = SCHEMA_VERSION) -> FileEvent:
    try:
        # Strict: a string is not a size, true is not a version.
        if version == BYTES_PATH_SCHEMA_VERSION:
            return _from_bytes_path_form(_BytesPathEvent.model_validate_json(body, strict=True))
        return FileEvent.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise MessageDecodeError(f"invalid event: {_reasons(exc)}") from None


def _from_bytes_path_form(wire: _BytesPathEvent) -> FileEvent:
    try:
        raw = base64.b64decode(wire.path_bytes, validate=True)
    except binascii.Error:
        raise MessageDecodeError("invalid event: path_bytes is not base64") from None
    path = path_from_bytes(raw)
    if display_path(path) != wire.path:
        raise MessageDecodeError("invalid event: path and path_bytes name different paths")
    fields = wire.model_dump(exclude={"schema_version", "path_bytes"})
    # Already checked field by field (strictly) above; only the path is checked again.
    return FileEvent.model_validate({**fields, "path": path})


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
        version = entry.get("schema_version")
        if not any(_is_version(version, v) for v in EVENT_VERSIONS):
            raise MessageDecodeError(
                f"unsupported schema_version {version!r} in a batch entry, expected 1 or 3"
            )
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageDecodeError(f"batch entry is {len(body)} bytes, over {MAX_MESSAGE_BYTES}")
        return BatchEntry(_validated_event(body, version))
    except MessageDecodeError as exc:
        return BatchEntry(None, exc, entry)


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
    )
