"""Benchmark: `fileflow run` with embedded backends (in-process queue and cache, SQLite) against
the real servers with one watcher and one ingestor, the same dropped files, in one run.

Embedded mode is the first thing a new user runs; it should not be the slow way to import.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import SQLITE_FILE_NAME, Settings
from tests.integration.test_embedded_run import bare_env
from tests.perf.conftest import PERF_FILES
from tests.perf.figures import report
from tests.perf.procstats import tree_stats
from tests.perf.test_bulk_import import drop_files, import_and_measure, write_files

BIN = Path(sys.executable).parent
STALL_S = 60.0
POLL_S = 0.05


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


async def both(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    real = await import_and_measure(settings, root, count, 1)
    embedded = await embedded_import(root.parent / "embedded", count)
    cpu = real["cpu_ms_per_file"]
    return {
        "files": count,
        "real_servers_one_ingestor": {
            "files_per_s": real["files_per_s"],
            "cpu_ms_per_file": round(sum(cpu.values()), 3),
        },
        "embedded": embedded,
        "ratio_embedded_to_real": round(embedded["files_per_s"] / real["files_per_s"], 2),
    }


def test_embedded_against_real_servers(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(both(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(benchmark, f"{PERF_FILES} 4 KB files: `fileflow run` embedded vs real servers", figures)
