"""The work done in a worker process: read a file once, verify its hash, parse it."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import warnings
from typing import Any

from fileflow_core.beneath import Location, NotARegularFile, open_beneath
from fileflow_core.errors import FileflowError
from ingestor.extractors.model import (
    ContentChanged,
    Extraction,
    ExtractionFailed,
    ExtractOptions,
    NotThisFormat,
)
from ingestor.extractors.registry import extractor_for, safe_in_process
from ingestor.extractors.sniff import HEAD_BYTES, OCTET_STREAM, has_known_signature, sniff_mime
from ingestor.extractors.text import chunk_text

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = ExtractOptions()
# A broken file can warn once per object: a few lines tell the story.
_MAX_WARNINGS = 5
_READ_BYTES = 1024 * 1024


def extract_file(
    path: Location, expected_sha256: str, options: ExtractOptions = DEFAULT_OPTIONS
) -> Extraction:
    """Metadata and text chunks of the file at ``path``, which must hash to ``expected_sha256``.

    The MIME type comes from the content. Parser failures come back as ``Extraction.error``;
    raises only ``ContentChanged`` and the ``OSError`` of opening or reading the file. A content
    over ``max_bytes`` is hashed whole but gets generic metadata only.
    """
    data, size = read_verified(path, expected_sha256, options.max_bytes)
    return _extract_as(sniff_mime(data[:HEAD_BYTES]), data, size, options)


def extract_if_safe_in_process(
    data: bytes, size: int, options: ExtractOptions = DEFAULT_OPTIONS
) -> Extraction | None:
    """What ``extract_file`` finds in ``data`` (the first ``max_bytes`` of a content of
    ``size`` bytes, already hashed), when the sniffed type is safe to parse in this process
    (see ``registry.safe_in_process``); None when it belongs in a worker process."""
    mime = sniff_mime(data[:HEAD_BYTES])
    if not safe_in_process(mime):
        return None
    return _extract_as(mime, data, size, options)


def _extract_as(mime: str, data: bytes, size: int, options: ExtractOptions) -> Extraction:
    metadata: dict[str, Any] = {"size": size, "mime_type": mime}
    if size > options.max_bytes:
        metadata["extraction"] = f"skipped: larger than {options.max_bytes} bytes"
        return Extraction(mime, metadata)
    extractor = extractor_for(mime)
    if extractor is None:
        return Extraction(mime, metadata)
    texts: tuple[str, ...] = ()
    error: str | None = None
    failure = "parser"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found, texts = extractor(data, mime)
        _log_warnings(caught)
    except (NotThisFormat, ExtractionFailed) as exc:
        # Only a format's own signature makes a parse failure a broken file; after a weaker
        # guess (a byte-order mark, a frame-sync pattern, a loose magic number) it only means
        # the guess was wrong, and the content is an unknown binary.
        if not has_known_signature(data[:HEAD_BYTES]):
            return Extraction(OCTET_STREAM, {"size": size, "mime_type": OCTET_STREAM})
        if isinstance(exc, ExtractionFailed):
            found, texts, error = exc.metadata, exc.texts, exc.reason
        else:
            found, error = {}, f"not a valid {mime}: {exc}"
    except MemoryError:
        found, error, failure = {}, "out of memory while parsing", "out_of_memory"
    except Exception as exc:  # any parser bug or hostile input ends here, not in the service
        found, error = {}, f"parser error: {type(exc).__name__}: {exc}"
    metadata |= {key: value for key, value in found.items() if key not in metadata}
    chunks = chunk_text(clean_text("\n\n".join(texts)), options.chunk_chars, options.overlap_chars)
    return Extraction(mime, json_safe(metadata), chunks, error, failure if error else None)


def _log_warnings(caught: list[warnings.WarningMessage]) -> None:
    """A parser's warnings (a damaged but readable file) as log lines, the file's path added
    by the logging context, instead of plain text on stderr."""
    for warning in caught[:_MAX_WARNINGS]:
        log.warning(
            "parser warning",
            extra={"warning": str(warning.message), "category": warning.category.__name__},
        )


def read_verified(path: Location, expected_sha256: str, max_bytes: int) -> tuple[bytes, int]:
    """(the first ``max_bytes`` bytes, the size), read once and hashed while read; opened
    beneath the root, as the ingestor opened it."""
    try:
        fd, _ = open_beneath(path)
    except (NotARegularFile, FileflowError) as exc:
        raise ContentChanged(f"no longer a regular file under its root: {exc}") from None
    try:
        digest = hashlib.sha256()
        blocks: list[bytes] = []
        kept = size = 0
        while block := os.read(fd, _READ_BYTES):
            digest.update(block)
            size += len(block)
            if kept < max_bytes:
                blocks.append(block[: max_bytes - kept])
                kept += len(blocks[-1])
    finally:
        os.close(fd)
    if digest.hexdigest() != expected_sha256.lower():
        raise ContentChanged(f"content hashes to {digest.hexdigest()}, not {expected_sha256}")
    return b"".join(blocks), size


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text PostgreSQL and orjson accept: no NUL characters, no lone surrogates. Copied only
    when there is something to remove (a 100 MB text rarely has)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    # An ASCII string holds no surrogate: the flag is read, not the text scanned.
    if not text.isascii() and _SURROGATE.search(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def json_safe(value: object) -> Any:
    """``value`` as plain JSON types: parsers hand back str and number subclasses, bytes, NaN."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bytes):
        return clean_text(value.decode("latin-1"))
    if isinstance(value, dict):
        return {clean_text(str(key)): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return clean_text(str(value))
