"""Benchmarks run the real services as subprocesses against the local servers."""

from __future__ import annotations

import pytest

from tests.perf.knobs import KnobError, read_knobs

try:
    KNOBS = read_knobs()
except KnobError as exc:
    # Raised while pytest loads this file: the run stops before any benchmark, with this line.
    raise pytest.UsageError(str(exc)) from None
PERF_FILES = KNOBS.files

# The suite's 120 s catches a hung test; a benchmark's length follows its scale knobs and the
# machine's speed of the day (the peers' comparison alone runs seven imports), so each gets this
# unless it names its own.
BENCHMARK_TIMEOUT_S = KNOBS.timeout_s


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/perf/" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BENCHMARK_TIMEOUT_S))
