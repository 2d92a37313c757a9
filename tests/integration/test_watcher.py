"""The watcher on a real filesystem and a real RabbitMQ: what it publishes, and when."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import aio_pika
import pytest

from file_watcher import watch
from file_watcher.catchup import PACED_BACKLOG, SCAN_SLICE_FILES
from fileflow_core.messages import FileEvent, Operation, decode_message
from fileflow_core.settings import RootConfig, Settings
from tests import pipeline
from tests.pipeline import Db
from tests.proxy import tcp_proxy
from tests.support import AMQP_URL, wait_until

pytestmark = pytest.mark.integration


class Published:
    """Drains what the watcher put on the work queue."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.events: list[FileEvent] = []

    async def drain(self) -> list[FileEvent]:
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, passive=True)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                decoded = decode_message(message.body)
                if isinstance(decoded, FileEvent):
                    self.events.append(decoded)
                    continue
                # A batch (v2): every entry the watcher wrote must be a valid event.
                assert all(entry.event is not None for entry in decoded), decoded
                self.events += [entry.event for entry in decoded if entry.event is not None]
        finally:
            await connection.close()
        return self.events

    async def settle(self, quiet_s: float = 1.5, timeout_s: float = 60) -> list[FileEvent]:
        """Drain until nothing new arrives for ``quiet_s``."""
        deadline = time.monotonic() + timeout_s
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(await self.drain())
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return self.events
            await asyncio.sleep(0.2)
        return self.events

    def ops(self) -> set[tuple[str, str]]:
        return {(event.op.value, event.path) for event in self.events}


def quick(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"settle_s": 0.3, "debounce_ms": 50, **update})


def write_files(root: Path, count: int, *, modified_at: float | None = None) -> None:
    """``count`` small files spread over ten folders; ``modified_at`` (epoch seconds) sets
    their mtime."""
    for folder in range(10):
        (root / f"d{folder}").mkdir(exist_ok=True)
    for i in range(count):
        path = root / f"d{i % 10}" / f"f{i}.txt"
        path.write_bytes(b"x%d" % i)
        if modified_at is not None:
            os.utime(path, (modified_at, modified_at))


async def test_ten_thousand_new_files_give_exactly_one_upsert_each(
    settings: Settings, root_dir: Path
) -> None:
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        write_files(root_dir, 10_000)
        events = await published.settle(quiet_s=2.0, timeout_s=120)
    paths = Counter(event.path for event in events)
    assert len(events) == 10_000, f"{len(events)} messages"
    assert max(paths.values()) == 1
    assert {event.op for event in events} == {Operation.UPSERT}


async def test_a_large_first_scan_is_published_a_slice_at_a_time(
    settings: Settings, root_dir: Path
) -> None:
    files = SCAN_SLICE_FILES * 3
    # Settled long ago, as a library is: files the scan finds still being written settle on
    # the live path instead, which does not wait for the publish loop.
    write_files(root_dir, files, modified_at=time.time() - 3600)
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)) as running:
        events = await published.settle(quiet_s=1.0, timeout_s=120)
        watcher = await running.halt()
    assert len(events) == files
    assert len({event.path for event in events}) == files
    # Never the whole tree pending at once: at most one slice on top of the paced backlog.
    assert 0 < watcher.peak_backlog <= PACED_BACKLOG + SCAN_SLICE_FILES


async def test_the_rest_of_a_large_burst_is_caught_up_by_a_scan_exactly_once(
    settings: Settings, root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "LIVE_BURST_EVENTS", 600)
    files = 3_000
    for folder in range(10):  # watched from the start: every file written is notified
        (root_dir / f"d{folder}").mkdir()
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)) as running:
        await asyncio.to_thread(write_files, root_dir, files)
        events = await published.settle(quiet_s=4.0, timeout_s=120)
        watcher = await running.halt()
    assert len(events) == files
    assert len({event.path for event in events}) == files
    assert watcher.left_to_rescan > 0  # the burst's rest was not observed one by one
    assert watcher.scans_done >= 2  # the start's, and the one after the burst


