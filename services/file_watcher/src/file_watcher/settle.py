"""Write-settling: a path is published only once what is seen of it stopped changing."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")


@dataclass(slots=True)
class _Pending(Generic[S]):
    seen: S | None
    stable_since: float


class Settler(Generic[K, S]):
    """Collects observations per key; ``due`` hands out those unchanged for ``settle_s``.

    An observation of ``None`` means "gone": a create-then-delete settles as one delete.
    """

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._pending: dict[K, _Pending[S]] = {}

    def note(
        self, key: K, seen: S | None, now: float, *, unchanged_since: float | None = None
    ) -> bool:
        """Record an observation; True when it was new or changed (the clock restarts, from
        ``unchanged_since`` when the caller knows the thing has not changed since then)."""
        current = self._pending.get(key)
        if current is not None and current.seen == seen:
            return False
        since = now if unchanged_since is None else min(now, unchanged_since)
        self._pending[key] = _Pending(seen, since)
        return True

    def due(self, now: float) -> list[tuple[K, S | None]]:
        ready = [k for k, p in self._pending.items() if now - p.stable_since >= self.settle_s]
        return [(key, self._pending.pop(key).seen) for key in ready]

    def forget(self, key: K) -> None:
        """Drop what is pending for ``key`` (its newer observation was decided elsewhere)."""
        self._pending.pop(key, None)

    def pending_keys(self) -> list[K]:
        return list(self._pending)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)
