"""Benchmark: a library of a million small files imported by one ingestor per core.

The library is on disk before the services start, as when fileflow is first pointed at an
existing library: the watcher's first scan publishes it, the ingestors store it. The pace and
PostgreSQL's CPU a file are compared over the first and the last tenth of the files (a store
that slows as its tables grow shows here), then the watcher is restarted over the unchanged
library: its catch-up time, the messages it publishes (none should be) and its memory.

It runs twice: with PostgreSQL's ``shared_buffers`` as the server has it, and with the value
operations.md advises for such a library (``FILEFLOW_PERF_MILLION_SHARED_BUFFERS``, 1GB), set
for that run and given back after it (``tests/perf/buffer_cache.py``).
``FILEFLOW_PERF_MILLION_FILES`` runs it smaller (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from fileflow_core.settings import Settings
from tests.perf.buffer_cache import cannot_restart, shared_buffers
from tests.perf.conftest import KNOBS
from tests.perf.figures import report
from tests.perf.procstats import server_cpu_s
from tests.perf.test_watcher_scale import first_catch_up, published
from tests.pipeline import Db
from tests.services import Service, service, service_env

MILLION_FILES = KNOBS.million_files
FILES_PER_ALBUM = 500
ALBUMS_PER_ARTIST = 40
SAMPLE_EVERY_S = 1.0
STALL_S = 180.0
WATCHING_PAUSE_S = 3.0
AS_FOUND = "as found"
BUFFER_CACHES = [AS_FOUND, *filter(None, [KNOBS.million_shared_buffers])]


def make_library(root: Path, count: int) -> None:
    """Artists, albums, tracks: three levels of folders, 500 distinct small files a folder."""
    for i in range(count):
        album, track = divmod(i, FILES_PER_ALBUM)
        folder = root / f"artist{album // ALBUMS_PER_ARTIST:04}" / f"album{album:05}"
        if track == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"track{track:03}.txt").write_bytes(
            b"track %d of album %d\n" % (track, album) * 20
        )


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    stored: int
    postgresql_cpu_s: float


def window(samples: list[Sample], first: int, last: int) -> dict[str, float]:
    """Files/s and PostgreSQL CPU a file between the samples that bracket [first, last]."""
    start = max((s for s in samples if s.stored <= first), key=lambda s: s.stored)
    end = min((s for s in samples if s.stored >= last), key=lambda s: s.stored)
    files = end.stored - start.stored
    return {
        "files_per_s": round(files / (end.at_s - start.at_s)),
        "postgresql_cpu_ms_per_file": round(
            (end.postgresql_cpu_s - start.postgresql_cpu_s) * 1000 / files, 3
        ),
    }


async def stored(ingestors: list[Service]) -> int:
    """Files the ingestors finished, from their metrics: a count(*) over a million rows every
    second would itself be a load on PostgreSQL, the server being measured."""
    total = 0.0
    for ingestor in ingestors:
        metrics = await ingestor.metrics()
        total += sum(
            value
            for name, value in metrics.items()
            if name.startswith("fileflow_ingestor_files_total")
        )
    return int(total)


async def follow_import(ingestors: list[Service], count: int) -> list[Sample]:
    started = time.perf_counter()
    samples = [Sample(0.0, 0, server_cpu_s()["postgresql"])]
    progressed_at = started
    while samples[-1].stored < count:
        await asyncio.sleep(SAMPLE_EVERY_S)
        now = time.perf_counter()
        done = await stored(ingestors)
        if done > samples[-1].stored:
            progressed_at = now
        elif now - progressed_at > STALL_S:
            raise AssertionError(f"no progress for {STALL_S} s at {done}/{count} files")
        samples.append(Sample(now - started, done, server_cpu_s()["postgresql"]))
    return samples


async def restart(env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    async with service("watch", env) as watcher:
        metrics = await first_catch_up(watcher, timeout_s=300)
        caught_up_s = time.perf_counter() - started
        await asyncio.sleep(WATCHING_PAUSE_S)
        return {
            "restart_catch_up_s": round(caught_up_s, 2),
            "restart_messages_published": published(await watcher.metrics()),
            "watcher_rss_mb_after_restart": round(watcher.stats().rss_mb, 1),
            "catch_up_scan_s": round(
                metrics["fileflow_watcher_scan_duration_seconds_sum{root=lib}"], 2
            ),
        }


async def import_million(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    env = service_env(settings, root)
    per_core = os.cpu_count() or 1
    async with contextlib.AsyncExitStack() as stack:
        ingestors = [
            await stack.enter_async_context(service("ingest", env)) for _ in range(per_core)
        ]
        async with service("watch", env) as watcher:
            samples = await follow_import(ingestors, count)
            await asyncio.sleep(WATCHING_PAUSE_S)
            watching = watcher.stats()
            first_published = published(await watcher.metrics())
    db = Db(settings.database_url)
    rows = await db.completed_count()
    tenth = max(count // 10, 1)
    first, last = window(samples, 0, tenth), window(samples, count - tenth, count)
    return {
        "files": count,
        "ingestors": per_core,
        # PostgreSQL's cost a file stays flat only while its buffer cache holds the indexes
        # the import writes into at random: the figures are for this setting.
        "postgresql_shared_buffers": await db.fetchval("SHOW shared_buffers"),
        "rows_completed": rows,
        "events_published": first_published,
        "import_s": round(samples[-1].at_s, 1),
        "files_per_s_overall": round(count / samples[-1].at_s),
        "first_tenth": first,
        "last_tenth": last,
        "last_over_first_files_per_s": round(last["files_per_s"] / first["files_per_s"], 2),
        "last_over_first_postgresql_cpu": round(
            last["postgresql_cpu_ms_per_file"] / first["postgresql_cpu_ms_per_file"], 2
        ),
        "watcher_rss_mb_watching": round(watching.rss_mb, 1),
        "watcher_peak_rss_mb": round(watching.peak_rss_mb, 1),
        **await restart(env),
    }


async def import_with(buffer_cache: str, settings: Settings, root: Path) -> dict[str, Any]:
    if buffer_cache == AS_FOUND:
        return await import_million(settings, root, MILLION_FILES)
    async with shared_buffers(buffer_cache):
        return await import_million(settings, root, MILLION_FILES)


# Writing and importing a million files takes tens of minutes on two cores.
@pytest.mark.timeout(7200)
@pytest.mark.parametrize("buffer_cache", BUFFER_CACHES)
def test_a_million_files(
    benchmark: Any, settings: Settings, root_dir: Path, buffer_cache: str
) -> None:
    if buffer_cache != AS_FOUND and (why := uvloop.run(cannot_restart())):
        pytest.skip(f"shared_buffers = {buffer_cache} not measured: {why}")
    started = time.perf_counter()
    make_library(root_dir, MILLION_FILES)
    written_s = time.perf_counter() - started
    figures = benchmark.pedantic(
        lambda: uvloop.run(import_with(buffer_cache, settings, root_dir)),
        rounds=1,
        iterations=1,
    )
    figures["library_written_s"] = round(written_s, 1)
    report(
        benchmark,
        f"{MILLION_FILES} small files, one ingestor per core, shared_buffers {buffer_cache}",
        figures,
    )
    assert figures["rows_completed"] == MILLION_FILES
    assert figures["events_published"] == MILLION_FILES
    assert figures["restart_messages_published"] == 0
