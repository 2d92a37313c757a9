"""What an extraction produces, and the two ways it can stop short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Extraction:
    """Metadata and text chunks of one content; ``error`` says why it is incomplete."""

    mime_type: str
    metadata: dict[str, Any]
    chunks: tuple[str, ...] = ()
    error: str | None = None


class ContentChanged(Exception):
    """The bytes read did not hash to the expected digest: the file changed since hashing."""


class NotThisFormat(Exception):
    """The sniffed type was a guess the parser disproved (e.g. binary taken for text): the
    content gets the generic metadata of an unknown type instead."""


class ExtractionFailed(Exception):
    """Raised by an extractor that could not finish; carries what it learnt before failing."""

    def __init__(
        self, reason: str, metadata: dict[str, Any] | None = None, texts: tuple[str, ...] = ()
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.metadata = metadata or {}
        self.texts = texts
