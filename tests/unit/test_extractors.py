"""Extractors by MIME type, and the worker pool that times out and caps them.

Every sample is built here: no downloads. Pool tests share one pool whose test-only extract
function hangs, allocates or crashes when the file's name asks it to.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fileflow_core.beneath import Location
from ingestor.extractors import (
    ContentChanged,
    Extraction,
    ExtractionPool,
    ExtractOptions,
    extract_file,
    sniff_mime,
)
from ingestor.extractors.text import chunk_text
from ingestor.extractors.worker import clean_text
from tests import samples

pytestmark = pytest.mark.timeout(30)


# --- samples -------------------------------------------------------------------------------


def at(tmp_path: Path, name: str) -> Location:
    return Location("lib", str(tmp_path), name)


def _write(tmp_path: Path, name: str, data: bytes) -> tuple[Location, str]:
    (tmp_path / name).write_bytes(data)
    return at(tmp_path, name), hashlib.sha256(data).hexdigest()


def _extract(tmp_path: Path, name: str, data: bytes, **options: int) -> Extraction:
    path, sha256 = _write(tmp_path, name, data)
    result = extract_file(path, sha256, ExtractOptions(**options))
    orjson.dumps(result.metadata)  # what the store will do with it
    return result


# --- MIME sniffing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (samples.pdf_with_metadata(), "application/pdf"),
        (samples.image("PNG"), "image/png"),
        (samples.image("JPEG"), "image/jpeg"),
        (samples.image("GIF"), "image/gif"),
        (samples.image("WEBP"), "image/webp"),
        (samples.id3(samples.id3_frame(b"TIT2", b"x")) + samples.MP3_FRAME, "audio/mpeg"),
        (samples.MP3_FRAME * 3, "audio/mpeg"),
        (b"OggS\x00\x02" + bytes(64), "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22" + bytes(64), "audio/flac"),
        (samples.wav(0.01), "audio/wav"),
        (b"plain words\n", "text/plain"),
        ("UTF-16 with a BOM".encode("utf-16"), "text/plain"),
        (b"", "application/x-empty"),
        (b"\x00\x01\x02\x03" + bytes(range(256)) * 8, "application/octet-stream"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_sniff_recognises_formats_by_content(data: bytes, mime: str) -> None:
    assert sniff_mime(data) == mime


def test_content_not_name_decides(tmp_path: Path) -> None:
    result = _extract(tmp_path, "holiday.jpg", samples.pdf_with_metadata())

    assert result.mime_type == "application/pdf"
    assert result.metadata["pages"] == 2
    assert result.error is None


# --- text ----------------------------------------------------------------------------------

_FRENCH = "Café crème brûlée, naïve façade à l'été. Où est la gare? Ça va très bien.\n" * 3
_JAPANESE = "日本語のテキストです。これはシフトJISでエンコードされています。\n東京は首都です。\n"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Grüße, 世界! naïve ☃\nsecond line\n", "utf-8"),
        (_FRENCH, "latin-1"),
        ("UTF-16 text, ünïcödé and 日本語\nline two\n", "utf-16"),
        (_JAPANESE, "shift_jis"),
    ],
)
def test_text_is_decoded_whatever_its_encoding(tmp_path: Path, text: str, encoding: str) -> None:
    result = _extract(tmp_path, "notes.bin", text.encode(encoding))

    assert result.mime_type == "text/plain"
    assert result.error is None
    assert result.chunks == (text,)
    assert result.metadata["lines"] == len(text.splitlines())
    assert result.metadata["words"] == len(text.split())
    assert result.metadata["size"] == len(text.encode(encoding))


def test_text_is_cut_into_overlapping_chunks(tmp_path: Path) -> None:
    text = "".join(f"word{n:03d} " for n in range(100))  # 800 characters

    result = _extract(tmp_path, "a.txt", text.encode(), chunk_chars=300, overlap_chars=50)

    assert [len(chunk) for chunk in result.chunks] == [300, 300, 300]
    assert result.chunks[0][-50:] == result.chunks[1][:50]
    assert result.chunks[1][-50:] == result.chunks[2][:50]
    assert result.chunks[-1].endswith(text[-50:])


def test_chunking_rejects_an_overlap_as_large_as_the_chunk() -> None:
    with pytest.raises(ValueError, match="overlap_chars"):
        chunk_text("abc", 10, 10)
    assert chunk_text("", 10, 2) == ()
    assert chunk_text("abc", 10, 2) == ("abc",)


# --- PDF -----------------------------------------------------------------------------------


def test_pdf_metadata(tmp_path: Path) -> None:
    result = _extract(tmp_path, "report.pdf", samples.pdf_with_metadata())

    assert result.error is None
    assert result.metadata | {"size": 0} == {
        "size": 0,
        "mime_type": "application/pdf",
        "pages": 2,
        "title": "Quarterly",
        "author": "Ada",
        "producer": "fileflow tests",
    }


def test_pdf_text_becomes_chunks(tmp_path: Path) -> None:
    lines = [f"Line {n} of the hand made document" for n in range(20)]

    result = _extract(
        tmp_path, "doc.pdf", samples.pdf_with_text(lines), chunk_chars=200, overlap_chars=20
    )

    assert result.error is None
    assert result.metadata["pages"] == 1
    assert result.metadata["title"] == "Hand made"
    assert len(result.chunks) > 1
    joined = result.chunks[0] + "".join(chunk[20:] for chunk in result.chunks[1:])
    assert [line.strip() for line in joined.splitlines()] == lines


def test_encrypted_pdf_fails_with_page_count(tmp_path: Path) -> None:
    result = _extract(tmp_path, "secret.pdf", samples.encrypted_pdf())

    assert result.error == "encrypted PDF"
    assert result.metadata["pages"] == 3
    assert result.metadata["encrypted"] is True
    assert result.chunks == ()


def test_truncated_pdf_fails_with_reason(tmp_path: Path) -> None:
    data = samples.pdf_with_metadata()

    result = _extract(tmp_path, "cut.pdf", data[: len(data) // 2])

    assert result.mime_type == "application/pdf"
    assert result.error is not None
    assert result.error.startswith("truncated PDF")
    assert result.metadata["size"] == len(data) // 2


def test_pdf_stream_bomb_is_stopped(tmp_path: Path) -> None:
    data = samples.pdf_stream_bomb(decoded_bytes=100_000_000)
    assert len(data) < 1_000_000

    result = _extract(tmp_path, "bomb.pdf", data)

    assert result.error is not None
    assert result.error.startswith("page 1: ")
    assert "Limit reached" in result.error
    assert result.metadata["pages"] == 1


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_image_dimensions_and_exif(tmp_path: Path, fmt: str) -> None:
    result = _extract(tmp_path, "photo", samples.image(fmt, samples.camera_exif()))

    assert result.error is None
    assert result.metadata["format"] == fmt
    assert (result.metadata["width"], result.metadata["height"]) == (32, 24)
    assert result.metadata["taken_at"] == "2021:06:01 12:34:56"
    assert result.metadata["camera_make"] == "Canon"
    assert result.metadata["camera_model"] == "EOS 5D"


def test_image_without_exif(tmp_path: Path) -> None:
    result = _extract(tmp_path, "anim.gif", samples.image("GIF"))

    assert result.error is None
    assert result.metadata["format"] == "GIF"
    assert "taken_at" not in result.metadata


@pytest.mark.parametrize("side", [12_000, 30_000], ids=["over-limit", "over-twice-limit"])
def test_decompression_bomb_is_refused_without_decoding(tmp_path: Path, side: int) -> None:
    data = samples.png_bomb(side)
    assert len(data) < 200_000

    started = time.perf_counter()
    result = _extract(tmp_path, "bomb.png", data)

    assert time.perf_counter() - started < 2
    assert result.mime_type == "image/png"
    assert result.error is not None
    assert result.error.startswith("decompression bomb: ")
    assert result.metadata["size"] == len(data)


def test_corrupt_image_fails_with_reason(tmp_path: Path) -> None:
    data = samples.image("PNG")

    result = _extract(tmp_path, "broken.png", data[:40])

    assert result.mime_type == "image/png"
    assert result.error is not None


# --- audio ---------------------------------------------------------------------------------


def test_wav_properties(tmp_path: Path) -> None:
    result = _extract(tmp_path, "beep", samples.wav(seconds=1.0, rate=8000, channels=2))

    assert result.error is None
    assert result.mime_type == "audio/wav"
    assert result.metadata["duration_s"] == 1.0
    assert result.metadata["samplerate_hz"] == 8000
    assert result.metadata["channels"] == 2
    assert result.metadata["bitrate_kbps"] == 256.0


def test_mp3_tags(tmp_path: Path) -> None:
    frames = b"".join(
        samples.id3_frame(frame_id, text)
        for frame_id, text in [
            (b"TIT2", b"Song"),
            (b"TPE1", b"Band"),
            (b"TALB", b"Album"),
            (b"TYER", b"1999"),
        ]
    )

    result = _extract(tmp_path, "song", samples.id3(frames) + samples.MP3_FRAME * 10)

    assert result.error is None
    assert result.mime_type == "audio/mpeg"
    assert {key: result.metadata[key] for key in ("title", "artist", "album", "year")} == {
        "title": "Song",
        "artist": "Band",
        "album": "Album",
        "year": "1999",
    }
    assert result.metadata["samplerate_hz"] == 44100


def test_corrupt_id3_tag_fails_with_reason(tmp_path: Path) -> None:
    # A title frame that claims 32 bytes where the file ends.
    data = samples.id3(b"TIT2\x00\x00\x00\x20\x00\x00", declared_size=100)

    result = _extract(tmp_path, "bad.mp3", data)

    assert result.mime_type == "audio/mpeg"
    assert result.error is not None
    assert result.error.startswith("unreadable audio tags: ")
    assert result.metadata == {"size": len(data), "mime_type": "audio/mpeg"}


# --- generic, and the file itself ----------------------------------------------------------


def test_unknown_binary_gets_generic_metadata(tmp_path: Path) -> None:
    data = b"\x00\x01\x02\x03" + bytes(range(256)) * 8

    result = _extract(tmp_path, "blob.dat", data)

    assert result == Extraction(
        "application/octet-stream", {"size": len(data), "mime_type": "application/octet-stream"}
    )


def test_content_over_max_bytes_is_hashed_but_not_parsed(tmp_path: Path) -> None:
    data = samples.pdf_with_metadata()

    result = _extract(tmp_path, "big.pdf", data, max_bytes=100)

    assert result.error is None
    assert result.mime_type == "application/pdf"
    assert "pages" not in result.metadata
    assert result.metadata["extraction"] == "skipped: larger than 100 bytes"


def test_changed_content_raises(tmp_path: Path) -> None:
    path, sha256 = _write(tmp_path, "a.txt", b"first version\n")
    (tmp_path / "a.txt").write_bytes(b"second version\n")

    with pytest.raises(ContentChanged):
        extract_file(path, sha256)


def test_symlink_is_not_followed(tmp_path: Path) -> None:
    _, sha256 = _write(tmp_path, "a.txt", b"text\n")
    (tmp_path / "link").symlink_to(tmp_path / "a.txt")

    with pytest.raises(ContentChanged, match="regular file"):
        extract_file(at(tmp_path, "link"), sha256)


def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")

    with pytest.raises(ContentChanged, match="regular file"):
        extract_file(at(tmp_path, "pipe"), hashlib.sha256(b"").hexdigest())


def test_extraction_pickles() -> None:
    import pickle

    result = Extraction("text/plain", {"size": 1}, ("a",), "why")

    assert pickle.loads(pickle.dumps(result)) == result


# --- the pool ------------------------------------------------------------------------------

_MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024


def misbehaving_extract(
    path: Location, expected_sha256: str, options: ExtractOptions
) -> Extraction:
    """Test double for ``extract_file``, run in the pool's workers: the file name decides."""
    name = path.relative
    if name == "hang":
        time.sleep(60)
    elif name == "greedy":
        bytearray(2 * _MEMORY_LIMIT_BYTES)
    elif name == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif name == "noisy.pdf":
        # What parsers do with a damaged file: a Python warning, and a line of their logger.
        warnings.warn("xref table damaged, rebuilt", UserWarning, stacklevel=1)
        logging.getLogger("pypdf._reader").warning("Ignoring wrong pointing object 6 0")
    return extract_file(path, expected_sha256, options)


