"""Benchmark 3: a steady 500 files/s for 60 s; latency from settled to committed, in flight."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import Settings
from tests.integration.test_ingestor_faults import queue_depth
from tests.perf.conftest import KNOBS
from tests.perf.figures import latency_summary, report
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import percentile, wait_until

RATE = KNOBS.rate
SECONDS = KNOBS.steady_s
SETTLE_S = 0.3
TICK_S = 0.02
FILE_BYTES = 4096


def write_at_rate(root: Path, rate: int, seconds: float) -> int:
    """Write ``rate`` unique 4 KB files a second, on a fixed schedule; return how many."""
    for folder in range(100):
        (root / f"d{folder:02}").mkdir(exist_ok=True)
    start = time.monotonic()
    written = 0
    while (elapsed := time.monotonic() - start) < seconds:
        for i in range(written, int(elapsed * rate)):
            body = (f"steady {i} ".encode() * (FILE_BYTES // 8))[:FILE_BYTES]
            (root / f"d{i % 100:02}" / f"s{i}.txt").write_bytes(body)
            written += 1
        time.sleep(TICK_S)
    return written


async def steady_load(settings: Settings, root: Path) -> dict[str, Any]:
    env = service_env(settings, root, FILEFLOW_SETTLE_S=str(SETTLE_S))
    db = Db(settings.database_url)
    in_flight: list[float] = []
    depths: list[int] = []
    async with service("ingest", env) as ingestor, service("watch", env) as watcher:
        writing = asyncio.create_task(asyncio.to_thread(write_at_rate, root, RATE, SECONDS))
        while not writing.done():
            metrics = await ingestor.metrics()
            in_flight.append(metrics.get("fileflow_ingestor_files_in_flight", 0.0))
            depths.append(await queue_depth(settings.queue_name))
            await asyncio.sleep(0.5)
        written = await writing
        await wait_until(db.completed_count, lambda n: n >= written, timeout_s=300, interval_s=0.2)
        ingestor_stats, watcher_stats = ingestor.stats(), watcher.stats()
    rows = await db.fetch(
        "SELECT mtime_ns / 1e9 AS written, extract(epoch FROM updated_at) - mtime_ns / 1e9"
        " AS latency FROM files ORDER BY mtime_ns"
    )
    latencies = [float(row["latency"]) for row in rows]
    first = float(rows[0]["written"]) if rows else 0.0
    windows: dict[int, list[float]] = {}
    for row in rows:
        windows.setdefault(int((float(row["written"]) - first) // 10), []).append(
            float(row["latency"])
        )
    return {
        "files": written,
        "target_files_per_s": RATE,
        "achieved_files_per_s": round(written / SECONDS),
        "write_to_commit": latency_summary(latencies),
        # The watcher waits FILEFLOW_SETTLE_S of quiet before it trusts a write is finished.
        "settled_to_commit": latency_summary([max(0.0, x - SETTLE_S) for x in latencies]),
        # Stability over the run: a p95 per 10 s of writes.
        "write_to_commit_p95_ms_per_10s": [
            round(percentile(window, 0.95) * 1000) for _, window in sorted(windows.items())
        ],
        "in_flight_mean": round(sum(in_flight) / max(1, len(in_flight)), 1),
        "in_flight_max": max(in_flight, default=0),
        "queue_depth_max": max(depths, default=0),
        "ingestor_cpu_pct": round(ingestor_stats.cpu_s * 100 / SECONDS),
        "ingestor_peak_rss_mb": round(ingestor_stats.peak_rss_mb),
        "watcher_cpu_pct": round(watcher_stats.cpu_s * 100 / SECONDS),
        "watcher_peak_rss_mb": round(watcher_stats.peak_rss_mb),
    }


def test_steady_load(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(steady_load(settings, root_dir)), rounds=1, iterations=1
    )
    report(benchmark, f"steady load: {RATE} files/s for {SECONDS:g} s", figures)
    assert figures["files"] >= RATE * SECONDS * 0.9
