"""Publishing into the in-process queue, and one delivery from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fileflow_core.broker.batches import BatchSettlement
from fileflow_core.broker.memory.queue import Message
from fileflow_core.broker.topology import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    RENEWED_HEADER,
    attempt_of,
)
from fileflow_core.messages import FileEvent, encode_events
from fileflow_core.publishing import message_batches

if TYPE_CHECKING:
    from fileflow_core.broker.memory.broker import MemoryBroker


class MemoryPublisher:
    def __init__(self, broker: MemoryBroker, *, timeout_s: float, batch_events: int = 1) -> None:
        self._broker = broker
        self._timeout_s = timeout_s
        self._batch_events = batch_events

    async def publish(self, events: Iterable[FileEvent]) -> None:
        for batch in message_batches(events, self._batch_events):
            await self._broker.put(
                # The body is kept for a copy (retry, requeue, dead letter) to travel on.
                Message(encode_events(batch), batch[0].priority, events=tuple(batch)),
                timeout_s=self._timeout_s,
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

    @property
    def published_events(self) -> tuple[FileEvent, ...] | None:
        return self._message.events if self._part_body is None else None

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
