"""Benchmark 9: the quorum queue beside the classic one, in one run on the shared node.

Each queue type gets a queue and a database of its own (both deleted afterwards): the same
files imported end to end (watcher and one ingestor), then drained from a queue that already
holds them all (one ingestor). A quorum queue writes every message to its Raft log and
confirms it once a majority has it; on one node that majority is the node itself."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.broker.topology import QueueType
from fileflow_core.settings import Settings
from tests.isolation import own_database, own_queue
from tests.perf.conftest import PERF_FILES
from tests.perf.figures import report
from tests.perf.test_bulk_import import import_and_measure
from tests.perf.test_queue_drain import fileflow_drain
from tests.pipeline import Db


async def one_type(
    settings: Settings, root: Path, count: int, queue_type: QueueType
) -> dict[str, Any]:
    async with own_queue() as queue, own_database() as database_url:
        typed = settings.model_copy(
            update={"queue_name": queue, "queue_type": queue_type, "database_url": database_url}
        )
        db = Db(database_url)
        folder = root / queue_type
        end_to_end = await import_and_measure(typed, folder, count, 1, run=f"e2e-{queue_type}")
        await db.fetch("TRUNCATE files, contents, chunks")
        drain = await fileflow_drain(typed, folder, count, 1, f"drain-{queue_type}")
    await asyncio.to_thread(shutil.rmtree, root / f"{queue_type}.staging", ignore_errors=True)
    return {
        "end_to_end_files_per_s": end_to_end["files_per_s"],
        "arrival_to_commit": end_to_end["arrival_to_commit"],
        "cpu_ms_per_file": end_to_end["cpu_ms_per_file"],
        "queue_drain": drain,
    }


async def compare(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    classic = await one_type(settings, root, count, "classic")
    quorum = await one_type(settings, root, count, "quorum")
    return {
        "files": count,
        "classic": classic,
        "quorum": quorum,
        "end_to_end_files_per_s (classic / quorum)": (
            f"{classic['end_to_end_files_per_s']} / {quorum['end_to_end_files_per_s']}"
        ),
        "queue_drain_files_per_s (classic / quorum)": (
            f"{classic['queue_drain']['files_per_s']} / {quorum['queue_drain']['files_per_s']}"
        ),
    }


def test_quorum_queue_beside_classic(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(compare(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(benchmark, f"{PERF_FILES} 4 KB files: classic queue vs quorum queue", figures)
    assert figures["classic"]["end_to_end_files_per_s"] > 0
    assert figures["quorum"]["queue_drain"]["files_per_s"] > 0
