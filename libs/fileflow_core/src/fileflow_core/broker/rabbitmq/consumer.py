"""Consuming the work queue with manual acks and a prefetch sized to the worker pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)

from fileflow_core.broker.rabbitmq.connection import (
    BROKER_ERRORS,
    SETTLE_TIMEOUT_S,
    declare_topology,
)
from fileflow_core.broker.rabbitmq.delivery import RabbitDelivery
from fileflow_core.broker.topology import (
    Topology,
)
from fileflow_core.errors import TransientError
from fileflow_core.ports import DeliveryHandler

log = logging.getLogger(__name__)


class RabbitConsumer:
    """Consumes the work queue (and a quorum topology's urgent queue) with manual acks and a
    prefetch sized to the worker pool.

    The prefetch limit is per consumer: an urgent queue's deletions are delivered at once even
    while the work queue's consumer holds its full window of a backlog."""

    def __init__(
        self, connection: AbstractRobustConnection, topology: Topology, *, prefetch: int
    ) -> None:
        self._connection = connection
        self._topology = topology
        self._prefetch = prefetch
        self._channel: AbstractRobustChannel | None = None
        self._queues: list[AbstractRobustQueue] = []
        self._tags: list[str] = []
        self._on_message: Callable[[AbstractIncomingMessage], Awaitable[None]] | None = None

    async def start(self, handler: DeliveryHandler) -> None:
        try:
            await self._start(handler)
        except BROKER_ERRORS as exc:
            queue = self._topology.work_queue
            raise TransientError(f"cannot start consuming from {queue}: {exc!r}") from exc

    async def _start(self, handler: DeliveryHandler) -> None:
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        assert isinstance(channel, AbstractRobustChannel)
        await channel.set_qos(prefetch_count=self._prefetch)
        self._channel = channel
        self._queues = await declare_topology(channel, self._topology)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await handler(RabbitDelivery(message, channel, self._topology))

        self._on_message = on_message
        await self._consume()

    async def _consume(self) -> None:
        assert self._on_message is not None
        for queue in self._queues:
            self._tags.append(await queue.consume(self._on_message, no_ack=False))

    async def pause(self) -> None:
        await self.stop()

    async def resume(self) -> None:
        if not self._queues or self._on_message is None or self._tags:
            return
        try:
            await self._consume()
        except BROKER_ERRORS as exc:
            raise TransientError(
                f"cannot consume from {self._topology.work_queue}: {exc!r}"
            ) from exc

    async def stop(self) -> None:
        for queue, tag in zip(self._queues, self._tags, strict=False):
            try:
                # With the broker away, a robust channel waits for it to come back first.
                async with asyncio.timeout(SETTLE_TIMEOUT_S):
                    await queue.cancel(tag)
            except BROKER_ERRORS as exc:
                log.warning("cancelling the consumer failed: %r", exc)
        self._tags = []

    async def close(self) -> None:
        await self.stop()
        if self._channel is not None and not self._channel.is_closed:
            try:
                async with asyncio.timeout(SETTLE_TIMEOUT_S):
                    await self._channel.close()
            except BROKER_ERRORS as exc:
                log.warning("closing the channel failed: %r", exc)
