"""Benchmarks 1, 2 and 7: bulk import end to end, the duplicate-heavy path, /healthz meanwhile.

The files arrive the way a program delivers files atomically: their bytes are written
beforehand in a staging folder on the same filesystem, and during the run each is renamed into
the watched root. So the run measures fileflow, not the creation of 10,000 files by the test on
the same two cores (which cost about as much CPU as the watcher, and on this VM now and then
ten times more, in the kernel); latencies count from each file's arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from fileflow_core.settings import Settings
from tests.perf.conftest import PERF_FILES
from tests.perf.figures import latency_summary, report
from tests.perf.progress import ProgressProbe
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import percentile

FILE_BYTES = 4096
CORES = os.cpu_count() or 2
STALL_S = 60.0
TIMELINE_STEP_S = 0.5


def write_files(root: Path, count: int, *, unique_every: int = 1) -> None:
    """``count`` 4 KB files in 100 folders; with ``unique_every`` N, only every Nth is new."""
    for folder in range(100):
        (root / f"d{folder:02}").mkdir(exist_ok=True)
    for i in range(count):
        seed = i if i % unique_every == 0 else 0
        body = (f"file {seed} ".encode() * (FILE_BYTES // 8))[:FILE_BYTES]
        (root / f"d{i % 100:02}" / f"f{i}.txt").write_bytes(body)


async def watcher_published(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("fileflow_watcher_published_total{")
    )


def drop_files(staging: Path, root: Path, count: int) -> dict[str, float]:
    """Rename the files ``write_files`` made in ``staging`` into ``root``, one by one, as
    fast as they go; returns when each arrived (wall clock), by path relative to ``root``."""
    arrived: dict[str, float] = {}
    for i in range(count):
        relative = f"d{i % 100:02}/f{i}.txt"
        os.rename(staging / relative, root / relative)
        arrived[relative] = time.time()
    return arrived


async def import_and_measure(
    settings: Settings,
    root: Path,
    count: int,
    unique_every: int,
    *,
    ingestors: int = 1,
    run: str = "",
) -> dict[str, Any]:
    """Import ``count`` files dropped into ``root`` while the services run; ``run`` names a
    watcher state and cache prefix of its own, for several runs in one database."""
    staging = root.with_name(f"{root.name}.staging")
    await asyncio.to_thread(staging.mkdir)
    await asyncio.to_thread(write_files, staging, count, unique_every=unique_every)
    await asyncio.to_thread(root.mkdir, exist_ok=True)
    for folder in range(100):
        await asyncio.to_thread((root / f"d{folder:02}").mkdir, exist_ok=True)
    separate = (
        {
            "FILEFLOW_STATE_DIR": str(settings.state_dir / run),
            "FILEFLOW_REDIS_KEY_PREFIX": f"{settings.redis_key_prefix}{run}:",
        }
        if run
        else {}
    )
    env = service_env(settings, root, FILEFLOW_SETTLE_S="0.3", **separate)
    db = Db(settings.database_url)
    health: list[float] = []
    timeline: list[tuple[float, int, int]] = []
    async with contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(service("ingest", env)) for _ in range(ingestors)
        ]
        ingestor = replicas[0]
        watcher = await stack.enter_async_context(service("watch", env))
        # Opened once the ingestor made the database.
        progress = await stack.enter_async_context(ProgressProbe(settings.database_url))

        def ingestors_cpu_s() -> float:
            return sum(replica.stats().cpu_s for replica in replicas)

        # CPU over the import only: the services' start-up is not the import's cost.
        cpu_before = {
            "ingestors": ingestors_cpu_s(),
            "watcher": watcher.stats().cpu_s,
            **progress.server_cpu_s(),
        }
        started = time.perf_counter()
        dropping = asyncio.create_task(asyncio.to_thread(drop_files, staging, root, count))
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
                now_done = await progress.completed()
                if now_done > done:
                    done, progressed_at = now_done, time.perf_counter()
                if time.perf_counter() - started >= TIMELINE_STEP_S * len(timeline):
                    published = await watcher_published(session, watcher.url)
                    at = round(time.perf_counter() - started, 1)
                    timeline.append((at, int(published), now_done))
        arrived = await dropping
        elapsed = time.perf_counter() - started
        ingestor_stats, watcher_stats = ingestor.stats(), watcher.stats()
        cpu_after = {
            "ingestors": ingestors_cpu_s(),
            "watcher": watcher_stats.cpu_s,
            **progress.server_cpu_s(),
        }
        metrics = await ingestor.metrics()
    rows = await db.fetch(
        "SELECT path, extract(epoch FROM updated_at) AS committed FROM files WHERE root_id = $1",
        "lib",
    )
    committed = {row["path"]: float(row["committed"]) for row in rows}
    latencies = [committed[path] - at for path, at in arrived.items() if path in committed]
    return {
        "files": count,
        "ingestors": ingestors,
        "seconds": round(elapsed, 2),
        "files_per_s": round(count / elapsed),
        "arrival_to_commit": latency_summary(latencies),
        # How long the files took to arrive, and the last commit after the last arrival.
        "dropping_s": round(max(arrived.values()) - min(arrived.values()), 2),
        "last_commit_after_last_arrival_s": round(
            max(committed.values()) - max(arrived.values()), 2
        ),
        # (seconds, events the watcher published, files committed), every half second.
        "timeline": timeline,
        "healthz": {"requests": len(health), "p99_ms": round(percentile(health, 0.99) * 1000, 1)},
        "extractions": metrics.get("fileflow_ingestor_extractions_total{outcome=completed}"),
        "messages": {
            key.split("outcome=")[1].rstrip("}"): value
            for key, value in metrics.items()
            if key.startswith("fileflow_ingestor_messages_total{") and value
        },
        "stage_mean_ms": {
            stage: round(
                metrics[f"fileflow_ingestor_stage_duration_seconds_sum{{stage={stage}}}"]
                * 1000
                / max(
                    1.0, metrics[f"fileflow_ingestor_stage_duration_seconds_count{{stage={stage}}}"]
                ),
                2,
            )
            for stage in ("hash", "extract", "store")
            if f"fileflow_ingestor_stage_duration_seconds_count{{stage={stage}}}" in metrics
        },
        "cpu_ms_per_file": {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / count, 3)
            for name in cpu_before
        },
        "ingestor_peak_rss_mb": round(ingestor_stats.peak_rss_mb),
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


def test_bulk_import_one_ingestor_per_core(
    benchmark: Any, settings: Settings, root_dir: Path
) -> None:
    """The deployment docs/operations.md advises for many small files."""
    figures = benchmark.pedantic(
        lambda: uvloop.run(import_and_measure(settings, root_dir, PERF_FILES, 1, ingestors=CORES)),
        rounds=1,
        iterations=1,
    )
    report(
        benchmark,
        f"bulk import: {PERF_FILES} unique 4 KB files, watcher -> {CORES} ingestors",
        figures,
    )
    assert figures["files"] == PERF_FILES
