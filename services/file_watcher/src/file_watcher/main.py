"""Entry point of the watcher service: settings from the environment, run until signalled."""

from __future__ import annotations

import asyncio

from file_watcher.publish import PublisherFactory
from file_watcher.service import Watcher, run_watcher
from fileflow_core.adapters import open_broker
from fileflow_core.backends import Backends, require_shared_broker
from fileflow_core.entry import run_main
from fileflow_core.ports import Broker
from fileflow_core.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async def open_shared() -> Broker:
        broker = await open_broker(settings, name="fileflow-watcher")
        require_shared_broker(broker, "watcher")
        return broker

    factory = PublisherFactory(settings, open_shared)
    try:
        await run_watcher(settings, stop, factory, checks={"rabbitmq": factory.connected})
    finally:
        await factory.close()


async def serve_with(
    settings: Settings,
    stop: asyncio.Event,
    backends: Backends,
    started: asyncio.Event | None = None,
) -> Watcher:
    """The watcher over backends this process shares with an ingestor. When the broker keeps
    nothing across restarts, the catch-up scan compares the disk with the store."""
    broker = backends.broker
    return await run_watcher(
        settings,
        stop,
        PublisherFactory.over(settings, broker),
        started,
        checks={"broker": broker.connected},
        baseline=None if broker.durable else backends.store.roots,
    )


def main(settings: Settings | None = None) -> None:
    raise SystemExit(run_main(serve, settings))
