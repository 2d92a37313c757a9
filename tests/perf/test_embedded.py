"""Benchmark: `fileflow run` with embedded backends (in-process queue and cache, SQLite) against
the real servers with one watcher and one ingestor, the same dropped files, in one run.

Embedded mode is the first thing a new user runs; it should not be the slow way to import.
The two sides alternate for ``FILEFLOW_PERF_EMBEDDED_ROUNDS`` rounds (default 5), each round on
fresh files, a queue and a database of its own, and the ratio is of their medians: one import of
10,000 files lasts a few seconds, and single pairs of runs on the same VM moved it by ±20 %.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import SQLITE_FILE_NAME, Settings
from tests.integration.test_embedded_run import bare_env
from tests.isolation import own_database, own_queue
from tests.perf.conftest import KNOBS, PERF_FILES
from tests.perf.figures import report
from tests.perf.procstats import tree_stats
from tests.perf.test_bulk_import import drop_files, import_and_measure, write_files

BIN = Path(sys.executable).parent
STALL_S = 60.0
POLL_S = 0.05
ROUNDS = KNOBS.embedded_rounds


def embedded_env(work: Path) -> dict[str, str]:
    """No server URL: the embedded backends, as on a bare machine."""
    return bare_env(work) | {"FILEFLOW_SETTLE_S": "0.3"}


def completed(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM files WHERE status = 'completed' AND NOT deleted"
            ).fetchone()
    except sqlite3.OperationalError:
        return 0  # not created yet
    return int(row[0])


async def embedded_import(work: Path, count: int) -> dict[str, Any]:
    root, staging = work / "library", work / "staging"
    for folder in (root, staging):
        await asyncio.to_thread(folder.mkdir, parents=True)
    await asyncio.to_thread(write_files, staging, count)
    for folder in range(100):
        await asyncio.to_thread((root / f"d{folder:02}").mkdir)
    process = await asyncio.create_subprocess_exec(
        str(BIN / "fileflow"),
        "run",
        f"lib={root}",
        env=embedded_env(work),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), timeout=30)  # "embedded backends"
        await asyncio.sleep(2)  # started and watching
        database = work / "data" / SQLITE_FILE_NAME
        cpu_before = tree_stats(process.pid).cpu_s
        started = time.perf_counter()
        dropping = asyncio.create_task(asyncio.to_thread(drop_files, staging, root, count))
        done, progressed_at = 0, started
        while done < count:
            await asyncio.sleep(POLL_S)
            now_done = await asyncio.to_thread(completed, database)
            if now_done > done:
                done, progressed_at = now_done, time.perf_counter()
            elif time.perf_counter() - progressed_at > STALL_S:
                raise AssertionError(f"no progress for {STALL_S} s at {done}/{count} files")
        await dropping
        seconds = time.perf_counter() - started
        stats = tree_stats(process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=60)
    return {
        "files_per_s": round(count / seconds),
        "cpu_ms_per_file": round((stats.cpu_s - cpu_before) * 1000 / count, 3),
        "peak_rss_mb": round(stats.peak_rss_mb),
    }


async def real_import(settings: Settings, root: Path, count: int, run: str) -> dict[str, Any]:
    """One watcher and one ingestor on the real servers, on a queue and database of their own."""
    async with own_queue() as queue, own_database() as database_url:
        own = settings.model_copy(update={"queue_name": queue, "database_url": database_url})
        figures = await import_and_measure(own, root, count, 1, run=run)
    return {
        "files_per_s": figures["files_per_s"],
        "cpu_ms_per_file": round(sum(figures["cpu_ms_per_file"].values()), 3),
    }


async def alternating(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    real: list[dict[str, Any]] = []
    embedded: list[dict[str, Any]] = []
    for round_no in range(ROUNDS):
        sides = ["real", "embedded"] if round_no % 2 == 0 else ["embedded", "real"]
        for side in sides:
            if side == "real":
                run = f"real{round_no}"
                real.append(await real_import(settings, root.parent / run, count, run))
            else:
                embedded.append(await embedded_import(root.parent / f"embedded{round_no}", count))

    def median(runs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    return {
        "files": count,
        "rounds (alternating, real first)": ROUNDS,
        "real_servers_one_ingestor": real,
        "embedded": embedded,
        "median_files_per_s (embedded / real)": (
            f"{median(embedded, 'files_per_s'):.0f} / {median(real, 'files_per_s'):.0f}"
        ),
        "median_cpu_ms_per_file (embedded / real)": (
            f"{median(embedded, 'cpu_ms_per_file')} / {median(real, 'cpu_ms_per_file')}"
        ),
        "ratio_each_round": [
            round(e["files_per_s"] / r["files_per_s"], 2)
            for e, r in zip(embedded, real, strict=True)
        ],
        "ratio_embedded_to_real": round(
            median(embedded, "files_per_s") / median(real, "files_per_s"), 2
        ),
    }


def test_embedded_against_real_servers(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(alternating(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(benchmark, f"{PERF_FILES} 4 KB files: `fileflow run` embedded vs real servers", figures)
    assert len(figures["embedded"]) == len(figures["real_servers_one_ingestor"]) == ROUNDS
