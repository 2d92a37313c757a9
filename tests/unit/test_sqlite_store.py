"""The SQLite store keeps the PostgreSQL store's rules: idempotent, freshness-conditional."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fileflow_core.errors import ContentMissingError, TransientError, WriteRejectedError
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.store.sqlite import SqliteDocumentStore
from fileflow_core.store.sqlite.checkpoint import CHECKPOINT_INTERVAL_S, WRITER_CHECKPOINT_BYTES
from fileflow_core.store.sqlite.compact import failure_reason
from fileflow_core.store.sqlite.connection import (
    NEW_DATABASE_PAGE_BYTES,
    WRITER_CACHE_KIB,
    disk_full,
)
from tests.support import earlier_sqlite_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHA_A, SHA_B = "a" * 64, "b" * 64


def seen(path: str, seconds: float, size: int = 3, inode: int = 7) -> FileObservation:
    return FileObservation("lib", path, T0 + timedelta(seconds=seconds), size, 100, inode)


def content(sha: str, **extra: object) -> ContentInfo:
    return ContentInfo(sha, 3, "text/plain", {"words": 1}, ("one chunk",), **extra)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteDocumentStore]:
    opened = await SqliteDocumentStore.open(tmp_path / "data" / "fileflow.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


async def test_schema_is_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    first = await SqliteDocumentStore.open(path)
    await first.close()
    second = await SqliteDocumentStore.open(path)
    await second.close()
    assert first.applied == [
        "0001_init.sql",
        "0002_names_as_bytes_and_deleted_status.sql",
        "0003_root_mounts.sql",
        "0004_chunks_with_rowid.sql",
    ]
    assert second.applied == []


def old_database(path: Path, up_to: int) -> None:
    """An earlier release's file with one content and its three 2 KB chunks."""
    earlier_sqlite_store(path, up_to)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "INSERT INTO contents (sha256, size, mime_type) VALUES (?, 3, 'text/plain')", (SHA_A,)
        )
        conn.executemany(
            "INSERT INTO chunks (content_sha256, seq, text) VALUES (?, ?, ?)",
            [(SHA_A, seq, f"chunk {seq} " + "x" * 2000) for seq in range(3)],
        )


