"""Sharing the event loop's turns among files processed on the loop itself.

Files made ready together (a batch of Redis answers, a commit) all run their next step in the
same turn of the loop. When that step parses text on the loop, a hundred of them made a turn of
tens of milliseconds, and whatever else waited on the loop (a health probe, a broker heartbeat,
the next message) waited that long. ``LoopTurns.share`` lets such a step go on while its turn
has used less than a slice, and moves it to a later turn otherwise, so each turn ends soon and
the loop gets back to its sockets in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# Work on the loop a turn: what a probe may wait behind, before the sockets are looked at.
TURN_SLICE_S = 0.005


class LoopTurns:
    def __init__(
        self, slice_s: float = TURN_SLICE_S, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._slice_s = slice_s
        self._clock = clock
        self._started = 0.0
        self._marked = False  # this turn's start is known; a callback clears it next turn
        self._loop: asyncio.AbstractEventLoop | None = None

    async def share(self) -> None:
        """Return at once while this turn's slice lasts, else in a later turn that has room."""
        while True:
            if self._clock() - self._turn_started() <= self._slice_s:
                return
            await asyncio.sleep(0)  # nothing to wait for but the next turn

    def _turn_started(self) -> float:
        loop = asyncio.get_running_loop()
        if not self._marked or loop is not self._loop:
            self._marked, self._loop = True, loop
            self._started = self._clock()
            # Runs at the start of the next turn, ahead of every step deferred after it: that
            # turn's slice counts from there.
            loop.call_soon(self._next_turn, loop)
        return self._started

    def _next_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is self._loop:
            self._marked = False


# The loop's turns are the process's: every step that shares them shares this one slice.
LOOP_TURNS = LoopTurns()
