"""Publishing events with confirms, a window of messages in flight at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aio_pika.abc import (
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from fileflow_core.broker.rabbitmq.connection import BROKER_ERRORS, build_message, declare_topology
from fileflow_core.broker.topology import (
    Topology,
)
from fileflow_core.errors import TransientError
from fileflow_core.messages import FileEvent, encode_events
from fileflow_core.publishing import message_batches


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
                message,
                self._topology.queue_for(events[0].priority),
                mandatory=True,
                timeout=self._timeout_s,
            )
        except BROKER_ERRORS as exc:
            first = events[0]
            what = f"{first.root_id}:{first.path}" + (
                f" and {len(events) - 1} more" if len(events) > 1 else ""
            )
            raise TransientError(f"publish of {what} failed: {exc!r}") from exc
