"""The bounded, per-path coalescing backlog of events waiting to be published.

Lanes in publishing order: live deletions, live upserts, catch-up deletions, catch-up upserts, so
live changes are never stuck behind a large scan and deletions go first.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Hashable, Iterable
from typing import Generic, NamedTuple, Protocol, TypeVar

from fileflow_core.messages import Operation

Key = TypeVar("Key", bound=Hashable)


class Change(NamedTuple):
    """What the outbox holds per path until it is published: a few numbers, not a message
    (100,000 pending pydantic events cost ~140 MB; these cost a tenth of that)."""

    op: Operation
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    seen_at: float = 0.0  # wall clock, when the watcher saw it

    @classmethod
    def seen_now(
        cls,
        op: Operation,
        size: int | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
    ) -> Change:
        return cls(op, size, mtime_ns, inode, time.time())


class HasOp(Protocol):
    @property
    def op(self) -> Operation: ...


Value = TypeVar("Value", bound=HasOp)


class Outbox(Generic[Key, Value]):
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.overflowed = False
        self.coalesced = 0
        self._lanes: tuple[dict[Key, Value], ...] = ({}, {}, {}, {})
        # Taken and awaiting confirmation: they count as published meanwhile, so that the same
        # observation seen again is not queued a second time.
        self.sending: dict[Key, Value] = {}

    def _lane(self, event: Value, live: bool) -> dict[Key, Value]:
        return self._lanes[(0 if live else 2) + (0 if event.op is Operation.DELETE else 1)]

    def __contains__(self, key: Key) -> bool:
        return any(key in lane for lane in self._lanes)

    def __len__(self) -> int:
        # Asked for every change decided (the backlog gauge): no generator a call.
        live_deletions, live_upserts, deletions, upserts = self._lanes
        return len(live_deletions) + len(live_upserts) + len(deletions) + len(upserts)

    def values(self) -> Iterable[Value]:
        """Every change not yet confirmed: waiting, and being sent."""
        return itertools.chain(*(lane.values() for lane in self._lanes), self.sending.values())

    def put(self, key: Key, event: Value, *, live: bool = True) -> bool:
        """Queue ``event``; a newer event for the same path replaces the older one (then True)."""
        if not live and (key in self._lanes[0] or key in self._lanes[1]):
            return True  # a live observation is newer than anything a scan saw
        replaced = False
        for lane in self._lanes:
            if lane.pop(key, None) is not None:
                self.coalesced += 1
                replaced = True
        self._lane(event, live)[key] = event
        if len(self) > self.max_items:
            # Past the bound the backlog is dropped whole; a catch-up scan recomputes it.
            for lane in self._lanes:
                lane.clear()
            self.overflowed = True
        return replaced

    def take(self, limit: int) -> list[tuple[Key, Value]]:
        taken: list[tuple[Key, Value]] = []
        for lane in self._lanes:
            # The keys first, in one pass: a dict keeps the slots of popped keys until it
            # resizes, so looking for the first key again after each pop is quadratic.
            keys = list(itertools.islice(lane, limit - len(taken)))
            taken.extend((key, lane.pop(key)) for key in keys)
        self.sending = dict(taken)
        return taken

    def sent(self) -> None:
        """What was taken is confirmed."""
        self.sending = {}

    def put_back(self, items: Iterable[tuple[Key, Value]]) -> None:
        """Return unpublished events, unless a newer one for the path arrived meanwhile."""
        self.sending = {}
        for key, event in items:
            if key not in self:
                self._lane(event, True)[key] = event


def oldest_age_s(outbox: Outbox[Key, Change]) -> float:
    """Seconds since the oldest unconfirmed change was seen (0 when none)."""
    oldest = min((change.seen_at for change in outbox.values()), default=None)
    return 0.0 if oldest is None else max(0.0, time.time() - oldest)
