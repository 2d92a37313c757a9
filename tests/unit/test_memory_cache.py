"""The in-memory seen-hash cache: bounded, least recently marked out first, with a TTL."""

from __future__ import annotations

from fileflow_core.cache.memory import MemorySeenHashCache
from fileflow_core.metrics import INGESTOR


async def test_remembers_until_full_then_forgets_the_oldest() -> None:
    cache = MemorySeenHashCache(max_entries=2, ttl_s=60)
    for sha in ("a", "b", "c"):
        await cache.mark_seen(sha)
    assert len(cache) == 2
    assert not await cache.seen("a")
    assert await cache.seen("b") and await cache.seen("c")


async def test_entries_expire() -> None:
    now = [0.0]
    cache = MemorySeenHashCache(max_entries=10, ttl_s=5, clock=lambda: now[0])
    await cache.mark_seen("a")
    now[0] = 4.9
    assert await cache.seen("a")
    now[0] = 5.1
    assert not await cache.seen("a")
    assert len(cache) == 0


def _lookups(result: str) -> float:
    return INGESTOR.get_sample_value("fileflow_cache_lookups_total", {"result": result}) or 0.0


async def test_a_batch_counts_a_lookup_for_each_hash_asked() -> None:
    now = [0.0]
    cache = MemorySeenHashCache(max_entries=10, ttl_s=5, clock=lambda: now[0])
    await cache.mark_seen_many(["a", "b"])
    hits, misses = _lookups("hit"), _lookups("miss")
    assert await cache.seen_many(["a", "x", "a", "b"]) == {"a", "b"}
    assert (_lookups("hit") - hits, _lookups("miss") - misses) == (3, 1)
    now[0] = 6.0  # both expired
    assert await cache.seen_many(["a", "b"]) == set()
    assert (_lookups("hit") - hits, _lookups("miss") - misses) == (3, 3)
    assert len(cache) == 0
