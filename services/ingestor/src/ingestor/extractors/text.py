"""Text: the encoding detected, line and word counts, the decoded text for chunking."""

from __future__ import annotations

import codecs
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


def extract(data: bytes, mime: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    encoding = detect_encoding(data)
    if encoding is None:
        raise NotThisFormat("no text encoding fits these bytes")
    # errors="replace": a content cut at a size limit may end inside a character.
    text = data.decode(encoding, errors="replace")
    metadata = {
        "encoding": encoding,
        "chars": len(text),
        "lines": len(text.splitlines()),
        "words": len(text.split()),
    }
    return metadata, (text,)


def detect_encoding(data: bytes) -> str | None:
    """Python codec name of ``data``: a BOM, then strict UTF-8, then charset-normalizer."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    try:
        codecs.getincrementaldecoder("utf_8")().decode(data, final=False)
    except UnicodeDecodeError:
        pass
    else:
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
