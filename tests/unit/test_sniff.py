"""Sniffing shortcuts give exactly the answers of the slow path they skip."""

from __future__ import annotations

import os
import random

import puremagic
import pytest
from puremagic import main as puremagic_main

from ingestor.extractors.sniff import _PUREMAGIC_CANDIDATES, sniff_mime


def _puremagic_matches(data: bytes) -> bool:
    try:
        return bool(puremagic.magic_string(data))
    except (puremagic.PureError, ValueError):
        return False


def _samples() -> list[bytes]:
    rng = random.Random(5)
    samples = [rng.randbytes(n) for n in (1, 3, 10, 100, 600, 4096) for _ in range(100)]
    for row in puremagic_main.magic_header_array:
        samples.append(bytes(row.offset) + row.byte_match + rng.randbytes(20))
    for row in puremagic_main.magic_footer_array:
        tail = bytes(max(0, -row.offset - len(row.byte_match)))
        samples.append(rng.randbytes(600) + row.byte_match + tail)
    samples += [b'{"a": 1}', b'<?xml version="1.0"?><a/>', b"%!PS-Adobe", b"file 1 " * 600]
    return samples


def test_the_signature_index_never_misses_a_puremagic_match() -> None:
    samples = _samples()
    matched = [s for s in samples if _puremagic_matches(s)]
    assert len(matched) > 1000  # the samples do exercise the database
    assert all(_PUREMAGIC_CANDIDATES.may_match(s) for s in matched)
    # ...and it spares most contents the full scan (about 1 in 100 random ones goes on to it).
    assert sum(_PUREMAGIC_CANDIDATES.may_match(os.urandom(4096)) for _ in range(200)) < 20


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"plain words\nand lines\n", "text/plain"),
        ("caf\u00e9 na\u00efve \u2014 \u65e5\u672c".encode(), "text/plain"),
        ("\u00e9t\u00e9".encode()[:-1], "text/plain"),  # cut inside a character
        (b'{"json": true}', "application/json"),
        (b'<?xml version="1.0"?><a/>', "application/xml"),
        (b"\x00\x01\x02\x03binary", "application/octet-stream"),
        (b"%PDF-1.7\n", "application/pdf"),
    ],
)
def test_sniffed_types(head: bytes, mime: str) -> None:
    assert sniff_mime(head) == mime
