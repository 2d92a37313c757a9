"""What an extraction produces, and the two ways it can stop short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """How contents are extracted: text cut into chunks of ``chunk_chars`` characters that share
    ``overlap_chars`` with the one before; a content over ``max_bytes`` is not parsed."""

    chunk_chars: int = 2000
    overlap_chars: int = 200
    max_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.chunk_chars < 1 or not 0 <= self.overlap_chars < self.chunk_chars:
            raise ValueError(
                f"need chunk_chars >= 1 and 0 <= overlap_chars < chunk_chars, "
                f"got {self.chunk_chars} and {self.overlap_chars}"
            )


@dataclass(frozen=True, slots=True)
class Extraction:
    """Metadata and text chunks of one content; ``error`` says why it is incomplete, and
    ``failure`` names that reason's kind (parser, timeout, out_of_memory, worker_died)."""

    mime_type: str
    metadata: dict[str, Any]
    chunks: tuple[str, ...] = ()
    error: str | None = None
    failure: str | None = None


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
