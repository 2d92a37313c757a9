"""PostgreSQL store rules: stale observations never win, repeats write nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from fileflow_core.errors import ContentMissingError, WriteRejectedError
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.store.migrate import migrate
from fileflow_core.store.postgres import PostgresDocumentStore

pytestmark = pytest.mark.integration

OLD, NEW = "a" * 64, "b" * 64
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[PostgresDocumentStore]:
    await migrate(database_url)
    opened = await PostgresDocumentStore.open(database_url, max_connections=2)
    try:
        yield opened
    finally:
        await opened.close()


async def store_kept_later(store: PostgresDocumentStore) -> None:
    """``kept.txt`` observed after ``T0``: a write observed at ``T0`` is stale for it."""
    await store.writes.record_present(
        FileObservation("lib", "kept.txt", T0 + timedelta(seconds=30), 3, 9, 1),
        ContentInfo(OLD, 3, "text/plain"),
        OLD,
    )


async def test_freshness_and_idempotency(store: PostgresDocumentStore) -> None:
    newer = FileObservation("lib", "a.txt", T0 + timedelta(seconds=10), 3, 2, 1)
    older = FileObservation("lib", "a.txt", T0, 3, 1, 1)
    assert await store.writes.record_present(newer, ContentInfo(NEW, 3, "text/plain"), NEW)
    # A replica that looked earlier but commits later must not win.
    assert not await store.writes.record_present(older, ContentInfo(OLD, 3, "text/plain"), OLD)
    assert not await store.writes.record_deleted(older)
    # The same observation again writes nothing.
    assert not await store.writes.record_present(newer, None, NEW)
    row = await store.queries.get_file(1)
    assert row is not None and row["content_sha256"] == NEW and row["status"] == "completed"
    later = FileObservation("lib", "a.txt", T0 + timedelta(seconds=20))
    assert await store.writes.record_deleted(later)
    assert (await store.queries.get_file(1) or {})["status"] == "deleted"
    assert await store.queries.status_counts() == {"deleted": 1}


async def test_batch_writes_keep_every_rule_per_file(
    store: PostgresDocumentStore, database_url: str
) -> None:
    failed = "c" * 64
    await store_kept_later(store)
    results = await store.writes.record_present_many(
        [
            # New content with its chunks, and a copy of it in the same batch.
            PresentWrite(
                FileObservation("lib", "new.txt", T0, 3, 1, 1, {"git_commit": "abc"}),
                NEW,
                ContentInfo(NEW, 3, "text/plain", {"lines": 1}, ("one", "two")),
            ),
            PresentWrite(FileObservation("lib", "copy.txt", T0, 3, 1, 2), NEW),
            # A content already stored; a content stored nowhere.
            PresentWrite(FileObservation("lib", "old.txt", T0, 3, 1, 3), OLD),
            PresentWrite(FileObservation("lib", "lost.txt", T0, 3, 1, 4), "d" * 64),
            # Stale: the stored row was observed later.
            PresentWrite(FileObservation("lib", "kept.txt", T0, 3, 1, 1), NEW),
            # A content whose extraction failed makes its file failed.
            PresentWrite(
                FileObservation("lib", "broken.pdf", T0, 3, 1, 5),
                failed,
                ContentInfo(failed, 3, "application/pdf", extraction_error="bad xref"),
            ),
        ]
    )
    assert results[:3] == ["completed", "completed", "completed"]
    assert isinstance(results[3], ContentMissingError)
    # The stale write changes nothing; the file of a content that failed to extract fails.
    assert results[4:] == [None, "failed"]
    rows = {row["path"]: row for row in await store.queries.list_files(limit=100)}
    assert set(rows) == {"kept.txt", "new.txt", "copy.txt", "old.txt", "broken.pdf"}
    assert rows["kept.txt"]["content_sha256"] == OLD
    assert rows["copy.txt"]["content_sha256"] == NEW
    assert rows["new.txt"]["source"] == {"git_commit": "abc"}
    assert rows["new.txt"]["metadata"] == {"lines": 1}
    assert rows["broken.pdf"]["status"] == "failed"
    assert rows["broken.pdf"]["error"] == "bad xref"
    # The same batch again changes nothing.
    again = await store.writes.record_present_many(
        [PresentWrite(FileObservation("lib", "copy.txt", T0, 3, 1, 2), NEW)]
    )
    assert again == [None]
    chunks = await asyncpg_fetch(database_url, "SELECT seq, text FROM chunks ORDER BY seq")
    assert [(r["seq"], r["text"]) for r in chunks] == [(0, "one"), (1, "two")]


async def test_a_batch_of_stored_contents_keeps_every_rule_per_file(
    store: PostgresDocumentStore,
) -> None:
    """Only references to stored contents (a batch of duplicates): each file's own outcome,
    as in a batch that stores contents."""
    failed = "c" * 64
    await store_kept_later(store)
    await store.writes.record_present(
        FileObservation("lib", "broken.pdf", T0, 3, 1, 5),
        ContentInfo(failed, 3, "application/pdf", extraction_error="bad xref"),
        failed,
    )
    batch = [
        PresentWrite(FileObservation("lib", "copy.txt", T0, 3, 1, 2, {"git_commit": "d"}), OLD),
        PresentWrite(FileObservation("lib", "lost.txt", T0, 3, 1, 4), "d" * 64),
        PresentWrite(FileObservation("lib", "kept.txt", T0, 4, 1, 1), OLD),  # stale
        PresentWrite(FileObservation("lib", "broken-copy.pdf", T0, 3, 1, 6), failed),
    ]
    results = await store.writes.record_present_many(batch)
    assert results[0] == "completed"
    assert isinstance(results[1], ContentMissingError)
    assert results[2:] == [None, "failed"]
    rows = {row["path"]: row for row in await store.queries.list_files(limit=100)}
    assert set(rows) == {"kept.txt", "broken.pdf", "copy.txt", "broken-copy.pdf"}
    assert rows["copy.txt"]["content_sha256"] == OLD
    assert rows["copy.txt"]["source"] == {"git_commit": "d"}
    assert rows["kept.txt"]["size"] == 3
    assert rows["broken-copy.pdf"]["status"] == "failed"
    assert rows["broken-copy.pdf"]["error"] == "bad xref"
    again = await store.writes.record_present_many(batch)
    assert [isinstance(r, ContentMissingError) or r for r in again] == [None, True, None, None]


async def test_a_batch_replacing_a_content_replaces_its_chunks(
    store: PostgresDocumentStore, database_url: str
) -> None:
    """A new content's chunks are copied without a search for old ones; a content extracted
    again (reprocessed, or failed before) has its old chunks cleared in the same batch."""
    failed = "c" * 64
    await store.writes.record_present_many(
        [
            PresentWrite(
                FileObservation("lib", "a.txt", T0, 3, 1, 1),
                NEW,
                ContentInfo(NEW, 3, "text/plain", {}, ("one", "two", "three")),
            ),
            PresentWrite(
                FileObservation("lib", "b.pdf", T0, 3, 1, 2),
                failed,
                ContentInfo(failed, 3, "application/pdf", extraction_error="bad xref"),
            ),
        ]
    )
    later = T0 + timedelta(seconds=1)
    results = await store.writes.record_present_many(
        [
            PresentWrite(
                FileObservation("lib", "a.txt", later, 3, 1, 1),
                NEW,
                ContentInfo(NEW, 3, "text/plain", {}, ("uno",)),
                replace_content=True,
            ),
            PresentWrite(
                FileObservation("lib", "b.pdf", later, 3, 1, 2),
                failed,
                ContentInfo(failed, 3, "application/pdf", {}, ("fixed",)),
            ),
            PresentWrite(
                FileObservation("lib", "c.txt", later, 3, 1, 3),
                OLD,
                ContentInfo(OLD, 3, "text/plain", {}, ("new one",)),
            ),
        ]
    )
    assert results == [None, "completed", "completed"]
    chunks = await asyncpg_fetch(
        database_url, "SELECT content_sha256, seq, text FROM chunks ORDER BY 1, 2"
    )
    assert [tuple(r) for r in chunks] == [
        (OLD, 0, "new one"),
        (NEW, 0, "uno"),
        (failed, 0, "fixed"),
    ]


async def test_a_refused_batch_raises_write_rejected(store: PostgresDocumentStore) -> None:
    with pytest.raises(WriteRejectedError):
        # The schema refuses an absolute path.
        await store.writes.record_present_many(
            [
                PresentWrite(
                    FileObservation("lib", "/abs.txt", datetime.now(UTC), 1, 1, 1),
                    NEW,
                    ContentInfo(NEW, 1, "text/plain"),
                )
            ]
        )
    assert await store.queries.status_counts() == {}


async def asyncpg_fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def test_chunks_are_compressed_with_lz4(
    store: PostgresDocumentStore, database_url: str
) -> None:
    """A 2 KB chunk is compressed when stored, by lz4 rather than the slower default."""
    chunk = "the same words again and again " * 70
    content = ContentInfo(NEW, len(chunk), "text/plain", chunks=(chunk,))
    await store.writes.record_present(FileObservation("lib", "long.txt", T0, 1, 1, 1), content, NEW)
    conn = await asyncpg.connect(database_url)
    try:
        method = await conn.fetchval(
            "SELECT pg_column_compression(text) FROM chunks WHERE content_sha256 = $1", NEW
        )
    finally:
        await conn.close()
    assert method == "lz4"