@pytest.fixture(scope="module")
def pool() -> Iterator[ExtractionPool]:
    pool = ExtractionPool(
        workers=2,
        timeout_s=1.5,
        memory_limit_bytes=_MEMORY_LIMIT_BYTES,
        extract_fn=misbehaving_extract,
    )
    yield pool
    asyncio.run(pool.close())


async def test_pool_extracts(pool: ExtractionPool, tmp_path: Path) -> None:
    path, sha256 = _write(tmp_path, "doc.jpg", samples.pdf_with_text(["hello from a worker"]))

    result = await pool.extract(path, sha256)

    assert result.error is None
    assert result.mime_type == "application/pdf"
    assert result.chunks == ("hello from a worker",)


async def test_a_workers_warnings_are_json_lines_naming_the_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path, sha256 = _write(tmp_path, "noisy.pdf", samples.pdf_with_text(["still readable"]))
    # A pool of its own: its workers' stderr is the one this test captures.
    pool = ExtractionPool(1, 30, _MEMORY_LIMIT_BYTES, extract_fn=misbehaving_extract)
    try:
        result = await pool.extract(path, sha256)
    finally:
        await pool.close()

    assert result.error is None
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    entries = [orjson.loads(line) for line in lines]  # every line is JSON
    by_logger = {entry["logger"]: entry for entry in entries}
    assert "xref table damaged" in by_logger["py.warnings"]["msg"]
    assert by_logger["pypdf._reader"]["msg"] == "Ignoring wrong pointing object 6 0"
    for entry in entries:
        assert entry["path"] == "noisy.pdf" and entry["root"] == "lib"


