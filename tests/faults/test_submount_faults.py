"""Absence is not deletion, one level down: a share mounted on a folder inside a root, then
unmounted, tombstones nothing, whichever service restarts meanwhile, and a message about one of
its files queued before the unmount waits for it. Once its folder is removed (it cannot be
while mounted: the share was taken away on purpose), its files are marked deleted.

Real mounts (a bind mount of a folder, an ext4 image on a loop device): they need root, and
skip saying so without it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from fileflow_core.messages import FileEvent, Operation, encode_event
from fileflow_core.settings import Settings
from tests.faults.test_process_faults import completed
from tests.faults.test_root_faults import (
    FILES,
    Mounted,
    can_mount,
    metric,
    tombstones,
    write_library,
)
from tests.integration.test_embedded_run import fileflow
from tests.pipeline import Db, publish_raw
from tests.services import Service, service, service_env
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
__all__ = ["can_mount"]  # a fixture, shared with the root faults

SHARE_FILES = 10
RECONCILE_S = 2.0
AWAY = "fileflow_watcher_mounts_away{root=lib}"
DELETES = "fileflow_watcher_published_total{op=delete,root=lib}"
POSTPONED = "fileflow_ingestor_messages_total{outcome=postponed}"


@pytest.fixture(params=["bind", "ext4-loop"])
def share(request: pytest.FixtureRequest, can_mount: None, root_dir: Path, tmp_path: Path) -> Any:
    target = root_dir / "share"
    target.mkdir()
    mounted = Mounted(request.param, target, tmp_path)
    mounted.create()
    yield mounted
    mounted.cleanup()


async def deletes_published(watcher: Service) -> float:
    return metric(await watcher.metrics(), DELETES)


async def caught_up(watcher: Service, scans: int = 2) -> None:
    """Until the watcher has finished ``scans`` catch-ups (its start and a reconcile)."""
    await wait_until(
        watcher.metrics,
        lambda values: metric(values, "fileflow_watcher_scan_duration_seconds_count") >= scans,
        timeout_s=60,
        what=f"{scans} catch-ups",
    )


async def test_a_share_unmounted_inside_a_root_tombstones_nothing(
    settings: Settings, root_dir: Path, share: Mounted, verify: Any
) -> None:
    # A postponed message is looked at again 2 s later, not 30.
    settings = settings.model_copy(update={"hold_delay_s": 2.0})
    env = service_env(
        settings,
        root_dir,
        FILEFLOW_RECONCILE_INTERVAL_S=str(RECONCILE_S),
        FILEFLOW_HOLD_DELAY_S="2",
    )
    db = Db(settings.database_url)
    await asyncio.to_thread(write_library, root_dir)
    for i in range(SHARE_FILES):
        (share.root / f"s{i}.txt").write_text(f"share file {i}\n" * 10)
    total = FILES + SHARE_FILES
    async with service("ingest", env) as ingestor:
        async with service("watch", env) as watcher:
            await wait_until(lambda: completed(db), lambda n: n == total, what="first import")
            share.unmount(lazy=True)
            await caught_up(watcher, scans=3)
            assert (await watcher.metrics())[AWAY] == 1
            assert await deletes_published(watcher) == 0
        # A watcher started while the share is away knows it from its state file.
        async with service("watch", env) as watcher:
            await caught_up(watcher)
            assert (await watcher.metrics())[AWAY] == 1
            assert await deletes_published(watcher) == 0
    # So does an ingestor started meanwhile, from the database: a message queued before the
    # unmount waits for the share instead of tombstoning its file.
    async with service("ingest", env) as ingestor:
        event = FileEvent.observed("lib", "share/s1.txt", Operation.UPSERT)
        await publish_raw(settings.queue_name, [encode_event(event)])
        await wait_until(
            ingestor.metrics,
            lambda values: metric(values, POSTPONED) >= 1,
            timeout_s=60,
            what="the message postponed",
        )
        assert await tombstones(db) == 0
        assert await completed(db) == total
        # The operator's view says which folder is away and what to do.
        roots = fileflow(env, "roots")
        assert roots.returncode == 1, roots.stdout
        assert "AWAY: folder 'share' beneath root 'lib' was a mount point" in roots.stdout
        assert orjson.loads(fileflow(env, "roots", "--json").stdout)[0]["mounts_away"] == ["share"]
        share.mount()
        async with service("watch", env) as watcher:
            await caught_up(watcher)
            assert (await watcher.metrics())[AWAY] == 0
            # Back with the same files: nothing to send; a file deleted now is deleted.
            assert metric(await watcher.metrics(), "fileflow_watcher_published_total") == 0
            (share.root / "s0.txt").unlink()
            await wait_until(lambda: tombstones(db), lambda n: n == 1, what="s0 tombstoned")
            # Taken away for good: unmounted, and its folder removed.
            share.unmount()
            share.root.rmdir()
            await wait_until(
                lambda: tombstones(db), lambda n: n == SHARE_FILES, what="the share's files"
            )
            assert await completed(db) == FILES
    await verify(of=settings)


async def test_a_share_mounted_again_under_a_running_watcher_is_watched_live(
    settings: Settings, root_dir: Path, share: Mounted, verify: Any
) -> None:
    """The watches inside a share end when it is unmounted; mounted again, it is watched anew
    at once, not from the next reconcile (the default 10 minutes here)."""
    env = service_env(settings, root_dir)
    db = Db(settings.database_url)
    for i in range(SHARE_FILES):
        (share.root / f"s{i}.txt").write_text(f"share file {i}\n")
    async with service("ingest", env), service("watch", env) as watcher:
        await wait_until(lambda: completed(db), lambda n: n == SHARE_FILES, what="import")
        share.unmount(lazy=True)
        await asyncio.sleep(3)
        share.mount()
        await asyncio.sleep(3)
        (share.root / "after.txt").write_text("written once the share was back")
        (share.root / "s0.txt").unlink()
        await wait_until(
            lambda: db.fetchval(
                "SELECT count(*) FROM files WHERE path = 'share/after.txt' AND status = 'completed'"
            ),
            lambda n: n == 1,
            timeout_s=20,
            what="after.txt",
        )
        await wait_until(lambda: tombstones(db), lambda n: n == 1, timeout_s=20, what="s0")
        assert await deletes_published(watcher) == 1
    await verify()
