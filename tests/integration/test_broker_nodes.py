"""The broker as a cluster sees it: quorum queues (deletions still first, a queue of the other
type refused in one line) and a list of node URLs (a lost node left for the next one)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from fileflow_core.broker.rabbitmq import RabbitBroker
from fileflow_core.broker.topology import QueueType, Topology
from fileflow_core.errors import ConfigError
from fileflow_core.messages import FileEvent, Operation, decode_event
from fileflow_core.ports import Delivery
from fileflow_core.settings import Settings
from tests import pipeline
from tests.proxy import tcp_proxy
from tests.services import service, service_env
from tests.support import AMQP_URL, free_port, wait_until

pytestmark = pytest.mark.integration

BACKLOG = 300
PREFETCH = 10


def node_url(port: int) -> str:
    return urlunsplit(urlsplit(AMQP_URL)._replace(netloc=f"guest:guest@127.0.0.1:{port}"))


def message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except AttributeError:  # an aio-pika object whose repr fails once it is torn down
        return str(record.msg)


async def open_broker(queue: str, queue_type: QueueType, urls: list[str]) -> RabbitBroker:
    topology = Topology(queue, 3, 0.2, queue_type=queue_type)
    return await RabbitBroker.open(urls, topology, name="fileflow-test", timeout_s=5)


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_a_deletion_overtakes_a_backlog(queue_name: str, queue_type: QueueType) -> None:
    broker = await open_broker(queue_name, queue_type, [AMQP_URL])
    try:
        publisher = await broker.publisher(window=100, timeout_s=10)
        await publisher.publish(
            FileEvent.observed("lib", f"f{i}.txt", Operation.UPSERT) for i in range(BACKLOG)
        )
        await publisher.publish([FileEvent.observed("lib", "gone.txt", Operation.DELETE)])
        order: list[str] = []

        async def handle(delivery: Delivery) -> None:
            order.append(decode_event(delivery.body).path)
            await delivery.ack()

        consumer = broker.consumer(prefetch=PREFETCH)
        await consumer.start(handle)
        await wait_until(lambda: asyncio.sleep(0, len(order)), lambda n: n == BACKLOG + 1)
        await consumer.close()
    finally:
        await broker.close()
    # Classic: the priority queue hands it out first. Quorum: its own queue's consumer takes it
    # at once, beside the work queue's first window.
    assert order.index("gone.txt") <= PREFETCH, order[: 2 * PREFETCH]


async def test_a_queue_of_the_other_type_is_one_line_saying_what_to_do(queue_name: str) -> None:
    classic = await open_broker(queue_name, "classic", [AMQP_URL])
    try:
        await classic.publisher(window=1, timeout_s=5)
    finally:
        await classic.close()
    quorum = await open_broker(queue_name, "quorum", [AMQP_URL])
    try:
        with pytest.raises(ConfigError) as caught:
            await quorum.consumer(prefetch=1).start(lambda delivery: asyncio.sleep(0))
    finally:
        await quorum.close()
    said = str(caught.value)
    assert "\n" not in said
    assert f"queue {queue_name}.dead exists with other arguments" in said
    assert "FILEFLOW_QUEUE_TYPE=quorum" in said
    assert "Switch from classic to quorum queues" in said


async def test_the_first_node_that_answers_is_taken(queue_name: str) -> None:
    dead = node_url(free_port())
    broker = await open_broker(queue_name, "quorum", [dead, AMQP_URL])
    try:
        assert await broker.connected()
        assert broker.connection.url.port == urlsplit(AMQP_URL).port
    finally:
        await broker.close()


async def test_a_lost_node_is_left_for_the_next_and_nothing_is_lost(
    settings: Settings, root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with tcp_proxy("127.0.0.1", 5672) as first, tcp_proxy("127.0.0.1", 5672) as second:
        nodes = f"{node_url(first.port)}, {node_url(second.port)}"
        settings = settings.model_copy(update={"amqp_url": nodes, "queue_type": "quorum"})
        async with pipeline.flow("real", settings) as flow:
            broker = flow.backends.broker
            assert isinstance(broker, RabbitBroker)
            async with flow.ingestor(), flow.watcher():
                for i in range(100):
                    (root_dir / f"before-{i}.txt").write_text(f"before {i}")
                await wait_until(flow.db.completed_count, lambda n: n == 100, timeout_s=30)
                first.cut()
                await wait_until(broker.connected, lambda up: not up, timeout_s=5)
                for i in range(100):
                    (root_dir / f"after-{i}.txt").write_text(f"after {i}")
                await wait_until(broker.connected, bool, timeout_s=15, what="the next node")
                assert broker.connection.url.port == second.port
                await wait_until(flow.db.completed_count, lambda n: n == 200, timeout_s=60)
    said = [message(record) for record in caplog.records]
    assert any(f"trying amqp://guest:***@127.0.0.1:{second.port}/" in line for line in said)
    assert not [line for line in said if "guest:guest" in line]


@pytest.mark.parametrize("command", ["ingest", "watch"])
async def test_a_service_on_a_queue_of_the_other_type_exits_2_with_one_line(
    settings: Settings, root_dir: Path, tmp_path: Path, command: str
) -> None:
    classic = await open_broker(settings.queue_name, "classic", [AMQP_URL])
    try:
        await classic.publisher(window=1, timeout_s=5)
    finally:
        await classic.close()
    env = service_env(settings, root_dir, FILEFLOW_QUEUE_TYPE="quorum")
    log = tmp_path / f"{command}.log"
    async with service(command, env, log=log, wait_ready=False) as running:
        code = await asyncio.wait_for(running.process.wait(), 60)
    last = log.read_text().strip().splitlines()[-1]
    assert code == 2, last
    assert last.startswith(f"fileflow: error: queue {settings.queue_name}.dead exists"), last
    assert "Switch from classic to quorum queues" in last
