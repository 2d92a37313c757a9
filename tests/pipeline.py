"""Running the services in-process for a test: alone against the real servers, or together
over one shared set of backends (embedded or real), as ``fileflow run`` runs them."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aio_pika
import aiosqlite
import asyncpg
import orjson

from file_watcher.main import serve_with
from file_watcher.publish import PublisherFactory
from file_watcher.service import Watcher, run_watcher
from fileflow_core.adapters import open_broker, scheme_of
from fileflow_core.backends import Backends, open_backends
from fileflow_core.broker.memory import MemoryBroker, Message
from fileflow_core.broker.topology import ERROR_HEADER
from fileflow_core.settings import Settings
from fileflow_core.urls import sqlite_file
from ingestor.consume import DeliveryProcessor
from ingestor.service import run_ingestor
from tests.support import AMQP_URL, CONNECT_TIMEOUT_S

# Which adapter set a behaviour test runs on: the servers, or the embedded ones.
Kind = Literal["embedded", "real"]


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
    factory = PublisherFactory(
        settings, lambda: open_broker(settings, name="fileflow-test-watcher")
    )

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


COMPLETED_COUNT = "SELECT count(*) FROM files WHERE status = 'completed' AND NOT deleted"


class Db:
    """Read-only looks at a test's PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
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

    async def execute(self, query: str, *args: Any) -> None:
        conn = await self._connect()
        try:
            await conn.execute(query, *args)
        finally:
            await conn.close()

    async def completed_count(self) -> int:
        return int(await self.fetchval(COMPLETED_COUNT))

    async def live_files(self) -> dict[str, tuple[str, int]]:
        rows = await self.fetch(
            "SELECT path, content_sha256, size FROM files WHERE NOT deleted AND status='completed'"
        )
        return {row["path"]: (row["content_sha256"], row["size"]) for row in rows}


class SqliteDb(Db):
    """The same looks at a test's SQLite database (``$n`` parameters become ``?n``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with aiosqlite.connect(self.path) as db:
            db.row_factory = aiosqlite.Row
            return list(await db.execute_fetchall(re.sub(r"\$(\d+)", r"?\1", query), args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        rows = await self.fetch(query, *args)
        return rows[0][0] if rows else None


@dataclass
class Flow:
    """Both services of one test over one set of backends, like ``fileflow run``."""

    kind: Kind
    settings: Settings
    backends: Backends

    @property
    def db(self) -> Db:
        if scheme_of(self.settings.database_url) == "sqlite":
            return SqliteDb(sqlite_file(self.settings.database_url))
        return Db(self.settings.database_url)

    @contextlib.asynccontextmanager
    async def ingestor(self, **options: Any) -> AsyncIterator[Running]:
        running = await _start(
            lambda stop, started: run_ingestor(
                self.settings, stop, started, backends=self.backends, **options
            )
        )
        try:
            yield running
        finally:
            if not running.task.done():
                await running.halt()

    @contextlib.asynccontextmanager
    async def watcher(self) -> AsyncIterator[Running]:
        running = await _start(
            lambda stop, started: serve_with(self.settings, stop, self.backends, started)
        )
        try:
            yield running
        finally:
            if not running.task.done():
                await running.halt()

    async def restart(self) -> None:
        """What a new process gets: the backends closed and opened again."""
        await self.backends.close()
        self.backends = await open_backends(self.settings, name="fileflow-test")

    async def publish_raw(self, bodies: list[bytes], priority: int = 1) -> None:
        broker = self.backends.broker
        if isinstance(broker, MemoryBroker):
            for body in bodies:
                await broker.put(Message(body, priority))
            return
        await publish_raw(self.settings.queue_name, bodies, priority, url=self.settings.amqp_url)

    async def dead_letter_reasons(self) -> list[str]:
        return [reason for reason, _ in await self.dead_letters()]

    async def dead_letters(self) -> list[tuple[str, bytes]]:
        """(reason, body) of each dead letter, taken off the queue."""
        broker = self.backends.broker
        if isinstance(broker, MemoryBroker):
            return [
                (str(message.headers.get(ERROR_HEADER)), message.body) for message in broker.dead
            ]
        letters = []
        connection = await aio_pika.connect(self.settings.amqp_url, timeout=CONNECT_TIMEOUT_S)
        try:
            channel = await connection.channel()
            dead = await channel.declare_queue(f"{self.settings.queue_name}.dead", passive=True)
            while (message := await dead.get(fail=False, no_ack=True)) is not None:
                letters.append((str((message.headers or {}).get(ERROR_HEADER)), message.body))
        finally:
            await connection.close()
        return letters


async def publish_raw(
    queue: str, bodies: list[bytes], priority: int = 1, *, url: str = AMQP_URL
) -> None:
    """Put bodies on a RabbitMQ queue as they are, bypassing the contract (bad ones too)."""
    connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for body in bodies:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, priority=priority
                ),
                routing_key=queue,
            )
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def flow(kind: Kind, settings: Settings) -> AsyncIterator[Flow]:
    running = Flow(kind, settings, await open_backends(settings, name="fileflow-test"))
    try:
        yield running
    finally:
        await running.backends.close()
