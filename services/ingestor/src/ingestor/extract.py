"""Metadata extraction as the handler sees it: a port, and the fallback that sniffs the head."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

import puremagic
from charset_normalizer import from_bytes

from fileflow_core.models import ContentInfo

OCTET_STREAM = "application/octet-stream"


class Extractor(Protocol):
    async def extract(self, path: Path, sha256: str, size: int, head: bytes) -> ContentInfo:
        """Metadata of the content ``sha256`` now at ``path``. Raises ``TransientError`` when
        the file no longer holds that content; parser failures come back in the result."""


def sniff_mime(head: bytes) -> str:
    """MIME type decided by the bytes, never by the file name."""
    if not head:
        return "application/x-empty"
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        matches = []
    for match in matches:
        if match.mime_type:
            return str(match.mime_type)
    if b"\x00" not in head and from_bytes(head).best() is not None:
        return "text/plain"
    return OCTET_STREAM


def basic_metadata(head: bytes, size: int) -> tuple[str, dict[str, Any]]:
    """(mime type, metadata) from the head of a content; pure, runs in an executor."""
    mime = sniff_mime(head)
    metadata: dict[str, Any] = {"size": size}
    if mime == "text/plain":
        best = from_bytes(head).best()
        if best is not None:
            metadata["encoding"] = best.encoding
    return mime, metadata


def unextracted(sha256: str, size: int, head: bytes, reason: str) -> ContentInfo:
    """A content recorded without parsing it (too large): generic metadata only."""
    mime, metadata = basic_metadata(head, size)
    metadata["extraction"] = reason
    return ContentInfo(sha256, size, mime, metadata, extraction_skipped=True)


class HeadSniffExtractor:
    """Generic metadata from the first bytes only, in a thread; no parser runs."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor

    async def extract(self, path: Path, sha256: str, size: int, head: bytes) -> ContentInfo:
        loop = asyncio.get_running_loop()
        mime, metadata = await loop.run_in_executor(self._executor, basic_metadata, head, size)
        return ContentInfo(sha256=sha256, size=size, mime_type=mime, metadata=metadata)
