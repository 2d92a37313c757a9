"""The in-process broker keeps the RabbitMQ adapter's delivery semantics."""

from __future__ import annotations

import asyncio

import pytest

from fileflow_core.broker.memory import MemoryBroker, MemoryConsumer, MemoryDelivery, Message
from fileflow_core.broker.topology import ATTEMPT_HEADER, ERROR_HEADER, Topology
from fileflow_core.errors import TransientError
from fileflow_core.messages import FileEvent, Operation, decode_event, decode_message
from fileflow_core.ports import Delivery


def broker(**options: int) -> MemoryBroker:
    return MemoryBroker(Topology("q", 3, 0.01), capacity=options.get("capacity", 100))


class Collect:
    """A handler that keeps deliveries unsettled until the test settles them."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._arrived.set()

    async def wait_for(self, count: int) -> list[Delivery]:
        async with asyncio.timeout(5):
            while len(self.deliveries) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.deliveries


def event(path: str, op: Operation = Operation.UPSERT) -> FileEvent:
    return FileEvent.observed("lib", path, op)


async def test_publish_consume_ack() -> None:
    memory = broker()
    await (await memory.publisher(window=10, timeout_s=1)).publish([event("a.txt")])
    handler = Collect()
    consumer = memory.consumer(prefetch=10)
    await consumer.start(handler)
    (delivery,) = await handler.wait_for(1)
    assert decode_event(delivery.body).path == "a.txt"
    assert delivery.attempt == 1 and not delivery.renewed
    await delivery.ack()
    await consumer.close()
    assert (await memory.queue_depths())["q"] == 0


async def test_deletions_are_delivered_first() -> None:
    memory = broker()
    publisher = await memory.publisher(window=10, timeout_s=1)
    await publisher.publish([event("u1"), event("d1", Operation.DELETE), event("u2")])
    await publisher.publish([event("d2", Operation.DELETE)])
    handler = Collect()
    consumer = memory.consumer(prefetch=10)
    await consumer.start(handler)
    deliveries = await handler.wait_for(4)
    assert [decode_event(d.body).path for d in deliveries] == ["d1", "d2", "u1", "u2"]
    await consumer.close()


async def test_retry_counts_attempts_then_dead_letters_with_the_reason() -> None:
    memory = broker()
    await memory.put(Message(b"body", 1))
    handler = Collect()
    consumer = memory.consumer(prefetch=1)
    await consumer.start(handler)
    first = (await handler.wait_for(1))[0]
    assert await first.retry("disk busy")
    assert "q.retry.10ms" in await memory.queue_depths()
    second = (await handler.wait_for(2))[1]
    assert second.attempt == 2
    assert await second.retry("disk busy")
    third = (await handler.wait_for(3))[2]
    assert third.attempt == 3
    assert not await third.retry("disk busy")
    await consumer.close()
    (dead,) = memory.dead
    assert dead.headers[ATTEMPT_HEADER] == 3
    assert dead.headers[ERROR_HEADER] == "gave up after 3 attempts: disk busy"
    assert (await memory.queue_depths())["q.dead"] == 1


async def test_settling_twice_does_nothing() -> None:
    memory = broker()
    await memory.put(Message(b"x"))
    handler = Collect()
    consumer = memory.consumer(prefetch=1)
    await consumer.start(handler)
    (delivery,) = await handler.wait_for(1)
    await delivery.dead_letter("bad")
    await delivery.ack()
    await delivery.requeue()
    assert await delivery.retry("again")
    await consumer.close()
    assert len(memory.dead) == 1 and len(memory.queue) == 0


async def test_prefetch_bounds_unsettled_deliveries() -> None:
    memory = broker()
    for i in range(5):
        await memory.put(Message(b"%d" % i))
    handler = Collect()
    consumer = memory.consumer(prefetch=2)
    await consumer.start(handler)
    await handler.wait_for(2)
    await asyncio.sleep(0.05)
    assert len(handler.deliveries) == 2
    await handler.deliveries[0].ack()
    await handler.wait_for(3)
    await consumer.close()


async def test_unsettled_deliveries_are_requeued_when_the_consumer_closes() -> None:
    memory = broker()
    for i in range(3):
        await memory.put(Message(b"%d" % i))
    handler = Collect()
    consumer = memory.consumer(prefetch=10)
    await consumer.start(handler)
    deliveries = await handler.wait_for(3)
    await deliveries[0].ack()
    await consumer.close()
    assert len(memory.queue) == 2
    again = Collect()
    second = memory.consumer(prefetch=10)
    await second.start(again)
    assert sorted(d.body for d in await again.wait_for(2)) == [b"1", b"2"]
    await second.close()


async def test_renew_hands_over_a_marked_copy() -> None:
    memory = broker()
    await memory.put(Message(b"long", 1, {ATTEMPT_HEADER: 2}))
    handler = Collect()
    consumer = memory.consumer(prefetch=10)
    await consumer.start(handler)
    first = (await handler.wait_for(1))[0]
    await first.renew()
    await first.ack()  # does nothing: the copy carries the work now
    copy = (await handler.wait_for(2))[1]
    assert copy.renewed and copy.attempt == 2
    assert isinstance(first, MemoryDelivery) and first.settled
    await consumer.close()


async def test_a_full_queue_makes_publishers_wait_then_fail() -> None:
    memory = broker(capacity=2)
    publisher = await memory.publisher(window=10, timeout_s=0.05)
    await publisher.publish([event("a"), event("b")])
    with pytest.raises(TransientError, match="full"):
        await publisher.publish([event("c")])
    handler = Collect()
    consumer = memory.consumer(prefetch=1)
    await consumer.start(handler)
    (first,) = await handler.wait_for(1)
    await first.ack()
    await publisher.publish([event("c")])  # room again
    await consumer.close()
    assert len(memory.queue) == 2


async def test_dead_letters_are_drained_selectively() -> None:
    memory = broker()
    memory.dead += [Message(b"keep"), Message(b"take"), Message(b"take")]
    taken: list[bytes] = []

    async def republish(bodies: list[bytes]) -> None:
        taken.extend(bodies)

    assert await memory.drain_dead_letters(lambda body: body == b"take", republish) == (2, 1)
    assert taken == [b"take", b"take"]
    assert [m.body for m in memory.dead] == [b"keep"]


async def test_closed_broker_refuses_publishes_and_drops_pending_retries() -> None:
    memory = MemoryBroker(Topology("q", 3, 60.0))
    memory.delay(Message(b"later"), 1)
    await memory.close()
    assert not await memory.connected()
    with pytest.raises(TransientError):
        await memory.put(Message(b"x"))
    assert sum((await memory.queue_depths()).values()) == 0


async def test_publisher_packs_events_into_batches_one_priority_each() -> None:
    memory = broker()
    publisher = await memory.publisher(window=10, timeout_s=1, batch_events=2)
    await publisher.publish(
        [event("u1"), event("u2"), event("d1", Operation.DELETE), event("u3"), event("u4")]
    )
    await publisher.publish([event("u5")])
    handler = Collect()
    consumer = memory.consumer(prefetch=10)
    await consumer.start(handler)
    deliveries = await handler.wait_for(4)
    decoded = [decode_message(d.body) for d in deliveries]
    paths = [
        [decoded_one.path]
        if isinstance(decoded_one, FileEvent)
        else [entry.event.path for entry in decoded_one if entry.event]
        for decoded_one in decoded
    ]
    assert paths == [["d1"], ["u1", "u2"], ["u3", "u4"], ["u5"]]
    await consumer.close()


async def consume_split_batch(
    memory: MemoryBroker, *, prefetch: int, then: list[str]
) -> tuple[Collect, MemoryConsumer, list[Delivery]]:
    """Publish the batch a, b, c (then one message per path in ``then``), consume, split it."""
    publisher = await memory.publisher(window=10, timeout_s=1, batch_events=3)
    await publisher.publish([event("a"), event("b"), event("c")])
    for path in then:
        await publisher.publish([event(path)])
    handler = Collect()
    consumer = memory.consumer(prefetch=prefetch)
    await consumer.start(handler)
    (batch,) = await handler.wait_for(1)
    entries = decode_message(batch.body)
    assert isinstance(entries, list)
    return handler, consumer, list(batch.split([entry.body for entry in entries]))


async def test_batch_parts_settle_alone_and_the_message_with_the_last() -> None:
    memory = broker()
    handler, consumer, parts = await consume_split_batch(memory, prefetch=1, then=["next"])
    first, second, third = parts
    assert decode_event(second.body).path == "b"
    await first.ack()
    assert await second.retry("disk busy")
    await asyncio.sleep(0.05)
    assert len(handler.deliveries) == 1  # the batch still holds the only prefetch slot
    await third.dead_letter("bad file")
    # The slot is free; only the failed events go on, each alone: the retry is attempt 2.
    await (await handler.wait_for(2))[1].ack()
    later = await handler.wait_for(3)
    assert sorted(decode_event(d.body).path for d in later[1:]) == ["b", "next"]
    retried = next(d for d in later[1:] if decode_event(d.body).path == "b")
    assert retried.attempt == 2
    (dead,) = memory.dead
    assert decode_event(dead.body).path == "c" and dead.headers[ERROR_HEADER] == "bad file"
    await consumer.close()


async def test_closing_gives_back_only_the_unsettled_parts_of_a_batch() -> None:
    memory = broker()
    _, consumer, parts = await consume_split_batch(memory, prefetch=10, then=[])
    await parts[1].ack()
    await consumer.close()
    assert sorted(decode_event(m.body).path for _, _, m in memory.queue._heap) == ["a", "c"]


async def test_a_first_delivery_hands_over_the_published_events_and_a_copy_does_not() -> None:
    memory = broker()
    published = [event("a.txt"), event("b.txt"), event("c.txt", Operation.DELETE)]
    await (await memory.publisher(window=10, timeout_s=1, batch_events=2)).publish(published)
    handler = Collect()
    consumer = memory.consumer(prefetch=10)
    await consumer.start(handler)
    first, second = await handler.wait_for(2)
    # The same objects, in the order their bodies hold them: decoding them gives nothing new.
    assert first.published_events == (published[2],)
    assert second.published_events == tuple(published[:2])
    assert second.published_events[0] is published[0]
    decoded = decode_message(second.body)
    assert isinstance(decoded, list)
    assert [entry.event for entry in decoded] == published[:2]
    parts = second.split([entry.body for entry in decoded])
    assert [part.published_events for part in parts] == [None, None]  # a part is its body
    await parts[0].ack()
    await parts[1].requeue()  # comes back as a copy: read from its body
    await first.retry("later")
    copies = await handler.wait_for(4)
    assert [copy.published_events for copy in copies[2:]] == [None, None]
    assert sorted(decode_event(copy.body).path for copy in copies[2:]) == ["b.txt", "c.txt"]
    await consumer.close()
