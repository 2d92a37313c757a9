"""Entry point of the ingestor service: settings from the environment, run until signalled."""

from __future__ import annotations

import asyncio

from fileflow_core.entry import run_main
from fileflow_core.settings import Settings
from ingestor.service import run_ingestor


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    await run_ingestor(settings, stop)


def main(settings: Settings | None = None) -> None:
    raise SystemExit(run_main(serve, settings))
