"""PDF: page count, document info and the text of each page (pypdf)."""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from ingestor.extractors.model import ExtractionFailed

# Bounds the text kept from one PDF; a stream bomb also meets pypdf's own output limits.
MAX_TEXT_CHARS = 20_000_000
_EOF_MARKER = b"%%EOF"
_PAGE_COUNT = re.compile(
    rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b"
)


def extract(data: bytes, mime: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    truncated = _EOF_MARKER not in data[-2048:]
    try:
        reader = PdfReader(io.BytesIO(data))
    except Exception as exc:  # untrusted input: pypdf raises more than PdfReadError
        reason = "truncated PDF" if truncated else "corrupt PDF"
        raise ExtractionFailed(f"{reason}: {exc}") from exc
    if reader.is_encrypted and not _decrypts_without_password(reader):
        metadata: dict[str, Any] = {"encrypted": True}
        pages = _page_count_in_clear(data)
        if pages is not None:
            metadata["pages"] = pages
        raise ExtractionFailed("encrypted PDF", metadata)
    metadata = {"pages": len(reader.pages), **_document_info(reader)}
    if reader.is_encrypted:
        metadata["encrypted"] = True
    texts = _page_texts(reader, metadata)
    if truncated:
        raise ExtractionFailed("truncated PDF: no %%EOF marker at the end", metadata, texts)
    return metadata, texts


def _decrypts_without_password(reader: PdfReader) -> bool:
    """True for PDFs with only an owner password, which any viewer opens."""
    try:
        return bool(reader.decrypt(""))
    except (PdfReadError, NotImplementedError):  # DependencyError (AES) is a PdfReadError
        return False


def _page_count_in_clear(data: bytes) -> int | None:
    """Page count of an encrypted PDF whose page tree is not in a compressed object stream."""
    counts = [int(a or b) for a, b in _PAGE_COUNT.findall(data)]
    return max(counts) if counts else None


def _document_info(reader: PdfReader) -> dict[str, Any]:
    info = reader.metadata
    if info is None:
        return {}
    fields = {"title": info.title, "author": info.author, "producer": info.producer}
    return {key: str(value) for key, value in fields.items() if value}


def _page_texts(reader: PdfReader, metadata: dict[str, Any]) -> tuple[str, ...]:
    texts: list[str] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text()
        except Exception as exc:
            raise ExtractionFailed(f"page {number}: {exc}", metadata, tuple(texts)) from exc
        texts.append(text[: MAX_TEXT_CHARS - total])
        total += len(texts[-1])
        if total >= MAX_TEXT_CHARS:
            metadata["text_truncated"] = True
            break
    return tuple(texts)
