"""What the ingestor stores for real content: metadata, chunks, one extraction per content,
and a visible reason for every file it could not parse or read."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from fileflow_core.metrics import INGESTOR as REGISTRY
from fileflow_core.settings import Settings
from tests import pipeline, samples
from tests.pipeline import Db
from tests.support import wait_until

pytestmark = pytest.mark.integration

LONG_TEXT = " ".join(f"word{n}" for n in range(400))


def extractions() -> float:
    return sum(
        REGISTRY.get_sample_value("fileflow_ingestor_extractions_total", {"outcome": o}) or 0
        for o in ("completed", "failed", "too_large")
    )


def mp3() -> bytes:
    frames = samples.id3_frame(b"TIT2", b"Song") + samples.id3_frame(b"TPE1", b"Band")
    return samples.id3(frames) + samples.MP3_FRAME * 10


async def rows_by_path(db: Db) -> dict[str, dict[str, object]]:
    rows = await db.fetch(
        "SELECT f.path, f.status, f.error, f.deleted, c.mime_type, c.metadata,"
        " c.extraction_status, c.extraction_error,"
        " (SELECT count(*) FROM chunks k WHERE k.content_sha256 = c.sha256) AS chunks"
        " FROM files f LEFT JOIN contents c ON c.sha256 = f.content_sha256"
    )
    return {row["path"]: dict(row) for row in rows}


async def test_sample_set_gets_its_metadata_and_chunks(settings: Settings, root_dir: Path) -> None:
    files = {
        "utf8.txt": LONG_TEXT.encode(),
        "latin1.txt": ("Les élèves ont été très curieux à propos de la fenêtre. " * 8).encode(
            "latin-1"
        ),
        "doc.pdf": samples.pdf_with_text([f"Line {n} of the report" for n in range(30)]),
        "meta.pdf": samples.pdf_with_metadata(pages=3),
        "image.png": samples.image("PNG"),
        "photo.jpg": samples.image("JPEG", samples.camera_exif()),
        "song.mp3": mp3(),
        "blob.bin": bytes(range(256)) * 8 + b"\x00\x01",
    }
    for name, data in files.items():
        (root_dir / name).write_bytes(data)
    db = Db(settings.database_url)
    small_chunks = settings.model_copy(update={"chunk_chars": 200, "chunk_overlap_chars": 20})
    async with pipeline.ingestor(small_chunks), pipeline.watcher(small_chunks):
        rows = await wait_until(
            lambda: rows_by_path(db),
            lambda r: len(r) == len(files) and all(v["status"] != "processing" for v in r.values()),
            timeout_s=60,
            what="every sample stored",
        )
    assert {path: row["status"] for path, row in rows.items()} == dict.fromkeys(files, "completed")
    utf8 = rows["utf8.txt"]
    assert utf8["mime_type"] == "text/plain"
    assert utf8["metadata"]["words"] == 400
    assert utf8["chunks"] >= 10
    assert rows["latin1.txt"]["metadata"]["encoding"] in ("cp1252", "latin_1", "iso8859_1")
    assert rows["doc.pdf"]["mime_type"] == "application/pdf"
    assert rows["doc.pdf"]["chunks"] >= 2
    assert rows["meta.pdf"]["metadata"]["pages"] == 3
    assert rows["meta.pdf"]["metadata"]["title"] == "Quarterly"
    assert rows["image.png"]["metadata"]["width"] > 0
    photo = rows["photo.jpg"]["metadata"]
    assert photo["format"] == "JPEG" and photo.get("camera_model") and photo.get("taken_at")
    assert rows["song.mp3"]["mime_type"] == "audio/mpeg"
    assert rows["song.mp3"]["metadata"]["title"] == "Song"
    assert rows["blob.bin"]["mime_type"] == "application/octet-stream"
    assert rows["blob.bin"]["extraction_status"] == "completed"


async def test_two_hundred_copies_are_extracted_once(settings: Settings, root_dir: Path) -> None:
    data = samples.pdf_with_text(["the same document"] * 5)
    for i in range(200):
        (root_dir / f"copy-{i:03}.pdf").write_bytes(data)
    db = Db(settings.database_url)
    before = extractions()
    async with pipeline.ingestor(settings), pipeline.watcher(settings):
        await wait_until(db.completed_count, lambda n: n == 200, what="200 rows")
    sha = hashlib.sha256(data).hexdigest()
    assert extractions() - before == 1
    assert await db.fetchval("SELECT count(*) FROM files WHERE content_sha256 = $1", sha) == 200
    assert await db.fetchval("SELECT count(*) FROM contents") == 1


async def test_bad_files_fail_with_a_reason_and_the_service_goes_on(
    settings: Settings, root_dir: Path
) -> None:
    (root_dir / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    (root_dir / "truncated.png").write_bytes(samples.image("PNG")[:40])
    (root_dir / "bomb.png").write_bytes(samples.png_bomb(30_000))
    locked = root_dir / "locked.txt"
    locked.write_text("nobody may read this")
    locked.chmod(0)
    db = Db(settings.database_url)
    async with pipeline.ingestor(settings), pipeline.watcher(settings):
        rows = await wait_until(
            lambda: rows_by_path(db),
            lambda r: (
                {"corrupt.pdf", "truncated.png", "bomb.png", "locked.txt"} <= set(r)
                and all(v["status"] in ("failed", "completed") for v in r.values())
            ),
            what="the bad files recorded",
        )
        (root_dir / "fine.txt").write_text("the next file is processed")
        await wait_until(db.completed_count, lambda n: n >= 1, what="a good file after them")
    for name in ("corrupt.pdf", "truncated.png", "bomb.png"):
        assert rows[name]["status"] == "failed", name
        assert rows[name]["error"], name
    assert rows["bomb.png"]["error"].startswith("decompression bomb")
    if os.geteuid() == 0:  # root reads mode-000 files; tests/unit/test_handle.py covers it
        assert rows["locked.txt"]["status"] == "completed"
    else:
        assert rows["locked.txt"]["status"] == "failed"
        assert "permission denied" in rows["locked.txt"]["error"]


async def test_file_deleted_between_event_and_read_is_recorded_deleted(
    settings: Settings, root_dir: Path
) -> None:
    db = Db(settings.database_url)
    victim = root_dir / "short-lived.txt"
    victim.write_text("about to go")
    async with pipeline.ingestor(settings), pipeline.watcher(settings):
        await wait_until(db.completed_count, lambda n: n == 1, what="first version stored")
    victim.unlink()
    from tests.integration.test_ingestor_faults import publish_upserts

    async with pipeline.ingestor(settings):
        # An upsert hint for a path that no longer exists: reconciled as a deletion.
        await publish_upserts(settings.queue_name, ["short-lived.txt"])
        await wait_until(
            lambda: db.fetchval("SELECT deleted FROM files WHERE path = 'short-lived.txt'"),
            lambda deleted: deleted is True,
            what="tombstone",
        )
        await asyncio.sleep(0.2)


async def test_hard_links_share_one_content_and_symlink_loops_are_never_followed(
    settings: Settings, root_dir: Path
) -> None:
    (root_dir / "original.txt").write_text("one inode, two names")
    os.link(root_dir / "original.txt", root_dir / "hardlink.txt")
    (root_dir / "loop").mkdir()
    (root_dir / "loop" / "again").symlink_to(root_dir / "loop", target_is_directory=True)
    (root_dir / "self").symlink_to(root_dir / "self")
    db = Db(settings.database_url)
    async with pipeline.ingestor(settings), pipeline.watcher(settings):
        rows = await wait_until(db.live_files, lambda r: len(r) == 2, what="both names stored")
        await asyncio.sleep(1.0)
    assert set(rows) == {"original.txt", "hardlink.txt"}
    assert rows["original.txt"] == rows["hardlink.txt"]
    assert await db.fetchval("SELECT count(*) FROM contents") == 1
    assert await db.fetchval("SELECT count(*) FROM files") == 2
