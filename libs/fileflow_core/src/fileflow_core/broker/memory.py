"""In-process broker: the RabbitMQ adapter's semantics (priorities, manual acks, delayed retries
with attempt counting, dead letters, renew) on an asyncio queue, for ``fileflow run`` on a bare
machine and for tests.

It keeps nothing on disk: messages waiting in it are lost when the process ends. That is safe
because the broker says so (``durable`` is False) and the one-process runner then seeds the
watcher's catch-up scan from the *store* instead of from the watcher's own record of what it
published: at the next start, every file whose stored row does not match the disk (never
stored, stored with an older signature, still pending or processing) is published again, and
every stored file that is gone from disk gets a deletion. Only files the ingestor committed
count as known, so a message accepted here but never ingested before a stop or a crash is
never lost, only sent again.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fileflow_core.broker.batches import BatchSettlement
from fileflow_core.broker.topology import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    RENEWED_HEADER,
    Topology,
    attempt_of,
)
from fileflow_core.errors import TransientError
from fileflow_core.messages import FileEvent, encode_events
from fileflow_core.ports import DeliveryHandler
from fileflow_core.publishing import message_batches


@dataclass(frozen=True, slots=True)
class Message:
    body: bytes
    priority: int = 0
    headers: dict[str, Any] = field(default_factory=dict)


class WorkQueue:
    """A bounded priority queue (highest priority first, FIFO within one priority).

    ``capacity`` bounds what publishers may add; messages coming back from the broker itself
    (requeues, retries, renewals) are always taken, as RabbitMQ takes them.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._heap: list[tuple[int, int, Message]] = []
        self._order = itertools.count()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._heap)

    async def put(self, message: Message, *, timeout_s: float) -> None:
        """Add when there is room; ``TransientError`` if none frees up within ``timeout_s``."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._changed.wait_for(lambda: len(self._heap) < self.capacity)
            except TimeoutError:
                raise TransientError(
                    f"in-process queue full ({self.capacity} messages) for {timeout_s}s"
                ) from None
            self._push(message)

    async def give_back(self, message: Message) -> None:
        async with self._changed:
            self._push(message)

    async def get(self) -> Message:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._heap))
            _, _, message = heapq.heappop(self._heap)
            self._changed.notify_all()
            return message

    def _push(self, message: Message) -> None:
        heapq.heappush(self._heap, (-message.priority, next(self._order), message))
        self._changed.notify_all()


class MemoryPublisher:
    def __init__(self, broker: MemoryBroker, *, timeout_s: float, batch_events: int = 1) -> None:
        self._broker = broker
        self._timeout_s = timeout_s
        self._batch_events = batch_events

    async def publish(self, events: Iterable[FileEvent]) -> None:
        for batch in message_batches(events, self._batch_events):
            await self._broker.put(
                Message(encode_events(batch), batch[0].priority), timeout_s=self._timeout_s
            )


class MemoryDelivery:
    """One message taken from the queue; settled exactly once (later settles do nothing).

    A part of a batch message (see ``split``) settles its own event, as with RabbitMQ.
    """

    def __init__(
        self,
        message: Message,
        broker: MemoryBroker,
        on_settled: Callable[[MemoryDelivery], None],
        *,
        part_body: Callable[[], bytes] | None = None,
        batch: BatchSettlement | None = None,
    ) -> None:
        self._message = message
        self._broker = broker
        self._on_settled = on_settled
        self._part_body = part_body
        self._batch = batch
        self._parts: list[MemoryDelivery] = []
        self.settled = False

    @property
    def body(self) -> bytes:
        return self._message.body if self._part_body is None else self._part_body()

    def split(self, bodies: Sequence[Callable[[], bytes]]) -> list[MemoryDelivery]:
        async def settle_message() -> None:
            self.settled = True
            self._on_settled(self)

        batch = BatchSettlement(len(bodies), settle_message)
        self._parts = [
            MemoryDelivery(self._message, self._broker, _ignore, part_body=body, batch=batch)
            for body in bodies
        ]
        return self._parts

    @property
    def attempt(self) -> int:
        return attempt_of(self._message.headers)

    @property
    def renewed(self) -> bool:
        return bool(self._message.headers.get(RENEWED_HEADER))

    async def ack(self) -> None:
        await self._settle()

    async def retry(self, reason: str) -> bool:
        if self.settled:
            return True
        if self.attempt >= self._broker.topology.max_attempts:
            await self.dead_letter(f"gave up after {self.attempt} attempts: {reason}")
            return False
        self._broker.delay(
            self._copy({ATTEMPT_HEADER: self.attempt + 1, ERROR_HEADER: reason[:1000]}),
            self.attempt,
        )
        await self._settle()
        return True

    async def dead_letter(self, reason: str) -> None:
        if self.settled:
            return
        self._broker.dead.append(
            self._copy({ATTEMPT_HEADER: self.attempt, ERROR_HEADER: reason[:1000]})
        )
        await self._settle()

    async def postpone(self, reason: str) -> None:
        if self.settled:
            return
        self._broker.hold(self._copy({ATTEMPT_HEADER: self.attempt, ERROR_HEADER: reason[:1000]}))
        await self._settle()

    async def requeue(self) -> None:
        if self.settled:
            return
        if self._parts:
            # Split: only the events not settled yet go back, each as a message of its own.
            for part in self._parts:
                await part.requeue()
            return
        await self._settle()
        await self._broker.queue.give_back(self._copy(self._message.headers))

    async def renew(self) -> None:
        if self.settled:
            return
        await self._settle()
        await self._broker.queue.give_back(
            self._copy({ATTEMPT_HEADER: self.attempt, RENEWED_HEADER: True})
        )

    def _copy(self, headers: dict[str, Any]) -> Message:
        return Message(self.body, self._message.priority, headers)

    async def _settle(self) -> None:
        if self.settled:
            return
        self.settled = True
        if self._batch is not None:
            await self._batch.part_settled()
        else:
            self._on_settled(self)


def _ignore(_: MemoryDelivery) -> None:
    """A part's own settling: its batch settles the message."""


