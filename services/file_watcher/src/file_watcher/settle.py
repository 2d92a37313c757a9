"""The settling rule: a path is decided only once what is seen of it has stopped changing.

Pure: no clock, no filesystem, no asyncio. The caller says what it saw and when; the rule says
whether to decide now or to look again later (``due``), and what a second look means.

- A file unchanged for the whole settle period already (its mtime is older: moved in whole, as
  programs that deliver files atomically do) is decided at once.
- A file still young is held; its quiet period counts from its mtime, so a notification that
  reached the watcher late does not make it wait a second full period.
- Each new observation that differs restarts the clock; a repeated identical one does not.
- Once quiet for ``settle_s`` a path is due: looked at again, it is decided if it is still what
  was seen, else noted again as what it is now. "Gone" (None) settles like any observation, so
  a file created and deleted within the period ends as one deletion, never as an upsert.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")

# How often due paths are looked for: often enough that a short settle period is kept, rarely
# enough that an idle watcher costs nothing.
SHORTEST_TICK_S = 0.02
LONGEST_TICK_S = 0.25


@dataclass(slots=True)
class _Pending(Generic[S]):
    seen: S | None
    quiet_since: float


class Settling(Generic[K, S]):
    """What is held, per path, until it stops changing. Times are the caller's monotonic clock;
    ages are how long a file's bytes have been unchanged (wall clock minus its mtime)."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._pending: dict[K, _Pending[S]] = {}

    @property
    def tick_s(self) -> float:
        return max(SHORTEST_TICK_S, min(LONGEST_TICK_S, self.settle_s / 4))

    def seen(self, key: K, seen: S | None, now: float, *, age_s: float | None = None) -> bool:
        """Note what is at ``key`` now (None: nothing). True when it is to be decided at once
        (a file unchanged for the whole period already); else it is held until ``due``."""
        if seen is not None and age_s is not None and age_s >= self.settle_s:
            self._pending.pop(key, None)
            return True
        held = self._pending.get(key)
        if held is not None and held.seen == seen:
            return False  # the same again: its clock keeps running
        quiet_since = now if age_s is None else now - max(0.0, age_s)
        self._pending[key] = _Pending(seen, quiet_since)
        return False

    def due(self, now: float) -> list[tuple[K, S | None]]:
        """The paths quiet for ``settle_s``, taken out: each is to be looked at again."""
        ready = [k for k, p in self._pending.items() if now - p.quiet_since >= self.settle_s]
        return [(key, self._pending.pop(key).seen) for key in ready]

    def looked_again(
        self, key: K, was: S | None, now_seen: S | None, now: float, *, age_s: float | None
    ) -> bool:
        """A due path looked at again: True to decide it (unchanged since); else it is held
        again as what it is now."""
        if now_seen == was:
            return True
        return self.seen(key, now_seen, now, age_s=age_s)

    def forget(self, key: K) -> None:
        """Drop what is held for ``key`` (a newer observation was decided elsewhere)."""
        self._pending.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)
