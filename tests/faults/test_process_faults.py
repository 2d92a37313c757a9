"""Faults of fileflow's own processes: killed, crashed between commit and ack, overwhelmed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from fileflow_core.settings import Settings
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def write(root: Path, count: int, prefix: str = "f", size: int = 2048) -> None:
    for i in range(count):
        folder = root / f"{prefix}{i % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"{prefix}{i}.dat").write_bytes(os.urandom(size))


async def completed(db: Db) -> int:
    try:
        return await db.completed_count()
    except Exception:  # the schema appears when a service first starts
        return 0


async def test_ingestor_sigkilled_with_files_in_flight(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    write(root_dir, 3000, size=64 * 1024)
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with service("watch", env):
        async with service("ingest", env) as ingestor:
            await wait_until(
                lambda: completed(db), lambda n: n >= 200, interval_s=0.02, what="import under way"
            )
            in_flight = (await ingestor.metrics()).get("fileflow_ingestor_files_in_flight", 0)
            ingestor.process.send_signal(signal.SIGKILL)
            await ingestor.process.wait()
        killed_at = await completed(db)
        async with service("ingest", env):
            await wait_until(
                lambda: completed(db), lambda n: n == 3000, timeout_s=180, what="restart completes"
            )
    print(f"\nSIGKILL with {in_flight:.0f} in flight after {killed_at} of 3000")
    await verify()


async def test_crash_after_commit_before_ack(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    write(root_dir, 500)
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with service("watch", env):
        crashing = {**env, "FILEFLOW_FAULT": "crash-after-commit:100"}
        # Not waited ready: with the files already queued, it may reach its 100th commit first.
        async with service("ingest", crashing, wait_ready=False) as ingestor:
            assert await asyncio.wait_for(ingestor.process.wait(), 60) == 75
        at_crash = await completed(db)
        async with service("ingest", env):
            await wait_until(
                lambda: completed(db),
                lambda n: n == 500,
                timeout_s=120,
                what="the rest after the crash",
            )
    print(f"\ncrashed after commit #100 ({at_crash} rows); redeliveries absorbed")
    assert at_crash >= 100
    assert await db.fetchval("SELECT count(*) FROM files") == 500
    await verify()


async def test_watcher_killed_while_files_change(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    write(root_dir, 300)
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with service("ingest", env):
        async with service("watch", env) as watcher:
            await wait_until(lambda: completed(db), lambda n: n == 300, what="first import")
            for i in range(100):  # changes racing the kill
                (root_dir / f"f{i % 10}" / f"f{i}.dat").write_bytes(os.urandom(1000))
                (root_dir / f"new{i}.dat").write_bytes(b"new %d" % i)
            for i in range(100, 150):
                (root_dir / f"f{i % 10}" / f"f{i}.dat").unlink()
            watcher.process.send_signal(signal.SIGKILL)
            await watcher.process.wait()
        for i in range(150, 200):  # and while it is down
            (root_dir / f"f{i % 10}" / f"f{i}.dat").write_bytes(os.urandom(500))
        async with service("watch", env):
            await wait_until(
                lambda: db.fetchval("SELECT count(*) FROM files WHERE NOT deleted"),
                lambda n: n == 350,
                what="catch-up after the kill",
            )
            await asyncio.sleep(2)
    await verify()


async def test_tens_of_thousands_created_in_a_second(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.3")
    db = Db(settings.database_url)
    async with service("ingest", env), service("watch", env):
        await asyncio.to_thread(write, root_dir, 20_000, "burst", 64)
        await wait_until(
            lambda: completed(db),
            lambda n: n == 20_000,
            timeout_s=240,
            interval_s=1,
            what="all 20,000 files",
        )
    await verify()
