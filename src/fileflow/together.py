"""Watcher and ingestor in one process, sharing one set of backends (``fileflow run``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from file_watcher.main import serve_with as watch_with
from fileflow_core.adapters import describe
from fileflow_core.backends import open_backends
from fileflow_core.settings import Settings
from ingestor.service import run_ingestor


def _announce(line: str) -> None:
    print(line, flush=True)


async def serve_together(
    settings: Settings, stop: asyncio.Event, announce: Callable[[str], None] = _announce
) -> None:
    """Open the backends ``settings`` choose (saying which), run both services until ``stop``,
    then close the backends. If one service fails, the other is stopped too."""
    chosen = "embedded backends (nothing else to run): " if settings.embedded() else ""
    settings = settings.in_one_process()
    announce(f"fileflow: {chosen}{describe(settings)}")
    backends = await open_backends(settings, name="fileflow")
    try:

        async def stopping_all(work: Awaitable[object]) -> None:
            try:
                await work
            finally:
                stop.set()

        results = await asyncio.gather(
            stopping_all(run_ingestor(settings, stop, backends=backends)),
            stopping_all(watch_with(settings, stop, backends)),
            return_exceptions=True,
        )
    finally:
        await backends.close()
    for result in results:
        if isinstance(result, BaseException):
            raise result
