"""The queue gauges as the ingestor reads them from RabbitMQ itself (passive declares)."""

from __future__ import annotations

import asyncio
import math

import pytest

from fileflow_core import metrics
from fileflow_core.adapters import open_broker, topology_for
from fileflow_core.messages import FileEvent, Operation
from fileflow_core.ports import Delivery
from fileflow_core.settings import Settings
from ingestor.queue_gauges import read_queues
from tests.support import require_server

pytestmark = pytest.mark.integration


def gauge(name: str, **labels: str) -> float | None:
    return metrics.INGESTOR.get_sample_value(name, labels)


async def test_depths_and_consumers_come_from_the_broker(settings: Settings) -> None:
    require_server("RabbitMQ")
    broker = await open_broker(settings, name="fileflow-test-gauges")
    topology = topology_for(settings)
    try:
        publisher = await broker.publisher(window=10, timeout_s=10)
        await publisher.publish(
            FileEvent.observed("lib", f"f{n}.txt", Operation.UPSERT) for n in range(3)
        )
        await read_queues(broker, topology)
        assert gauge("fileflow_ingestor_queue_messages", queue="work") == 3
        assert gauge("fileflow_ingestor_queue_messages", queue="dead") == 0
        assert gauge("fileflow_ingestor_queue_consumers") == 0

        held: list[Delivery] = []

        async def hold(delivery: Delivery) -> None:
            held.append(delivery)

        consumer = broker.consumer(prefetch=1)
        await consumer.start(hold)
        try:
            for _ in range(100):
                if held:
                    break
                await asyncio.sleep(0.05)
            await held[0].dead_letter("a test sends it to the dead-letter queue")
            await asyncio.sleep(0.3)
            await read_queues(broker, topology)
            assert gauge("fileflow_ingestor_queue_consumers") == 1
            assert gauge("fileflow_ingestor_queue_messages", queue="dead") == 1
        finally:
            await consumer.close()
    finally:
        await broker.close()
    # A broker that cannot answer leaves no stale number behind.
    await read_queues(broker, topology)
    assert math.isnan(gauge("fileflow_ingestor_queue_consumers") or 0.0)
    assert math.isnan(gauge("fileflow_ingestor_queue_messages", queue="work") or 0.0)
