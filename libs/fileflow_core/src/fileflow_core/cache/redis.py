"""Seen-hash cache on Redis. An optimisation only: every failure fails open and is counted."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fileflow_core import metrics

log = logging.getLogger(__name__)

_MARK_SEEN_MANY = """
for _, key in ipairs(KEYS) do
    redis.call('SET', key, '1', 'EX', ARGV[1])
end
return #KEYS
"""


class RedisSeenHashCache:
    """``seen`` answers "was this content extracted and committed before?" from Redis."""

    check_name = "redis"

    def __init__(self, client: aioredis.Redis, *, key_prefix: str, ttl_s: int) -> None:
        self._client = client
        self._prefix = key_prefix
        self._ttl_s = ttl_s
        self._mark_script = client.register_script(_MARK_SEEN_MANY)

    @classmethod
    def from_url(
        cls, url: str, *, key_prefix: str, ttl_s: int, timeout_s: float = 0.5
    ) -> RedisSeenHashCache:
        # Short timeouts: a stalled Redis must cost a miss, not hold a file for seconds.
        client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        return cls(client, key_prefix=key_prefix, ttl_s=ttl_s)

    def key(self, sha256: str) -> str:
        return f"{self._prefix}seen:{sha256}"

    async def seen(self, sha256: str) -> bool:
        return sha256 in await self.seen_many([sha256])

    async def mark_seen(self, sha256: str) -> None:
        await self.mark_seen_many([sha256])

    async def seen_many(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        try:
            values = await self._client.mget([self.key(sha256) for sha256 in hashes])
        except (RedisError, OSError) as exc:
            self._fail_open("seen", exc, len(hashes))
            return set()
        hits = [sha256 for sha256, value in zip(hashes, values, strict=True) if value is not None]
        metrics.CACHE_LOOKUPS.labels(result="hit").inc(len(hits))
        metrics.CACHE_LOOKUPS.labels(result="miss").inc(len(hashes) - len(hits))
        return set(hits)

    async def mark_seen_many(self, hashes: Sequence[str]) -> None:
        if not hashes:
            return
        try:
            # One command for the batch: a pipeline of SETs costs the client ~20 µs each.
            await self._mark_script(
                keys=[self.key(sha256) for sha256 in hashes], args=[self._ttl_s]
            )
        except (RedisError, OSError) as exc:
            self._fail_open("mark_seen", exc, len(hashes))

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()

    @staticmethod
    def _fail_open(operation: str, exc: BaseException, hashes: int) -> None:
        # Counted per content, not per round trip, so the figure does not depend on batching.
        metrics.CACHE_FAIL_OPEN.inc(hashes)
        log.warning(
            "redis %s failed, continuing without the cache: %r (check FILEFLOW_REDIS_URL)",
            operation,
            exc,
        )