async def test_an_upgrade_keeps_the_chunks_and_their_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Chunks move to a rowid table (a 2 KB chunk no longer spills to an overflow page) with
    every chunk, the key and the cascade kept; the rebuild is announced before it starts."""
    path = tmp_path / "f.sqlite3"
    await asyncio.to_thread(old_database, path, 3)
    caplog.set_level(logging.INFO, logger="fileflow_core.store.sqlite.connection")
    store = await SqliteDocumentStore.open(path)
    try:
        assert store.applied == ["0004_chunks_with_rowid.sql"]
        assert f"applying migration 0004_chunks_with_rowid.sql to {path}" in caplog.messages
        assert [text[:8] for text in await chunks_of(store, SHA_A)] == [
            "chunk 0 ",
            "chunk 1 ",
            "chunk 2 ",
        ]
        (table,) = await store._db.read("SELECT sql FROM sqlite_master WHERE name = 'chunks'")
        assert "WITHOUT ROWID" not in table[0]
        async with store._db.transaction() as db:
            with pytest.raises(sqlite3.IntegrityError):
                await db.execute(
                    "INSERT INTO chunks (content_sha256, seq, text) VALUES (?, 0, 'again')",
                    (SHA_A,),
                )
            with pytest.raises(sqlite3.IntegrityError):
                await db.execute(
                    "INSERT INTO chunks (content_sha256, seq, text) VALUES (?, 0, 'orphan')",
                    ("e" * 64,),
                )
            await db.execute("DELETE FROM contents WHERE sha256 = ?", (SHA_A,))
        assert await chunks_of(store, SHA_A) == []
    finally:
        await store.close()


async def test_the_same_observation_twice_writes_once(store: SqliteDocumentStore) -> None:
    assert await store.writes.record_present(seen("a.txt", 1), content(SHA_A), SHA_A)
    assert not await store.writes.record_present(seen("a.txt", 2), content(SHA_A), SHA_A)
    assert not await store.writes.record_present(seen("a.txt", 3), None, SHA_A)
    assert await store.queries.status_counts() == {"completed": 1}
    (row,) = await store.queries.list_files()
    assert row["content_sha256"] == SHA_A and row["metadata"] == {"words": 1}
    assert isinstance(row["updated_at"], datetime)


async def test_a_stale_observation_never_overwrites_a_newer_one(
    store: SqliteDocumentStore,
) -> None:
    assert await store.writes.record_present(seen("a.txt", 10), content(SHA_B), SHA_B)
    assert not await store.writes.record_present(seen("a.txt", 5), content(SHA_A), SHA_A)
    assert not await store.writes.record_deleted(seen("a.txt", 5))
    (row,) = await store.queries.list_files()
    assert row["content_sha256"] == SHA_B and row["status"] == "completed"
    assert await store.writes.record_deleted(seen("a.txt", 11))
    assert not await store.writes.record_deleted(seen("a.txt", 12))
    assert not await store.writes.record_present(seen("a.txt", 10.5), None, SHA_B)
    assert await store.queries.status_counts() == {"deleted": 1}
    assert await store.writes.record_present(seen("a.txt", 13), None, SHA_B)  # back again
    assert await store.queries.status_counts() == {"completed": 1}


async def test_content_must_exist_when_not_given(store: SqliteDocumentStore) -> None:
    with pytest.raises(ContentMissingError):
        await store.writes.record_present(seen("a.txt", 1), None, SHA_A)
    assert await store.queries.status_counts() == {}


async def test_failed_extraction_fails_the_file_and_a_retry_replaces_it(
    store: SqliteDocumentStore,
) -> None:
    await store.writes.record_present(
        seen("a.pdf", 1), content(SHA_A, extraction_error="bad"), SHA_A
    )
    (row,) = await store.queries.list_files()
    assert row["status"] == "failed" and row["error"] == "bad"
    assert await store.queries.locations(None) == [(row["id"], "lib", "a.pdf")]
    await store.writes.record_present(seen("a.pdf", 2), content(SHA_A), SHA_A)
    assert (await store.queries.list_files())[0]["status"] == "completed"


async def test_copies_share_one_content_under_concurrency(store: SqliteDocumentStore) -> None:
    await asyncio.gather(
        *(store.writes.record_present(seen(f"c{i}", 1), content(SHA_A), SHA_A) for i in range(50))
    )
    assert await store.queries.status_counts() == {"completed": 50}
    assert await store.writes.content_exists(SHA_A)


async def test_signatures_are_the_settled_live_files(store: SqliteDocumentStore) -> None:
    await store.writes.record_present(seen("kept", 1, size=3, inode=9), content(SHA_A), SHA_A)
    await store.writes.record_present(seen("gone", 1), None, SHA_A)
    await store.writes.record_deleted(seen("gone", 2))
    await store.writes.record_processing(seen("busy", 1))
    await store.queries.mark_pending("lib", "asked")
    assert await store.roots.signatures("lib") == {"kept": (3, 100, 9)}
    assert await store.writes.is_current("lib", "kept", 3, 100, 9)
    assert not await store.writes.is_current("lib", "kept", 4, 100, 9)


async def test_operator_queries(store: SqliteDocumentStore) -> None:
    await store.roots.register_roots([("lib", "library", "/srv/lib")])
    await store.queries.mark_pending_many("lib", ["a", "b"])
    file_id = await store.queries.mark_pending("lib", "a")
    assert await store.queries.progress("lib", ["a", "b", "c"]) == {"pending": 2}
    await store.writes.record_present(seen("a", 1), content(SHA_A), SHA_A)
    await store.writes.record_failed(seen("b", 1), "no access", attempts=3)
    assert await store.queries.progress("lib", ["a", "b"]) == {"completed": 1, "failed": 1}
    assert await store.queries.completed_since(60) == 1
    found = await store.queries.get_file(file_id)
    assert found is not None and found["path"] == "a" and found["mime_type"] == "text/plain"
    assert [row["path"] for row in await store.queries.list_files(status="failed")] == ["b"]
    assert await store.queries.get_file(999) is None
    assert await store.ping()


async def test_a_batch_is_one_transaction_run_in_one_hop(store: SqliteDocumentStore) -> None:
    """A batch is written whole on the connection's thread, or not at all."""
    batch = [
        PresentWrite(seen(f"f{i}.txt", 1, inode=i), SHA_A, content(SHA_A) if i == 0 else None)
        for i in range(20)
    ]
    assert await store.writes.record_present_many(batch) == ["completed"] * 20
    refused = [
        PresentWrite(seen("g.txt", 2), SHA_B, content(SHA_B)),
        PresentWrite(seen("/absolute.txt", 2), SHA_B),  # the schema refuses it
    ]
    with pytest.raises(WriteRejectedError):
        await store.writes.record_present_many(refused)
    # Rolled back whole: the first file of the refused batch and its content are not there.
    assert await store.queries.status_counts() == {"completed": 20}
    assert not await store.writes.content_exists(SHA_B)
    # The connection is usable afterwards, and writes from both paths interleave.
    written = await asyncio.gather(
        store.writes.record_present_many([PresentWrite(seen("g.txt", 3), SHA_B, content(SHA_B))]),
        store.writes.record_deleted(seen("f1.txt", 4)),
    )
    assert written == [["completed"], True]
    assert await store.queries.status_counts() == {"completed": 20, "deleted": 1}


