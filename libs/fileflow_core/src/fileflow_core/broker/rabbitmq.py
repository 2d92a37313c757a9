"""RabbitMQ adapter (aio-pika): durable topology, confirmed publishes, a manual-ack consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)

from fileflow_core.broker.batches import BatchSettlement
from fileflow_core.broker.topology import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    RENEWED_HEADER,
    Topology,
    attempt_of,
)
from fileflow_core.errors import ConfigError, TransientError
from fileflow_core.messages import FileEvent, encode_events
from fileflow_core.ports import DeliveryHandler
from fileflow_core.publishing import message_batches
from fileflow_core.urls import redact

log = logging.getLogger(__name__)

# An ack or republish on a channel that died with its connection can wait for ever; the broker
# redelivers whatever was not settled, so giving up after this long loses nothing.
SETTLE_TIMEOUT_S = 10.0

BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    RuntimeError,
)


async def connect(url: str, *, name: str, timeout_s: float) -> AbstractRobustConnection:
    """Open a robust connection, or raise ``TransientError`` saying what to check."""
    try:
        return await aio_pika.connect_robust(
            url, timeout=timeout_s, client_properties={"connection_name": name}
        )
    except aiormq.exceptions.ProbableAuthenticationError as exc:
        raise ConfigError(
            f"RabbitMQ at {redact(url)} refused the login: {exc.args[0] if exc.args else exc}; "
            "check the user and password in FILEFLOW_AMQP_URL"
        ) from exc
    except BROKER_ERRORS as exc:
        raise TransientError(
            f"cannot connect to RabbitMQ at {redact(url)}: {exc!r}; "
            "is it running? (set FILEFLOW_AMQP_URL)"
        ) from exc


async def declare_topology(
    channel: AbstractRobustChannel, topology: Topology
) -> AbstractRobustQueue:
    """Declare every queue (idempotent) and return the work queue."""
    await channel.declare_queue(topology.dead_queue, durable=True)
    for name, delay_s in [*topology.retry_queues, (topology.hold_queue, topology.hold_delay_s)]:
        await channel.declare_queue(name, durable=True, arguments=topology.retry_arguments(delay_s))
    return await channel.declare_queue(
        topology.work_queue, durable=True, arguments=topology.work_arguments()
    )


def build_message(
    body: bytes, *, priority: int = 0, headers: dict[str, Any] | None = None
) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=priority,
        headers=headers or {},
    )


class RabbitPublisher:
    """Publishes events with confirms, a window of messages in flight at once, up to
    ``batch_events`` events a message."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        topology: Topology,
        *,
        window: int,
        timeout_s: float,
        batch_events: int = 1,
    ) -> None:
        self._channel = channel
        self._topology = topology
        self._window = window
        self._timeout_s = timeout_s
        self._batch_events = batch_events

    @classmethod
    async def open(
        cls,
        connection: AbstractRobustConnection,
        topology: Topology,
        *,
        window: int,
        timeout_s: float,
        batch_events: int = 1,
    ) -> RabbitPublisher:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        assert isinstance(channel, AbstractRobustChannel)
        await declare_topology(channel, topology)
        return cls(channel, topology, window=window, timeout_s=timeout_s, batch_events=batch_events)

    async def publish(self, events: Iterable[FileEvent]) -> None:
        messages = message_batches(events, self._batch_events)
        for start in range(0, len(messages), self._window):
            window = messages[start : start + self._window]
            results = await asyncio.gather(
                *(self._publish_one(batch) for batch in window), return_exceptions=True
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise TransientError(
                    f"{len(failures)} of {len(window)} publishes not confirmed: {failures[0]!r}"
                ) from failures[0]

    async def _publish_one(self, events: list[FileEvent]) -> None:
        message = build_message(encode_events(events), priority=events[0].priority)
        try:
            await self._channel.default_exchange.publish(
                message, self._topology.work_queue, mandatory=True, timeout=self._timeout_s
            )
        except BROKER_ERRORS as exc:
            first = events[0]
            what = f"{first.root_id}:{first.path}" + (
                f" and {len(events) - 1} more" if len(events) > 1 else ""
            )
            raise TransientError(f"publish of {what} failed: {exc!r}") from exc


class RabbitDelivery:
    """One delivery from the work queue; retry and dead-letter republish with confirms, then ack.

    Broker failures surface as ``TransientError``: the unsettled message is redelivered once the
    channel is back, so nothing is lost.

    A part of a batch message (see ``split``) settles its own event: a retry, dead letter,
    renewal or requeue republishes that event alone, and the message is acked with its last part.
    """

    def __init__(
        self,
        message: AbstractIncomingMessage,
        channel: AbstractRobustChannel,
        topology: Topology,
        *,
        part_body: Callable[[], bytes] | None = None,
        batch: BatchSettlement | None = None,
    ) -> None:
        self._message = message
        self._channel = channel
        self._topology = topology
        self._part_body = part_body
        self._batch = batch
        self.settled = False

    @property
    def body(self) -> bytes:
        return self._message.body if self._part_body is None else self._part_body()

    def split(self, bodies: Sequence[Callable[[], bytes]]) -> list[RabbitDelivery]:
        batch = BatchSettlement(len(bodies), self._ack_message)
        self.settled = True  # from now on, the parts settle it
        return [
            RabbitDelivery(
                self._message, self._channel, self._topology, part_body=body, batch=batch
            )
            for body in bodies
        ]

    @property
    def attempt(self) -> int:
        return attempt_of(self._message.headers)

    async def ack(self) -> None:
        if self.settled:
            return
        if self._batch is not None:
            self.settled = True
            await self._batch.part_settled()
            return
        await self._ack_message()
        self.settled = True

    async def _ack_message(self) -> None:
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                await self._message.ack()
        except BROKER_ERRORS as exc:
            raise TransientError(f"ack failed, the broker will redeliver: {exc!r}") from exc

    async def retry(self, reason: str) -> bool:
        if self.attempt >= self._topology.max_attempts:
            await self.dead_letter(f"gave up after {self.attempt} attempts: {reason}")
            return False
        await self.forward(
            self._topology.retry_queue(self.attempt),
            {ATTEMPT_HEADER: self.attempt + 1, ERROR_HEADER: reason[:1000]},
        )
        return True

    async def dead_letter(self, reason: str) -> None:
        await self.forward(
            self._topology.dead_queue, {ATTEMPT_HEADER: self.attempt, ERROR_HEADER: reason[:1000]}
        )

    async def postpone(self, reason: str) -> None:
        await self.forward(
            self._topology.hold_queue, {ATTEMPT_HEADER: self.attempt, ERROR_HEADER: reason[:1000]}
        )

    async def requeue(self) -> None:
        if self.settled:
            return
        if self._batch is not None:
            await self.forward(self._topology.work_queue, dict(self._message.headers or {}))
            return
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                await self._message.nack(requeue=True)
        except BROKER_ERRORS as exc:
            raise TransientError(f"requeue failed, the broker will redeliver: {exc!r}") from exc
        self.settled = True

    @property
    def renewed(self) -> bool:
        return bool((self._message.headers or {}).get(RENEWED_HEADER))

    async def renew(self) -> None:
        if self.settled:
            return
        await self.forward(
            self._topology.work_queue, {ATTEMPT_HEADER: self.attempt, RENEWED_HEADER: True}
        )

    async def forward(self, queue: str, headers: dict[str, Any]) -> None:
        """Publish a copy to ``queue`` (confirmed), then ack this delivery.

        A crash in between leaves a duplicate, which the idempotent store absorbs, never a loss.
        """
        message = build_message(self.body, priority=self._message.priority or 0, headers=headers)
        try:
            await self._channel.default_exchange.publish(
                message, queue, mandatory=True, timeout=SETTLE_TIMEOUT_S
            )
        except BROKER_ERRORS as exc:
            raise TransientError(f"publish to {queue} failed: {exc!r}") from exc
        await self.ack()


class RabbitConsumer:
    """Consumes the work queue with manual acks and a prefetch sized to the worker pool."""

    def __init__(
        self, connection: AbstractRobustConnection, topology: Topology, *, prefetch: int
    ) -> None:
        self._connection = connection
        self._topology = topology
        self._prefetch = prefetch
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractRobustQueue | None = None
        self._tag: str | None = None
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
        self._queue = await declare_topology(channel, self._topology)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await handler(RabbitDelivery(message, channel, self._topology))

        self._on_message = on_message
        self._tag = await self._queue.consume(on_message, no_ack=False)

    async def pause(self) -> None:
        await self.stop()

    async def resume(self) -> None:
        if self._queue is None or self._on_message is None or self._tag is not None:
            return
        try:
            self._tag = await self._queue.consume(self._on_message, no_ack=False)
        except BROKER_ERRORS as exc:
            raise TransientError(
                f"cannot consume from {self._topology.work_queue}: {exc!r}"
            ) from exc

    async def stop(self) -> None:
        if self._queue is not None and self._tag is not None:
            try:
                # With the broker away, a robust channel waits for it to come back first.
                async with asyncio.timeout(SETTLE_TIMEOUT_S):
                    await self._queue.cancel(self._tag)
            except BROKER_ERRORS as exc:
                log.warning("cancelling the consumer failed: %r", exc)
            self._tag = None

    async def close(self) -> None:
        await self.stop()
        if self._channel is not None and not self._channel.is_closed:
            try:
                async with asyncio.timeout(SETTLE_TIMEOUT_S):
                    await self._channel.close()
            except BROKER_ERRORS as exc:
                log.warning("closing the channel failed: %r", exc)


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
        cls, url: str, topology: Topology, *, name: str, timeout_s: float
    ) -> RabbitBroker:
        return cls(await connect(url, name=name, timeout_s=timeout_s), topology)

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
        """Messages waiting in the work, retry and dead-letter queues."""
        names = [
            self.topology.work_queue,
            *(name for name, _ in self.topology.retry_queues),
            self.topology.hold_queue,
            self.topology.dead_queue,
        ]
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
                queue = await channel.declare_queue(self.topology.dead_queue, durable=True)
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
