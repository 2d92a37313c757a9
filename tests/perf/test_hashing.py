"""Benchmark 6: hashing large files through the ingestor's reader vs hashlib on one core."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import uvloop

from fileflow_core.beneath import Location
from ingestor.read import read_and_hash
from tests.perf.conftest import KNOBS
from tests.perf.figures import report

FILE_MB = 100
FILES = KNOBS.large_files


def test_large_file_hashing_vs_hashlib(benchmark: Any, tmp_path: Path) -> None:
    block = os.urandom(1 << 20)
    paths = []
    for i in range(FILES):
        path = tmp_path / f"big{i}.bin"
        with path.open("wb") as handle:
            for _ in range(FILE_MB):
                handle.write(block)
        paths.append(path)

    def plain() -> float:
        started = time.perf_counter()
        for path in paths:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        return time.perf_counter() - started

    async def ours() -> float:
        large_reads = asyncio.Semaphore(4)
        started = time.perf_counter()
        for path in paths:
            await read_and_hash(Location("lib", str(path.parent), path.name), 1 << 20, large_reads)
        return time.perf_counter() - started

    baseline = plain()
    measured = benchmark.pedantic(lambda: uvloop.run(ours()), rounds=1, iterations=1)
    total_mb = FILES * FILE_MB
    figures = {
        "total_mb": total_mb,
        "hashlib_mb_per_s": round(total_mb / baseline),
        "fileflow_mb_per_s": round(total_mb / measured),
        "ratio": round(baseline / measured, 2),
    }
    report(benchmark, "hashing large files (page cache warm)", figures)
    assert figures["ratio"] > 0
