"""Root descriptors shared by the files read on the event loop within one of its turns.

A file read on the loop is looked up beneath its root's descriptor, and opening the root
(a path lookup from ``/``, then its identity checked) cost as much as reading a small cached
file. Files woken together (places given back by a commit) are read one after another in the
same turn, with no await between them: they share the root's descriptor, as a batch's first
pass does (``OpenRoots``). The descriptors are closed at the start of the next turn, never
kept longer, so whether a root is still the folder it was is asked again each turn: an
unmounted or replaced root is seen by the next read.
"""

from __future__ import annotations

import asyncio

from fileflow_core.beneath import OpenRoots


class TurnRoots:
    def __init__(self) -> None:
        self._roots: OpenRoots | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def current(self) -> OpenRoots:
        """This turn's roots; only for reads made on the running loop's own thread."""
        loop = asyncio.get_running_loop()
        if self._roots is None or loop is not self._loop:
            self.close()  # a loop that ended before its next turn (tests run many)
            self._roots, self._loop = OpenRoots(), loop
            # Runs at the start of the next turn, ahead of every step deferred after it.
            loop.call_soon(self._turn_ended, loop)
        return self._roots

    def close(self) -> None:
        roots, self._roots = self._roots, None
        if roots is not None:
            roots.close()

    def _turn_ended(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is self._loop:
            self.close()


# One loop a process: every read made on it shares this.
TURN_ROOTS = TurnRoots()
