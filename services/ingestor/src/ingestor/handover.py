"""What a batch message takes for its events before their tasks run, and how it gets it all
back whatever becomes of those tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from fileflow_core.messages import FileEvent
from fileflow_core.models import PresentWrite
from ingestor.handle import Prepared
from ingestor.pathlocks import KeyedLocks
from ingestor.slots import FileSlot, SlotPool


@dataclass(slots=True)
class Taken:
    """An event's path lock, and maybe its work slot, taken for it before its task runs.
    Released by the task when it ends, or by the batch for a task that never ran (cancelled
    before its first step); releasing twice does nothing."""

    key: tuple[str, str]
    event: FileEvent | None = None
    slot: FileSlot | None = None
    # The file as read by ``prepare``; ``looked`` once that was tried, whatever it gave.
    prepared: Prepared | None = None
    looked: bool = False
    # For a copy of a stored content: its row, all it needs (see ``keep_lock_only``).
    row: PresentWrite | None = None
    # The pools whose read-ahead place and commit place it holds, if it does.
    ahead_in: SlotPool | None = None
    committing_in: SlotPool | None = None
    released: bool = False

    def leave_read_ahead(self) -> None:
        if self.ahead_in is not None:
            self.ahead_in.give_read_ahead()
            self.ahead_in = None

    def leave_commit_place(self) -> None:
        if self.committing_in is not None:
            self.committing_in.give_commit_place()
            self.committing_in = None

    def written(self, _: object) -> None:
        self.leave_commit_place()

    def keep_lock_only(self) -> None:
        """A copy needs neither its bytes nor a work slot to have its row written."""
        self.prepared = None
        self.leave_read_ahead()
        if self.slot is not None:
            self.slot.release()
            self.slot = None

    def release(self, locks: KeyedLocks) -> None:
        if not self.released:
            self.released = True
            if self.slot is not None:
                self.slot.release()
            self.leave_read_ahead()
            self.leave_commit_place()
            locks.give(self.key)


async def all_ended(*work: Awaitable[None]) -> None:
    """Run ``work`` concurrently; raise the first error only once every one has ended, so
    that whatever they were handed can be released after this returns or raises."""
    for outcome in await asyncio.gather(*work, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
