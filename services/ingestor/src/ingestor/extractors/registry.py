"""The one place that says which extractor reads which MIME type.

An extractor is a function ``(data, mime) -> (metadata, texts)``: the metadata it found and the
texts (a document, or one per page) that the caller cuts into chunks. It raises
``ExtractionFailed`` with what it knows so far when it cannot finish. A new format is a small
module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingestor.extractors import audio, image, pdf, text

Extractor = Callable[[bytes, str], tuple[dict[str, Any], tuple[str, ...]]]

# Keys ending in "/" match every subtype; an exact type wins over its prefix.
EXTRACTORS: dict[str, Extractor] = {
    "text/": text.extract,
    "application/json": text.extract,
    "application/xml": text.extract,
    "image/svg+xml": text.extract,
    "application/pdf": pdf.extract,
    "image/": image.extract,
    "audio/": audio.extract,
}


def extractor_for(mime: str) -> Extractor | None:
    """The extractor registered for ``mime``, or None: generic metadata only."""
    if mime in EXTRACTORS:
        return EXTRACTORS[mime]
    major, _, _ = mime.partition("/")
    return EXTRACTORS.get(f"{major}/")


def safe_in_process(mime: str) -> bool:
    """True when this type's extraction may run in the ingestor itself: decoding text is linear
    in its size and cannot explode; the parsers of compressed formats (PDF, images, audio)
    stay in the worker processes, under their timeout and memory cap."""
    extractor = extractor_for(mime)
    return extractor is None or extractor is text.extract
