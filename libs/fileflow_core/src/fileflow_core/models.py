"""What the ingestor learns about a file and a content, independent of any storage."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class FileObservation:
    """A file as the ingestor saw it at ``observed_at``; the newer observation wins."""

    root_id: str
    path: str
    observed_at: datetime
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    source: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """A content, named by its SHA-256, with what extraction found in it."""

    sha256: str
    size: int
    mime_type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    chunks: tuple[str, ...] = ()
    extraction_error: str | None = None
    extraction_skipped: bool = False

    @property
    def extraction_status(self) -> str:
        if self.extraction_error:
            return "failed"
        return "skipped" if self.extraction_skipped else "completed"


@dataclass(frozen=True, slots=True)
class PresentWrite:
    """One file to record as present, pointing at ``sha256`` (with its content when new)."""

    observation: FileObservation
    sha256: str
    content: ContentInfo | None = None
    attempts: int = 1
    replace_content: bool = False
