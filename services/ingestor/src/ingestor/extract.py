"""Basic metadata from a content's first bytes: MIME type by sniffing, text encoding."""

from __future__ import annotations

from typing import Any

import puremagic
from charset_normalizer import from_bytes

OCTET_STREAM = "application/octet-stream"


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
