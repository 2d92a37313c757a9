"""The store's and the cache's per-file calls, grouped: one round trip serves many files."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fileflow_core.errors import ContentMissingError, TransientError, WriteRejectedError
from fileflow_core.models import PresentWrite
from fileflow_core.ports import SeenHashCache, WriteStore
from ingestor.batching import MicroBatcher

# A batch of this many files is one transaction of a few statements: big enough that round
# trips stop mattering, small enough that a rejected batch is cheap to redo file by file.
MAX_WRITE_BATCH = 250
# Two transactions in flight: one commits while the next one's statements are sent.
CONCURRENT_WRITE_BATCHES = 2
MAX_LOOKUP_BATCH = 500
# Redis and PostgreSQL answer a small batch in well under a millisecond, faster than files
# arrive at a light load, so batches would hold one or two files; a short wait makes them
# several times larger and the per-file cost of the round trips (Python code in the client
# libraries) several times smaller. Short, because under a heavy load every file in flight waits
# it once per stage: with 100 in flight and reads on the loop, 5 ms and 2 ms here held an
# import at 2,300 files/s, 1 ms and 0.5 ms let it reach 2,500.
WRITE_LINGER_S = 0.001
LOOKUP_LINGER_S = 0.0005


class GroupedWrites:
    """``record_present`` for one file, written together with the files ready at that moment."""

    def __init__(self, store: WriteStore) -> None:
        self._store = store
        self._batcher: MicroBatcher[PresentWrite, str | None] = MicroBatcher(
            self._write,
            max_batch=MAX_WRITE_BATCH,
            max_concurrent=CONCURRENT_WRITE_BATCHES,
            linger_s=WRITE_LINGER_S,
        )

    async def record_present(self, write: PresentWrite) -> str | None:
        """The status the file's row took; None when it did not change. Raises
        ``ContentMissingError`` (no such content stored), ``WriteRejectedError`` (this file's
        data was refused) or ``TransientError``."""
        return await self._batcher.submit(write)

    def record_present_soon(self, write: PresentWrite) -> asyncio.Future[str | None]:
        """``record_present`` without waiting: the future of its status."""
        return self._batcher.submit_nowait(write)

    async def _write(self, writes: list[PresentWrite]) -> Sequence[str | BaseException | None]:
        try:
            return await self._store.record_present_many(writes)
        except WriteRejectedError:
            if len(writes) == 1:
                raise
        # One file's data spoilt the batch: each file on its own, so only that one fails.
        return [await self._write_one(write) for write in writes]

    async def _write_one(self, write: PresentWrite) -> str | BaseException | None:
        try:
            return await self._store.record_present(
                write.observation,
                write.content,
                write.sha256,
                attempts=write.attempts,
                replace_content=write.replace_content,
            )
        except (ContentMissingError, TransientError) as exc:
            return exc


class GroupedSeen:
    """The seen-hash cache, asked and told in batches (MGET, a pipeline of SETs)."""

    def __init__(self, cache: SeenHashCache) -> None:
        self._cache = cache
        self._lookups: MicroBatcher[str, bool] = MicroBatcher(
            self._seen, max_batch=MAX_LOOKUP_BATCH, linger_s=LOOKUP_LINGER_S
        )
        self._marks: MicroBatcher[str, None] = MicroBatcher(
            self._mark, max_batch=MAX_LOOKUP_BATCH, linger_s=LOOKUP_LINGER_S
        )

    async def seen(self, sha256: str) -> bool:
        return await self._lookups.submit(sha256)

    async def mark_seen(self, sha256: str) -> None:
        await self._marks.submit(sha256)

    def mark_seen_soon(self, sha256: str) -> None:
        """Mark in the next batch without waiting for it: the cache fails open (never raises),
        and a mark lost with the process only costs a later copy one extraction."""
        self._marks.submit_nowait(sha256).add_done_callback(_retrieve)

    async def _seen(self, hashes: list[str]) -> list[bool]:
        found = await self._cache.seen_many(hashes)
        return [sha256 in found for sha256 in hashes]

    async def _mark(self, hashes: list[str]) -> list[None]:
        await self._cache.mark_seen_many(hashes)
        return [None] * len(hashes)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: nobody awaits it
