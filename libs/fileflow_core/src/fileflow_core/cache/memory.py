"""Seen-hash cache in this process's memory: a bounded LRU set with the Redis cache's TTL."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from fileflow_core import metrics

# Labelled children looked up once: ``labels()`` per lookup is measurable at thousands a second.
_HITS = metrics.CACHE_LOOKUPS.labels(result="hit")
_MISSES = metrics.CACHE_LOOKUPS.labels(result="miss")


class MemorySeenHashCache:
    """Remembers the ``max_entries`` most recently marked hashes, each for ``ttl_s``."""

    check_name = "cache"

    def __init__(
        self,
        *,
        max_entries: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def seen(self, sha256: str) -> bool:
        found = self._look_up(sha256)
        (_HITS if found else _MISSES).inc()
        return found

    def _look_up(self, sha256: str) -> bool:
        expires = self._entries.get(sha256)
        found = expires is not None and expires > self._clock()
        if expires is not None and not found:
            del self._entries[sha256]
        return found

    async def mark_seen(self, sha256: str) -> None:
        self._entries[sha256] = self._clock() + self._ttl_s
        self._entries.move_to_end(sha256)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def seen_many(self, hashes: Sequence[str]) -> set[str]:
        hits = [sha256 for sha256 in hashes if self._look_up(sha256)]
        # Counted once a batch, as the Redis cache counts them: a lookup each hash asked.
        _HITS.inc(len(hits))
        _MISSES.inc(len(hashes) - len(hits))
        return set(hits)

    async def mark_seen_many(self, hashes: Sequence[str]) -> None:
        for sha256 in hashes:
            await self.mark_seen(sha256)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()
