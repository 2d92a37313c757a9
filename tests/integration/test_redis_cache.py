"""The Redis seen-hash cache on a real Redis: what it answers, and what it counts."""

from __future__ import annotations

import pytest

from fileflow_core.cache.redis import RedisSeenHashCache
from fileflow_core.metrics import INGESTOR
from tests.support import REDIS_URL

pytestmark = pytest.mark.integration


def _lookups(result: str) -> float:
    return INGESTOR.get_sample_value("fileflow_cache_lookups_total", {"result": result}) or 0.0


async def test_a_batch_counts_a_lookup_for_each_hash_asked(redis_prefix: str) -> None:
    cache = RedisSeenHashCache.from_url(REDIS_URL, key_prefix=redis_prefix, ttl_s=60)
    try:
        await cache.mark_seen_many(["a" * 64, "b" * 64])
        hits, misses = _lookups("hit"), _lookups("miss")
        # A batch may name one content twice (two copies dropped together).
        asked = ["a" * 64, "c" * 64, "a" * 64, "b" * 64]
        assert await cache.seen_many(asked) == {"a" * 64, "b" * 64}
        assert (_lookups("hit") - hits, _lookups("miss") - misses) == (3, 1)
    finally:
        await cache.close()
