"""Benchmarks 1, 2 and 7: bulk import end to end, the duplicate-heavy path, /healthz meanwhile."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from fileflow_core.settings import Settings
from tests.perf.conftest import PERF_FILES
from tests.perf.figures import latency_summary, report
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import percentile

FILE_BYTES = 4096
STALL_S = 60.0


def write_files(root: Path, count: int, *, unique_every: int = 1) -> None:
    """``count`` 4 KB files in 100 folders; with ``unique_every`` N, only every Nth is new."""
    for folder in range(100):
        (root / f"d{folder:02}").mkdir(exist_ok=True)
    for i in range(count):
        seed = i if i % unique_every == 0 else 0
        body = (f"file {seed} ".encode() * (FILE_BYTES // 8))[:FILE_BYTES]
        (root / f"d{i % 100:02}" / f"f{i}.txt").write_bytes(body)


async def import_and_measure(
    settings: Settings, root: Path, count: int, unique_every: int
) -> dict[str, Any]:
    env = service_env(settings, root, FILEFLOW_SETTLE_S="0.3")
    db = Db(settings.database_url)
    health: list[float] = []
    async with service("ingest", env) as ingestor, service("watch", env) as watcher:
        started = time.perf_counter()
        writing = asyncio.create_task(
            asyncio.to_thread(write_files, root, count, unique_every=unique_every)
        )
        async with aiohttp.ClientSession() as session:
            done, progressed_at = 0, time.perf_counter()
            while done < count:
                if time.perf_counter() - progressed_at > STALL_S:
                    raise AssertionError(f"no progress for {STALL_S} s at {done}/{count} files")
                probe = time.perf_counter()
                async with session.get(f"{ingestor.url}/healthz") as response:
                    assert response.status == 200
                health.append(time.perf_counter() - probe)
                await asyncio.sleep(0.05)
                # Every probe: a coarser check would add up to its interval to the timing.
                now_done = await db.completed_count()
                if now_done > done:
                    done, progressed_at = now_done, time.perf_counter()
        await writing
        elapsed = time.perf_counter() - started
        ingestor_stats, watcher_stats = ingestor.stats(), watcher.stats()
        metrics = await ingestor.metrics()
    rows = await db.fetch(
        "SELECT extract(epoch FROM updated_at) - mtime_ns / 1e9 AS latency FROM files"
    )
    latencies = [float(row["latency"]) for row in rows]
    return {
        "files": count,
        "seconds": round(elapsed, 2),
        "files_per_s": round(count / elapsed),
        "write_to_commit": latency_summary(latencies),
        "healthz": {"requests": len(health), "p99_ms": round(percentile(health, 0.99) * 1000, 1)},
        "extractions": metrics.get("fileflow_ingestor_extractions_total{outcome=completed}"),
        "ingestor_cpu_s": round(ingestor_stats.cpu_s, 1),
        "ingestor_peak_rss_mb": round(ingestor_stats.peak_rss_mb),
        "watcher_cpu_s": round(watcher_stats.cpu_s, 1),
        "watcher_peak_rss_mb": round(watcher_stats.peak_rss_mb),
    }


def test_bulk_import_unique_files(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(import_and_measure(settings, root_dir, PERF_FILES, 1)),
        rounds=1,
        iterations=1,
    )
    report(benchmark, f"bulk import: {PERF_FILES} unique 4 KB files, watcher -> ingestor", figures)
    assert figures["files"] == PERF_FILES


def test_bulk_import_duplicate_heavy(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(import_and_measure(settings, root_dir, PERF_FILES, 10)),
        rounds=1,
        iterations=1,
    )
    report(benchmark, f"duplicate-heavy import: {PERF_FILES} files, 90% repeated contents", figures)
    assert figures["files"] == PERF_FILES
    assert os.cpu_count()
