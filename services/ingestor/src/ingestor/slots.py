"""A file's place in the pool: a work slot while it is read, hashed and extracted, then a
commit place while it only waits for its group commit.

With one pool of slots held until the commit, every file in flight ends up waiting on the same
write batch: the event loop idles while PostgreSQL works, then PostgreSQL idles while the loop
prepares the next files. Handing the work slot on once a file's row is ready lets the next
files be read and extracted while the previous ones commit, and lets two write batches be in
PostgreSQL at once. The commit places are bounded too, so the rows waiting stay bounded."""

from __future__ import annotations

from fileflow_core.settings import COMMIT_PLACES_PER_SLOT
from ingestor.gate import Gate


class SlotPool:
    """``work_slots`` files read, hash and extract at once; as many again times
    ``COMMIT_PLACES_PER_SLOT`` wait for their commit, holding only their rows. Each place is
    taken by awaiting it (``take_*``) or at once if free (``try_*``, which never waits)."""

    def __init__(self, work_slots: int, commit_places: int | None = None) -> None:
        if commit_places is None:
            commit_places = COMMIT_PLACES_PER_SLOT * work_slots
        self._work = Gate(work_slots)
        self._commit = Gate(commit_places)
        # Files read before they have a work slot (see ``try_read_ahead``).
        self._ahead = Gate(work_slots)
        self.max_working = 0
        # Most files held at once, working or waiting for their commit.
        self.max_held = 0

    @property
    def working(self) -> int:
        return self._work.taken

    @property
    def committing(self) -> int:
        return self._commit.taken

    @property
    def reading_ahead(self) -> int:
        return self._ahead.taken

    def slot(self) -> FileSlot:
        return FileSlot(self)

    def _note_peaks(self, took: bool = True) -> bool:
        if took:
            self.max_working = max(self.max_working, self.working)
            self.max_held = max(self.max_held, self.working + self.committing)
        return took

    async def take_work(self) -> None:
        await self._work.enter()
        self._note_peaks()

    def try_take_work(self) -> bool:
        return self._note_peaks(self._work.try_enter())

    def give_work(self) -> None:
        self._work.leave()

    def try_read_ahead(self) -> bool:
        """A place for a file read while every work slot is taken, so that a copy of a stored
        content is known at once and needs no slot; the others keep their bytes until they
        get one, so these places are as many as the work slots: that many more files in
        memory at most."""
        return self._ahead.try_enter()

    async def take_read_ahead(self) -> None:
        await self._ahead.enter()

    def give_read_ahead(self) -> None:
        self._ahead.leave()

    async def take_commit_place(self) -> None:
        await self._commit.enter()
        self._note_peaks()

    def try_take_commit_place(self) -> bool:
        return self._note_peaks(self._commit.try_enter())

    def give_commit_place(self) -> None:
        self._commit.leave()


class FileSlot:
    """One file's hold on the pool; ``release`` may be called any number of times."""

    def __init__(self, pool: SlotPool) -> None:
        self._pool = pool
        self._working = False

    async def acquire(self) -> None:
        await self._pool.take_work()
        self._working = True

    def try_acquire(self) -> bool:
        """The work slot now, or False: never waits."""
        self._working = self._pool.try_take_work()
        return self._working

    def release(self) -> None:
        """Give the work slot back (at the end, or once the file only waits)."""
        if self._working:
            self._working = False
            self._pool.give_work()

    def waiting_for_commit(self) -> _WaitingForCommit:
        """Hold a commit place instead of the work slot while the block runs. A file whose
        commit places are all taken keeps its work slot meanwhile: the pool slows down rather
        than piling up rows.

        The slot is not taken again after the block: a stale cache entry (a content the
        database lost) makes the file extract once more without one, because waiting for a
        slot there, with this content's lock held, could wait for ever on copies of it that
        hold every slot while they wait for that lock."""
        return _WaitingForCommit(self._pool, self)


class _WaitingForCommit:
    __slots__ = ("_pool", "_slot")

    def __init__(self, pool: SlotPool | None, slot: FileSlot) -> None:
        self._pool = pool
        self._slot = slot

    async def __aenter__(self) -> None:
        if self._pool is not None:
            await self._pool.take_commit_place()
            self._slot.release()

    async def __aexit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.give_commit_place()


class NoSlot(FileSlot):
    """For a caller that bounds nothing (a test, a one-off call)."""

    def __init__(self) -> None:
        super().__init__(SlotPool(1))

    def waiting_for_commit(self) -> _WaitingForCommit:
        return _WaitingForCommit(None, self)
