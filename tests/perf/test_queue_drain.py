"""Benchmark 8 and the ingestor on its own: the same queued files drained by the ingestor and
by a Dramatiq worker pool doing the core of the same work, so the figure is a ratio."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import Settings
from tests.integration.test_ingestor_faults import queue_depth
from tests.perf.conftest import PERF_FILES
from tests.perf.dramatiq_baseline import TABLE_DDL
from tests.perf.figures import report
from tests.perf.procstats import tree_stats
from tests.perf.test_bulk_import import write_files
from tests.pipeline import Db
from tests.services import BIN, service, service_env
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
# Dramatiq's own default shape is one process per core, 8 threads each.
DRAMATIQ_PROCESSES = os.cpu_count() or 2
DRAMATIQ_THREADS = 8


async def drain_rate(count_done: Any, total: int, pids: list[int]) -> dict[str, Any]:
    """files/s and CPU from the first stored row to the last (startup excluded)."""
    first = await wait_until(count_done, lambda n: n > 0, timeout_s=120, interval_s=0.02)
    started, cpu_before = time.perf_counter(), sum(tree_stats(p).cpu_s for p in pids)
    await wait_until(count_done, lambda n: n >= total, timeout_s=900, interval_s=0.05)
    seconds = time.perf_counter() - started
    stats = [tree_stats(p) for p in pids]
    files = total - first
    return {
        "files_per_s": round(files / seconds),
        "cpu_ms_per_file": round((sum(s.cpu_s for s in stats) - cpu_before) * 1000 / files, 2),
        "peak_rss_mb": round(sum(s.peak_rss_mb for s in stats)),
    }


async def fileflow_drain(
    settings: Settings, root: Path, count: int, replicas: int, run: str
) -> dict[str, Any]:
    """Publish every file (a fresh watcher state, cache prefix and database rows per run),
    then drain the queue with ``replicas`` ingestor processes."""
    db = Db(settings.database_url)
    env = service_env(
        settings,
        root,
        FILEFLOW_SETTLE_S="0.3",
        FILEFLOW_STATE_DIR=str(settings.state_dir / run),
        FILEFLOW_REDIS_KEY_PREFIX=f"{settings.redis_key_prefix}{run}:",
    )
    async with service("watch", env):
        await wait_until(
            lambda: queue_depth(settings.queue_name),
            lambda depth: depth >= count,
            timeout_s=300,
            interval_s=0.2,
            what="every file published",
        )
    async with contextlib.AsyncExitStack() as stack:
        ingestors = [
            await stack.enter_async_context(service("ingest", env)) for _ in range(replicas)
        ]
        figures = await drain_rate(
            db.completed_count, count, [ingestor.process.pid for ingestor in ingestors]
        )
    await db.fetch("TRUNCATE files, contents, chunks")  # the next run starts empty
    return figures


async def dramatiq_drain(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    db = Db(settings.database_url)
    await db.fetch(TABLE_DDL)
    env = {
        **os.environ,
        "FILEFLOW_BASELINE_QUEUE": f"{settings.queue_name}.dramatiq",
        "FILEFLOW_AMQP_URL": settings.amqp_url,
        "FILEFLOW_DATABASE_URL": settings.database_url,
        "PYTHONPATH": str(REPO),
    }
    files = await asyncio.to_thread(lambda: sorted(root.rglob("*.txt")))
    paths = "".join(f"{path}\n" for path in files)
    enqueue = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.dramatiq_baseline",
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
    )
    await enqueue.communicate(paths.encode())
    assert enqueue.returncode == 0
    worker = await asyncio.create_subprocess_exec(
        str(BIN / "dramatiq"),
        "tests.perf.dramatiq_baseline",
        "--processes",
        str(DRAMATIQ_PROCESSES),
        "--threads",
        str(DRAMATIQ_THREADS),
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await drain_rate(
            lambda: db.fetchval("SELECT count(*) FROM baseline_files"), count, [worker.pid]
        )
    finally:
        worker.terminate()
        await worker.wait()


async def compare(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    await asyncio.to_thread(write_files, root, count)
    one = await fileflow_drain(settings, root, count, 1, "one")
    pool = await fileflow_drain(settings, root, count, DRAMATIQ_PROCESSES, "pool")
    theirs = await dramatiq_drain(settings, root, count)
    return {
        "files": count,
        "fileflow_one_ingestor": one,
        f"fileflow_{DRAMATIQ_PROCESSES}_ingestors": pool,
        "dramatiq_pool": {**theirs, "shape": f"{DRAMATIQ_PROCESSES}x{DRAMATIQ_THREADS} threads"},
        "ratio_one_ingestor": round(one["files_per_s"] / theirs["files_per_s"], 2),
        "ratio_same_processes": round(pool["files_per_s"] / theirs["files_per_s"], 2),
    }


def test_queue_drain_against_dramatiq(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(compare(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(benchmark, f"queued {PERF_FILES} 4 KB files: fileflow ingestor vs Dramatiq", figures)
    assert figures["fileflow_one_ingestor"]["files_per_s"] > 0
