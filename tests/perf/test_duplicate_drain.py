"""Benchmark 2, the short-circuit path alone: one ingestor draining a queue of 90 % repeated
contents against the same queue of unique ones, and the no-broker limit over the same two sets
of files.

End to end (test_bulk_import) the writer and the watcher cost the same for both kinds of file
and share the two cores, so that ratio understates what skipping a known content saves; here
the queue is filled first and only the ingestor runs. The limit's ratio is what the same
per-file work allows with nothing between the disk and the database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.settings import Settings
from tests.perf.conftest import PERF_FILES
from tests.perf.figures import report
from tests.perf.test_bulk_import import write_files
from tests.perf.test_queue_drain import fileflow_drain, limit_run


async def drain_both(settings: Settings, root: Path, count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"files": count}
    for kind, unique_every in (("unique", 1), ("duplicate_heavy", 10)):
        folder = root / kind
        await asyncio.to_thread(folder.mkdir)
        await asyncio.to_thread(write_files, folder, count, unique_every=unique_every)
        figures[kind] = await fileflow_drain(settings, folder, count, 1, f"drain-{kind}")
        figures[f"limit_{kind}"] = await limit_run(settings, folder, count, run=kind)
    figures["ratio"] = round(
        figures["duplicate_heavy"]["files_per_s"] / figures["unique"]["files_per_s"], 2
    )
    figures["limit_ratio"] = round(
        figures["limit_duplicate_heavy"]["files_per_s"] / figures["limit_unique"]["files_per_s"], 2
    )
    return figures


def test_duplicate_heavy_queue_drain(benchmark: Any, settings: Settings, root_dir: Path) -> None:
    figures = benchmark.pedantic(
        lambda: uvloop.run(drain_both(settings, root_dir, PERF_FILES)), rounds=1, iterations=1
    )
    report(
        benchmark,
        f"{PERF_FILES} files, unique vs 90% repeated contents: one ingestor draining a queue,"
        " and the no-broker limit",
        figures,
    )
    assert figures["unique"]["files_per_s"] > 0
    assert figures["duplicate_heavy"]["files_per_s"] > 0
