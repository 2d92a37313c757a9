"""Extractions kept for a while after their commit failed, so the retry does not redo them.

When the database goes away between an extraction and its commit, the message comes back later
(after the outage); the content is the same (it is named by its hash), so its extraction is too.
Kept by content hash, for a bounded time and up to a bounded size, then forgotten.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from cachetools import TTLCache

from fileflow_core.models import ContentInfo

# What a kept extraction costs beyond its text: the object, its metadata and chunk list.
_OVERHEAD_BYTES = 2048


def _size_of(content: ContentInfo) -> int:
    return _OVERHEAD_BYTES + sum(len(chunk) for chunk in content.chunks)


class KeptExtractions:
    def __init__(
        self, ttl_s: float, max_bytes: int, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache: TTLCache[str, ContentInfo] | None = (
            TTLCache(maxsize=max_bytes, ttl=ttl_s, timer=timer, getsizeof=_size_of)
            if max_bytes > 0
            else None
        )

    def keep(self, content: ContentInfo) -> None:
        if self._cache is None:
            return
        with contextlib.suppress(ValueError):  # larger than the whole budget: not kept
            self._cache[content.sha256] = content

    def take(self, sha256: str) -> ContentInfo | None:
        """The extraction kept for ``sha256``, forgotten here (its next commit may succeed)."""
        if self._cache is None:
            return None
        return self._cache.pop(sha256, None)

    def __len__(self) -> int:
        return 0 if self._cache is None else len(self._cache)