async def test_pool_reraises_content_changed_and_os_errors(
    pool: ExtractionPool, tmp_path: Path
) -> None:
    path, _ = _write(tmp_path, "a.txt", b"text\n")

    with pytest.raises(ContentChanged):
        await pool.extract(path, "0" * 64)
    with pytest.raises(FileNotFoundError):
        await pool.extract(at(tmp_path, "missing"), "0" * 64)


async def test_pool_times_out_a_hung_extraction_and_carries_on(
    pool: ExtractionPool, tmp_path: Path
) -> None:
    hung = _write(tmp_path, "hang", samples.image("PNG"))
    fine = [_write(tmp_path, f"ok{n}.txt", f"file {n}\n".encode()) for n in range(4)]

    started = time.perf_counter()
    result = await pool.extract(*hung)

    assert 1.5 <= time.perf_counter() - started < 10
    assert result.error == "extraction timed out after 1.5s"
    assert result.mime_type == "image/png"
    assert result.metadata == {"size": len(samples.image("PNG")), "mime_type": "image/png"}
    results = await asyncio.gather(*(pool.extract(*args) for args in fine))
    assert [r.chunks for r in results] == [(f"file {n}\n",) for n in range(4)]


async def test_pool_memory_cap_turns_a_huge_allocation_into_an_error(
    pool: ExtractionPool, tmp_path: Path
) -> None:
    result = await pool.extract(*_write(tmp_path, "greedy", b"just text\n"))

    assert result.error is not None
    assert "memory" in result.error
    assert result.mime_type == "text/plain"
    again = await pool.extract(*_write(tmp_path, "after.txt", b"still here\n"))
    assert again.chunks == ("still here\n",)


