"""Benchmark 8: fileflow against a Dramatiq worker pool doing the core of the same work (read,
SHA-256, one row), in the same run on the same servers, so the figures are ratios.

Two comparisons: end to end (fileflow's watcher and ingestor importing files as they are
written, against a Dramatiq producer sending every file while its pool stores them), and
draining a queue that already holds every file (the ingestor alone, one and one per core)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import Settings
from tests.integration.test_ingestor_faults import queue_depth
from tests.perf.conftest import PERF_FILES
from tests.perf.dramatiq_baseline import TABLE_DDL
from tests.perf.figures import report
from tests.perf.procstats import tree_stats
from tests.perf.test_bulk_import import import_and_measure
from tests.perf.test_watcher_scale import published
from tests.pipeline import Db
from tests.services import BIN, service, service_env
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
# Dramatiq's own default shape is one process per core, 8 threads each.
DRAMATIQ_PROCESSES = os.cpu_count() or 2
DRAMATIQ_THREADS = 8
WORKER_BOOT_S = 3.0


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
    async with service("watch", env) as watcher:
        await wait_until(
            watcher.metrics,
            lambda metrics: published(metrics) >= count,
            timeout_s=300,
            interval_s=0.2,
            what="every file published",
        )
    assert await queue_depth(settings.queue_name) > 0
    async with contextlib.AsyncExitStack() as stack:
        ingestors = [
            await stack.enter_async_context(service("ingest", env)) for _ in range(replicas)
        ]
        figures = await drain_rate(
            db.completed_count, count, [ingestor.process.pid for ingestor in ingestors]
        )
    await db.fetch("TRUNCATE files, contents, chunks")  # the next run starts empty
    return figures


def dramatiq_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "FILEFLOW_BASELINE_QUEUE": f"{settings.queue_name}.dramatiq",
        "FILEFLOW_AMQP_URL": settings.amqp_url,
        "FILEFLOW_DATABASE_URL": settings.database_url,
        "PYTHONPATH": str(REPO),
    }


async def dramatiq_enqueue(settings: Settings, root: Path) -> asyncio.subprocess.Process:
    """Start the producer: one message per file, each confirmed (Dramatiq's ``send``)."""
    files = await asyncio.to_thread(lambda: sorted(root.rglob("*.txt")))
    producer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.dramatiq_baseline",
        env=dramatiq_env(settings),
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
    )
    assert producer.stdin is not None
    producer.stdin.write("".join(f"{path}\n" for path in files).encode())
    producer.stdin.close()
    return producer


@contextlib.asynccontextmanager
async def dramatiq_workers(settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    db = Db(settings.database_url)
    await db.fetch(TABLE_DDL)
    await db.fetch("TRUNCATE baseline_files")
    worker = await asyncio.create_subprocess_exec(
        str(BIN / "dramatiq"),
        "tests.perf.dramatiq_baseline",
        "--processes",
        str(DRAMATIQ_PROCESSES),
        "--threads",
        str(DRAMATIQ_THREADS),
        env=dramatiq_env(settings),
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        await worker.wait()


def baseline_rows(settings: Settings) -> Any:
    db = Db(settings.database_url)
    return lambda: db.fetchval("SELECT count(*) FROM baseline_files")


async def dramatiq_drain(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    """Workers started on a queue already holding every file."""
    producer = await dramatiq_enqueue(settings, root)
    assert await producer.wait() == 0
    async with dramatiq_workers(settings) as worker:
        return await drain_rate(baseline_rows(settings), count, [worker.pid])


async def dramatiq_end_to_end(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    """The bulk import's peer: the producer sends every file while the workers store them;
    from the first send to the last row (the workers' start-up excluded)."""
    async with dramatiq_workers(settings) as worker:
        await asyncio.sleep(WORKER_BOOT_S)
        cpu_before = tree_stats(worker.pid).cpu_s
        started = time.perf_counter()
        producer = await dramatiq_enqueue(settings, root)
        producer_stats = tree_stats(producer.pid)
        while (await baseline_rows(settings)()) < count:
            if producer.returncode is None:
                producer_stats = tree_stats(producer.pid)
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        assert await producer.wait() == 0
        cpu = tree_stats(worker.pid).cpu_s - cpu_before + producer_stats.cpu_s
    return {
        "files_per_s": round(count / seconds),
        "cpu_ms_per_file": round(cpu * 1000 / count, 2),
    }


async def compare(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    db = Db(settings.database_url)
    # End to end first, each on an empty folder: files written while the services run.
    ours_one = await import_and_measure(settings, root / "one", count, 1, run="e2e-one")
    await db.fetch("TRUNCATE files, contents, chunks")
    ours_pool = await import_and_measure(
        settings, root / "pool", count, 1, ingestors=DRAMATIQ_PROCESSES, run="e2e-pool"
    )
    await db.fetch("TRUNCATE files, contents, chunks")
    await asyncio.to_thread(shutil.rmtree, root / "pool")
    root = root / "one"  # the files the other runs take, once each
    theirs_end_to_end = await dramatiq_end_to_end(settings, root, count)
    one = await fileflow_drain(settings, root, count, 1, "one")
    pool = await fileflow_drain(settings, root, count, DRAMATIQ_PROCESSES, "pool")
    theirs = await dramatiq_drain(settings, root, count)
    theirs_rate = theirs_end_to_end["files_per_s"]
    return {
        "files": count,
        "end_to_end": {
            "fileflow_one_ingestor_files_per_s": ours_one["files_per_s"],
            f"fileflow_{DRAMATIQ_PROCESSES}_ingestors_files_per_s": ours_pool["files_per_s"],
            "dramatiq_producer_and_pool": theirs_end_to_end,
            "ratio_one_ingestor": round(ours_one["files_per_s"] / theirs_rate, 2),
            "ratio_same_processes": round(ours_pool["files_per_s"] / theirs_rate, 2),
        },
        "queue_drain": {
            "fileflow_one_ingestor": one,
            f"fileflow_{DRAMATIQ_PROCESSES}_ingestors": pool,
            "dramatiq_pool": {
                **theirs,
                "shape": f"{DRAMATIQ_PROCESSES}x{DRAMATIQ_THREADS} threads",
            },
            "ratio_one_ingestor": round(one["files_per_s"] / theirs["files_per_s"], 2),
            "ratio_same_processes": round(pool["files_per_s"] / theirs["files_per_s"], 2),
        },
    }


def test_queue_drain_against_dramatiq(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(compare(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(benchmark, f"{PERF_FILES} 4 KB files: fileflow vs Dramatiq", figures)
    assert figures["queue_drain"]["fileflow_one_ingestor"]["files_per_s"] > 0
    assert figures["end_to_end"]["dramatiq_producer_and_pool"]["files_per_s"] > 0
