"""One delivery from the work queue and the ways to settle it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
)

from fileflow_core.broker.batches import BatchSettlement
from fileflow_core.broker.rabbitmq.connection import BROKER_ERRORS, SETTLE_TIMEOUT_S, build_message
from fileflow_core.broker.topology import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    RENEWED_HEADER,
    Topology,
    attempt_of,
)
from fileflow_core.errors import TransientError


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

    @property
    def published_events(self) -> None:
        return None  # came over the wire: only its body tells what it holds

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
        if self._batch is not None or self._topology.quorum:
            # A quorum queue counts every nack towards its delivery limit; a fresh copy starts
            # at 0, so handing work back (a drain, a database outage) never dead-letters it.
            await self.forward(self._home_queue, dict(self._message.headers or {}))
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
        await self.forward(self._home_queue, {ATTEMPT_HEADER: self.attempt, RENEWED_HEADER: True})

    @property
    def _home_queue(self) -> str:
        return self._topology.queue_for(self._message.priority or 0)

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
