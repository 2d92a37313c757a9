"""The in-process work queue: a bounded priority queue of messages."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from fileflow_core.errors import TransientError
from fileflow_core.messages import FileEvent


@dataclass(frozen=True, slots=True)
class Message:
    body: bytes
    priority: int = 0
    headers: dict[str, Any] = field(default_factory=dict)
    # What ``body`` encodes, as the publisher handed it over; never set on a copy.
    events: tuple[FileEvent, ...] | None = None


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
