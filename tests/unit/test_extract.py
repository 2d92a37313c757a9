"""sniff_mime decides by the bytes: magic numbers, then text, else octet-stream."""

from __future__ import annotations

import random

import pytest

from ingestor.extract import OCTET_STREAM, basic_metadata, sniff_mime

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(20)
LATIN1 = ("Les élèves ont été très curieux à propos de la fenêtre. " * 5).encode("latin-1")


@pytest.mark.parametrize(
    ("head", "mime"),
    [(PNG, "image/png"), (PDF, "application/pdf"), (JPEG, "image/jpeg")],
)
def test_magic_bytes(head: bytes, mime: str) -> None:
    assert sniff_mime(head) == mime


@pytest.mark.parametrize(
    "head",
    [b"just a line\n", "Hello, wörld — café ✓\n".encode() * 5, LATIN1],
)
def test_text(head: bytes) -> None:
    assert sniff_mime(head) == "text/plain"


def test_empty() -> None:
    assert sniff_mime(b"") == "application/x-empty"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_binary(seed: int) -> None:
    rng = random.Random(seed)
    head = bytes(rng.randrange(256) for _ in range(512)) + b"\x00"
    assert sniff_mime(head) == OCTET_STREAM


def test_nul_bytes_are_never_text() -> None:
    assert sniff_mime(b"abc\x00def" * 10) == OCTET_STREAM


def test_name_does_not_matter() -> None:
    # A PNG signature anywhere but the start is not a PNG.
    assert sniff_mime(b"hello " + PNG) != "image/png"


def test_basic_metadata_reports_text_encoding() -> None:
    mime, metadata = basic_metadata("naïve café\n".encode() * 4, size=1234)
    assert mime == "text/plain"
    assert metadata["size"] == 1234
    assert metadata["encoding"] == "utf_8"


def test_basic_metadata_binary_has_no_encoding() -> None:
    mime, metadata = basic_metadata(PNG, size=len(PNG))
    assert mime == "image/png"
    assert metadata == {"size": len(PNG)}