async def chunks_of(store: SqliteDocumentStore, sha: str) -> list[str]:
    rows = await store._db.read(
        "SELECT text FROM chunks WHERE content_sha256 = ? ORDER BY seq", (sha,)
    )
    return [row[0] for row in rows]


async def test_a_batch_replaces_the_chunks_of_contents_it_replaces_and_keeps_the_rest(
    store: SqliteDocumentStore,
) -> None:
    """New contents get their chunks; a content that failed before, or is reprocessed, has its
    old chunks replaced; a content stored complete keeps its own."""
    sha_c = "c" * 64
    failed = ContentInfo(SHA_A, 3, "text/plain", {}, ("old a1", "old a2"), extraction_error="x")
    await store.writes.record_present_many(
        [
            PresentWrite(seen("a.txt", 1), SHA_A, failed),
            PresentWrite(seen("b.txt", 1), SHA_B, content(SHA_B)),
            PresentWrite(seen("c.txt", 1), sha_c, content(sha_c)),
        ]
    )
    assert await chunks_of(store, SHA_A) == ["old a1", "old a2"]
    again = ContentInfo(SHA_A, 3, "text/plain", {}, ("new a",))
    ignored = ContentInfo(SHA_B, 3, "text/plain", {}, ("not stored",))
    redone = ContentInfo(sha_c, 3, "text/plain", {}, ("redone c",))
    written = await store.writes.record_present_many(
        [
            PresentWrite(seen("a.txt", 2), SHA_A, again),
            PresentWrite(seen("b2.txt", 2), SHA_B, ignored),
            PresentWrite(seen("c.txt", 2), sha_c, redone, replace_content=True),
            PresentWrite(seen("gone.txt", 2), "d" * 64),
        ]
    )
    assert written[:3] == ["completed", "completed", None]
    assert isinstance(written[3], ContentMissingError)
    assert await chunks_of(store, SHA_A) == ["new a"]
    assert await chunks_of(store, SHA_B) == ["one chunk"]
    assert await chunks_of(store, sha_c) == ["redone c"]
    statuses = {row["path"]: row["status"] for row in await store.queries.list_files()}
    assert statuses == {
        "a.txt": "completed",
        "b.txt": "completed",
        "b2.txt": "completed",
        "c.txt": "completed",
    }


