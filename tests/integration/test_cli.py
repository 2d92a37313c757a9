"""The commands a user types, run as subprocesses against the real servers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aio_pika
import orjson
import pytest

from fileflow_core.settings import Settings
from tests.integration.test_ingestor_faults import queue_depth
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import wait_until

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLOW_")}
    env.update(
        FILEFLOW_AMQP_URL=settings.amqp_url,
        FILEFLOW_REDIS_URL=settings.redis_url,
        FILEFLOW_DATABASE_URL=settings.database_url,
        FILEFLOW_QUEUE_NAME=settings.queue_name,
        FILEFLOW_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        FILEFLOW_STATE_DIR=str(settings.state_dir),
        FILEFLOW_SETTLE_S="0.2",
        FILEFLOW_WATCHER_HTTP_PORT="0",
        FILEFLOW_INGESTOR_HTTP_PORT="0",
    )
    return env


def fileflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "fileflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_command_has_help() -> None:
    for command in ("watch", "ingest", "run", "migrate", "status"):
        result = fileflow(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_invalid_setting_is_one_line_naming_the_variable() -> None:
    env = {**os.environ, "FILEFLOW_CONCURRENCY": "lots"}
    for argv in ([str(BIN / "fileflow"), "migrate"], [str(BIN / "python"), "-m", "ingestor"]):
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "FILEFLOW_CONCURRENCY" in lines[0], result.stderr


def test_an_ingestor_refuses_a_missing_root_in_one_line(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "library-typo"
    result = fileflow("ingest", f"lib={missing}", env=env_for(settings))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fileflow: error: root 'lib':")
    assert f"{missing} does not exist" in lines[0]


def test_an_ingestor_refuses_to_start_without_roots(settings: Settings) -> None:
    env = {k: v for k, v in env_for(settings).items() if k != "FILEFLOW_ROOTS"}
    result = fileflow("ingest", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fileflow: error: no roots: the ingestor needs the same roots as the watcher (set "
        "FILEFLOW_ROOTS or name them: `fileflow ingest ID=PATH ...`)"
    ]


async def test_migrate_is_idempotent_and_status_counts(settings: Settings) -> None:
    env = env_for(settings)
    first = fileflow("migrate", env=env)
    assert first.returncode == 0 and "0001_init.sql" in first.stdout, first.stderr
    second = fileflow("migrate", env=env)
    assert second.returncode == 0 and "up to date" in second.stdout
    status = fileflow("status", "--json", env=env)
    report = orjson.loads(status.stdout)
    assert report["files"] == {} and report["total"] == 0
    assert report["queues"][settings.queue_name] == 0
    assert report["queues"][f"{settings.queue_name}.dead"] == 0


async def test_fileflow_run_ingests_a_folder_and_stops_cleanly_on_sigterm(
    settings: Settings, root_dir: Path
) -> None:
    (root_dir / "before.txt").write_text("already there")
    process = await asyncio.create_subprocess_exec(
        str(BIN / "fileflow"),
        "run",
        f"lib={root_dir}",
        env=env_for(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    db = Db(settings.database_url)
    try:
        await wait_until(_count_or_zero(db), lambda n: n == 1, timeout_s=30, what="initial scan")
        (root_dir / "dropped.txt").write_text("dropped in later")
        rows = await wait_until(db.live_files, lambda r: len(r) == 2, what="dropped file")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert rows["dropped.txt"][0] == hashlib.sha256(b"dropped in later").hexdigest()
    status = fileflow("status", "--json", env=env_for(settings))
    assert orjson.loads(status.stdout)["files"] == {"completed": 2}


def _count_or_zero(db: Db):  # type: ignore[no-untyped-def]
    async def probe() -> int:
        try:
            return await db.completed_count()
        except Exception:  # the database appears when the service has migrated it
            return 0

    return probe


async def test_a_watcher_waits_for_a_root_that_is_not_there_yet(
    settings: Settings, tmp_path: Path
) -> None:
    later = tmp_path / "mounted-later"
    env = service_env(settings, later)
    async with service("watch", env, wait_ready=False) as watcher:
        _, body = await wait_until(
            watcher.readiness, lambda answer: answer[0] == 503, what="not ready"
        )
        assert body["checks"]["roots"].startswith(f"lib: {later} does not exist")
        assert (await watcher.metrics())["fileflow_watcher_root_present{root=lib}"] == 0
        later.mkdir()
        (later / "first.txt").write_text("the root appeared")
        await wait_until(watcher.ready, bool, timeout_s=30, what="ready once the root is there")
        await wait_until(
            lambda: depth_or_none(settings.queue_name), lambda n: n == 1, what="first.txt sent"
        )
        assert (await watcher.metrics())["fileflow_watcher_root_present{root=lib}"] == 1


async def depth_or_none(queue: str) -> int | None:
    """The queue's depth, None while the watcher has not declared it yet."""
    try:
        return await queue_depth(queue)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return None
