"""Fixtures that give each test its own database, queues, Redis key prefix and folders."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
import redis.asyncio as aioredis
import uvloop

from fileflow_core.broker.topology import Topology
from fileflow_core.settings import BackendKind, RootConfig, Settings
from fileflow_core.store.urls import with_database
from tests import pipeline
from tests.support import (
    AMQP_URL,
    CLEANUP_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    PG_ADMIN_URL,
    REDIS_URL,
    require_server,
    unique_name,
)

pytest_plugins = ["tests.hangs"]


@pytest.fixture
def servers() -> None:
    for name in ("PostgreSQL", "Redis", "RabbitMQ"):
        require_server(name)


@pytest.fixture
async def database_url(servers: None) -> AsyncIterator[str]:
    name = unique_name("fft")
    yield with_database(PG_ADMIN_URL, name)
    async with asyncio.timeout(CLEANUP_TIMEOUT_S):
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=CONNECT_TIMEOUT_S)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close(timeout=CONNECT_TIMEOUT_S)


@pytest.fixture
async def queue_name(servers: None) -> AsyncIterator[str]:
    name = unique_name("fft.events")
    yield name
    async with asyncio.timeout(CLEANUP_TIMEOUT_S):
        connection = await aio_pika.connect(AMQP_URL, timeout=CONNECT_TIMEOUT_S)
        try:
            channel = await connection.channel()
            topology = Topology(name, 50, 1.0)
            names = [name, topology.dead_queue] + [
                f"{name}.retry.{ms}ms" for ms in _possible_retry_delays_ms()
            ]
            for queue in names:
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue, timeout=CONNECT_TIMEOUT_S)
        finally:
            await connection.close()


def _possible_retry_delays_ms() -> set[int]:
    delays = set()
    for base in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0):
        topology = Topology("x", 10, base)
        delays |= {round(topology.retry_delay_s(a) * 1000) for a in range(1, 10)}
    return delays


@pytest.fixture
async def redis_prefix(servers: None) -> AsyncIterator[str]:
    prefix = unique_name("fft") + ":"
    yield prefix
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


@pytest.fixture
def root_dir(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root


@pytest.fixture
def settings(
    database_url: str, queue_name: str, redis_prefix: str, root_dir: Path, tmp_path: Path
) -> Settings:
    return make_settings(
        root_dir,
        tmp_path,
        amqp_url=AMQP_URL,
        redis_url=REDIS_URL,
        database_url=database_url,
        queue_name=queue_name,
        redis_key_prefix=redis_prefix,
    )


def make_settings(root_dir: Path, tmp_path: Path, **servers: Any) -> Settings:
    """Quick timings, ports chosen by the OS, state and data under ``tmp_path``."""
    return Settings(
        **servers,
        roots=[RootConfig(id="lib", path=root_dir)],
        state_dir=tmp_path / "state",
        data_dir=tmp_path / "data",
        settle_s=0.2,
        debounce_ms=50,
        retry_base_delay_s=0.2,
        max_attempts=3,
        drain_timeout_s=10,
        watcher_http_port=0,
        ingestor_http_port=0,
    )


@pytest.fixture(params=["embedded", "real"])
def flow_settings(
    request: pytest.FixtureRequest, root_dir: Path, tmp_path: Path
) -> tuple[BackendKind, Settings]:
    """Each adapter set with its settings; the real one needs the servers."""
    kind: BackendKind = request.param
    if kind == "real":
        return kind, request.getfixturevalue("settings")
    return kind, make_settings(root_dir, tmp_path, backend="embedded")


@pytest.fixture
async def flow(flow_settings: tuple[BackendKind, Settings]) -> AsyncIterator[pipeline.Flow]:
    """The pipeline over each adapter set: behaviour tests run against both, so the embedded
    mode cannot drift from the real one."""
    async with pipeline.flow(*flow_settings) as running:
        yield running


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Tests run on uvloop, like the services."""
    return {"uvloop": uvloop.new_event_loop}
