"""Running a service: uvloop, SIGTERM/SIGINT turned into a stop event, one exit code."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvloop

ServiceMain = Callable[[asyncio.Event], Awaitable[None]]
T = TypeVar("T")


class Stopped(Exception):
    """A stop was asked for while the service was still starting."""


def honour_cancel() -> None:
    """Raise ``CancelledError`` if this task was asked to stop. A cancel that lands inside a
    client library (aiormq, asyncpg) can come back as one of its own errors; a loop that
    survives errors must check here, or the shutdown waiting for it waits for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def until_stopped(stop: asyncio.Event, step: Awaitable[T]) -> T:
    """Await a start-up ``step`` (a connection that may take its whole timeout), unless a stop
    comes first: then the step is cancelled and ``Stopped`` raised."""
    work = asyncio.ensure_future(step)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([work, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not work.done():
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        raise Stopped("stopped while starting")
    return work.result()


async def _with_signals(main: ServiceMain) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main(stop))

    def on_signal() -> None:
        if stop.is_set():
            task.cancel()  # a second signal: no more waiting for a drain
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await task
    except (Stopped, asyncio.CancelledError):
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


# A thread back from a system call waits for the GIL up to the switch interval (5 ms by
# default) while the event loop runs Python. File reads hop between the two many times per
# file, so that wait, not the work, set a file's latency; 0.5 ms hands the GIL over sooner.
GIL_SWITCH_INTERVAL_S = 0.0005
GC_THRESHOLDS = (20_000, 20, 20)


def run_service(main: ServiceMain) -> None:
    """Run ``main(stop_event)`` on uvloop until it returns; signals set the event."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    # Everything loaded so far (modules, settings) lives as long as the process: leave it out
    # of the cyclic collector's scans, and collect the young generation less often. Each file
    # makes short-lived objects by the hundred; the default threshold (700) ran a collection
    # every few files, and the full ones, over every object, paused the loop for tens of ms.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    uvloop.run(_with_signals(main))
