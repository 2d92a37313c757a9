"""The in-process broker: work queue, delayed retries and dead letters of one process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fileflow_core.broker.memory.consumer import MemoryConsumer
from fileflow_core.broker.memory.delivery import MemoryPublisher
from fileflow_core.broker.memory.queue import Message, WorkQueue
from fileflow_core.broker.topology import (
    Topology,
)
from fileflow_core.errors import TransientError


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
        self.consumers = 0

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

    async def work_consumers(self) -> int:
        return self.consumers

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
