"""The in-memory seen-hash cache: bounded, least recently marked out first, with a TTL."""

from __future__ import annotations

from fileflow_core.cache.memory import MemorySeenHashCache


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