async def test_the_log_is_checkpointed_after_writes_off_the_writer(tmp_path: Path) -> None:
    """The writer's own checkpoint limit is far away (64 MB of log): the database file grows
    only because the second connection copied the log into it."""
    database = tmp_path / "data" / "fileflow.sqlite3"
    opened = await SqliteDocumentStore.open(database)
    try:
        # The schema's own writes are checkpointed first.
        await asyncio.sleep(3 * CHECKPOINT_INTERVAL_S)
        size_before = database.stat().st_size
        writes = [
            PresentWrite(
                seen(f"f{i}.txt", 1, inode=i),
                f"{i:064x}",
                ContentInfo(f"{i:064x}", 3, "text/plain", {}, ("x" * 2000,)),
            )
            for i in range(300)
        ]
        assert await opened.writes.record_present_many(writes) == ["completed"] * 300
        assert database.stat().st_size == size_before  # still only in the log

        async def grown() -> bool:
            return database.stat().st_size > size_before + 300 * 2000

        for _ in range(50):
            if await grown():
                break
            await asyncio.sleep(0.1)
        assert await grown()
    finally:
        await opened.close()


async def test_the_writer_keeps_a_large_page_cache(store: SqliteDocumentStore) -> None:
    """Index pages stay in the writer's cache rather than SQLite's default 2 MB."""
    rows = await store._db.read("PRAGMA cache_size")
    assert rows[0][0] == -WRITER_CACHE_KIB


async def test_a_new_database_has_pages_that_hold_several_chunks(
    store: SqliteDocumentStore,
) -> None:
    """8 KB pages (three 2 KB chunks a page); the writer's own checkpoint limit in pages is
    its limit in bytes at that size, and the log shrinks back to it after a large write."""
    ((page_bytes,),) = await store._db.read("PRAGMA page_size")
    ((limit_pages,),) = await store._db.read("PRAGMA wal_autocheckpoint")
    assert page_bytes == NEW_DATABASE_PAGE_BYTES == 8192
    assert limit_pages * page_bytes == WRITER_CHECKPOINT_BYTES
    ((log_limit,),) = await store._db.read("PRAGMA journal_size_limit")
    assert log_limit == WRITER_CHECKPOINT_BYTES


async def test_an_existing_database_keeps_its_page_size(tmp_path: Path) -> None:
    """A database an earlier release created (4 KB pages) is not rebuilt; its checkpoint
    limit in pages is worked out from its own page size."""
    path = tmp_path / "f.sqlite3"
    await asyncio.to_thread(old_database, path, 3)
    store = await SqliteDocumentStore.open(path)
    try:
        ((page_bytes,),) = await store._db.read("PRAGMA page_size")
        ((limit_pages,),) = await store._db.read("PRAGMA wal_autocheckpoint")
        assert page_bytes == 4096
        assert limit_pages * page_bytes == WRITER_CHECKPOINT_BYTES
        assert len(await chunks_of(store, SHA_A)) == 3
    finally:
        await store.close()


def sqlite_error(name: str, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name
    return error


def test_a_full_disk_and_a_file_in_use_are_told_apart() -> None:
    path = Path("/data/fileflow.sqlite3")
    full = failure_reason(path, sqlite_error("SQLITE_FULL", "database or disk is full"))
    busy = failure_reason(path, sqlite_error("SQLITE_BUSY", "database is locked"))
    other = failure_reason(path, sqlite_error("SQLITE_IOERR", "disk I/O error"))
    assert "ran out of disk space" in full and "/data" in full and "in use" not in full
    assert "is in use" in busy and "stop `fileflow run`" in busy
    assert other == f"compacting {path} failed and changed nothing: disk I/O error"
    wrapped = TransientError("SQLite rejected the write")
    wrapped.__cause__ = sqlite_error("SQLITE_FULL", "database or disk is full")
    assert disk_full(wrapped) and not disk_full(sqlite_error("SQLITE_BUSY", "locked"))
