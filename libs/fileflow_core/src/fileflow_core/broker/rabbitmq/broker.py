"""One robust connection and the topology: hands out publishers and consumers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustConnection,
)

from fileflow_core.broker.rabbitmq.connection import BROKER_ERRORS, SETTLE_TIMEOUT_S, connect
from fileflow_core.broker.rabbitmq.consumer import RabbitConsumer
from fileflow_core.broker.rabbitmq.publisher import RabbitPublisher
from fileflow_core.broker.topology import (
    Topology,
)
from fileflow_core.errors import TransientError

log = logging.getLogger(__name__)


class RabbitBroker:
    """One robust connection and the topology: hands out publishers and consumers."""

    durable = True  # persistent messages on durable queues survive restarts
    reaches_other_processes = True
    check_name = "rabbitmq"

    def __init__(self, connection: AbstractRobustConnection, topology: Topology) -> None:
        self.connection = connection
        self.topology = topology

    @classmethod
    async def open(
        cls, urls: list[str], topology: Topology, *, name: str, timeout_s: float
    ) -> RabbitBroker:
        """Connect to the first node of ``urls`` that answers (one URL, or a cluster's)."""
        return cls(await connect(urls, name=name, timeout_s=timeout_s), topology)

    async def publisher(
        self, *, window: int, timeout_s: float, batch_events: int = 1
    ) -> RabbitPublisher:
        try:
            return await RabbitPublisher.open(
                self.connection,
                self.topology,
                window=window,
                timeout_s=timeout_s,
                batch_events=batch_events,
            )
        except BROKER_ERRORS as exc:
            raise TransientError(f"cannot open a RabbitMQ channel: {exc!r}") from exc

    def consumer(self, *, prefetch: int) -> RabbitConsumer:
        return RabbitConsumer(self.connection, self.topology, prefetch=prefetch)

    async def connected(self) -> bool:
        return not self.connection.is_closed and self.connection.connected.is_set()

    async def queue_depths(self) -> dict[str, int]:
        """Messages waiting in the work, urgent, retry, hold and dead-letter queues."""
        names = self.topology.queues
        depths: dict[str, int] = {}
        try:
            channel = await self.connection.channel()
            try:
                for name in names:
                    try:
                        queue = await channel.declare_queue(name, passive=True)
                    except aio_pika.exceptions.ChannelClosed:
                        channel = await self.connection.channel()
                        depths[name] = 0
                        continue
                    depths[name] = int(queue.declaration_result.message_count or 0)
            finally:
                await channel.close()
        except BROKER_ERRORS as exc:
            raise TransientError(f"cannot read queue depths: {exc!r}") from exc
        return depths

    async def work_consumers(self) -> int:
        try:
            channel = await self.connection.channel()
            try:
                queue = await channel.declare_queue(self.topology.work_queue, passive=True)
            finally:
                await channel.close()
        except aio_pika.exceptions.ChannelClosed:
            return 0  # not declared yet: nobody consumes it
        except BROKER_ERRORS as exc:
            raise TransientError(f"cannot read the work queue's consumers: {exc!r}") from exc
        return int(queue.declaration_result.consumer_count or 0)

    async def close(self) -> None:
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                await self.connection.close()
        except BROKER_ERRORS as exc:
            log.warning("closing the RabbitMQ connection failed: %r", exc)

    async def drain_dead_letters(
        self,
        select: Callable[[bytes], bool],
        republish: Callable[[list[bytes]], Awaitable[None]],
    ) -> tuple[int, int]:
        """Hand the selected dead letters to ``republish``, then remove them; the rest stay.

        Returns (taken, left). Messages are held unacknowledged while deciding, so a crash
        here leaves the dead-letter queue as it was.
        """
        try:
            channel = await self.connection.channel()
            try:
                dead = self.topology.dead_queue
                queue = await channel.declare_queue(
                    dead, durable=True, arguments=self.topology.arguments(dead)
                )
                held: list[AbstractIncomingMessage] = []
                for _ in range(int(queue.declaration_result.message_count or 0)):
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    held.append(message)
                chosen = [message for message in held if select(message.body)]
                if chosen:
                    await republish([message.body for message in chosen])
                for message in held:
                    if message in chosen:
                        await message.ack()
                    else:
                        await message.nack(requeue=True)
            finally:
                await channel.close()
        except BROKER_ERRORS as exc:
            raise TransientError(f"cannot read the dead-letter queue: {exc!r}") from exc
        return len(chosen), len(held) - len(chosen)
