"""Absence is not deletion: a root that is unmounted, mistyped or replaced by an empty folder
tombstones nothing, is reported unavailable, and after it returns costs no message and no
extraction; a root that is present and emptied by ``rm`` still tombstones every file.

Real mounts: a bind mount of a folder (a NAS share) and an ext4 image on a loop device (a USB
disk), unmounted and mounted again with the same files. They need root; without it the
scenarios skip saying so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from fileflow_core.settings import Settings
from tests.faults.test_process_faults import completed
from tests.pipeline import Db
from tests.services import Service, service, service_env, stop_process
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FILES = 50
RECONCILE_S = "3"


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def can_mount(tmp_path_factory: pytest.TempPathFactory) -> None:
    probe = tmp_path_factory.mktemp("mount-probe")
    try:
        run("mount", "-t", "tmpfs", "tmpfs", str(probe))
        run("umount", str(probe))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"mounting needs root (mount -t tmpfs failed: {exc}); run as root")


class Mounted:
    """A filesystem mounted at the root, unmounted and mounted again with the same files."""

    def __init__(self, kind: str, root: Path, scratch: Path) -> None:
        self.kind, self.root, self.scratch = kind, root, scratch
        self.source = scratch / ("share" if kind == "bind" else "disk.img")
        self.mounts = 0
        self.decoys: list[str] = []

    def create(self) -> None:
        if self.kind == "bind":
            self.source.mkdir()
        else:
            run("truncate", "-s", "64M", str(self.source))
            run("mkfs.ext4", "-q", "-F", "-U", str(uuid.uuid4()), str(self.source))
        self.mount()

    def mount(self) -> None:
        if self.kind == "bind":
            run("mount", "--bind", str(self.source), str(self.root))
        else:
            if self.mounts:
                # Plugged in again, the disk gets another device number: a decoy takes the
                # loop device it had. The filesystem's own id still names it.
                decoy = self.scratch / f"decoy{self.mounts}.img"
                run("truncate", "-s", "1M", str(decoy))
                found = subprocess.run(
                    ["losetup", "-f", "--show", str(decoy)],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                self.decoys.append(found.stdout.strip())
            run("mount", "-o", "loop", str(self.source), str(self.root))
        self.mounts += 1

    def unmount(self, *, lazy: bool = False) -> None:
        run("umount", *(["-l"] if lazy else []), str(self.root))

    def cleanup(self) -> None:
        unmount_all(self.root)
        for device in self.decoys:
            subprocess.run(["losetup", "-d", device], check=False, timeout=60)


@pytest.fixture(params=["bind", "ext4-loop"])
def mounted(request: pytest.FixtureRequest, can_mount: None, root_dir: Path, tmp_path: Path) -> Any:
    share = Mounted(request.param, root_dir, tmp_path)
    share.create()
    yield share
    share.cleanup()


def write_library(root: Path, count: int = FILES) -> None:
    for i in range(count):
        folder = root / f"d{i % 5}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"file {i} of a library that must survive\n" * 20)


async def tombstones(db: Db) -> int:
    return int(await db.fetchval("SELECT count(*) FROM files WHERE status = 'deleted'"))


def metric(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(prefix))


async def unavailable(watcher: Service) -> str:
    status, body = await watcher.readiness()
    reason = body.get("checks", {}).get("roots")
    return reason if status == 503 and isinstance(reason, str) else ""


@asynccontextmanager
async def imported(
    settings: Settings, root: Path
) -> AsyncIterator[tuple[dict[str, str], Db, Service]]:
    """A library imported by a watcher (stopped again) and an ingestor that keeps running."""
    env = service_env(settings, root, FILEFLOW_RECONCILE_INTERVAL_S=RECONCILE_S)
    db = Db(settings.database_url)
    await asyncio.to_thread(write_library, root)
    async with service("ingest", env) as ingestor:
        async with service("watch", env):
            await wait_until(lambda: completed(db), lambda n: n == FILES, what="first import")
        yield env, db, ingestor


def is_mount_point(path: Path) -> bool:
    # Not os.path.ismount: a bind mount from the same filesystem has its parent's device.
    found = subprocess.run(["mountpoint", "-q", str(path)], check=False, timeout=60)
    return found.returncode == 0


def unmount_all(path: Path) -> None:
    while is_mount_point(path):
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=60)


async def test_unmounted_while_the_watcher_was_stopped(
    settings: Settings, root_dir: Path, mounted: Mounted, verify: Any
) -> None:
    async with imported(settings, root_dir) as (env, db, ingestor):
        mounted.unmount()
        async with service("watch", env, wait_ready=False) as watcher:
            reason = await wait_until(
                lambda: unavailable(watcher), bool, what="the root reported unavailable"
            )
            assert "lib:" in reason and "not the folder it was" in reason
            assert (await watcher.metrics())["fileflow_watcher_root_present{root=lib}"] == 0
            await asyncio.sleep(2 * float(RECONCILE_S) + 1)  # catch-ups ran meanwhile
            assert await tombstones(db) == 0
            assert await completed(db) == FILES
            extracted = metric(await ingestor.metrics(), "fileflow_ingestor_extractions_total")
            mounted.mount()
            await wait_until(lambda: unavailable(watcher), lambda r: r == "", what="back")
            await asyncio.sleep(float(RECONCILE_S) + 1)
            print(f"\n{mounted.kind}: back on {os.stat(root_dir).st_dev:#x}")
            published = metric(await watcher.metrics(), "fileflow_watcher_published_total")
            again = metric(await ingestor.metrics(), "fileflow_ingestor_extractions_total")
        print(f"\n{mounted.kind}: unavailable because {reason}")
        assert published == 0, "unchanged files were published again"
        assert again == extracted, "unchanged files were extracted again"
    await verify()


async def test_unmounted_while_the_watcher_runs(
    settings: Settings, root_dir: Path, mounted: Mounted, verify: Any
) -> None:
    async with imported(settings, root_dir) as (env, db, ingestor):
        async with service("watch", env) as watcher:
            await wait_until(lambda: unavailable(watcher), lambda r: r == "", what="ready")
            published = metric(await watcher.metrics(), "fileflow_watcher_published_total")
            extracted = metric(await ingestor.metrics(), "fileflow_ingestor_extractions_total")
            mounted.unmount(lazy=True)
            reason = await wait_until(
                lambda: unavailable(watcher), bool, what="the root reported unavailable"
            )
            await asyncio.sleep(2 * float(RECONCILE_S) + 1)
            assert await tombstones(db) == 0
            mounted.mount()
            await wait_until(lambda: unavailable(watcher), lambda r: r == "", what="back")
            await asyncio.sleep(float(RECONCILE_S) + 1)
            assert metric(await watcher.metrics(), "fileflow_watcher_published_total") == published
            again = metric(await ingestor.metrics(), "fileflow_ingestor_extractions_total")
            assert again == extracted
            # Watched again: a change after the return is ingested.
            (root_dir / "after.txt").write_text("written once the share was back")
            await wait_until(lambda: completed(db), lambda n: n == FILES + 1, what="new file")
        print(f"\n{mounted.kind}: unavailable because {reason}")
    await verify()


async def test_a_tmpfs_root_unmounted_while_watched_tombstones_nothing(
    settings: Settings, root_dir: Path, can_mount: None
) -> None:
    run("mount", "-t", "tmpfs", "tmpfs", str(root_dir))
    try:
        async with (
            imported(settings, root_dir) as (env, db, _),
            service("watch", env) as watcher,
        ):
            run("umount", "-l", str(root_dir))  # the files are gone with it
            await wait_until(lambda: unavailable(watcher), bool, what="unavailable")
            await asyncio.sleep(2 * float(RECONCILE_S) + 1)
            assert await tombstones(db) == 0
            assert await completed(db) == FILES
    finally:
        await asyncio.to_thread(unmount_all, root_dir)


async def test_a_mistyped_or_empty_ingestor_root_refuses_to_start(
    settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    async with imported(settings, root_dir) as (env, db, running):
        await stop_process(running.process)  # an ingestor started over the wrong folder now
        typo = tmp_path / "library-typo"
        empty = tmp_path / "volume-not-mounted"
        empty.mkdir()
        for wrong, says in ((typo, "does not exist"), (empty, "not the folder it was")):
            wrong_env = {**env, "FILEFLOW_ROOTS": f"lib={wrong}"}
            log = tmp_path / f"ingestor-{wrong.name}.log"
            async with service("ingest", wrong_env, log=log, wait_ready=False) as ingestor:
                code = await asyncio.wait_for(ingestor.process.wait(), 60)
            assert code == 2, f"an ingestor over {wrong} started"
            last = log.read_text().strip().splitlines()[-1]
            assert last.startswith("fileflow: error: root 'lib':") and says in last, last
            # The watcher, right, goes on: a change is held for a right ingestor.
            async with service("watch", env):
                (root_dir / "d0" / "f0.txt").write_text("changed while the ingestor was wrong")
                await asyncio.sleep(2)
        assert await tombstones(db) == 0
        async with service("ingest", env):
            await wait_until(
                lambda: db.fetchval(
                    "SELECT count(*) FROM files WHERE path = 'd0/f0.txt' AND size = $1",
                    len("changed while the ingestor was wrong"),
                ),
                lambda n: n == 1,
                what="the held change, once a right ingestor runs",
            )


async def test_a_present_root_emptied_by_rm_tombstones_every_file(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    async with imported(settings, root_dir) as (env, db, _), service("watch", env):
        await asyncio.to_thread(shutil.rmtree, root_dir / "d0")
        for child in await asyncio.to_thread(lambda: list(root_dir.iterdir())):
            await asyncio.to_thread(shutil.rmtree, child)
        await wait_until(lambda: tombstones(db), lambda n: n == FILES, what="all tombstoned")
    rows = await db.fetch("SELECT DISTINCT status, deleted FROM files")
    assert [(row["status"], row["deleted"]) for row in rows] == [("deleted", True)]
    await verify()


NAMES: dict[str, Callable[[], bytes]] = {
    "latin-1": lambda: "café-résumé.txt".encode("latin-1"),
    "invalid utf-8": lambda: b"bad-\xff\xfe-\xc3(.bin",
    "shift-jis": lambda: "日本語のメモ.txt".encode("shift_jis"),
    "newline": lambda: b"line\nbreak.txt",
    "terminal escape": lambda: b"esc\x1b[31mred.txt",
}


async def test_names_that_are_not_utf8_are_stored_renamed_and_deleted(
    settings: Settings, root_dir: Path, tmp_path: Path, verify: Any
) -> None:
    env = service_env(settings, root_dir, FILEFLOW_LOG_LEVEL="INFO")
    db = Db(settings.database_url)
    folder = os.fsencode(root_dir)
    raw_names = {label: make() for label, make in NAMES.items()}
    log = tmp_path / "services.log"
    async with service("ingest", env, log=log), service("watch", env, log=log):
        for label, raw in raw_names.items():
            fd = os.open(folder + b"/" + raw, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, f"content of the {label} file".encode())
            os.close(fd)
        await wait_until(lambda: completed(db), lambda n: n == len(NAMES), what="every name")
        rows = await db.fetch("SELECT path, path_bytes FROM files WHERE status = 'completed'")
        assert {bytes(row["path_bytes"]) for row in rows} == set(raw_names.values())
        readable = {row["path"] for row in rows}
        assert "caf\\xe9-r\\xe9sum\\xe9.txt" in readable and "line\nbreak.txt" in readable
        renamed = b"renamed-\xe9.txt"
        os.rename(folder + b"/" + raw_names["latin-1"], folder + b"/" + renamed)
        os.unlink(folder + b"/" + raw_names["invalid utf-8"])
        expected = (
            set(raw_names.values()) - {raw_names["latin-1"], raw_names["invalid utf-8"]}
        ) | {renamed}

        async def live() -> set[bytes]:
            found = await db.fetch("SELECT path_bytes FROM files WHERE status = 'completed'")
            return {bytes(row["path_bytes"]) for row in found}

        await wait_until(live, lambda paths: paths == expected, what="rename and delete")
    deleted = await db.fetch("SELECT path_bytes FROM files WHERE status = 'deleted'")
    assert {bytes(row["path_bytes"]) for row in deleted} == {
        raw_names["latin-1"],
        raw_names["invalid utf-8"],
    }
    # Every line the services wrote is JSON, and no name reached the terminal raw.
    lines = log.read_bytes().splitlines()
    assert lines and all(orjson.loads(line) for line in lines)
    assert b"\x1b" not in log.read_bytes()
    await verify()


async def test_a_root_named_in_latin1_is_watched_and_can_still_be_unmounted(
    settings: Settings, tmp_path: Path, can_mount: None
) -> None:
    """A share mounted under a name that is not UTF-8: watched live (through a link, not a
    descriptor held open), so a plain ``umount`` is not refused as busy, and nothing is
    tombstoned while it is away."""
    root = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"m\xfcsic")))
    os.mkdir(root)
    run("mount", "-t", "tmpfs", "tmpfs", str(root))
    try:
        async with (
            imported(settings, root) as (env, db, _),
            service("watch", env) as watcher,
        ):
            await wait_until(lambda: unavailable(watcher), lambda r: r == "", what="ready")
            await asyncio.to_thread((root / "live.txt").write_text, "seen by the OS watch")
            await wait_until(lambda: completed(db), lambda n: n == FILES + 1, what="live file")
            run("umount", str(root))  # not lazy: a descriptor held open would make it busy
            await wait_until(lambda: unavailable(watcher), bool, what="unavailable")
            await asyncio.sleep(2 * float(RECONCILE_S) + 1)
            assert await tombstones(db) == 0
            assert await completed(db) == FILES + 1
    finally:
        await asyncio.to_thread(unmount_all, root)
