"""The pipeline's behaviour, end to end, against both adapter sets (the ``flow`` fixture):
embedded (SQLite, in-process queue, in-memory cache) and real (PostgreSQL, RabbitMQ, Redis)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import orjson
import pytest

from fileflow_core.messages import FileEvent, Operation, decode_event, encode_event, encode_events
from fileflow_core.metrics import INGESTOR as REGISTRY
from tests.pipeline import Flow
from tests.support import wait_until

pytestmark = pytest.mark.integration


def acked_total() -> float:
    return REGISTRY.get_sample_value("fileflow_ingestor_messages_total", {"outcome": "acked"}) or 0


def write_tree(root: Path, count: int, *, folders: int = 10) -> dict[str, bytes]:
    written = {}
    for i in range(count):
        relative = f"d{i % folders}/sub{i % 3}/file-{i}.txt" if i % 2 else f"file-{i}.txt"
        data = f"file number {i}\n".encode() * (1 + i % 5)
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[relative] = data
    return written


def expected_rows(files: dict[str, bytes]) -> dict[str, tuple[str, int]]:
    return {rel: (hashlib.sha256(data).hexdigest(), len(data)) for rel, data in files.items()}


async def test_500_files_dropped_into_a_watched_root_become_completed_rows(
    flow: Flow, root_dir: Path
) -> None:
    async with flow.ingestor(), flow.watcher():
        started = time.perf_counter()
        files = write_tree(root_dir, 500)
        rows = await wait_until(
            flow.db.live_files, lambda r: len(r) >= 500, timeout_s=60, what="500 completed rows"
        )
        elapsed = time.perf_counter() - started
    print(f"\n{flow.kind}: 500 files end to end in {elapsed:.2f}s ({500 / elapsed:.0f} files/s)")
    assert rows == expected_rows(files)


async def test_modify_delete_and_duplicates(flow: Flow, root_dir: Path) -> None:
    db = flow.db
    (root_dir / "doc.txt").write_text("version one")
    (root_dir / "gone.txt").write_text("to be deleted")
    for i in range(50):
        (root_dir / f"copy-{i}.bin").write_bytes(b"identical bytes " * 100)
    async with flow.ingestor(), flow.watcher():
        await wait_until(db.completed_count, lambda n: n == 52, what="52 rows")
        (root_dir / "doc.txt").write_text("version two, longer")
        (root_dir / "gone.txt").unlink()
        new_hash = hashlib.sha256(b"version two, longer").hexdigest()
        await wait_until(
            lambda: db.fetchval("SELECT content_sha256 FROM files WHERE path = 'doc.txt'"),
            lambda sha: sha == new_hash,
            what="doc.txt to point at its new content",
        )
        await wait_until(
            lambda: db.fetchval("SELECT deleted FROM files WHERE path = 'gone.txt'"),
            bool,
            what="gone.txt to be marked deleted",
        )
    copies_hash = hashlib.sha256(b"identical bytes " * 100).hexdigest()
    assert (
        await db.fetchval("SELECT count(*) FROM files WHERE content_sha256 = $1", copies_hash) == 50
    )
    assert await db.fetchval("SELECT count(*) FROM contents WHERE sha256 = $1", copies_hash) == 1
    assert await db.fetchval("SELECT deleted_at IS NOT NULL FROM files WHERE path = 'gone.txt'")
    assert await flow.backends.cache.seen(copies_hash)
    assert await flow.backends.cache.seen(new_hash)


async def test_initial_scan_ingests_existing_files_and_a_restart_changes_nothing(
    flow: Flow, root_dir: Path
) -> None:
    db = flow.db
    files = write_tree(root_dir, 120)
    async with flow.ingestor():
        async with flow.watcher() as first:
            await wait_until(db.completed_count, lambda n: n == 120, what="120 rows")
            assert (await first.halt()).published == 120
        before = await db.fetch("SELECT id, path, content_sha256, updated_at FROM files")
        async with flow.watcher() as second:
            await asyncio.sleep(1.0)
            restarted = await second.halt()
        await asyncio.sleep(0.5)
    after = await db.fetch("SELECT id, path, content_sha256, updated_at FROM files")
    assert restarted.published == 0
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))
    assert await db.live_files() == expected_rows(files)


async def test_a_restart_applies_exactly_what_changed_while_stopped(
    flow: Flow, root_dir: Path
) -> None:
    db = flow.db
    files = write_tree(root_dir, 60)
    async with flow.ingestor(), flow.watcher():
        await wait_until(db.live_files, lambda r: r == expected_rows(files), what="60 rows")
    on_disk = {
        rel: (info.st_size, info.st_mtime_ns, info.st_ino)
        for rel in files
        if (info := (root_dir / rel).stat())
    }
    assert await flow.backends.store.roots.signatures("lib") == on_disk
    before = {row["path"]: tuple(row) for row in await db.fetch("SELECT * FROM files")}
    await flow.restart()
    (root_dir / "file-0.txt").write_bytes(b"changed while stopped")
    files["file-0.txt"] = b"changed while stopped"
    (root_dir / "file-2.txt").unlink()
    del files["file-2.txt"]
    (root_dir / "added.txt").write_bytes(b"added while stopped")
    files["added.txt"] = b"added while stopped"
    async with flow.ingestor(), flow.watcher() as watcher:
        await wait_until(db.live_files, lambda r: r == expected_rows(files), what="the changes")
        await wait_until(
            lambda: db.fetchval("SELECT deleted FROM files WHERE path = 'file-2.txt'"),
            bool,
            what="file-2.txt tombstoned",
        )
        assert (await watcher.halt()).published == 3
    after = {row["path"]: tuple(row) for row in await db.fetch("SELECT * FROM files")}
    changed = {path for path in after if after[path] != before.get(path)}
    assert changed == {"file-0.txt", "file-2.txt", "added.txt"}


async def test_events_accepted_but_not_ingested_before_a_stop_are_not_lost(
    flow: Flow, root_dir: Path
) -> None:
    files = write_tree(root_dir, 40)
    for relative in files:  # written while nothing ran: settled long ago, published at start
        os.utime(root_dir / relative, (time.time() - 60, time.time() - 60))
    async with flow.watcher() as watcher:
        await wait_until(lambda: asyncio.sleep(0, watcher.task), lambda _: True)
        assert (await watcher.halt()).published == 40  # accepted by the broker, none ingested
    await flow.restart()  # the embedded queue dies with its process; the real one keeps them
    async with flow.ingestor(), flow.watcher():
        rows = await wait_until(
            flow.db.live_files, lambda r: r == expected_rows(files), what="all 40 files"
        )
    assert len(rows) == 40


async def test_redelivered_message_changes_nothing(flow: Flow, root_dir: Path) -> None:
    db = flow.db
    (root_dir / "once.txt").write_text("only once")
    event = encode_event(FileEvent.observed("lib", "once.txt", Operation.UPSERT))
    async with flow.ingestor():
        await flow.publish_raw([event])
        await wait_until(db.completed_count, lambda n: n == 1, what="first ingest")
        before = await db.fetch("SELECT * FROM files")
        contents_before = await db.fetch("SELECT * FROM contents")
        acked = acked_total()
        await flow.publish_raw([event, event])
        await wait_until(
            lambda: asyncio.sleep(0, acked_total()),
            lambda n: n == acked + 2,
            what="both duplicates acked",
        )
    assert list(map(tuple, await db.fetch("SELECT * FROM files"))) == list(map(tuple, before))
    assert list(map(tuple, await db.fetch("SELECT * FROM contents"))) == list(
        map(tuple, contents_before)
    )


async def test_each_event_of_a_batch_message_is_settled_on_its_own(
    flow: Flow, root_dir: Path
) -> None:
    for name in ("one.txt", "two.txt"):
        (root_dir / name).write_text(f"contents of {name}")
    good = [
        FileEvent.observed("lib", name, Operation.UPSERT).model_dump(mode="json")
        for name in ("one.txt", "two.txt")
    ]
    escaping = {**good[0], "path": "../escape.txt"}
    unknown_root = FileEvent.observed("elsewhere", "x.txt", Operation.UPSERT)
    body = orjson.dumps(
        {
            "schema_version": 2,
            "events": [good[0], escaping, unknown_root.model_dump(mode="json"), good[1]],
        }
    )
    async with flow.ingestor():
        await flow.publish_raw([body])
        rows = await wait_until(
            flow.db.live_files, lambda r: len(r) == 2, what="the batch's two good files"
        )
        dead_queue = f"{flow.settings.queue_name}.dead"
        await wait_until(
            flow.backends.broker.queue_depths,
            lambda d: d[dead_queue] == 2,
            what="the two bad events dead-lettered",
        )
        letters = await flow.dead_letters()
    # Counted after the ingestor stopped: a message it had not acked would be back.
    depths = await flow.backends.broker.queue_depths()
    assert set(rows) == {"one.txt", "two.txt"}
    # Each bad event is dead-lettered alone, as it came, with its own reason.
    by_reason = {reason.split(":")[0]: body for reason, body in letters}
    assert set(by_reason) == {"malformed batch entry", "unknown root 'elsewhere'"}
    assert orjson.loads(by_reason["malformed batch entry"]) == escaping
    assert decode_event(by_reason["unknown root 'elsewhere'"]).root_id == "elsewhere"
    # And the batch message itself was acked once its last event was settled.
    assert depths[flow.settings.queue_name] == 0


async def test_batch_messages_reach_the_store(flow: Flow, root_dir: Path) -> None:
    events = [FileEvent.observed("lib", f"b{i}.txt", Operation.UPSERT) for i in range(30)]
    for i in range(30):
        (root_dir / f"b{i}.txt").write_text(f"batched file {i}")
    acked = acked_total()
    async with flow.ingestor():
        await flow.publish_raw([encode_events(events[:20]), encode_events(events[20:])])
        rows = await wait_until(flow.db.live_files, lambda r: len(r) == 30, what="30 files")
        await wait_until(
            lambda: asyncio.sleep(0, acked_total()),
            lambda n: n == acked + 30,
            what="30 events acked",
        )
    depths = await flow.backends.broker.queue_depths()
    assert set(rows) == {f"b{i}.txt" for i in range(30)}
    assert depths[flow.settings.queue_name] == 0


async def test_malformed_message_is_dead_lettered_and_consumer_goes_on(
    flow: Flow, root_dir: Path
) -> None:
    (root_dir / "after.txt").write_text("processed after the bad one")
    good = encode_event(FileEvent.observed("lib", "after.txt", Operation.UPSERT))
    async with flow.ingestor():
        await flow.publish_raw([b"{not json", b'{"schema_version": 99}', good])
        await wait_until(flow.db.completed_count, lambda n: n == 1, what="the good message")
    reasons = await flow.dead_letter_reasons()
    depths = await flow.backends.broker.queue_depths()
    assert len(reasons) == 2
    assert any("not JSON" in reason for reason in reasons)
    assert any("schema_version 99" in reason for reason in reasons)
    assert depths[flow.settings.queue_name] == 0
