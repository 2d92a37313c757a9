"""Benchmark 12: reading and hashing small cached files beneath their root, the way the ingestor
reads a batch's files on its event loop: the root's descriptor opened and checked for each file,
against once for the whole batch (``OpenRoots``)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fileflow_core.beneath import Location, OpenRoots
from fileflow_core.roots import identify
from ingestor.read import FileDigest, read_if_small
from tests.perf.conftest import KNOBS
from tests.perf.figures import report

FILES = KNOBS.small_files
FILE_BYTES = 4096
BATCH = 100  # events a batch message carries at most, as the watcher sends them
ROUNDS = 5


def _fastest_us_per_file(read_all: Callable[[], None]) -> float:
    best = min(_timed(read_all) for _ in range(ROUNDS))
    return round(best * 1e6 / FILES, 1)


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def test_small_cached_reads(benchmark: Any, tmp_path: Path) -> None:
    root = tmp_path / "library"
    for folder in range(100):
        (root / f"d{folder:02}").mkdir(parents=True)
    identity = identify(root)
    locations = []
    for i in range(FILES):
        relative = f"d{i % 100:02}/f{i}.txt"
        (root / relative).write_bytes((f"file {i} ".encode() * FILE_BYTES)[:FILE_BYTES])
        locations.append(Location("lib", str(root), relative, identity))
    batches = [locations[i : i + BATCH] for i in range(0, FILES, BATCH)]

    def root_each_file() -> None:
        for location in locations:
            assert isinstance(read_if_small(location, only_cached=True), FileDigest)

    def root_each_batch() -> None:
        for batch in batches:
            with OpenRoots() as roots:
                for location in batch:
                    digest = read_if_small(location, only_cached=True, roots=roots)
                    assert isinstance(digest, FileDigest)

    def hash_only() -> None:
        body = b"x" * FILE_BYTES
        for _ in locations:
            hashlib.sha256(body).hexdigest()

    root_each_file()  # the page cache and the dentry cache warm
    each_file = _fastest_us_per_file(root_each_file)
    each_batch = benchmark.pedantic(
        lambda: _fastest_us_per_file(root_each_batch), rounds=1, iterations=1
    )
    figures = {
        "files": FILES,
        "us_per_file_root_opened_each_file": each_file,
        "us_per_file_root_opened_each_batch": each_batch,
        "of_which_sha256_us": _fastest_us_per_file(hash_only),
        "ratio": round(each_file / each_batch, 2),
    }
    report(benchmark, f"reading {FILE_BYTES // 1024} KB cached files beneath their root", figures)
    assert figures["ratio"] > 0
