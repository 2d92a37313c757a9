"""Benchmark 14: the embedded store's batch write on its current layout against the layout it
replaced, in one run.

Both sides write the same files through ``SqliteWrites.record_present_many`` (what
``fileflow run`` does: contents upsert, chunks insert, files upsert, one transaction a batch of
100 on the store's one connection, with its background checkpoints). The current side is a
database the store creates (8 KB pages, chunks in a rowid table). The former side is created
as the earlier release did: SQLite's default 4 KB pages and migrations up to 0003, so chunks
live in a WITHOUT ROWID table; the later ones are marked applied so the store leaves it so.
Unique 4 KB text files (three chunks each), then a duplicate-heavy set (nine files in ten name a
content already stored), into the same two databases; the sides alternate, twice each. The figures:
files/s, this process's CPU a file (the SQLite work runs in it), the database's size on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.models import PresentWrite
from fileflow_core.store.sqlite import SqliteDocumentStore
from fileflow_core.store.sqlite.compact import on_disk_bytes
from fileflow_core.store.sqlite.connection import migrations
from tests.perf.figures import report
from tests.perf.test_store_writes import FILES, ROUNDS, alternating_rounds
from tests.support import earlier_sqlite_store

FORMER_VERSION = 3  # the last migration the former layout had


async def write_all(path: Path, work: list[list[PresentWrite]]) -> tuple[float, float]:
    """Seconds and this process's CPU seconds to write ``work``."""
    store = await SqliteDocumentStore.open(path)
    try:
        cpu_before, started = time.process_time(), time.perf_counter()
        for batch in work:
            results = await store.writes.record_present_many(batch)
            assert all(isinstance(result, str) for result in results), results
        return time.perf_counter() - started, time.process_time() - cpu_before
    finally:
        await store.close()


def stored_rows(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("files", "contents", "chunks")
        }


def page_bytes(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


async def both(folder: Path) -> dict[str, Any]:
    sides = {"current": folder / "current.sqlite3", "former": folder / "former.sqlite3"}
    await asyncio.to_thread(
        earlier_sqlite_store, sides["former"], FORMER_VERSION, marked_up_to=migrations()[-1][0]
    )
    rounds = await alternating_rounds(
        sides, write_all, "cpu_ms_per_file", ("former_over_current", "former", "current")
    )
    return {
        "files_a_round": FILES,
        "rounds": ROUNDS,
        "page_bytes": {side: page_bytes(path) for side, path in sides.items()},
        "rows": {side: stored_rows(path) for side, path in sides.items()},
        "on_disk_mb": {side: round(on_disk_bytes(path) / 1e6, 1) for side, path in sides.items()},
    } | rounds


def test_sqlite_writes_current_layout_against_former(benchmark: Any, tmp_path: Path) -> None:
    figures = benchmark.pedantic(lambda: uvloop.run(both(tmp_path)), rounds=1, iterations=1)
    report(benchmark, "embedded store batch writes: current layout vs former", figures)
    contents = ROUNDS * (FILES + FILES // 10)
    expected = {"files": 2 * ROUNDS * FILES, "contents": contents, "chunks": 3 * contents}
    assert figures["rows"] == {"current": expected, "former": expected}
    assert figures["page_bytes"] == {"current": 8192, "former": 4096}
