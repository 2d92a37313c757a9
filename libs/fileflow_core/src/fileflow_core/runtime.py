"""Running a service: uvloop, SIGTERM/SIGINT turned into a stop event, one exit code."""

from __future__ import annotations

import asyncio
import signal
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


def run_service(main: ServiceMain) -> None:
    """Run ``main(stop_event)`` on uvloop until it returns; signals set the event."""
    uvloop.run(_with_signals(main))