async def test_folders_a_burst_created_are_watched_after_its_catch_up(
    settings: Settings, root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst too large to observe event by event also creates folders; the scan after it
    finds their files, and the watch must then cover them: a file written there later is
    published at once, not at the next reconcile."""
    monkeypatch.setattr(watch, "LIVE_BURST_EVENTS", 600)
    published = Published(settings.queue_name)

    def burst() -> None:
        for i in range(1_000):  # in the root: past the limit, the rest is left to the scan
            (root_dir / f"top{i}.txt").write_bytes(b"%d" % i)
        for folder in range(10):  # so these folders' creation is never observed
            (root_dir / f"new{folder}").mkdir()
            for i in range(100):
                (root_dir / f"new{folder}" / f"f{i}.txt").write_bytes(b"%d" % i)

    async with pipeline.watcher(quick(settings)) as running:
        await asyncio.to_thread(burst)
        assert len(await published.settle(quiet_s=4.0, timeout_s=120)) == 2_000
        for folder in range(10):
            (root_dir / f"new{folder}" / "later.txt").write_text(f"after the burst {folder}")
        await published.settle(quiet_s=2.0, timeout_s=30)
        watcher = await running.halt()
    assert watcher.left_to_rescan > 0  # the burst's rest was not observed one by one
    later = {event.path for event in published.events if event.path.endswith("later.txt")}
    assert later == {f"new{folder}/later.txt" for folder in range(10)}


async def test_a_folder_removed_and_made_again_is_watched_again(
    settings: Settings, root_dir: Path
) -> None:
    """The watch on a removed folder ends with it; the folder made again under its name is
    watched anew, so a file written there well after its creation is still published."""
    (root_dir / "inbox").mkdir()
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        (root_dir / "inbox" / "a.txt").write_text("a")
        await published.settle(quiet_s=1.0)
        shutil.rmtree(root_dir / "inbox")
        await published.settle(quiet_s=1.0)
        (root_dir / "inbox").mkdir()
        await asyncio.sleep(2.5)  # past the second listing of a new folder
        (root_dir / "inbox" / "b.txt").write_text("b")
        await published.settle(quiet_s=1.5)
    assert published.ops() >= {("upsert", "inbox/a.txt"), ("delete", "inbox/a.txt")}
    assert ("upsert", "inbox/b.txt") in published.ops()


async def test_a_catch_up_lets_a_file_still_being_written_settle_first(
    settings: Settings, root_dir: Path
) -> None:
    growing = root_dir / "growing.log"
    growing.write_bytes(b"first part\n")  # the start's catch-up sees it within its settle period
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings, settle_s=3.0)):
        early = list(await published.drain())
        with growing.open("ab") as handle:
            handle.write(b"second part\n")
        events = await published.settle(quiet_s=4.0)
    assert early == []
    assert len(events) == 1
    assert events[0].size == growing.stat().st_size


async def test_a_file_moved_in_whole_is_published_without_waiting_to_settle(
    settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "staging.txt"
    outside.write_bytes(b"delivered atomically")
    os.utime(outside, (time.time() - 60, time.time() - 60))
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings, settle_s=30.0)):
        os.rename(outside, root_dir / "delivered.txt")
        events = await published.settle(quiet_s=1.0, timeout_s=10)
    assert [(event.path, event.size) for event in events] == [("delivered.txt", 20)]


async def test_a_file_written_in_twenty_steps_gives_one_message_after_the_last_write(
    settings: Settings, root_dir: Path
) -> None:
    published = Published(settings.queue_name)
    target = root_dir / "growing.log"
    async with pipeline.watcher(quick(settings, settle_s=0.5)):
        for step in range(20):
            with target.open("ab") as handle:
                handle.write(b"line %d\n" % step)
            await asyncio.sleep(0.1)
        last_write = time.time()
        events = await published.settle(quiet_s=1.5)
    assert len(events) == 1
    assert events[0].size == target.stat().st_size
    assert events[0].seen_at.timestamp() >= last_write


async def test_rename_move_delete_and_short_lived_files(settings: Settings, root_dir: Path) -> None:
    (root_dir / "a").mkdir()
    (root_dir / "b").mkdir()
    (root_dir / "a" / "old.txt").write_text("renamed")
    (root_dir / "a" / "moving.txt").write_text("moved")
    (root_dir / "doomed.txt").write_text("deleted")
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        await published.settle(quiet_s=1.0)
        published.events.clear()
        (root_dir / "a" / "old.txt").rename(root_dir / "a" / "new.txt")
        (root_dir / "a" / "moving.txt").rename(root_dir / "b" / "moving.txt")
        (root_dir / "doomed.txt").unlink()
        short = root_dir / "blink.txt"
        short.write_text("here and gone")
        short.unlink()
        await published.settle(quiet_s=1.5)
    assert published.ops() == {
        ("delete", "a/old.txt"),
        ("upsert", "a/new.txt"),
        ("delete", "a/moving.txt"),
        ("upsert", "b/moving.txt"),
        ("delete", "doomed.txt"),
    }
    assert len(published.events) == 5


async def test_restart_publishes_exactly_what_changed_while_stopped(
    settings: Settings, root_dir: Path
) -> None:
    for i in range(200):
        (root_dir / f"f{i}.txt").write_text(f"v1 {i}")
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        assert len(await published.settle(quiet_s=1.0)) == 200
    published.events.clear()
    for i in range(50):
        (root_dir / f"f{i}.txt").write_text(f"v2 {i} changed")
    for i in range(50, 100):
        (root_dir / f"f{i}.txt").unlink()
    for i in range(100):
        (root_dir / f"new{i}.txt").write_text(f"new {i}")
    async with pipeline.watcher(quick(settings)) as running:
        events = await published.settle(quiet_s=1.0)
        watcher = await running.halt()
    expected = (
        {("upsert", f"f{i}.txt") for i in range(50)}
        | {("delete", f"f{i}.txt") for i in range(50, 100)}
        | {("upsert", f"new{i}.txt") for i in range(100)}
    )
    assert published.ops() == expected
    assert len(events) == 200
    assert watcher.published == 200


async def test_ignore_patterns_and_symlinks_out_of_the_root_are_respected(
    settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("never read")
    (root_dir / "link-to-file").symlink_to(outside / "secret.txt")
    (root_dir / "link-to-dir").symlink_to(outside, target_is_directory=True)
    rooted = quick(settings, roots=[RootConfig(id="lib", path=root_dir, ignore=["*.log", "tmp/"])])
    published = Published(settings.queue_name)
    async with pipeline.watcher(rooted):
        (root_dir / "keep.txt").write_text("kept")
        (root_dir / "noise.log").write_text("ignored by pattern")
        (root_dir / "draft.txt.swp").write_text("ignored by default")
        (root_dir / "tmp").mkdir()
        (root_dir / "tmp" / "x.txt").write_text("ignored folder")
        (root_dir / "late-link").symlink_to(outside / "secret.txt")
        (outside / "more.txt").write_text("outside, seen through a linked folder")
        await published.settle(quiet_s=1.5)
    assert published.ops() == {("upsert", "keep.txt")}


async def test_rabbitmq_unreachable_for_a_while_then_everything_is_ingested_once(
    settings: Settings, root_dir: Path
) -> None:
    db = Db(settings.database_url)
    async with tcp_proxy("127.0.0.1", 5672) as proxy:
        watcher_settings = quick(settings, amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
        async with pipeline.ingestor(settings), pipeline.watcher(watcher_settings) as running:
            proxy.cut()
            for i in range(1000):
                (root_dir / f"during-outage-{i}.txt").write_text(f"written while down {i}")
            await asyncio.sleep(10)
            proxy.restore()
            rows = await wait_until(
                db.live_files,
                lambda r: len(r) == 1000,
                timeout_s=90,
                what="1000 files after the outage",
            )
            watcher = await running.halt()
    assert len(rows) == 1000
    assert await db.fetchval("SELECT count(*) FROM files") == 1000
    assert watcher.published >= 1000


async def test_a_vanished_root_is_not_emptied(settings: Settings, root_dir: Path) -> None:
    for i in range(20):
        (root_dir / f"f{i}.txt").write_text(str(i))
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        await published.settle(quiet_s=1.0)
        published.events.clear()
        parked = root_dir.with_name("parked")
        os.rename(root_dir, parked)  # what an unmount looks like from inside
        await published.settle(quiet_s=1.5)
        os.rename(parked, root_dir)
        await asyncio.sleep(0.5)
    assert not [event for event in published.events if event.op is Operation.DELETE]


def init_git(folder: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    subprocess.run(
        ["git", "-C", str(folder), "remote", "add", "origin", "git@example.org:team/docs.git"],
        check=True,
    )


async def test_git_aware_root_stores_remote_and_branch(settings: Settings, root_dir: Path) -> None:
    await asyncio.to_thread(init_git, root_dir)
    (root_dir / "README.md").write_text("# tracked")
    git_root = quick(settings, roots=[RootConfig(id="lib", path=root_dir, git=True)])
    db = Db(settings.database_url)
    async with pipeline.ingestor(git_root), pipeline.watcher(git_root):
        await wait_until(db.completed_count, lambda n: n == 1, what="the tracked file")
    source = await db.fetchval("SELECT source FROM files WHERE path = 'README.md'")
    assert source == {"branch": "main", "remote": "git@example.org:team/docs.git"}


def inotify_watches() -> int:
    """The inotify watches this process holds (each listed in its descriptor's fdinfo)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    count += sum(1 for line in info if line.startswith("inotify wd:"))
    return count


async def test_no_watch_is_placed_outside_the_root_through_a_symlink(
    settings: Settings, root_dir: Path
) -> None:
    for name in ("a", "a/b", "c"):
        (root_dir / name).mkdir()
    (root_dir / "system").symlink_to("/usr")  # thousands of folders behind it
    (root_dir / "up").symlink_to("/")
    before = inotify_watches()
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        await asyncio.sleep(1)
        placed = inotify_watches() - before
        (root_dir / "a" / "b" / "new.txt").write_text("still watched")
        (root_dir / "d").mkdir()
        await asyncio.sleep(0.6)  # the new folder joins the watch
        (root_dir / "d" / "later.txt").write_text("in a folder made after the start")
        events = await published.settle(quiet_s=2.0)
        grown = inotify_watches() - before
    assert placed == 4, "the root and its three folders, nothing behind the links"
    assert grown == 5
    assert {event.path for event in events} == {"a/b/new.txt", "d/later.txt"}


class WatchCount:
    """The OS watches this process placed since it was made."""

    def __init__(self) -> None:
        self._before = inotify_watches()

    async def placed(self) -> int:
        return inotify_watches() - self._before

    async def reach(self, count: int, what: str) -> None:
        await wait_until(self.placed, lambda n: n == count, timeout_s=20, what=f"{what} watched")


async def test_a_new_folder_joins_the_watch_once_found_not_at_the_periodic_check(
    settings: Settings, root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch waits for a change of folders and for the periodic look at the root at once,
    and whichever comes first wakes it: a new folder is watched soon after it is found, not
    when the look (pushed far away here) comes round."""
    monkeypatch.setattr(watch, "ROOT_CHECK_S", 120.0)
    watches = WatchCount()
    async with pipeline.watcher(quick(settings)):
        await watches.reach(1, "the root")
        (root_dir / "new").mkdir()
        await watches.reach(2, "the new folder")
        published = Published(settings.queue_name)
        (root_dir / "new" / "live.txt").write_text("notified, not found by a look")
        events = await published.settle()
    assert {event.path for event in events} == {"new/live.txt"}


async def test_folders_made_one_after_another_join_the_watch_together(
    settings: Settings, root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each addition places a watch on every folder again, so a folder made soon after the
    last addition waits for the gap to pass, and is still watched, and its files found."""
    monkeypatch.setattr(watch, "RESTART_GAP_S", 5.0)
    watches = WatchCount()
    async with pipeline.watcher(quick(settings)):
        await watches.reach(1, "the root")
        (root_dir / "first").mkdir()
        await watches.reach(2, "the first folder")
        published = Published(settings.queue_name)
        (root_dir / "second").mkdir()
        (root_dir / "second" / "early.txt").write_text("before its folder is watched")
        await asyncio.sleep(1.5)
        assert await watches.placed() == 2  # within the gap: not added yet
        await watches.reach(3, "the second folder")
        (root_dir / "second" / "late.txt").write_text("notified")
        events = await published.settle()
    assert {event.path for event in events} == {"second/early.txt", "second/late.txt"}


def _write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as written:
        written.write(data)


async def test_a_folder_whose_name_is_not_utf8_is_listed_instead_of_watched(
    settings: Settings, root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """watchfiles takes paths as text: a folder whose name is not UTF-8 would stop the whole
    watch from starting. It is left out of the watch and listed every few seconds, while the
    rest of the root stays watched."""
    bad = os.path.join(os.fsencode(root_dir), b"scans \xff")
    watches = WatchCount()
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        await watches.reach(1, "the root")
        os.mkdir(bad)
        _write(os.path.join(bad, b"first.txt"), b"written as the folder is made")
        (root_dir / "ok").mkdir()
        await watches.reach(2, "the other new folder")
        _write(os.path.join(bad, b"later \xfe.txt"), b"found by a listing")
        (root_dir / "ok" / "live.txt").write_text("notified")
        await published.settle(quiet_s=3.0)
        os.remove(os.path.join(bad, b"first.txt"))
        events = await published.settle(quiet_s=3.0)
        assert await watches.placed() == 2  # the root and "ok", never stopped
    assert published.ops() == {
        ("upsert", "scans \udcff/first.txt"),
        ("upsert", "scans \udcff/later \udcfe.txt"),
        ("upsert", "ok/live.txt"),
        ("delete", "scans \udcff/first.txt"),
    }, events
    assert "watch failed" not in caplog.text


def _make_deep(root: Path, levels: int) -> tuple[int, str]:
    """Folders nested under ``root`` past PATH_MAX (made through descriptors, as only they
    can be): the deepest one's descriptor and its path relative to the root."""
    name = "n" * 250
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    return fd, "/".join([name] * levels)


def _write_at(folder_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


async def test_a_folder_deeper_than_path_max_is_listed_instead_of_watched(
    settings: Settings, root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The OS takes a path to watch in one piece of at most 4,096 bytes: a folder nested deeper
    is listed every few seconds, and the files written in it later are still published."""
    published = Published(settings.queue_name)
    async with pipeline.watcher(quick(settings)):
        deep_fd, deep = _make_deep(root_dir, 17)
        try:
            _write_at(deep_fd, "first.txt", b"written as the folders are made")
            await published.settle(quiet_s=3.0)
            _write_at(deep_fd, "later.txt", b"written once the folders were found")
            await published.settle(quiet_s=3.0)
        finally:
            os.close(deep_fd)
    assert published.ops() == {("upsert", f"{deep}/first.txt"), ("upsert", f"{deep}/later.txt")}
    assert "watch failed" not in caplog.text


async def test_a_root_named_in_latin1_is_polled_through_its_alias_too(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A root that must be polled (a network filesystem) and whose path is not UTF-8: the
    poller walks the alias, and what it finds is published under the root."""
    root = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"r\xe9seau")))
    os.mkdir(root)
    os.mkdir(root / "sub")
    polled = quick(
        settings,
        roots=[RootConfig(id="lib", path=root, force_polling=True)],
        poll_interval_ms=100,
    )
    published = Published(settings.queue_name)
    async with pipeline.watcher(polled):
        await published.settle(quiet_s=1.0)
        _write(os.fsencode(root / "sub" / "polled.txt"), b"found by the poller")
        events = await published.settle(quiet_s=2.0)
    assert published.ops() == {("upsert", "sub/polled.txt")}, events
    assert "watch failed" not in caplog.text
