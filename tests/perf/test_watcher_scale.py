"""Benchmarks 4 and 5: a restart over a large unchanged library, and the watcher's memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import Settings
from tests.integration.test_ingestor_faults import queue_depth
from tests.perf.conftest import KNOBS
from tests.perf.figures import report
from tests.services import Service, service, service_env
from tests.support import wait_until

LIBRARY_FILES = KNOBS.library_files
WATCHING_PAUSE_S = 3.0


def make_library(root: Path, count: int) -> None:
    for folder in range(count // 500 + 1):
        (root / f"album{folder:04}").mkdir(exist_ok=True)
    for i in range(count):
        (root / f"album{i // 500:04}" / f"track{i:06}.txt").write_bytes(b"%d" % i)


def published(metrics: dict[str, float]) -> float:
    return sum(v for k, v in metrics.items() if k.startswith("fileflow_watcher_published_total"))


def scans(metrics: dict[str, float]) -> float:
    return sum(
        v
        for k, v in metrics.items()
        if k.startswith("fileflow_watcher_scan_duration_seconds_count")
    )


async def first_catch_up(watcher: Service, timeout_s: float = 120) -> dict[str, float]:
    """The watcher's metrics once its first catch-up scan is over."""
    return await wait_until(
        watcher.metrics,
        lambda m: scans(m) >= 1,
        timeout_s=timeout_s,
        interval_s=0.05,
        what="the catch-up scan",
    )


async def every_file_published(watcher: Service) -> dict[str, float]:
    return await wait_until(
        watcher.metrics,
        lambda m: published(m) >= LIBRARY_FILES,
        timeout_s=600,
        interval_s=1,
        what=f"all {LIBRARY_FILES} files published",
    )


async def restart_over_unchanged_library(settings: Settings, root: Path) -> dict[str, Any]:
    env = service_env(settings, root)
    first_started = time.perf_counter()
    async with service("watch", env) as watcher:
        first = await every_file_published(watcher)
        first_seconds = time.perf_counter() - first_started
        publishing_done_rss = watcher.stats()
        # Then watching: the backlog's memory is handed back once the publish loop idles.
        await asyncio.sleep(WATCHING_PAUSE_S)
        watching_rss = watcher.stats()
    depth = await queue_depth(settings.queue_name)
    restarted = time.perf_counter()
    async with service("watch", env) as watcher:
        metrics = await first_catch_up(watcher)
        restart_seconds = time.perf_counter() - restarted
        stats = watcher.stats()
    return {
        "library_files": LIBRARY_FILES,
        "first_start_publish_all_s": round(first_seconds, 1),
        "restart_catch_up_s": round(restart_seconds, 2),
        "catch_up_scan_s": round(
            metrics["fileflow_watcher_scan_duration_seconds_sum{root=lib}"], 2
        ),
        "restart_messages_published": published(metrics),
        "first_start_events_published": published(first),
        "queue_messages_after_first_start": depth,
        "watcher_rss_mb_last_publish_confirmed": round(publishing_done_rss.rss_mb, 1),
        "watcher_rss_mb_watching": round(watching_rss.rss_mb, 1),
        "watcher_rss_mb_after_restart": round(stats.rss_mb, 1),
        "watcher_peak_rss_mb": round(max(stats.peak_rss_mb, watching_rss.peak_rss_mb), 1),
    }


def test_restart_over_unchanged_library(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    make_library(root_dir, LIBRARY_FILES)
    figures = benchmark.pedantic(
        lambda: uvloop.run(restart_over_unchanged_library(settings, root_dir)),
        rounds=1,
        iterations=1,
    )
    report(benchmark, f"watcher over {LIBRARY_FILES} files: restart and memory", figures)
    assert figures["restart_messages_published"] == 0
    assert figures["first_start_events_published"] == LIBRARY_FILES
    # Up to FILEFLOW_PUBLISH_BATCH_EVENTS (20) events a message.
    assert LIBRARY_FILES / 20 <= figures["queue_messages_after_first_start"] <= LIBRARY_FILES


async def live_burst(settings: Settings, root: Path) -> dict[str, Any]:
    """100,000 files copied into a watched, empty root: the watcher's memory once published."""
    async with service("watch", service_env(settings, root)) as watcher:
        idle = watcher.stats()
        started = time.perf_counter()
        await asyncio.to_thread(make_library, root, LIBRARY_FILES)
        copied_s = time.perf_counter() - started
        await every_file_published(watcher)
        published_s = time.perf_counter() - started
        await asyncio.sleep(WATCHING_PAUSE_S)
        watching = watcher.stats()
        metrics = await watcher.metrics()
    return {
        "library_files": LIBRARY_FILES,
        "copy_s": round(copied_s, 1),
        "all_published_s": round(published_s, 1),
        "events_published": published(metrics),
        "catch_up_scans": scans(metrics),
        "watcher_rss_mb_idle": round(idle.rss_mb, 1),
        "watcher_rss_mb_watching": round(watching.rss_mb, 1),
        "watcher_peak_rss_mb": round(watching.peak_rss_mb, 1),
    }


def test_memory_after_a_library_copied_in_live(
    benchmark: Any, settings: Settings, root_dir: Path
) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(live_burst(settings, root_dir)), rounds=1, iterations=1
    )
    report(benchmark, f"watcher while {LIBRARY_FILES} files are copied in", figures)
    assert figures["events_published"] == LIBRARY_FILES
