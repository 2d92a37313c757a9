"""Entry point of the watcher service: settings from the environment, run until signalled."""

from __future__ import annotations

import asyncio

from file_watcher.publish import RabbitPublisherFactory
from file_watcher.service import run_watcher
from fileflow_core.entry import run_main
from fileflow_core.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    factory = RabbitPublisherFactory(settings)
    try:
        await run_watcher(settings, stop, factory, checks={"rabbitmq": factory.connected})
    finally:
        await factory.close()


def main(settings: Settings | None = None) -> None:
    raise SystemExit(run_main(serve, settings))
