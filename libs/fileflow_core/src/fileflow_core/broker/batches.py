"""Settling a batch message (v2) event by event: the message is acked once every part is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class BatchSettlement:
    """Counts the parts of one batch message that are still unsettled.

    A part is settled by an ack (its file is committed) or by a republish of that event alone
    (a retry, dead letter, renewal or requeue). Only when none is left is the message itself
    acked, so a crash before that redelivers the whole batch, never loses an event: the parts
    already committed are idempotent upserts the second time.
    """

    def __init__(self, parts: int, ack_message: Callable[[], Awaitable[None]]) -> None:
        if parts < 1:
            raise ValueError("a batch has at least one part")
        self._left = parts
        self._ack_message = ack_message

    @property
    def unsettled(self) -> int:
        return self._left

    async def part_settled(self) -> None:
        self._left -= 1
        if self._left == 0:
            await self._ack_message()
