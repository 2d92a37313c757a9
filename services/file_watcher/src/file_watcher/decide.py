"""Deciding a settled observation: queue what differs from what was published.

A deletion is decided only while the root can testify (``WatchedRoot.unavailable_reason``):
an unmounted share looks like every file deleted, so then nothing is queued at all.
"""

from __future__ import annotations

from collections.abc import Callable

from file_watcher.availability import Availability
from file_watcher.outbox import Change, Outbox
from file_watcher.roots import WatchedRoot
from file_watcher.scan import Signature
from fileflow_core import metrics
from fileflow_core.messages import Operation

Key = tuple[str, str]


class Decider:
    def __init__(
        self,
        roots: dict[str, WatchedRoot],
        outbox: Outbox[Key, Change],
        availability: Availability,
        wake_publisher: Callable[[], None],
    ) -> None:
        self._roots = roots
        self._outbox = outbox
        self._availability = availability
        self._wake_publisher = wake_publisher

    def last_published(self, root: WatchedRoot, key: Key) -> Signature | None:
        """What the broker has (or is confirming right now) for this path; None: nothing."""
        sending = self._outbox.sending.get(key)
        if sending is None:
            return root.known.get(key[1])
        if sending.op is Operation.DELETE:
            return None
        return Signature(sending.size or 0, sending.mtime_ns or 0, sending.inode or 0)

    def decide(self, key: Key, signature: Signature | None, *, live: bool = True) -> None:
        root = self._roots[key[0]]
        published = self.last_published(root, key)
        if signature is None:
            if self._availability.check(root) is not None:
                return
            known = published is not None or key in self._outbox
            if known and self._outbox.put(key, Change.seen_now(Operation.DELETE), live=live):
                metrics.EVENTS_COALESCED.labels(root=root.id).inc()
        elif published != signature:
            change = Change.seen_now(
                Operation.UPSERT, signature.size, signature.mtime_ns, signature.inode
            )
            if self._outbox.put(key, change, live=live):
                metrics.EVENTS_COALESCED.labels(root=root.id).inc()
        metrics.BACKLOG.set(len(self._outbox))
        self._wake_publisher()
