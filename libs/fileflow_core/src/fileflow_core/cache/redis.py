"""Seen-hash cache on Redis. An optimisation only: every failure fails open and is counted."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fileflow_core import metrics

log = logging.getLogger(__name__)


class RedisSeenHashCache:
    """``seen`` answers "was this content extracted and committed before?" from Redis."""

    def __init__(self, client: aioredis.Redis, *, key_prefix: str, ttl_s: int) -> None:
        self._client = client
        self._prefix = key_prefix
        self._ttl_s = ttl_s

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
        try:
            found = bool(await self._client.exists(self.key(sha256)))
        except (RedisError, OSError) as exc:
            self._fail_open("seen", exc)
            return False
        metrics.CACHE_LOOKUPS.labels(result="hit" if found else "miss").inc()
        return found

    async def mark_seen(self, sha256: str) -> None:
        try:
            await self._client.set(self.key(sha256), b"1", ex=self._ttl_s)
        except (RedisError, OSError) as exc:
            self._fail_open("mark_seen", exc)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()

    @staticmethod
    def _fail_open(operation: str, exc: BaseException) -> None:
        metrics.CACHE_FAIL_OPEN.inc()
        log.warning(
            "redis %s failed, continuing without the cache: %r (check FILEFLOW_REDIS_URL)",
            operation,
            exc,
        )
