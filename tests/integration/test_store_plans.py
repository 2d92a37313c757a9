"""A library that grows under a long-lived connection keeps each file's write cost flat."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

import asyncpg
import pytest

from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.store.migrate import migrate
from fileflow_core.store.postgres import PostgresDocumentStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GROWN_BY = 50_000


def batch(name: str, size: int = 3) -> list[PresentWrite]:
    writes = []
    for i in range(size):
        sha = hashlib.sha256(f"{name}-{i}".encode()).hexdigest()
        content = ContentInfo(sha, 1, "text/plain", chunks=("x",))
        writes.append(
            PresentWrite(FileObservation("lib", f"{name}/{i}.txt", T0, 1, 1, 1), sha, content)
        )
    return writes


async def contents_stats(conn: asyncpg.Connection, inserted: int) -> int:
    """Rows read by sequential scans of ``contents``, once the store's backend has reported
    (it does when it exits, with the rows it inserted)."""
    for _ in range(100):
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(
            "SELECT n_tup_ins, seq_tup_read FROM pg_stat_user_tables WHERE relname = 'contents'"
        )
        if row is not None and row["n_tup_ins"] >= inserted:
            return int(row["seq_tup_read"])
        await asyncio.sleep(0.05)
    raise AssertionError("the store's backend never reported its statistics")


async def test_writes_are_planned_for_the_tables_as_they_are(database_url: str) -> None:
    """Plans made while the tables were small must not be kept once they are large: a cached
    plan that scanned ``contents`` a batch made each file's write cost grow with the library."""
    await migrate(database_url)
    store = await PostgresDocumentStore.open(database_url, max_connections=1)
    conn = await asyncpg.connect(database_url)
    try:
        for n in range(8):  # past the executions after which PostgreSQL may keep a plan
            await store.writes.record_present_many(batch(f"small{n}"))
        await conn.execute(
            "INSERT INTO contents (sha256, size, mime_type)"
            " SELECT encode(sha256(i::text::bytea), 'hex'), 1, 'text/plain'"
            " FROM generate_series(1, $1) AS i",
            GROWN_BY,
        )
        for n in range(5):
            results = await store.writes.record_present_many(batch(f"large{n}"))
            assert results == ["completed"] * 3
    finally:
        await store.close()
    try:
        scanned = await contents_stats(conn, GROWN_BY + 13 * 3)
    finally:
        await conn.close()
    assert scanned < GROWN_BY, f"the writes scanned {scanned} rows of contents"
