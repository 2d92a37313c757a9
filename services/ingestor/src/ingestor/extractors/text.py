"""Text: the encoding detected, line and word counts, the decoded text for chunking."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any

from charset_normalizer import CharsetMatch, from_bytes

from ingestor.extractors.model import NotThisFormat

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf_32"),
    (codecs.BOM_UTF32_BE, "utf_32"),
    (codecs.BOM_UTF8, "utf_8_sig"),
    (codecs.BOM_UTF16_LE, "utf_16"),
    (codecs.BOM_UTF16_BE, "utf_16"),
)
# When charset-normalizer finds several encodings equally plausible (short Western texts),
# the one most files are really written in wins.
_PREFERRED_ON_TIE = ("cp1252",)


# Counted a slice at a time: a list of every line or word of a 100 MB text would take
# gigabytes (an object per word), past the worker's memory cap.
_COUNT_SLICE_CHARS = 1 << 20


def extract(data: bytes, mime: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    text = _as_utf8(data)
    encoding = "utf_8" if text is not None else detect_encoding(data)
    if encoding is None:
        raise NotThisFormat("no text encoding fits these bytes")
    if text is None:
        # errors="replace": a content cut at a size limit may end inside a character.
        text = data.decode(encoding, errors="replace")
    metadata = {
        "encoding": encoding,
        "chars": len(text),
        "lines": count_lines(text),
        "words": count_words(text),
    }
    return metadata, (text,)


def _as_utf8(data: bytes) -> str | None:
    """The text, if ``data`` is UTF-8 (without a byte-order mark; its last character may be cut
    off at a size limit), decoded once."""
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return None
    try:
        return codecs.getincrementaldecoder("utf_8")().decode(data, final=False)
    except UnicodeDecodeError:
        return None


def count_lines(text: str) -> int:
    """``len(text.splitlines())``, a slice at a time, each cut just after a line break."""
    return _count_in_slices(text, _LINE_END, _lines_in)


def _lines_in(text: str) -> int:
    return len(text.splitlines())


def count_words(text: str) -> int:
    """``len(text.split())``, a slice at a time, each cut at whitespace."""
    return _count_in_slices(text, _SPACE, _words_in)


# ASCII whitespace as ``str.split`` sees it (\x1c-\x1f included) marked b" ", the rest b"x".
_WORD_MARKS = bytes(32 if chr(byte).isspace() else 120 for byte in range(128)) + b"x" * 128


def _words_in(text: str) -> int:
    """``len(text.split())`` without a string per word for ASCII text (most text; a 4 KB
    text in 6 µs instead of 15): a word starts at each non-space byte after a space, or first."""
    if not text.isascii():
        return len(text.split())
    marks = text.encode("ascii").translate(_WORD_MARKS)
    return marks.count(b" x") + marks.startswith(b"x")


# A line ends after a break; "\r\n" is one break, so a cut never falls between them.
_LINE_END = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_SPACE = re.compile(r"\s")


def _count_in_slices(text: str, boundary: re.Pattern[str], count_in: Callable[[str], int]) -> int:
    count = start = 0
    while start < len(text):
        found = boundary.search(text, start + _COUNT_SLICE_CHARS)
        end = len(text) if found is None else found.end()
        count += count_in(text[start:end])
        start = end
    return count


def detect_encoding(data: bytes) -> str | None:
    """Python codec name of ``data``: a BOM, then strict UTF-8, then charset-normalizer."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    if _as_utf8(data) is not None:
        return "utf_8"
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    return _prefer_common(best, list(matches))


def _prefer_common(best: CharsetMatch, matches: list[CharsetMatch]) -> str:
    ties = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    for encoding in _PREFERRED_ON_TIE:
        if any(encoding in match.could_be_from_charset for match in ties):
            return encoding
    return best.encoding


def chunk_text(text: str, chunk_chars: int, overlap_chars: int) -> tuple[str, ...]:
    """Windows of ``chunk_chars`` characters, each sharing ``overlap_chars`` with the last."""
    check_chunking(chunk_chars, overlap_chars)
    if not text:
        return ()
    step = chunk_chars - overlap_chars
    chunks = []
    for start in range(0, len(text), step):
        chunks.append(text[start : start + chunk_chars])
        if start + chunk_chars >= len(text):
            break
    return tuple(chunks)


def check_chunking(chunk_chars: int, overlap_chars: int) -> None:
    if chunk_chars < 1 or not 0 <= overlap_chars < chunk_chars:
        raise ValueError(
            f"need chunk_chars >= 1 and 0 <= overlap_chars < chunk_chars, "
            f"got {chunk_chars} and {overlap_chars}"
        )