class MemoryConsumer:
    """Takes messages while fewer than ``prefetch`` are unsettled; each runs in its own task."""

    def __init__(self, broker: MemoryBroker, *, prefetch: int) -> None:
        self._broker = broker
        self._slots = asyncio.Semaphore(prefetch)
        self._dispatcher: asyncio.Task[None] | None = None
        self._handler: DeliveryHandler | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self._unsettled: set[MemoryDelivery] = set()

    async def start(self, handler: DeliveryHandler) -> None:
        self._handler = handler
        self._dispatcher = asyncio.create_task(self._dispatch(handler), name="memory-consumer")

    async def pause(self) -> None:
        await self.stop()

    async def resume(self) -> None:
        if self._dispatcher is None and self._handler is not None:
            await self.start(self._handler)

    async def _dispatch(self, handler: DeliveryHandler) -> None:
        while True:
            await self._slots.acquire()
            try:
                message = await self._broker.queue.get()
            except BaseException:
                self._slots.release()
                raise
            delivery = MemoryDelivery(message, self._broker, self._settled)
            self._unsettled.add(delivery)
            task = asyncio.ensure_future(handler(delivery))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    def _settled(self, delivery: MemoryDelivery) -> None:
        self._unsettled.discard(delivery)
        self._slots.release()

    async def stop(self) -> None:
        """Take no more messages; those being handled can still be settled."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None

    async def close(self) -> None:
        """Stop, cancel what is still being handled, and requeue everything unsettled (like a
        closed RabbitMQ channel)."""
        await self.stop()
        for task in list(self._handling):
            task.cancel()
        await asyncio.gather(*self._handling, return_exceptions=True)
        for delivery in list(self._unsettled):
            await delivery.requeue()
        self._unsettled.clear()


class MemoryBroker:
    """Work queue, delayed retries and dead letters of one process, named like RabbitMQ's."""

    durable = False
    reaches_other_processes = False
    check_name = "queue"

    def __init__(self, topology: Topology, *, capacity: int = 10_000) -> None:
        self.topology = topology
        self.queue = WorkQueue(capacity)
        self.dead: list[Message] = []
        self._delayed: dict[asyncio.Task[None], str] = {}
        self._closed = False

    async def put(self, message: Message, *, timeout_s: float = 10.0) -> None:
        """Accept a message (what a confirmed publish is to RabbitMQ)."""
        if self._closed:
            raise TransientError("the in-process queue is closed")
        await self.queue.put(message, timeout_s=timeout_s)

    def delay(self, message: Message, failed_attempt: int) -> None:
        """Re-enqueue after the backoff of ``failed_attempt``, like the retry queues' TTL."""
        self._later(
            message,
            self.topology.retry_delay_s(failed_attempt),
            self.topology.retry_queue(failed_attempt),
        )

    def hold(self, message: Message) -> None:
        """Re-enqueue after the hold delay, like the hold queue's TTL."""
        self._later(message, self.topology.hold_delay_s, self.topology.hold_queue)

    def _later(self, message: Message, delay_s: float, queue: str) -> None:
        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.queue.give_back(message)

        task = asyncio.create_task(later(), name=f"memory-{queue}")
        self._delayed[task] = queue
        task.add_done_callback(lambda done: self._delayed.pop(done, None))

    async def publisher(
        self, *, window: int, timeout_s: float, batch_events: int = 1
    ) -> MemoryPublisher:
        return MemoryPublisher(self, timeout_s=timeout_s, batch_events=batch_events)

    def consumer(self, *, prefetch: int) -> MemoryConsumer:
        return MemoryConsumer(self, prefetch=prefetch)

    async def connected(self) -> bool:
        return not self._closed

    async def queue_depths(self) -> dict[str, int]:
        depths = {self.topology.work_queue: len(self.queue)}
        depths |= {name: 0 for name, _ in self.topology.retry_queues}
        depths[self.topology.hold_queue] = 0
        for name in self._delayed.values():
            depths[name] = depths.get(name, 0) + 1
        depths[self.topology.dead_queue] = len(self.dead)
        return depths

    async def drain_dead_letters(
        self,
        select: Callable[[bytes], bool],
        republish: Callable[[list[bytes]], Awaitable[None]],
    ) -> tuple[int, int]:
        held = list(self.dead)
        chosen = [message for message in held if select(message.body)]
        if chosen:
            await republish([message.body for message in chosen])
        taken = {id(message) for message in chosen}
        self.dead = [message for message in self.dead if id(message) not in taken]
        return len(chosen), len(held) - len(chosen)

    async def close(self) -> None:
        """Drop pending retries; what is still queued is lost with the process (see above)."""
        self._closed = True
        for task in list(self._delayed):
            task.cancel()
        await asyncio.gather(*self._delayed, return_exceptions=True)
