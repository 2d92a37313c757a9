"""PostgreSQL's primary lost mid-import, its synchronous standby promoted: nothing lost.

fileflow is given both hosts (``target_session_attrs=read-write``). The primary is killed with
SIGKILL while files arrive; after ``PROMOTE_AFTER_S`` (the time a failover manager such as
Patroni takes to decide) the standby is promoted; the ingestor finds it on its own. Printed:
the seconds from the promotion until files are committed again, and lost/duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from fileflow_core.broker.topology import Topology
from fileflow_core.settings import Settings
from tests.cluster.postgres_pair import (
    PRIMARY_PORT,
    PairUnavailable,
    PostgresPair,
    postgres_pair,
)
from tests.cluster.test_node_loss import write_files
from tests.faults.invariant import check
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import in_ci, wait_until

FILES = int(os.environ.get("FILEFLOW_CLUSTER_PG_FILES", "3000"))
RATE = 300
PROMOTE_AFTER_S = 5.0
RESUME_TIMEOUT_S = 180
DATABASE = "fileflow"


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresPair]:
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"fileflow-pgpair-{os.getuid()}"
    try:
        with postgres_pair(base) as running:
            yield running
    except (PairUnavailable, OSError, subprocess.SubprocessError) as exc:
        reason = f"a PostgreSQL primary and standby cannot start here: {exc}"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


async def completed_on(url: str) -> int:
    """Completed rows on whichever host takes writes now (0 while none does)."""
    with contextlib.suppress(OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        conn = await asyncpg.connect(url, timeout=3)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM files WHERE status = 'completed'"))
        finally:
            await conn.close()
    return -1


async def test_primary_lost_and_standby_promoted_lose_nothing(
    pair: PostgresPair, settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{PRIMARY_PORT}/postgres")
    await admin.execute(f"CREATE DATABASE {DATABASE}")
    await admin.close()
    url = pair.url(DATABASE)
    env = service_env(settings, root_dir, FILEFLOW_DATABASE_URL=url)
    async with (
        service("ingest", env, log=tmp_path / "ingestor.log"),
        service("watch", env, log=tmp_path / "watcher.log"),
    ):
        writing = asyncio.create_task(write_files(root_dir, FILES, RATE))
        try:
            await wait_until(
                lambda: completed_on(url), lambda n: n >= FILES // 3, timeout_s=RESUME_TIMEOUT_S
            )
            before = await completed_on(url)
            pair.kill_primary()
            await asyncio.sleep(PROMOTE_AFTER_S)
            await asyncio.to_thread(pair.promote)
            promoted = time.monotonic()
            after_promotion = await completed_on(url)
            resumed = await wait_until(
                lambda: completed_on(url),
                lambda n: n > after_promotion,
                timeout_s=RESUME_TIMEOUT_S,
                interval_s=0.1,
                what="a commit on the promoted standby",
            )
            resumed_s = time.monotonic() - promoted
            await writing
        finally:
            writing.cancel()
        await wait_until(
            lambda: completed_on(url), lambda n: n >= FILES, timeout_s=RESUME_TIMEOUT_S
        )
    topology = Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)
    retry = [q for q in topology.queues if q not in (topology.work_queue, topology.dead_queue)]
    verdict = await check(Db(url), root_dir, "lib", settings.queue_name, retry)
    print(
        f"\npostgresql: primary killed at {before} of {FILES} files, standby promoted "
        f"{PROMOTE_AFTER_S:.0f} s later; commits resumed {resumed_s:.1f} s after the promotion "
        f"({resumed} rows then); lost {len(verdict.lost)}, duplicated {len(verdict.duplicated)}"
    )
    assert verdict.holds, verdict
    assert verdict.files == FILES
