"""Benchmark 14: the embedded store's batch write on its current layout against the layout it
replaced, in one run.

Both sides write the same files through ``SqliteWrites.record_present_many`` (what
``fileflow run`` does: contents upsert, chunks insert, files upsert, one transaction a batch of
100 on the store's one connection, with its background checkpoints). The current side is a
database the store creates (8 KB pages, chunks in a rowid table). The former side is created
as the earlier release did: SQLite's default 4 KB pages and migrations up to 0003, so chunks
live in a WITHOUT ROWID table; 0004 is marked applied so the store leaves it so. Unique 4 KB
text files (three chunks each), then a duplicate-heavy set (nine files in ten name a content
already stored), into the same two databases; the sides alternate, twice each. The figures:
files/s, this process's CPU a file (the SQLite work runs in it), the database's size on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.models import PresentWrite
from fileflow_core.store.sqlite import SqliteDocumentStore
from fileflow_core.store.sqlite.connection import migrations, statements
from tests.perf.figures import report
from tests.perf.test_store_writes import FILES, ROUNDS, batches

FORMER_VERSION = 3  # the last migration the former layout had


def former_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at text NOT NULL DEFAULT '')"
        )
        for version, name, script in migrations():
            if version <= FORMER_VERSION:
                for statement in statements(script):
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '')", (version, name))


def on_disk_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 1)


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
    with sqlite3.connect(path) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("files", "contents", "chunks")
        }


def page_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


async def both(folder: Path) -> dict[str, Any]:
    sides = {"current": folder / "current.sqlite3", "former": folder / "former.sqlite3"}
    await asyncio.to_thread(former_database, sides["former"])
    kinds = ("unique", "duplicate")
    cpu: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in kinds}
    pace: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in kinds}
    for kind in kinds:
        for round_no in range(ROUNDS):
            work = batches(kind, round_no)
            order = list(sides.items())
            for side, path in order if round_no % 2 == 0 else reversed(order):
                seconds, cpu_s = await write_all(path, work)
                cpu[kind][side].append(cpu_s * 1000 / FILES)
                pace[kind][side].append(FILES / seconds)
    figures: dict[str, Any] = {
        "files_a_round": FILES,
        "rounds": ROUNDS,
        "page_bytes": {side: page_bytes(path) for side, path in sides.items()},
        "rows": {side: stored_rows(path) for side, path in sides.items()},
        "on_disk_mb": {side: on_disk_mb(path) for side, path in sides.items()},
    }
    for kind in kinds:
        for side in sides:
            figures[f"{kind}_{side}"] = {
                "cpu_ms_per_file": [round(v, 4) for v in cpu[kind][side]],
                "files_per_s": [round(v) for v in pace[kind][side]],
            }
        figures[f"{kind}_cpu_former_over_current"] = round(
            sum(cpu[kind]["former"]) / sum(cpu[kind]["current"]), 2
        )
    return figures


def test_sqlite_writes_current_layout_against_former(benchmark: Any, tmp_path: Path) -> None:
    figures = benchmark.pedantic(lambda: uvloop.run(both(tmp_path)), rounds=1, iterations=1)
    report(benchmark, "embedded store batch writes: current layout vs former", figures)
    contents = ROUNDS * (FILES + FILES // 10)
    expected = {"files": 2 * ROUNDS * FILES, "contents": contents, "chunks": 3 * contents}
    assert figures["rows"] == {"current": expected, "former": expected}
    assert figures["page_bytes"] == {"current": 8192, "former": 4096}
