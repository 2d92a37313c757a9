"""Adapters by URL: a backend added as one row of a scheme table serves the whole pipeline,
and the two stores' schemas are the same tables and columns."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import ClassVar

import asyncpg
import pytest

from fileflow_core import adapters
from fileflow_core.adapters import Adapter
from fileflow_core.broker.memory import MemoryBroker
from fileflow_core.ports import Broker
from fileflow_core.settings import Settings
from fileflow_core.store.migrate import migrate
from fileflow_core.store.sqlite import SqliteDocumentStore
from tests import pipeline
from tests.conftest import make_settings
from tests.support import wait_until

pytestmark = pytest.mark.integration


class ToyBroker(MemoryBroker):
    """A second in-process broker: what a new backend looks like to the rest of fileflow."""

    check_name = "toy"
    opened: ClassVar[list[str]] = []


async def open_toy(url: str, settings: Settings, name: str) -> Broker:
    ToyBroker.opened.append(url)
    return ToyBroker(adapters.topology_for(settings))


async def test_a_backend_added_as_a_row_serves_the_pipeline(
    root_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(adapters.BROKERS, "toy", Adapter(open_toy, lambda url, s: "a toy queue"))
    settings = make_settings(root_dir, tmp_path, backend="embedded", amqp_url="toy://here")
    settings = settings.in_one_process()
    assert adapters.describe(settings).split("; ")[1] == "queue: a toy queue"
    async with pipeline.flow("embedded", settings) as flow:
        assert isinstance(flow.backends.broker, ToyBroker)
        assert "toy" in flow.backends.checks
        async with flow.ingestor(), flow.watcher():
            (root_dir / "through-the-toy.txt").write_text("carried by a backend of one row")
            await wait_until(flow.db.completed_count, lambda n: n == 1, what="the file stored")
    assert ToyBroker.opened == ["toy://here"]


def test_an_unknown_scheme_names_the_backends_there_are() -> None:
    with pytest.raises(ValueError, match="amqp:// or amqps:// or memory://"):
        Settings(amqp_url="kafka://broker:9092")


def _sqlite_columns(path: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for table in tables
            if not table.startswith("sqlite_")
        }
    finally:
        db.close()


async def test_the_two_schemas_are_kept_in_step(database_url: str, tmp_path: Path) -> None:
    await migrate(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    postgres: dict[str, set[str]] = {}
    for row in rows:
        postgres.setdefault(row["table_name"], set()).add(row["column_name"])
    store = await SqliteDocumentStore.open(tmp_path / "f.sqlite3")
    await store.close()
    sqlite = await asyncio.to_thread(_sqlite_columns, tmp_path / "f.sqlite3")
    assert set(postgres) == set(sqlite)
    # PostgreSQL's identity is a hash of the path's bytes (its index refuses long entries);
    # SQLite indexes the bytes themselves. Nothing else differs.
    assert postgres.pop("files") - {"path_hash"} == sqlite.pop("files")
    assert postgres == sqlite
