"""Message contract v1 between the watcher and the ingestor: encode, and decode with validation."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fileflow_core.errors import MessageDecodeError
from fileflow_core.paths import validate_relative_path
from fileflow_core.settings import ROOT_ID_PATTERN

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024


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


def encode_event(event: FileEvent) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def decode_event(body: bytes) -> FileEvent:
    """Validate a message body; anything but a v1 event raises ``MessageDecodeError``."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageDecodeError(f"message is {len(body)} bytes, over {MAX_MESSAGE_BYTES}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MessageDecodeError(f"message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageDecodeError(f"message is JSON {type(data).__name__}, expected an object")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise MessageDecodeError(f"unsupported schema_version {version!r}, this reads 1")
    try:
        # Strict: a string is not a size, true is not a version.
        return FileEvent.model_validate_json(body, strict=True)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MessageDecodeError(f"invalid event: {reasons}") from None
