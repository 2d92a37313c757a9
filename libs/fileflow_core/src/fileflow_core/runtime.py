"""Running a service: uvloop, SIGTERM/SIGINT turned into a stop event, one exit code."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable

import uvloop

ServiceMain = Callable[[asyncio.Event], Awaitable[None]]


async def _with_signals(main: ServiceMain) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await main(stop)
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
