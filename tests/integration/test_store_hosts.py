"""PostgreSQL with a standby: a multi-host DSN whose first host is down still finds the
primary (asyncpg's ``target_session_attrs``), for the migration and for the store."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from fileflow_core import adapters
from fileflow_core.settings import Settings
from tests.support import free_port

pytestmark = pytest.mark.integration


def with_hosts(url: str, *ports: int) -> str:
    parts = urlsplit(url)
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    query = "target_session_attrs=read-write"
    return urlunsplit(parts._replace(netloc=hosts, query=query))


async def test_a_multi_host_dsn_reaches_the_host_that_answers(database_url: str) -> None:
    down, up = free_port(), urlsplit(database_url).port or 5432
    url = with_hosts(database_url, down, up)
    settings = Settings(database_url=url)
    name = urlsplit(database_url).path
    assert f"PostgreSQL at 127.0.0.1:{down},127.0.0.1:{up}{name};" in adapters.describe(settings)
    store = await adapters.open_store(settings)
    try:
        assert await store.ping()
        assert store.applied  # the migration ran through the same DSN
    finally:
        await store.close()
