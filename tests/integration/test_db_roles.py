"""The services run under a least-privilege role: rows yes, DDL no."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from fileflow_core.settings import Settings
from fileflow_core.store.migrate import migrate
from fileflow_core.store.urls import database_name
from tests import pipeline
from tests.pipeline import Db
from tests.support import PG_ADMIN_URL, unique_name, wait_until

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "db-roles.sql"


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port or 5432}").geturl()


def run_script(database: str, owner: str, app: str) -> None:
    host = urlsplit(PG_ADMIN_URL)
    subprocess.run(
        [
            "psql",
            "-h",
            host.hostname or "127.0.0.1",
            "-p",
            str(host.port or 5432),
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"db={database}",
            "-v",
            f"owner={owner}",
            "-v",
            f"app={app}",
            "-q",
            "-f",
            str(SCRIPT),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_services_run_under_the_runtime_role(settings: Settings, root_dir: Path) -> None:
    owner, app = unique_name("ffowner"), unique_name("ffapp")
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{database_name(settings.database_url)}"')
    try:
        await asyncio.to_thread(run_script, database_name(settings.database_url), owner, app)
        await migrate(with_user(settings.database_url, owner))
        runtime = settings.model_copy(
            update={"database_url": with_user(settings.database_url, app)}
        )
        (root_dir / "a.txt").write_text("stored by the runtime role")
        async with pipeline.ingestor(runtime), pipeline.watcher(runtime):
            await wait_until(
                Db(settings.database_url).completed_count,
                lambda n: n == 1,
                what="a file stored under the runtime role",
            )
        conn = await asyncpg.connect(runtime.database_url)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE sneaky (a int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DROP TABLE files")
        finally:
            await conn.close()
    finally:
        await admin.execute(
            f'DROP DATABASE IF EXISTS "{database_name(settings.database_url)}" WITH (FORCE)'
        )
        for role in (app, owner):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
