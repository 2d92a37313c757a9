"""The bounded, per-path coalescing backlog of events waiting to be published.

Lanes in publishing order: live deletions, live upserts, catch-up deletions, catch-up upserts, so
live changes are never stuck behind a large scan and deletions go first.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from fileflow_core.messages import FileEvent, Operation

Key = TypeVar("Key", bound=Hashable)


class Outbox(Generic[Key]):
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.overflowed = False
        self.coalesced = 0
        self._lanes: tuple[dict[Key, FileEvent], ...] = ({}, {}, {}, {})

    def _lane(self, event: FileEvent, live: bool) -> dict[Key, FileEvent]:
        return self._lanes[(0 if live else 2) + (0 if event.op is Operation.DELETE else 1)]

    def __contains__(self, key: Key) -> bool:
        return any(key in lane for lane in self._lanes)

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes)

    def put(self, key: Key, event: FileEvent, *, live: bool = True) -> bool:
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

    def take(self, limit: int) -> list[tuple[Key, FileEvent]]:
        taken: list[tuple[Key, FileEvent]] = []
        for lane in self._lanes:
            while lane and len(taken) < limit:
                key = next(iter(lane))
                taken.append((key, lane.pop(key)))
        return taken

    def put_back(self, items: Iterable[tuple[Key, FileEvent]]) -> None:
        """Return unpublished events, unless a newer one for the path arrived meanwhile."""
        for key, event in items:
            if key not in self:
                self._lane(event, True)[key] = event
