"""Metadata extraction as the handler sees it: a port, and its adapter on the worker pool."""

from __future__ import annotations

import asyncio
import multiprocessing
from functools import partial
from typing import Protocol

from fileflow_core import metrics
from fileflow_core.beneath import Location
from fileflow_core.errors import TransientError
from fileflow_core.logs import logging_context
from fileflow_core.models import ContentInfo
from fileflow_core.settings import Settings
from ingestor.extractors import (
    ContentChanged,
    Extraction,
    ExtractionPool,
    ExtractOptions,
    extract_if_safe_in_process,
    sniff_mime,
)


class Extractor(Protocol):
    async def extract(
        self, path: Location, sha256: str, size: int, head: bytes, data: bytes | None = None
    ) -> ContentInfo:
        """Metadata of the content ``sha256`` now at ``path`` (whose bytes are ``data``, when
        the caller holds them all). Raises ``TransientError`` when the file no longer holds
        that content; parser failures come back in the result."""

    async def close(self) -> None: ...


INLINE_EXTRACT_BYTES = 32 * 1024
_FAILURES = {
    reason: metrics.EXTRACTION_FAILURES.labels(reason=reason)
    for reason in metrics.EXTRACTION_FAILURE_REASONS
}


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


def parses_on_loop(size: int, data: bytes | None) -> bool:
    """Whether a content read whole is parsed on the event loop itself, if its format allows."""
    return data is not None and len(data) == size and size <= INLINE_EXTRACT_BYTES


class PoolExtractor:
    """Runs the registered extractors in worker processes with a timeout and a memory cap."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._options = ExtractOptions(
            settings.chunk_chars, settings.chunk_overlap_chars, settings.extract_max_bytes
        )
        self._pool = ExtractionPool(
            settings.extract_workers,
            settings.extract_timeout_s,
            settings.extract_memory_bytes,
            log_level=settings.log_level,
        )
        # Read when scraped: the pool's worker processes (pebble's) are this process's children.
        metrics.EXTRACTION_WORKERS.set_function(lambda: len(multiprocessing.active_children()))

    async def extract(
        self, path: Location, sha256: str, size: int, head: bytes, data: bytes | None = None
    ) -> ContentInfo:
        with logging_context(root=path.root_id, path=path.relative):
            extraction = await self._extraction(path, sha256, size, data)
        if extraction.error is not None:
            _FAILURES[extraction.failure or "parser"].inc()
        return content_from(sha256, size, extraction)

    async def _extraction(
        self, path: Location, sha256: str, size: int, data: bytes | None
    ) -> Extraction:
        if data is not None and len(data) == size:
            # Text and unknown binaries are parsed in this process, no worker round trip. Up to
            # INLINE_EXTRACT_BYTES on the event loop itself (~0.1 ms: less than a thread hop
            # costs, and Python code gains nothing from a thread under the GIL); above, in a
            # thread, so the loop never stalls for long.
            extract = partial(extract_if_safe_in_process, data, size, self._options)
            if parses_on_loop(size, data):
                extraction = extract()
            else:
                extraction = await asyncio.to_thread(extract)
            if extraction is not None:
                return extraction
        try:
            return await self._pool.extract(path, sha256, self._options)
        except ContentChanged as exc:
            raise TransientError(f"file changed after it was hashed: {exc}") from exc
        except OSError as exc:
            raise TransientError(f"cannot read the file for extraction: {exc!r}") from exc

    async def close(self) -> None:
        await self._pool.close()
