"""The ingestor under failure: database down, Redis down, shutdown mid-import, bounded in-flight."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest

from fileflow_core.broker.rabbitmq import declare_topology
from fileflow_core.broker.topology import QueueType, Topology
from fileflow_core.messages import FileEvent, Operation, encode_event
from fileflow_core.metrics import INGESTOR as REGISTRY
from fileflow_core.models import ContentInfo
from fileflow_core.settings import COMMIT_PLACES_PER_SLOT, Settings
from fileflow_core.store.migrate import migrate
from tests import pipeline
from tests.pipeline import Db
from tests.proxy import tcp_proxy
from tests.services import service, service_env, stop_process
from tests.support import AMQP_URL, wait_until

pytestmark = pytest.mark.integration


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def through_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


def make_files(root: Path, count: int, prefix: str = "f") -> dict[str, str]:
    expected = {}
    for i in range(count):
        data = f"{prefix} content {i}\n".encode()
        (root / f"{prefix}{i}.txt").write_bytes(data)
        expected[f"{prefix}{i}.txt"] = hashlib.sha256(data).hexdigest()
    return expected


async def publish_upserts(queue: str, paths: list[str], queue_type: QueueType = "classic") -> None:
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        topology = Topology(queue, 10, 0.25, queue_type=queue_type)
        await declare_topology(channel, topology)  # type: ignore[arg-type]
        for path in paths:
            body = encode_event(FileEvent.observed("lib", path, Operation.UPSERT))
            await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue,
            )
    finally:
        await connection.close()


async def queue_depth(queue: str) -> int:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_database_down_pauses_the_work_without_spending_attempts(
    settings: Settings, root_dir: Path, queue_type: QueueType
) -> None:
    await migrate(settings.database_url)
    expected = make_files(root_dir, 40)
    db = Db(settings.database_url)
    async with tcp_proxy("127.0.0.1", 5432) as proxy:
        flaky = settings.model_copy(
            update={
                "database_url": through_proxy(settings.database_url, proxy.port),
                "max_attempts": 2,
                "retry_base_delay_s": 0.1,
                "queue_type": queue_type,
            }
        )
        async with pipeline.ingestor(flaky):
            retried = metric("fileflow_ingestor_messages_total", outcome="retried")
            requeued = metric("fileflow_ingestor_messages_total", outcome="requeued")
            proxy.cut()
            await publish_upserts(settings.queue_name, sorted(expected), queue_type)
            await wait_until(
                lambda: asyncio.sleep(
                    0, metric("fileflow_ingestor_messages_total", outcome="requeued")
                ),
                lambda n: n > requeued,
                what="messages handed back while PostgreSQL is down",
            )
            # Far longer than two attempts' backoff: the outage spends none of them.
            await asyncio.sleep(3)
            assert await queue_depth(f"{settings.queue_name}.dead") == 0
            assert await queue_depth(settings.queue_name) == 40
            proxy.restore()
            rows = await wait_until(
                db.live_files,
                lambda r: len(r) == 40,
                timeout_s=60,
                what="all 40 completed after PG is back",
            )
    assert {path: sha for path, (sha, _) in rows.items()} == expected
    assert metric("fileflow_ingestor_messages_total", outcome="retried") == retried
    assert await db.fetchval("SELECT max(attempts) FROM files") == 1
    assert await queue_depth(f"{settings.queue_name}.dead") == 0


async def dead_letter_files(settings: Settings, root_dir: Path, count: int) -> list[Any]:
    """Ingest ``count`` files whose writes the database refuses (a fault of the data, not an
    outage: attempts are spent) until their attempts (2) run out; return their rows. The
    refusal is lifted before returning."""
    await migrate(settings.database_url)
    paths = sorted(make_files(root_dir, count))
    db = Db(settings.database_url)
    refused = settings.model_copy(update={"max_attempts": 2, "retry_base_delay_s": 0.1})
    await db.execute(
        "ALTER TABLE contents ADD CONSTRAINT test_refuses_text CHECK (mime_type <> 'text/plain')"
    )
    try:
        async with pipeline.ingestor(refused):
            await publish_upserts(settings.queue_name, paths)
            await wait_until(
                lambda: queue_depth(f"{settings.queue_name}.dead"),
                lambda n: n == count,
                what=f"{count} dead-lettered messages",
            )
            return await wait_until(
                lambda: db.fetch("SELECT path, status, error, attempts FROM files"),
                lambda r: len(r) == count and {row["status"] for row in r} == {"failed"},
                what="failures recorded",
            )
    finally:
        await db.execute("ALTER TABLE contents DROP CONSTRAINT test_refuses_text")


async def test_attempts_exhausted_go_to_dead_letters_and_files_are_failed(
    settings: Settings, root_dir: Path
) -> None:
    rows = await dead_letter_files(settings, root_dir, 5)
    assert {row["status"] for row in rows} == {"failed"}
    assert all("gave up after 2 attempts" in row["error"] for row in rows)
    assert all(row["attempts"] == 2 for row in rows)


async def test_redis_down_ingestion_continues_and_fails_open(
    settings: Settings, root_dir: Path
) -> None:
    expected = make_files(root_dir, 20)
    db = Db(settings.database_url)
    async with tcp_proxy("127.0.0.1", 6379) as proxy:
        proxy.cut()
        no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{proxy.port}/0"})
        fail_open = metric("fileflow_cache_fail_open_total")
        async with pipeline.ingestor(no_redis):
            await publish_upserts(settings.queue_name, sorted(expected))
            rows = await wait_until(db.live_files, lambda r: len(r) == 20, what="20 rows")
    assert {path: sha for path, (sha, _) in rows.items()} == expected
    assert metric("fileflow_cache_fail_open_total") >= fail_open + 20


async def test_in_flight_never_exceeds_the_concurrency_setting(
    settings: Settings, root_dir: Path
) -> None:
    expected = make_files(root_dir, 300)
    db = Db(settings.database_url)
    small = settings.model_copy(update={"concurrency": 7})
    async with pipeline.ingestor(small) as running:
        await publish_upserts(settings.queue_name, sorted(expected))
        await wait_until(db.completed_count, lambda n: n == 300, what="300 rows")
        processor = await pipeline.processor_of(running)
    # Never more than 7 read, hash or extract at once; files waiting for their commit gave
    # their slots on, up to twice as many of them.
    assert 1 <= processor.max_in_flight <= 7
    assert processor.max_in_flight < processor.slots.max_held <= 7 * (1 + COMMIT_PLACES_PER_SLOT)
    assert metric("fileflow_ingestor_files_in_flight") == 0
    assert metric("fileflow_ingestor_files_committing") == 0
    assert metric("fileflow_ingestor_files_read_ahead") == 0


async def test_sigterm_mid_import_drains_exits_0_and_restart_completes(
    settings: Settings, root_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    expected = make_files(root_dir, 1000)
    db = Db(settings.database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLOW_")}
    env.update(
        FILEFLOW_DATABASE_URL=settings.database_url,
        FILEFLOW_QUEUE_NAME=settings.queue_name,
        FILEFLOW_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        FILEFLOW_ROOTS=f"lib={root_dir}",
        FILEFLOW_DRAIN_TIMEOUT_S="20",
        FILEFLOW_INGESTOR_HTTP_PORT="0",
    )
    await publish_upserts(settings.queue_name, sorted(expected))
    log_file = (tmp_path / "ingestor.log").open("ab")
    request.addfinalizer(log_file.close)

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ingestor",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )

    first = await start()
    try:
        await wait_until(
            _safe(db.completed_count),
            lambda n: n >= 100,
            timeout_s=30,
            interval_s=0.02,
            what="import under way",
        )
        first.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(first.wait(), timeout=25)
    finally:
        if first.returncode is None:
            first.kill()
    assert code == 0
    done_at_stop = await db.completed_count()
    second = await start()
    try:
        rows = await wait_until(
            db.live_files, lambda r: len(r) == 1000, timeout_s=60, what="restart completes the rest"
        )
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), timeout=25) == 0
    finally:
        if second.returncode is None:
            second.kill()
    print(f"\n{done_at_stop} of 1000 done at SIGTERM; the restart did the rest")
    assert {path: sha for path, (sha, _) in rows.items()} == expected
    assert await db.fetchval("SELECT count(*) FROM files") == 1000
    assert await queue_depth(settings.queue_name) == 0


def _safe(probe):  # type: ignore[no-untyped-def]
    async def wrapped() -> int:
        try:
            return int(await probe())
        except Exception:  # before the service created the schema
            return 0

    return wrapped


class SlowExtractor:
    """Takes longer than the renewal threshold, like a huge PDF would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    async def extract(
        self, path: Path, sha256: str, size: int, head: bytes, data: bytes | None = None
    ) -> ContentInfo:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        return ContentInfo(sha256, size, "text/plain", {"size": size})

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_long_work_is_handed_over_before_the_ack_timeout_and_done_once(
    settings: Settings, root_dir: Path, queue_type: QueueType
) -> None:
    data = b"a file that takes long to parse\n" * 1000
    (root_dir / "huge.txt").write_bytes(data)
    db = Db(settings.database_url)
    slow = SlowExtractor(3.0)
    short = settings.model_copy(update={"delivery_renew_s": 1.0, "queue_type": queue_type})
    renewed = metric("fileflow_ingestor_messages_total", outcome="renewed")
    hashed = metric("fileflow_ingestor_hashed_bytes_total")
    async with pipeline.ingestor(short, extractor=slow):
        await publish_upserts(settings.queue_name, ["huge.txt"], queue_type)
        await wait_until(db.completed_count, lambda n: n == 1, what="the long file stored")
        await wait_until(
            lambda: queue_depth(settings.queue_name),
            lambda n: n == 0,
            what="the handed-over copy absorbed",
        )
        await asyncio.sleep(1.5)  # the copy's own delivery is short: no second renewal
    assert metric("fileflow_ingestor_messages_total", outcome="renewed") == renewed + 1
    assert slow.calls == 1
    assert metric("fileflow_ingestor_hashed_bytes_total") - hashed == len(data)
    assert await db.fetchval("SELECT count(*) FROM files") == 1
    assert await queue_depth(f"{settings.queue_name}.dead") == 0


async def test_a_stop_ends_while_rabbitmq_is_unreachable(
    settings: Settings, root_dir: Path
) -> None:
    async with tcp_proxy("127.0.0.1", 5672) as proxy:
        env = service_env(
            settings.model_copy(update={"amqp_url": through_proxy(settings.amqp_url, proxy.port)}),
            root_dir,
            FILEFLOW_DRAIN_TIMEOUT_S="5",
        )
        async with service("ingest", env, log=root_dir.parent / "ingest.log") as ingestor:
            proxy.cut()
            await wait_until(ingestor.ready, lambda ok: not ok, what="not ready")
            started = time.monotonic()
            code = await stop_process(ingestor.process, grace_s=40)
            took = time.monotonic() - started
    print(f"\nstopped in {took:.1f}s with RabbitMQ unreachable")
    assert code == 0
    assert took < 5 + 2 * 10 + 5  # the drain, then at most two bounded broker calls
