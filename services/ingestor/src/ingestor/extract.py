"""Metadata extraction as the handler sees it: a port, and its adapter on the worker pool."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from fileflow_core.errors import TransientError
from fileflow_core.models import ContentInfo
from fileflow_core.settings import Settings
from ingestor.extractors import ContentChanged, Extraction, ExtractionPool, sniff_mime


class Extractor(Protocol):
    async def extract(self, path: Path, sha256: str, size: int, head: bytes) -> ContentInfo:
        """Metadata of the content ``sha256`` now at ``path``. Raises ``TransientError`` when
        the file no longer holds that content; parser failures come back in the result."""

    async def close(self) -> None: ...


def unextracted(sha256: str, size: int, head: bytes, reason: str) -> ContentInfo:
    """A content recorded without parsing it (too large): generic metadata only."""
    metadata = {"size": size, "extraction": reason}
    return ContentInfo(sha256, size, sniff_mime(head), metadata, extraction_skipped=True)


def content_from(sha256: str, size: int, extraction: Extraction) -> ContentInfo:
    return ContentInfo(
        sha256=sha256,
        size=size,
        mime_type=extraction.mime_type,
        metadata=extraction.metadata,
        chunks=extraction.chunks,
        extraction_error=extraction.error,
    )


class PoolExtractor:
    """Runs the registered extractors in worker processes with a timeout and a memory cap."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool = ExtractionPool(
            settings.extract_workers, settings.extract_timeout_s, settings.extract_memory_bytes
        )

    async def extract(self, path: Path, sha256: str, size: int, head: bytes) -> ContentInfo:
        try:
            extraction = await self._pool.extract(
                str(path),
                sha256,
                chunk_chars=self._settings.chunk_chars,
                overlap_chars=self._settings.chunk_overlap_chars,
                max_bytes=self._settings.extract_max_bytes,
            )
        except ContentChanged as exc:
            raise TransientError(f"file changed after it was hashed: {exc}") from exc
        except OSError as exc:
            raise TransientError(f"cannot read the file for extraction: {exc!r}") from exc
        return content_from(sha256, size, extraction)

    async def close(self) -> None:
        await self._pool.close()
