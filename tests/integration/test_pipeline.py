"""Issue acceptance for the end-to-end pipeline, on the real RabbitMQ, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import aio_pika
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from fileflow_core.broker.topology import ERROR_HEADER
from fileflow_core.messages import FileEvent, Operation, encode_event
from fileflow_core.settings import Settings
from tests import pipeline
from tests.pipeline import Db
from tests.support import AMQP_URL, REDIS_URL, wait_until

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
    settings: Settings, root_dir: Path
) -> None:
    db = Db(settings.database_url)
    async with pipeline.ingestor(settings), pipeline.watcher(settings):
        started = time.perf_counter()
        files = write_tree(root_dir, 500)
        rows = await wait_until(
            db.live_files, lambda r: len(r) >= 500, timeout_s=60, what="500 completed rows"
        )
        elapsed = time.perf_counter() - started
    print(f"\n500 files end to end in {elapsed:.2f}s ({500 / elapsed:.0f} files/s)")
    assert rows == expected_rows(files)


async def test_modify_delete_and_duplicates(settings: Settings, root_dir: Path) -> None:
    db = Db(settings.database_url)
    (root_dir / "doc.txt").write_text("version one")
    (root_dir / "gone.txt").write_text("to be deleted")
    for i in range(50):
        (root_dir / f"copy-{i}.bin").write_bytes(b"identical bytes " * 100)
    async with pipeline.ingestor(settings), pipeline.watcher(settings):
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
            lambda deleted: deleted is True,
            what="gone.txt to be marked deleted",
        )
    copies_hash = hashlib.sha256(b"identical bytes " * 100).hexdigest()
    assert (
        await db.fetchval("SELECT count(*) FROM files WHERE content_sha256 = $1", copies_hash) == 50
    )
    assert await db.fetchval("SELECT count(*) FROM contents WHERE sha256 = $1", copies_hash) == 1
    assert (
        await db.fetchval("SELECT deleted_at IS NOT NULL FROM files WHERE path = 'gone.txt'")
        is True
    )
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await client.exists(f"{settings.redis_key_prefix}seen:{copies_hash}") == 1
        assert await client.exists(f"{settings.redis_key_prefix}seen:{new_hash}") == 1
    finally:
        await client.aclose()


async def test_initial_scan_ingests_existing_files_and_a_restart_changes_nothing(
    settings: Settings, root_dir: Path
) -> None:
    db = Db(settings.database_url)
    files = write_tree(root_dir, 120)
    async with pipeline.ingestor(settings):
        async with pipeline.watcher(settings) as first:
            await wait_until(db.completed_count, lambda n: n == 120, what="120 rows")
            assert (await first.halt()).published == 120
        before = await db.fetch("SELECT id, path, content_sha256, updated_at FROM files")
        async with pipeline.watcher(settings) as second:
            await asyncio.sleep(1.0)
            restarted = await second.halt()
        await asyncio.sleep(0.5)
    after = await db.fetch("SELECT id, path, content_sha256, updated_at FROM files")
    assert restarted.published == 0
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))
    assert await db.live_files() == expected_rows(files)


async def _publish_raw(queue: str, bodies: list[bytes], priority: int = 1) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for body in bodies:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, priority=priority
                ),
                routing_key=queue,
            )
    finally:
        await connection.close()


async def test_redelivered_message_changes_nothing(settings: Settings, root_dir: Path) -> None:
    db = Db(settings.database_url)
    (root_dir / "once.txt").write_text("only once")
    event = encode_event(FileEvent.observed("lib", "once.txt", Operation.UPSERT))
    async with pipeline.ingestor(settings):
        await _publish_raw(settings.queue_name, [event])
        await wait_until(db.completed_count, lambda n: n == 1, what="first ingest")
        before = await db.fetch("SELECT * FROM files")
        contents_before = await db.fetch("SELECT * FROM contents")
        acked = acked_total()
        await _publish_raw(settings.queue_name, [event, event])
        await wait_until(
            lambda: asyncio.sleep(0, acked_total()),
            lambda n: n == acked + 2,
            what="both duplicates acked",
        )
    assert await db.fetch("SELECT * FROM files") == before
    assert await db.fetch("SELECT * FROM contents") == contents_before


async def test_malformed_message_is_dead_lettered_and_consumer_goes_on(
    settings: Settings, root_dir: Path
) -> None:
    db = Db(settings.database_url)
    (root_dir / "after.txt").write_text("processed after the bad one")
    good = encode_event(FileEvent.observed("lib", "after.txt", Operation.UPSERT))
    async with pipeline.ingestor(settings):
        await _publish_raw(settings.queue_name, [b"{not json", b'{"schema_version": 99}', good])
        await wait_until(db.completed_count, lambda n: n == 1, what="the good message")
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        dead = await channel.declare_queue(f"{settings.queue_name}.dead", durable=True)
        reasons = []
        while (message := await dead.get(fail=False, no_ack=True)) is not None:
            reasons.append(str((message.headers or {}).get(ERROR_HEADER)))
        work = await channel.declare_queue(settings.queue_name, passive=True)
    finally:
        await connection.close()
    assert len(reasons) == 2
    assert "not JSON" in reasons[0] or "not JSON" in reasons[1]
    assert any("schema_version 99" in reason for reason in reasons)
    assert work.declaration_result.message_count == 0
