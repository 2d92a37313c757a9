"""Per-file stage timings: each stage into its histogram, and (at debug level) into the file's
own log line, gathered per task without passing them through every call."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prometheus_client import Histogram

from fileflow_core import metrics

log = logging.getLogger("ingestor.files")

# Labelled children looked up once: ``labels()`` per file is measurable at thousands a second.
_HISTOGRAMS: dict[str, Histogram] = {
    stage: metrics.STAGE_DURATION.labels(stage=stage) for stage in metrics.STAGES
}
_TIMINGS: ContextVar[dict[str, float] | None] = ContextVar("stage_timings", default=None)


def observe(stage: str, started: float) -> None:
    """Record a stage that began at ``started`` (``time.perf_counter()``)."""
    seconds = time.perf_counter() - started
    _HISTOGRAMS[stage].observe(seconds)
    timings = _TIMINGS.get()
    if timings is not None:
        timings[stage] = round(timings.get(stage, 0.0) + seconds, 6)


def per_file_lines() -> bool:
    """Whether ``timed_file`` writes a line per file (debug level)."""
    return log.isEnabledFor(logging.DEBUG)


@contextmanager
def timed_file(root_id: str, path: str, attempt: int) -> Iterator[dict[str, str]]:
    """At debug level, one line per file with the time each stage took; the caller fills in
    the result. Costs nothing otherwise."""
    outcome: dict[str, str] = {}
    if not log.isEnabledFor(logging.DEBUG):
        yield outcome
        return
    timings: dict[str, float] = {}
    token = _TIMINGS.set(timings)
    started = time.perf_counter()
    try:
        yield outcome
    finally:
        _TIMINGS.reset(token)
        log.debug(
            "file processed",
            extra={
                "root": root_id,
                "path": path,
                "attempt": attempt,
                "result": outcome.get("result", "unsettled"),
                "seconds": round(time.perf_counter() - started, 6),
                "stages": timings,
            },
        )
