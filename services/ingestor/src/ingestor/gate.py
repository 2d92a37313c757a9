"""A counted gate that can be passed without awaiting when a place is free.

``asyncio.Semaphore`` and ``asyncio.Lock`` can only be taken by awaiting: a batch message's
events would each need a task of their own just to try. Here ``try_enter`` takes a free place
at once, or says no, so one task can take places for many files; ``enter`` waits its turn.
Places are handed to waiters first come, first served, and a free place never jumps the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Gate:
    """``places`` holders at once; the rest wait in order."""

    __slots__ = ("_free", "_places", "_waiters")

    def __init__(self, places: int) -> None:
        if places < 1:
            raise ValueError("a gate has at least one place")
        self._places = places
        self._free = places
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def taken(self) -> int:
        """Places held now (a place handed to a waiter is held)."""
        return self._places - self._free

    @property
    def idle(self) -> bool:
        """Nobody waits: the gate can be forgotten once its places are all back."""
        return not self._waiters

    def try_enter(self) -> bool:
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def enter(self) -> None:
        if self.try_enter():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Handed a place just as it was cancelled: the place goes to the next one.
                self.leave()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        """Give a place back: to the first waiter still waiting, else to the gate."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.enter()

    async def __aexit__(self, *_: object) -> None:
        self.leave()
