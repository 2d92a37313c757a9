"""sniff_mime decides by the bytes: magic numbers, then text, else octet-stream."""

from __future__ import annotations

import random

import pytest

from ingestor.extract import content_from, unextracted
from ingestor.extractors import Extraction, sniff_mime
from ingestor.extractors.sniff import OCTET_STREAM

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


def test_unextracted_keeps_the_sniffed_type_and_says_why() -> None:
    content = unextracted("ab" * 32, 10**9, PNG, "skipped: too large")
    assert content.mime_type == "image/png"
    assert content.metadata == {"size": 10**9, "extraction": "skipped: too large"}
    assert content.extraction_status == "skipped"


def test_content_from_an_extraction_with_an_error_is_failed() -> None:
    extraction = Extraction("application/pdf", {"size": 3, "pages": 2}, ("a", "b"), "truncated PDF")
    content = content_from("cd" * 32, 3, extraction)
    assert content.extraction_status == "failed"
    assert content.extraction_error == "truncated PDF"
    assert content.chunks == ("a", "b")
