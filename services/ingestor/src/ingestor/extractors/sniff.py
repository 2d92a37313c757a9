"""MIME type from the content's first bytes, never from the file name."""

from __future__ import annotations

import codecs
from bisect import bisect_left

import puremagic
from charset_normalizer import from_bytes
from puremagic import main as puremagic_main

OCTET_STREAM = "application/octet-stream"
EMPTY = "application/x-empty"
HEAD_BYTES = 16 * 1024

# Checked before puremagic: the formats we parse, with one canonical name each.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"ID3", 0, "audio/mpeg"),
)
_RIFF_KINDS = {b"WEBP": "image/webp", b"WAVE": "audio/wav"}
_TEXT_BOMS = (
    b"\xff\xfe\x00\x00",
    b"\x00\x00\xfe\xff",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
)
# puremagic's names for the same formats.
_ALIASES = {
    "audio/wave": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/mp3": "audio/mpeg",
    "application/ogg": "audio/ogg",
}


def sniff_mime(head: bytes) -> str:
    """MIME type of a content from its first bytes (``HEAD_BYTES`` are plenty)."""
    if not head:
        return EMPTY
    for magic, offset, mime in _SIGNATURES:
        if head.startswith(magic, offset):
            return mime
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    if head.startswith(_TEXT_BOMS):  # before the MPEG check: FF FE looks like a frame sync
        return "text/plain"
    if _is_mpeg_audio_frame(head):
        return "audio/mpeg"
    try:
        matches = puremagic.magic_string(head) if _PUREMAGIC_CANDIDATES.may_match(head) else []
    except (puremagic.PureError, ValueError):
        matches = []
    for match in matches:
        if match.mime_type:
            mime = str(match.mime_type)
            return _ALIASES.get(mime, mime)
    if _is_plain_utf8(head) or (b"\x00" not in head and from_bytes(head).best() is not None):
        return "text/plain"
    return OCTET_STREAM


# Bytes of ordinary text: printable ASCII, tab, newlines, form feed, and all of 0x80-0xFF
# (whose UTF-8 validity the decoder checks).
_TEXT_BYTES = bytes([9, 10, 12, 13, *range(32, 127), *range(128, 256)])


def _is_plain_utf8(head: bytes) -> bool:
    """Printable UTF-8, which charset-normalizer would accept too, decided without it (it
    costs ~50 µs a call, most of sniffing an ordinary text file)."""
    if head.translate(None, _TEXT_BYTES):
        return False  # control characters: let charset-normalizer judge
    try:
        # Incremental: a head cut inside a multi-byte character is still UTF-8.
        codecs.getincrementaldecoder("utf_8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


class _SignatureIndex:
    """Which of puremagic's signatures could match, found by (offset, first byte) lookups.

    puremagic compares every one of its ~1,400 signatures in Python (about 0.4 ms per call,
    holding the GIL); most contents, plain text above all, match none. Asking it only when
    some signature's first byte is in place gives exactly its answer at a small cost.
    """

    def __init__(self) -> None:
        self._head: dict[tuple[int, int], list[bytes]] = {}
        self._foot: dict[tuple[int, int], list[bytes]] = {}
        self._always = False
        for rows, index in (
            (puremagic_main.magic_header_array, self._head),
            (puremagic_main.magic_footer_array, self._foot),
        ):
            for row in rows:
                if not row.byte_match:
                    self._always = True
                    continue
                index.setdefault((row.offset, row.byte_match[0]), []).append(row.byte_match)
        self._head_offsets = sorted({offset for offset, _ in self._head})
        self._foot_offsets = sorted({offset for offset, _ in self._foot})

    def may_match(self, data: bytes) -> bool:
        if self._always:
            return True
        head = data[: puremagic_main.max_head]
        foot = data[-puremagic_main.max_foot :]
        return self._any(self._head, self._head_offsets, head) or self._any(
            self._foot, self._foot_offsets, foot
        )

    @staticmethod
    def _any(index: dict[tuple[int, int], list[bytes]], offsets: list[int], data: bytes) -> bool:
        # The offsets inside ``data`` (a foot's are negative); their (offset, byte) pairs are
        # made and looked up in C: a Python loop over 47 offsets cost 8-17 µs a file.
        usable = offsets[bisect_left(offsets, -len(data)) : bisect_left(offsets, len(data))]
        pairs = zip(usable, map(data.__getitem__, usable), strict=True)
        for offset, first in filter(index.__contains__, pairs):
            for magic in index[offset, first]:
                if data[offset : offset + len(magic) or None] == magic:
                    return True
        return False


_PUREMAGIC_CANDIDATES = _SignatureIndex()


def has_known_signature(head: bytes) -> bool:
    """True when the type comes from a format's own signature, not from a weaker guess."""
    return any(head.startswith(magic, offset) for magic, offset, _ in _SIGNATURES) or (
        head.startswith(b"RIFF") and head[8:12] in _RIFF_KINDS
    )


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header (an MP3 without ID3 tag): sync bits and valid fields."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    samplerate_index = (head[2] >> 2) & 0b11
    return version != 0b01 and layer != 0 and bitrate_index != 0xF and samplerate_index != 0b11