async def test_pool_survives_a_crashing_worker(pool: ExtractionPool, tmp_path: Path) -> None:
    result = await pool.extract(*_write(tmp_path, "crash", b"text\n"))

    assert result.error is not None
    assert result.error.startswith("extraction worker died")
    again = await pool.extract(*_write(tmp_path, "after.txt", b"still here\n"))
    assert again.error is None


def test_a_weak_type_guess_the_parser_disproves_is_an_unknown_binary(tmp_path: Path) -> None:
    import random

    from ingestor.extractors.sniff import has_known_signature

    rng = random.Random(7)
    for _ in range(20_000):
        data = rng.randbytes(4096)
        guessed = sniff_mime(data)
        if guessed.startswith(("image/", "text/")) and not has_known_signature(data):
            break
    else:
        pytest.skip("no weakly-typed random sample found")
    result = _extract(tmp_path, "noise.bin", data)
    assert result.mime_type == "application/octet-stream", guessed
    assert result.error is None


def test_counting_lines_and_words_a_slice_at_a_time_matches_the_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random

    from ingestor.extractors import text as text_module

    rng = random.Random(3)
    for size in (1, 2, 3, 7):
        monkeypatch.setattr(text_module, "_COUNT_SLICE_CHARS", size)
        for _ in range(2000):
            text = "".join(rng.choice("ab \n\r\x0b\u2028\t") for _ in range(rng.randrange(40)))
            assert text_module.count_lines(text) == len(text.splitlines()), repr(text)
            assert text_module.count_words(text) == len(text.split()), repr(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_words_in_ascii_text_are_counted_as_split_counts_them(text: str) -> None:
    """The ASCII fast path (no string per word) counts every ASCII whitespace ``str.split``
    knows, \x1c-\x1f included, and agrees with it on any text."""
    from ingestor.extractors import text as text_module

    assert text_module.count_words(text) == len(text.split())
    assert text_module.count_words(text + "\u00e9 x") == len((text + "\u00e9 x").split())


@given(st.text())
def test_cleaned_text_keeps_no_nul_nor_lone_surrogate(text: str) -> None:
    cleaned = clean_text(text)
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")  # raises on a lone surrogate
    if text.isascii():
        assert cleaned == text.replace("\x00", "")


@pytest.mark.timeout(120)
async def test_a_text_just_under_the_size_limit_is_extracted_under_the_default_cap(
    tmp_path: Path,
) -> None:
    """95 MB of text, the default 1 GiB address-space cap of a worker, the default 100 MiB
    extraction limit: extracted whole, not "out of memory"."""
    from fileflow_core.settings import Settings

    defaults = Settings()
    line = b"the quick brown fox jumps over the lazy dog again and again\n"
    data = line * (95 * 1024 * 1024 // len(line))
    location, sha256 = _write(tmp_path, "big.txt", data)
    del data
    pool = ExtractionPool(1, 120, defaults.extract_memory_bytes)
    try:
        result = await pool.extract(
            location, sha256, ExtractOptions(max_bytes=defaults.extract_max_bytes)
        )
    finally:
        await pool.close()
    assert result.error is None
    assert result.metadata["lines"] == 95 * 1024 * 1024 // len(line)
    assert len(result.chunks) > 50_000
