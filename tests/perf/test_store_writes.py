"""Benchmark 13: PostgreSQL's CPU a file for the ingestor's batch write, with contents named
through the schema's per-statement checks against the row-by-row foreign keys they replaced.

Both sides write the same files through ``PostgresWrites.record_present_many`` (the ingestor's
group commit: contents upsert, chunks ``COPY``, files upsert, one transaction a batch of 100, two
connections), into a database of their own migrated to the current schema; the foreign-key side
then has the checks swapped for the foreign keys and the regular-expression ``sha256`` check
the schema had before. First unique 4 KB text files (three chunks each), then a duplicate-heavy
set (nine files in ten name a content already stored). The sides alternate, twice each.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import uvloop

from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.store.migrate import migrate
from fileflow_core.store.postgres.connection import Database
from fileflow_core.store.postgres.writes import PostgresWrites
from tests.isolation import own_database
from tests.perf.conftest import KNOBS
from tests.perf.figures import report
from tests.perf.procstats import server_cpu_s

FILES = KNOBS.store_files
BATCH = 100
CONNECTIONS = 2
ROUNDS = 2
KINDS = ("unique", "duplicate")
T = TypeVar("T")
# Writes a round's batches into one side: (seconds, CPU seconds).
WriteAll = Callable[[T, list[list[PresentWrite]]], Awaitable[tuple[float, float]]]

FOREIGN_KEYS = """
DROP TRIGGER files_name_stored_contents ON files;
DROP TRIGGER chunks_name_stored_contents ON chunks;
DROP TRIGGER files_repoint_stored_content ON files;
DROP TRIGGER chunks_repoint_stored_content ON chunks;
DROP TRIGGER contents_deleted ON contents;
ALTER TABLE files ADD FOREIGN KEY (content_sha256) REFERENCES contents (sha256);
ALTER TABLE chunks ADD FOREIGN KEY (content_sha256) REFERENCES contents (sha256)
    ON DELETE CASCADE;
ALTER TABLE contents DROP CONSTRAINT contents_sha256_check;
ALTER TABLE contents ADD CONSTRAINT contents_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$');
"""


def batches(kind: str, round_no: int) -> list[list[PresentWrite]]:
    """The files of one round, in batches; ``duplicate``: nine in ten name a stored content."""
    seen_at = datetime.now(UTC)
    writes = []
    for i in range(FILES):
        seed = i - i % 10 if kind == "duplicate" else i
        body = (f"{kind} {round_no} file {seed} " * 200)[:4096]
        sha = hashlib.sha256(body.encode()).hexdigest()
        content = ContentInfo(
            sha,
            4096,
            "text/plain",
            {"encoding": "ascii", "lines": 1, "words": 800},
            chunks=(body[:2000], body[1800:3800], body[3600:]),
        )
        observation = FileObservation(
            "lib", f"{kind}{round_no}/d{i % 100:02}/f{i}.txt", seen_at, 4096, i, i
        )
        writes.append(PresentWrite(observation, sha, content if seed == i else None))
    return [writes[i : i + BATCH] for i in range(0, FILES, BATCH)]


async def write_all(url: str, work: list[list[PresentWrite]]) -> tuple[float, float]:
    """Seconds and PostgreSQL CPU seconds to write ``work`` over two connections."""
    db = await Database.open(url, max_connections=CONNECTIONS)
    writes = PostgresWrites(db)
    pending = list(reversed(work))

    async def writer() -> None:
        while pending:
            results = await writes.record_present_many(pending.pop())
            assert all(isinstance(result, str) for result in results), results

    try:
        cpu_before, started = server_cpu_s()["postgresql"], time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(CONNECTIONS)))
        return time.perf_counter() - started, server_cpu_s()["postgresql"] - cpu_before
    finally:
        await db.close()


async def stored_rows(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
            for table in ("files", "contents", "chunks")
        }
    finally:
        await conn.close()


async def alternating_rounds(
    sides: dict[str, T], write_all: WriteAll[T], cpu_key: str, ratio: tuple[str, str, str]
) -> dict[str, Any]:
    """Every kind's rounds written by each side, the sides' order alternating round by round:
    each side's CPU a file (as ``cpu_key``) and files/s a round, and for each kind the CPU of
    side ``ratio[1]`` over side ``ratio[2]`` (as ``{kind}_cpu_{ratio[0]}``)."""
    cpu: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in KINDS}
    pace: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in KINDS}
    for kind in KINDS:
        for round_no in range(ROUNDS):
            work = batches(kind, round_no)
            order = list(sides.items())
            for side, target in order if round_no % 2 == 0 else reversed(order):
                seconds, cpu_s = await write_all(target, work)
                cpu[kind][side].append(cpu_s * 1000 / FILES)
                pace[kind][side].append(FILES / seconds)
    figures: dict[str, Any] = {}
    name, costlier, cheaper = ratio
    for kind in KINDS:
        for side in sides:
            figures[f"{kind}_{side}"] = {
                cpu_key: [round(v, 4) for v in cpu[kind][side]],
                "files_per_s": [round(v) for v in pace[kind][side]],
            }
        figures[f"{kind}_cpu_{name}"] = round(sum(cpu[kind][costlier]) / sum(cpu[kind][cheaper]), 2)
    return figures


async def both() -> dict[str, Any]:
    async with own_database() as checks_url, own_database() as keys_url:
        for url in (checks_url, keys_url):
            await migrate(url)
        conn = await asyncpg.connect(keys_url)
        try:
            await conn.execute(FOREIGN_KEYS)
        finally:
            await conn.close()
        sides = {"statement_checks": checks_url, "foreign_keys": keys_url}
        rounds = await alternating_rounds(
            sides,
            write_all,
            "postgresql_cpu_ms_per_file",
            ("keys_over_checks", "foreign_keys", "statement_checks"),
        )
        stored = {side: await stored_rows(url) for side, url in sides.items()}
    return {"files_a_round": FILES, "rounds": ROUNDS, "rows": stored} | rounds


def test_store_writes_checks_against_foreign_keys(benchmark: Any) -> None:
    figures = benchmark.pedantic(lambda: uvloop.run(both()), rounds=1, iterations=1)
    report(benchmark, "batch writes: per-statement content checks vs foreign keys", figures)
    contents = ROUNDS * (FILES + FILES // 10)
    expected = {"files": 2 * ROUNDS * FILES, "contents": contents, "chunks": 3 * contents}
    assert figures["rows"] == {"statement_checks": expected, "foreign_keys": expected}
