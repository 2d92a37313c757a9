"""Faults of the servers, injected with their own tools and a TCP proxy of ours. These restart
shared servers: run them on their own (`uv run pytest tests/faults`), not beside other suites."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
import redis.asyncio as aioredis

from fileflow_core.broker.rabbitmq import RabbitPublisher, connect, declare_topology
from fileflow_core.broker.topology import Topology
from fileflow_core.errors import TransientError
from fileflow_core.messages import FileEvent, Operation
from fileflow_core.settings import Settings
from tests.faults.test_process_faults import completed, write
from tests.integration.test_ingestor_faults import queue_depth
from tests.isolation import own_database, own_queue, own_redis_prefix
from tests.pipeline import Db
from tests.proxy import TcpProxy, tcp_proxy
from tests.services import service, service_env
from tests.support import AMQP_URL, CONNECT_TIMEOUT_S, REDIS_URL, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
REDIS_PAUSE_MS = 3000


def ctl(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=120)


async def drained(queue: str) -> None:
    """Redelivered hints (acks lost with the connection) are absorbed before the check."""
    await wait_until(
        lambda: queue_depth(queue), lambda n: n == 0, timeout_s=60, what="the work queue drained"
    )


async def rabbit_back() -> None:
    await asyncio.to_thread(ctl, "rabbitmqctl", "await_startup", "--timeout", "120")


async def test_rabbitmq_restarted_mid_import(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    write(root_dir, 3000, size=16 * 1024)
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with service("ingest", env), service("watch", env):
        await wait_until(
            lambda: completed(db), lambda n: n >= 300, interval_s=0.05, what="import under way"
        )
        started = time.monotonic()
        try:
            await asyncio.to_thread(ctl, "rabbitmqctl", "stop_app")
            await asyncio.sleep(3)
        finally:
            await asyncio.to_thread(ctl, "rabbitmqctl", "start_app")
            await rabbit_back()
        await wait_until(
            lambda: completed(db),
            lambda n: n == 3000,
            timeout_s=180,
            what="import finished after the restart",
        )
        print(f"\nRabbitMQ restart: recovered and finished in {time.monotonic() - started:.1f}s")
        await drained(settings.queue_name)
    # Losing the connection cancels the files in flight: their redelivery extracts again.
    await verify(reextraction_forced=True)


async def test_all_connections_force_closed(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    write(root_dir, 2000, size=8 * 1024)
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with service("ingest", env), service("watch", env):
        await wait_until(
            lambda: completed(db), lambda n: n >= 200, interval_s=0.05, what="import under way"
        )
        await asyncio.to_thread(ctl, "rabbitmqctl", "close_all_connections", "fault test")
        await wait_until(
            lambda: completed(db),
            lambda n: n == 2000,
            timeout_s=180,
            what="import finished after the connections were closed",
        )
        (root_dir / "after.txt").write_text("consumers are back")
        await wait_until(lambda: completed(db), lambda n: n == 2001, what="a later file")
        await drained(settings.queue_name)
    # Losing the connection cancels the files in flight: their redelivery extracts again.
    await verify(reextraction_forced=True)


async def test_work_queue_deleted_under_a_running_consumer(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with service("ingest", env), service("watch", env):
        (root_dir / "before.txt").write_text("before")
        await wait_until(lambda: completed(db), lambda n: n == 1, what="first file")
        connection = await aio_pika.connect(AMQP_URL, timeout=CONNECT_TIMEOUT_S)
        try:
            channel = await connection.channel()
            await channel.queue_delete(settings.queue_name)
        finally:
            await connection.close()
        await asyncio.sleep(2)
        (root_dir / "after.txt").write_text("after the queue was deleted")
        await wait_until(
            lambda: completed(db),
            lambda n: n == 2,
            timeout_s=60,
            what="consumer re-subscribed to a re-declared queue",
        )
    await verify()


async def test_unroutable_publish_is_an_error(settings: Settings) -> None:
    topology = Topology(settings.queue_name, 3, 0.2)
    connection = await connect([AMQP_URL], name="unroutable-test", timeout_s=10)
    try:
        publisher = await RabbitPublisher.open(connection, topology, window=10, timeout_s=5)
        channel = await connection.channel()
        await channel.queue_delete(settings.queue_name)
        with pytest.raises(TransientError, match="publish"):
            await publisher.publish([FileEvent.observed("lib", "x.txt", Operation.UPSERT)])
        await declare_topology(await connection.channel(), topology)  # type: ignore[arg-type]
    finally:
        await connection.close()


async def test_confirms_lost_when_the_connection_is_cut(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with tcp_proxy("127.0.0.1", 5672) as proxy:
        watcher_env = {**env, "FILEFLOW_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
        async with service("ingest", env), service("watch", watcher_env):
            writing = asyncio.create_task(asyncio.to_thread(write, root_dir, 3000, "c", 512))
            for _ in range(3):  # cut while windows of publishes await their confirms
                await asyncio.sleep(0.7)
                proxy.cut(refuse=False)
            await writing
            await wait_until(
                lambda: completed(db),
                lambda n: n == 3000,
                timeout_s=180,
                what="every file despite lost confirms",
            )
    assert await db.fetchval("SELECT count(*) FROM files") == 3000
    await verify()


async def test_half_open_connection_is_detected_by_heartbeats(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    async with tcp_proxy("127.0.0.1", 5672) as proxy:
        stalled_env = {
            **env,
            "FILEFLOW_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/?heartbeat=3",
        }
        async with service("ingest", stalled_env) as ingestor, service("watch", env):
            proxy.stall()
            started = time.monotonic()
            await wait_until(ingestor.ready, lambda ok: not ok, timeout_s=30, what="not ready")
            detected = time.monotonic() - started
            proxy.cut(refuse=False)
            proxy.restore()
            await wait_until(ingestor.ready, bool, timeout_s=60, what="ready again")
            (root_dir / "after.txt").write_text("flows again")
            await wait_until(
                lambda: completed(db),
                lambda n: n == 1,
                timeout_s=60,
                what="a file after the half-open connection",
            )
    print(f"\nhalf-open connection detected in {detected:.1f}s (heartbeat 3 s)")
    assert detected < 15
    await verify()


async def test_postgresql_restarted_and_down_for_30s(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    version = os.listdir("/etc/postgresql")[0]
    write(root_dir, 2000, size=8 * 1024)
    env = service_env(
        settings,
        root_dir,
        FILEFLOW_SETTLE_S="0.2",
        FILEFLOW_MAX_ATTEMPTS="12",
        FILEFLOW_RETRY_BASE_DELAY_S="0.5",
    )
    db = Db(settings.database_url)
    async with service("ingest", env) as ingestor, service("watch", env):
        await wait_until(
            lambda: completed(db), lambda n: n >= 200, interval_s=0.05, what="import under way"
        )
        await asyncio.to_thread(
            ctl, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"
        )
        try:
            await asyncio.to_thread(
                ctl, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop"
            )
            await wait_until(ingestor.ready, lambda ok: not ok, timeout_s=15, what="not ready")
            await asyncio.sleep(30)
        finally:
            await asyncio.to_thread(
                ctl, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"
            )
        await wait_until(ingestor.ready, bool, timeout_s=60, what="ready again")
        await wait_until(
            lambda: completed(db),
            lambda n: n == 2000,
            timeout_s=240,
            what="every file once PostgreSQL is back",
        )
    # A commit that failed with the database loses its extraction: redoing it is forced.
    await verify(reextraction_forced=True)


async def test_redis_stalled_flushed_and_down(
    settings: Settings, root_dir: Path, verify: Any
) -> None:
    env = service_env(settings, root_dir, FILEFLOW_SETTLE_S="0.2")
    db = Db(settings.database_url)
    client = aioredis.Redis.from_url(
        REDIS_URL, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
    )
    try:
        async with service("ingest", env) as ingestor, service("watch", env):
            write(root_dir, 500, "a", 256)
            # DEBUG SLEEP is disabled on stock Redis 7; CLIENT PAUSE stalls every client the
            # same. The import may finish inside the pause, every seen mark failing open.
            await client.execute_command("CLIENT", "PAUSE", str(REDIS_PAUSE_MS), "ALL")
            await wait_until(
                lambda: completed(db),
                lambda n: n == 500,
                timeout_s=120,
                what="ingestion through a stalled Redis",
            )
            stalled = await ingestor.metrics()
            # Flushed: this test's keys, as many as the marks after the pause left (maybe none).
            # Marks held up by the pause may still land after a first flush: flush until none
            # appears for a second.
            left: set[bytes] = set()

            async def flush_then_look() -> list[bytes]:
                found = [key async for key in client.scan_iter(f"{settings.redis_key_prefix}*")]
                if found:
                    left.update(found)
                    await client.delete(*found)
                await asyncio.sleep(1)
                return [key async for key in client.scan_iter(f"{settings.redis_key_prefix}*")]

            await wait_until(flush_then_look, lambda found: not found, what="a flushed cache")
            keys = left
            for i in range(100):  # copies of contents already stored: the database dedupes
                (root_dir / f"copy{i}.dat").write_bytes((root_dir / "a0" / "a0.dat").read_bytes())
            await wait_until(lambda: completed(db), lambda n: n == 600, what="copies after flush")
    finally:
        await client.aclose()
    print(f"\nseen marks left after the pause: {len(keys)} of 500")
    assert stalled.get("fileflow_cache_fail_open_total", 0) > 0
    assert await db.fetchval("SELECT count(DISTINCT content_sha256) FROM files") == 500
    await verify()


OUTAGE_S = float(os.environ.get("FILEFLOW_FAULT_OUTAGE_S", "300"))
OUTAGE_FILES = 1000


@pytest.mark.timeout(OUTAGE_S + 600)
async def test_postgresql_unreachable_for_a_maintenance_window(
    settings: Settings, root_dir: Path, tmp_path: Path, verify: Any
) -> None:
    """Longer than any retry budget, with the default settings and with two attempts: every
    file arriving meanwhile is completed afterwards, none failed or dead-lettered, each
    content extracted once."""
    other_root = tmp_path / "library-2"
    other_root.mkdir()
    async with (
        own_database() as other_db,
        own_queue() as other_queue,
        own_redis_prefix() as other_prefix,
        tcp_proxy("127.0.0.1", 5432) as proxy,
    ):
        defaults = settings.model_copy(update={"max_attempts": 5, "retry_base_delay_s": 1.0})
        two = settings.model_copy(
            update={
                "max_attempts": 2,
                "retry_base_delay_s": 1.0,
                "database_url": other_db,
                "queue_name": other_queue,
                "redis_key_prefix": other_prefix,
                "state_dir": tmp_path / "state-2",
            }
        )
        pipelines = [(defaults, root_dir), (two, other_root)]
        async with contextlib.AsyncExitStack() as running:
            ingestors = []
            for each, root in pipelines:
                env = service_env(each, root, FILEFLOW_SETTLE_S="0.2")
                proxied = {**env, "FILEFLOW_DATABASE_URL": through_proxy(each.database_url, proxy)}
                ingestors.append(await running.enter_async_context(service("ingest", proxied)))
                await running.enter_async_context(service("watch", env))
            proxy.cut()
            started = time.monotonic()
            for _, root in pipelines:
                await asyncio.to_thread(write, root, OUTAGE_FILES, "o", 4096)
            for ingestor in ingestors:
                await wait_until(ingestor.ready, lambda ok: not ok, timeout_s=30, what="paused")
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
            mid = [await ingestor.metrics() for ingestor in ingestors]
            proxy.restore()
            for each, _ in pipelines:
                db = Db(each.database_url)
                await wait_until(
                    lambda db=db: completed(db),  # type: ignore[misc]
                    lambda n: n == OUTAGE_FILES,
                    timeout_s=240,
                    what=f"every file after {OUTAGE_S:.0f}s without PostgreSQL",
                )
        for (each, root), metrics in zip(pipelines, mid, strict=True):
            failed = await Db(each.database_url).fetchval(
                "SELECT count(*) FROM files WHERE status = 'failed'"
            )
            retried = metrics.get("fileflow_ingestor_messages_total{outcome=retried}", 0)
            print(
                f"\nPostgreSQL unreachable {OUTAGE_S:.0f}s, max_attempts {each.max_attempts}: "
                f"{failed} failed, {retried:.0f} retried, "
                f"{metrics.get('fileflow_ingestor_messages_total{outcome=requeued}', 0):.0f} "
                "handed back"
            )
            assert failed == 0 and retried == 0
            await verify(of=each, root=root)


def through_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{proxy.port}"))
