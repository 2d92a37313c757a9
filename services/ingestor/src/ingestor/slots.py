"""A file's place in the pool: a work slot while it is read, hashed and extracted, then a
commit place while it only waits for its group commit.

With one pool of slots held until the commit, every file in flight ends up waiting on the same
write batch: the event loop idles while PostgreSQL works, then PostgreSQL idles while the loop
prepares the next files. Handing the work slot on once a file's row is ready lets the next
files be read and extracted while the previous ones commit, and lets two write batches be in
PostgreSQL at once. The commit places are bounded too, so the rows waiting stay bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fileflow_core.settings import COMMIT_PLACES_PER_SLOT


class SlotPool:
    """``work_slots`` files read, hash and extract at once; as many again times
    ``COMMIT_PLACES_PER_SLOT`` wait for their commit, holding only their rows."""

    def __init__(self, work_slots: int, commit_places: int | None = None) -> None:
        if commit_places is None:
            commit_places = COMMIT_PLACES_PER_SLOT * work_slots
        self._work = asyncio.Semaphore(work_slots)
        self._commit = asyncio.Semaphore(commit_places)
        self.working = 0
        self.max_working = 0
        self.committing = 0
        # Most files held at once, working or waiting for their commit.
        self.max_held = 0

    def slot(self) -> FileSlot:
        return FileSlot(self)

    async def take_work(self) -> None:
        await self._work.acquire()
        self.working += 1
        self.max_working = max(self.max_working, self.working)
        self.max_held = max(self.max_held, self.working + self.committing)

    def give_work(self) -> None:
        self.working -= 1
        self._work.release()

    @asynccontextmanager
    async def commit_place(self) -> AsyncIterator[None]:
        async with self._commit:
            self.committing += 1
            self.max_held = max(self.max_held, self.working + self.committing)
            try:
                yield
            finally:
                self.committing -= 1


class FileSlot:
    """One file's hold on the pool; ``release`` may be called any number of times."""

    def __init__(self, pool: SlotPool) -> None:
        self._pool = pool
        self._working = False

    async def acquire(self) -> None:
        await self._pool.take_work()
        self._working = True

    def release(self) -> None:
        """Give the work slot back (at the end, or once the file only waits)."""
        if self._working:
            self._working = False
            self._pool.give_work()

    @asynccontextmanager
    async def waiting_for_commit(self) -> AsyncIterator[None]:
        """Hold a commit place instead of the work slot while the block runs. A file whose
        commit places are all taken keeps its work slot meanwhile: the pool slows down rather
        than piling up rows.

        The slot is not taken again after the block: a stale cache entry (a content the
        database lost) makes the file extract once more without one, because waiting for a
        slot there, with this content's lock held, could wait for ever on copies of it that
        hold every slot while they wait for that lock."""
        async with self._pool.commit_place():
            self.release()
            yield


class NoSlot(FileSlot):
    """For a caller that bounds nothing (a test, a one-off call)."""

    def __init__(self) -> None:
        super().__init__(SlotPool(1))

    @asynccontextmanager
    async def waiting_for_commit(self) -> AsyncIterator[None]:
        yield
