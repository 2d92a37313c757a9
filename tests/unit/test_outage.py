"""A store outage pauses consumption until the store answers; kept extractions survive it."""

from __future__ import annotations

import asyncio

from fileflow_core.broker.memory import MemoryBroker, Message
from fileflow_core.broker.topology import ATTEMPT_HEADER, Topology
from fileflow_core.models import ContentInfo
from fileflow_core.ports import Delivery
from ingestor.kept import KeptExtractions
from ingestor.outage import StoreOutage
from tests.support import wait_until


class Consumer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self, handler: object) -> None:
        self.calls.append("start")

    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_a_store_outage_pauses_once_and_resumes_when_the_store_answers() -> None:
    consumer, answers = Consumer(), [False, False, True]

    async def ping() -> bool:
        return answers.pop(0) if answers else True

    outage = StoreOutage(consumer, ping, probe_first_s=0.01, probe_longest_s=0.02)
    await asyncio.gather(*(outage.report("PostgreSQL refused") for _ in range(5)))
    assert outage.paused and consumer.calls == ["pause"]
    assert "PostgreSQL refused" in (outage.describe() or "")
    await wait_until(lambda: asyncio.sleep(0, outage.paused), lambda p: not p, what="resumed")
    assert consumer.calls == ["pause", "resume"] and outage.describe() is None
    await outage.report("again")
    assert consumer.calls[-1] == "pause" and outage.pauses == 2
    await outage.close()


def content(sha: str, text: str = "x") -> ContentInfo:
    return ContentInfo(sha, len(text), "text/plain", chunks=(text,))


def test_kept_extractions_are_taken_once_bounded_by_size_and_time() -> None:
    now = [0.0]
    kept = KeptExtractions(ttl_s=10, max_bytes=10_000, timer=lambda: now[0])
    kept.keep(content("a"))
    assert kept.take("a") == content("a")
    assert kept.take("a") is None
    kept.keep(content("big", "y" * 20_000))  # larger than the whole budget
    assert kept.take("big") is None
    for i in range(10):
        kept.keep(content(str(i), "z" * 1000))
    assert len(kept) < 10  # the oldest went first, within 10,000 bytes
    kept.keep(content("late"))
    now[0] = 11
    assert kept.take("late") is None
    assert KeptExtractions(ttl_s=10, max_bytes=0).take("a") is None


async def test_the_in_process_broker_postpones_without_counting_an_attempt() -> None:
    broker = MemoryBroker(Topology("q", 3, 0.01, hold_delay_s=0.05))
    await broker.put(Message(b"body", 1, {ATTEMPT_HEADER: 2}))
    got: list[Delivery] = []

    async def handle(delivery: Delivery) -> None:
        got.append(delivery)
        if len(got) == 1:
            await delivery.postpone("root 'lib' unavailable")
        else:
            await delivery.ack()

    consumer = broker.consumer(prefetch=10)
    await consumer.start(handle)
    await wait_until(lambda: asyncio.sleep(0, len(got)), lambda n: n == 2, what="back")
    assert [d.attempt for d in got] == [2, 2]
    await consumer.close()
    await broker.close()


async def test_the_in_process_consumer_takes_nothing_while_paused() -> None:
    broker = MemoryBroker(Topology("q", 3, 0.01))
    got: list[bytes] = []

    async def handle(delivery: Delivery) -> None:
        got.append(delivery.body)
        await delivery.ack()

    consumer = broker.consumer(prefetch=10)
    await consumer.start(handle)
    await consumer.pause()
    await broker.put(Message(b"one"))
    await asyncio.sleep(0.05)
    assert got == []
    await consumer.resume()
    await wait_until(lambda: asyncio.sleep(0, got), lambda g: g == [b"one"], what="resumed")
    await consumer.close()
    await broker.close()
