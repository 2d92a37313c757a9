"""Benchmark 8: fileflow against its peers, in one run on the same servers and the same files,
so the figures are ratios.

- fileflow's default deployment (a watcher and one ingestor; also one ingestor per core)
  importing files dropped into a watched root;
- a Dramatiq worker pool doing the same per-file work into the same tables
  (``dramatiq_baseline``), 2 processes at 8, 16 and 32 threads, fed by a producer with
  Dramatiq's default settings, and the fastest shape again fed by a producer with publisher
  confirms sent from several threads;
- the no-broker limit (``limit``): one process, the same work, COPY in batches.

Each side starts on empty tables and a Redis key prefix of its own. ``fileflow_drain`` (the
ingestor alone draining a full queue) serves the duplicate-drain benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvloop

from fileflow_core.settings import Settings
from tests.integration.test_ingestor_faults import queue_depth
from tests.perf.conftest import PERF_FILES
from tests.perf.dramatiq_baseline import SEND_THREADS
from tests.perf.figures import report
from tests.perf.procstats import server_cpu_s, tree_stats
from tests.perf.progress import ProgressProbe
from tests.perf.test_bulk_import import import_and_measure
from tests.perf.test_watcher_scale import published
from tests.pipeline import Db
from tests.services import BIN, service, service_env
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
# Dramatiq's own default shape is one process per core, 8 threads each; more threads help
# when the work waits (Redis, PostgreSQL), so the fastest of these counts is the peer.
DRAMATIQ_PROCESSES = os.cpu_count() or 2
DRAMATIQ_THREADS = (8, 16, 32)
WORKER_BOOT_S = 3.0
# Process groups of the peers' processes still running: a benchmark cut short by its time limit
# does not reach the ``finally`` that stops them, and a pool left running holds 64 connections.
PEER_GROUPS: set[int] = set()
_PR_SET_PDEATHSIG = 1


def _dies_with_the_benchmark() -> None:
    """In the child before it runs: SIGTERM when the benchmark's process ends, even by
    ``os._exit`` (the hang watchdog), which runs no cleanup of its own."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@pytest.fixture(autouse=True)
def no_peer_left_running() -> Iterator[None]:
    yield
    for group in list(PEER_GROUPS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        PEER_GROUPS.discard(group)


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
        # Opened once the ingestor made the database.
        progress = await stack.enter_async_context(ProgressProbe(settings.database_url))
        figures = await drain_rate(
            progress.completed, count, [ingestor.process.pid for ingestor in ingestors]
        )
    await reset(settings)
    return figures


def dramatiq_env(settings: Settings, root: Path, *, confirms: bool) -> dict[str, str]:
    return {
        **os.environ,
        "FILEFLOW_BASELINE_QUEUE": f"{settings.queue_name}.dramatiq",
        "FILEFLOW_BASELINE_ROOT": str(root),
        "FILEFLOW_BASELINE_PREFIX": f"{settings.redis_key_prefix}dramatiq:",
        "FILEFLOW_BASELINE_CONFIRMS": "1" if confirms else "0",
        "FILEFLOW_AMQP_URL": settings.amqp_url,
        "FILEFLOW_REDIS_URL": settings.redis_url,
        "FILEFLOW_DATABASE_URL": settings.database_url,
        "PYTHONPATH": str(REPO),
    }


async def relative_paths(root: Path) -> list[str]:
    return await asyncio.to_thread(
        lambda: sorted(str(path.relative_to(root)) for path in root.rglob("*.txt"))
    )


async def dramatiq_enqueue(env: dict[str, str], paths: list[str]) -> asyncio.subprocess.Process:
    """Start the producer, which sends one message per path."""
    producer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.dramatiq_baseline",
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_dies_with_the_benchmark,
    )
    PEER_GROUPS.add(producer.pid)
    assert producer.stdin is not None
    producer.stdin.write("".join(f"{path}\n" for path in paths).encode())
    producer.stdin.close()
    return producer


