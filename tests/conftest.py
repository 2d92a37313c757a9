"""Fixtures that give each test its own database, queues, Redis key prefix and folders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from fileflow_core.settings import RootConfig, Settings
from tests import pipeline
from tests.isolation import own_database, own_queue, own_redis_prefix
from tests.pipeline import Kind
from tests.support import AMQP_URL, REDIS_URL, require_server

pytest_plugins = ["tests.hangs"]


@pytest.fixture
def servers() -> None:
    for name in ("PostgreSQL", "Redis", "RabbitMQ"):
        require_server(name)


@pytest.fixture
async def database_url(servers: None) -> AsyncIterator[str]:
    async with own_database() as url:
        yield url


@pytest.fixture
async def queue_name(servers: None) -> AsyncIterator[str]:
    async with own_queue() as name:
        yield name


@pytest.fixture
async def redis_prefix(servers: None) -> AsyncIterator[str]:
    async with own_redis_prefix() as prefix:
        yield prefix


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


@pytest.fixture(params=["embedded", "real", "quorum"])
def flow_settings(
    request: pytest.FixtureRequest, root_dir: Path, tmp_path: Path
) -> tuple[Kind, Settings]:
    """Each adapter set with its settings; the real one needs the servers, and runs once more
    on quorum queues (``FILEFLOW_QUEUE_TYPE=quorum``), whose topology differs."""
    if request.param == "quorum":
        settings: Settings = request.getfixturevalue("settings")
        return "real", settings.model_copy(update={"queue_type": "quorum"})
    kind: Kind = request.param
    if kind == "real":
        return kind, request.getfixturevalue("settings")
    return kind, make_settings(root_dir, tmp_path, backend="embedded").in_one_process()


@pytest.fixture
async def flow(flow_settings: tuple[Kind, Settings]) -> AsyncIterator[pipeline.Flow]:
    """The pipeline over each adapter set: behaviour tests run against both, so the embedded
    mode cannot drift from the real one."""
    async with pipeline.flow(*flow_settings) as running:
        yield running


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Tests run on uvloop, like the services."""
    return {"uvloop": uvloop.new_event_loop}
