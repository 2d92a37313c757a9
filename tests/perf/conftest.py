"""Benchmarks run the real services as subprocesses against the local servers."""

from __future__ import annotations

import os

import pytest

PERF_FILES = int(os.environ.get("FILEFLOW_PERF_FILES", "10000"))

# The suite's 120 s catches a hung test; a benchmark's length follows its scale knobs and the
# machine's speed of the day (the peers' comparison alone runs seven imports), so each gets this
# unless it names its own.
BENCHMARK_TIMEOUT_S = int(os.environ.get("FILEFLOW_PERF_TIMEOUT_S", "1800"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/perf/" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BENCHMARK_TIMEOUT_S))
