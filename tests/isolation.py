"""A database, a set of queues and a Redis key prefix of a test's own, removed afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import redis.asyncio as aioredis

from fileflow_core.broker.topology import Topology
from fileflow_core.store.urls import with_database
from tests.support import (
    AMQP_URL,
    CLEANUP_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    PG_ADMIN_URL,
    REDIS_URL,
    unique_name,
)


@contextlib.asynccontextmanager
async def own_database() -> AsyncIterator[str]:
    """The URL of a database of the test's own (created by whoever connects first)."""
    name = unique_name("fft")
    try:
        yield with_database(PG_ADMIN_URL, name)
    finally:
        async with asyncio.timeout(CLEANUP_TIMEOUT_S):
            admin = await asyncpg.connect(PG_ADMIN_URL, timeout=CONNECT_TIMEOUT_S)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close(timeout=CONNECT_TIMEOUT_S)


@contextlib.asynccontextmanager
async def own_queue() -> AsyncIterator[str]:
    """A work queue name of the test's own; it and every queue derived from it are deleted."""
    name = unique_name("fft.events")
    try:
        yield name
    finally:
        async with asyncio.timeout(CLEANUP_TIMEOUT_S):
            connection = await aio_pika.connect(AMQP_URL, timeout=CONNECT_TIMEOUT_S)
            try:
                channel = await connection.channel()
                for queue in derived_queues(name):
                    with contextlib.suppress(Exception):
                        await channel.queue_delete(queue, timeout=CONNECT_TIMEOUT_S)
            finally:
                await connection.close()


def derived_queues(name: str) -> list[str]:
    topology = Topology(name, 50, 1.0)
    delays = set()
    for base in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0):
        step = Topology("x", 10, base)
        delays |= {round(step.retry_delay_s(a) * 1000) for a in range(1, 10)}
    return [
        name,
        topology.dead_queue,
        topology.hold_queue,
        f"{name}.urgent",
        *(f"{name}.retry.{ms}ms" for ms in sorted(delays)),
    ]


@contextlib.asynccontextmanager
async def own_redis_prefix() -> AsyncIterator[str]:
    prefix = unique_name("fft") + ":"
    try:
        yield prefix
    finally:
        client = aioredis.Redis.from_url(
            REDIS_URL, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
        )
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT_S):
                keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
                if keys:
                    await client.delete(*keys)
        finally:
            await client.aclose()
