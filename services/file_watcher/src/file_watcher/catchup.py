"""Catching up: compare the disk with what was published, and queue only the differences.

Run at start (a restart over an unchanged library publishes nothing), after a burst that may
have overflowed the OS queue, when a root comes back, when publishing works again after a
failure, and every ``FILEFLOW_RECONCILE_INTERVAL_S``.

The tree is compared a slice at a time, and each slice waits until the publish loop has sent
most of the last one: a first scan of 100,000 files never holds them all pending, whose small
objects would otherwise stay scattered among the ones kept for good, so that the heap would keep
its peak size.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

from file_watcher.availability import Availability
from file_watcher.decide import Decider
from file_watcher.memory import LARGE_BACKLOG, release_free_memory
from file_watcher.observe import Observer
from file_watcher.roots import WatchedRoot
from file_watcher.scan import Signature, Walk, scan_tree
from fileflow_core import metrics

log = logging.getLogger(__name__)

# Files compared a thread call; a slice waits until no more than PACED_BACKLOG are pending.
SCAN_SLICE_FILES = 5_000
PACED_BACKLOG = 1_000

Slice = list[tuple[str, Signature | None]]


class CatchUp:
    def __init__(
        self,
        availability: Availability,
        observer: Observer,
        decider: Decider,
        room: Callable[[int], Awaitable[None]],
        stopping: asyncio.Event,
    ) -> None:
        self._availability = availability
        self._observer = observer
        self._decider = decider
        self._room = room  # waits until at most N changes are pending (or publishing fails)
        self._stopping = stopping
        self.scans_done = 0

    async def run(self, root: WatchedRoot) -> int:
        """Catch up with ``root``; the number of differences queued. An unavailable root is
        only reported: nothing under it is compared, let alone deleted."""
        if self._availability.check(root) is not None:
            return 0
        await root.record_identity_if_new()
        root.refresh_source()
        started = time.perf_counter()
        scanning_s = 0.0
        differences = 0
        slices = differences_of(root)
        while True:
            slice_started = time.perf_counter()
            changes = await asyncio.to_thread(next, slices, None)
            if changes is None:
                break
            self._apply(root, changes)
            differences += len(changes)
            scanning_s += time.perf_counter() - slice_started
            del changes
            await self._room(PACED_BACKLOG)
            if self._stopping.is_set():
                break  # the next start's catch-up finds the rest
        if len(root.known) >= LARGE_BACKLOG:
            release_free_memory()  # what the scan of a large tree allocated
        metrics.SCAN_DURATION.labels(root=root.id).observe(scanning_s)
        log.info(
            "catch-up scan done",
            extra={
                "root": root.id,
                "files": len(root.known),
                "differences": differences,
                "scan_s": round(scanning_s, 3),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        self.scans_done += 1
        return differences

    def _apply(self, root: WatchedRoot, changes: Slice) -> None:
        now = time.monotonic()
        settling = self._observer.settling
        for relative, signature in changes:
            key = (root.id, relative)
            if key in settling:
                continue  # a notified change still settling is decided then
            if signature is None:
                self._decider.decide(key, None, live=False)
            else:
                self._observer.note(key, signature, now, live=False)


def differences_of(root: WatchedRoot) -> Iterator[Slice]:
    """The differences between the disk and what was published, a slice of the tree at a time
    (each ``next`` runs in a thread). The folders the walk listed become the root's folders."""
    changes: Slice = []
    # What is left of the known paths once the disk's are struck off is what was deleted
    # (a set of the known strings, not a second copy of 100,000 paths from the scan).
    not_seen = set(root.known)
    scanned = 0
    walk = Walk()
    for relative, signature in scan_tree(
        root.path, root.filter, recursive=root.config.recursive, walk=walk
    ):
        not_seen.discard(relative)
        if not root.known.matches(relative, signature):
            changes.append((relative, signature))
        scanned += 1
        if scanned == SCAN_SLICE_FILES:
            yield changes
            changes, scanned = [], 0
    root.folders = walk.folders
    # A folder that could not be listed hides its files: unknown now, not deleted.
    deleted = [path for path in not_seen if not walk.hides(path)]
    del not_seen
    for start in range(0, len(deleted), SCAN_SLICE_FILES):
        changes.extend((relative, None) for relative in deleted[start : start + SCAN_SLICE_FILES])
        yield changes
        changes = []
    if changes:
        yield changes
