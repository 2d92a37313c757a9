"""Running the real services in-process for a test, against the real servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from file_watcher.publish import RabbitPublisherFactory
from file_watcher.service import Watcher, run_watcher
from fileflow_core.settings import Settings
from ingestor.consume import DeliveryProcessor
from ingestor.service import run_ingestor


@dataclass
class Running:
    task: asyncio.Task[Any]
    stop: asyncio.Event
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def halt(self) -> Any:
        self.stop.set()
        return await asyncio.wait_for(self.task, timeout=30)


async def _start(coro_factory: Any) -> Running:
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(coro_factory(stop, started))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises what went wrong at start
        raise AssertionError("service returned before it started")
    if not started.is_set():
        raise AssertionError("service did not start within 30s")
    return Running(task, stop, started)


@contextlib.asynccontextmanager
async def ingestor(settings: Settings, **options: Any) -> AsyncIterator[Running]:
    running = await _start(lambda stop, started: run_ingestor(settings, stop, started, **options))
    try:
        yield running
    finally:
        if not running.task.done():
            await running.halt()


@contextlib.asynccontextmanager
async def watcher(settings: Settings) -> AsyncIterator[Running]:
    factory = RabbitPublisherFactory(settings)

    async def serve(stop: asyncio.Event, started: asyncio.Event) -> Watcher:
        try:
            return await run_watcher(
                settings, stop, factory, started, checks={"rabbitmq": factory.connected}
            )
        finally:
            await factory.close()

    running = await _start(serve)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.halt()


async def processor_of(running: Running) -> DeliveryProcessor:
    result = await running.halt()
    assert isinstance(result, DeliveryProcessor)
    return result


class Db:
    """Read-only looks at a test's database."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.url)
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )
        return conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await self._connect()
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def fetchval(self, query: str, *args: Any) -> Any:
        conn = await self._connect()
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    async def completed_count(self) -> int:
        return int(
            await self.fetchval(
                "SELECT count(*) FROM files WHERE status = 'completed' AND NOT deleted"
            )
        )

    async def live_files(self) -> dict[str, tuple[str, int]]:
        rows = await self.fetch(
            "SELECT path, content_sha256, size FROM files WHERE NOT deleted AND status='completed'"
        )
        return {row["path"]: (row["content_sha256"], row["size"]) for row in rows}