@contextlib.asynccontextmanager
async def dramatiq_workers(
    env: dict[str, str], threads: int, log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The pool, its output in ``log_path`` (a stalled run names it)."""
    log_file = await asyncio.to_thread(log_path.open, "wb")
    worker = await asyncio.create_subprocess_exec(
        str(BIN / "dramatiq"),
        "tests.perf.dramatiq_baseline",
        "--processes",
        str(DRAMATIQ_PROCESSES),
        "--threads",
        str(threads),
        env=env,
        cwd=REPO,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_dies_with_the_benchmark,
    )
    PEER_GROUPS.add(worker.pid)
    try:
        yield worker
    finally:
        worker.terminate()
        await worker.wait()
        PEER_GROUPS.discard(worker.pid)
        log_file.close()


async def dramatiq_end_to_end(
    settings: Settings, root: Path, count: int, *, threads: int, confirms: bool
) -> dict[str, Any]:
    """The bulk import's peer: the producer sends every file while the pool stores them; from
    the first send to the last row (the workers' start-up excluded)."""
    env = dramatiq_env(settings, root, confirms=confirms) | {
        "FILEFLOW_BASELINE_PREFIX": f"{settings.redis_key_prefix}dramatiq-{threads}-{confirms}:"
    }
    paths = await relative_paths(root)
    log_path = root.parent / f"dramatiq-{threads}-{confirms}.log"
    async with (
        dramatiq_workers(env, threads, log_path) as worker,
        ProgressProbe(settings.database_url) as probe,
    ):
        await asyncio.sleep(WORKER_BOOT_S)
        cpu_before = tree_stats(worker.pid).cpu_s
        pg_before = probe.server_cpu_s()["postgresql"]
        started = time.perf_counter()
        producer = await dramatiq_enqueue(env, paths)
        producer_stats = tree_stats(producer.pid)
        while (stored := await probe.completed()) < count:
            if time.perf_counter() - started > 600:
                waiting = await queue_depth(env["FILEFLOW_BASELINE_QUEUE"])
                ended = (
                    "is still running"
                    if producer.returncode is None
                    else f"exited with {producer.returncode}"
                )
                raise AssertionError(
                    f"Dramatiq's pool stored {stored} of {count} files in 600 s; its producer "
                    f"{ended}, {waiting} messages are in its queue; its log: {log_path}"
                )
            if producer.returncode is None:
                with contextlib.suppress(OSError):
                    producer_stats = tree_stats(producer.pid)
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        assert await producer.wait() == 0
        PEER_GROUPS.discard(producer.pid)
        cpu = tree_stats(worker.pid).cpu_s - cpu_before + producer_stats.cpu_s
        pg = probe.server_cpu_s()["postgresql"] - pg_before
    await reset(settings)
    return {
        "files_per_s": round(count / seconds),
        "cpu_ms_per_file": round(cpu * 1000 / count, 3),
        "postgresql_cpu_ms_per_file": round(pg * 1000 / count, 3),
        "shape": f"{DRAMATIQ_PROCESSES} processes x {threads} threads",
        "producer": f"confirms, {SEND_THREADS} sending threads" if confirms else "default",
    }


async def limit_run(settings: Settings, root: Path, count: int, run: str = "") -> dict[str, Any]:
    """The no-broker limit script over the same files, on empty tables; ``run`` names a cache
    prefix of its own, for several runs against one Redis."""
    env = dramatiq_env(settings, root, confirms=False) | {
        "FILEFLOW_BASELINE_PREFIX": f"{settings.redis_key_prefix}limit{run}:"
    }
    pg_before = server_cpu_s()["postgresql"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.limit",
        str(root),
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    pg = server_cpu_s()["postgresql"] - pg_before
    figures = orjson.loads(out.splitlines()[-1])
    assert figures["files"] == count
    assert await Db(settings.database_url).completed_count() == count
    await reset(settings)
    return {
        "files_per_s": round(count / figures["seconds"]),
        "cpu_ms_per_file": round(figures["cpu_s"] * 1000 / count, 3),
        "postgresql_cpu_ms_per_file": round(pg * 1000 / count, 3),
    }


async def reset(settings: Settings) -> None:
    """The next side starts on empty tables, as a new deployment: the roots' recorded identities
    go too, since the next side's root is another folder under the same root id."""
    await Db(settings.database_url).fetch("TRUNCATE files, contents, chunks, roots")


def own_cpu(figures: dict[str, Any]) -> float:
    cpu: dict[str, float] = figures["cpu_ms_per_file"]
    return round(cpu["ingestors"] + cpu["watcher"], 3)


async def compare(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    """Every side on the same files, in one run, each on empty tables."""
    ours = await import_and_measure(settings, root / "files", count, 1, run="one")
    await reset(settings)
    ours_two = await import_and_measure(
        settings, root / "two", count, 1, ingestors=DRAMATIQ_PROCESSES, run="two"
    )
    await reset(settings)
    files = root / "files"
    theirs = {
        threads: await dramatiq_end_to_end(settings, files, count, threads=threads, confirms=False)
        for threads in DRAMATIQ_THREADS
    }
    best_threads = max(theirs, key=lambda threads: theirs[threads]["files_per_s"])
    confirmed = await dramatiq_end_to_end(
        settings, files, count, threads=best_threads, confirms=True
    )
    limit = await limit_run(settings, files, count)
    best = max(theirs[best_threads]["files_per_s"], confirmed["files_per_s"])
    fileflow = {
        "files_per_s": ours["files_per_s"],
        "cpu_ms_per_file": own_cpu(ours),
        "postgresql_cpu_ms_per_file": ours["cpu_ms_per_file"]["postgresql"],
        "stage_mean_ms": ours["stage_mean_ms"],
    }
    return {
        "files": count,
        "fileflow_one_ingestor": fileflow,
        f"fileflow_{DRAMATIQ_PROCESSES}_ingestors": {
            "files_per_s": ours_two["files_per_s"],
            "cpu_ms_per_file": own_cpu(ours_two),
            "postgresql_cpu_ms_per_file": ours_two["cpu_ms_per_file"]["postgresql"],
        },
        "dramatiq_default_producer": list(theirs.values()),
        "dramatiq_confirmed_producer": confirmed,
        "no_broker_limit": limit,
        "ratio_to_best_dramatiq": round(ours["files_per_s"] / best, 2),
        "ratio_to_limit": round(ours["files_per_s"] / limit["files_per_s"], 2),
    }


def test_peers_in_one_run(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(compare(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(benchmark, f"{PERF_FILES} 4 KB files: fileflow, Dramatiq, no-broker limit", figures)
    assert figures["fileflow_one_ingestor"]["files_per_s"] > 0
    assert figures["no_broker_limit"]["files_per_s"] > 0
