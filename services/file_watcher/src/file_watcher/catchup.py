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
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from file_watcher.availability import Availability
from file_watcher.decide import Decider
from file_watcher.known import FolderEntries, FolderReader, join, split
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
        *,
        settled: Callable[[], Awaitable[object]] | None = None,
        spawn: Callable[[Coroutine[Any, Any, object], str], None] | None = None,
        folders_found: Callable[[WatchedRoot, set[str]], None] | None = None,
    ) -> None:
        self._availability = availability
        self._observer = observer
        self._decider = decider
        self._room = room  # waits until at most N changes are pending (or publishing fails)
        self._stopping = stopping
        self._settled = settled  # waits until every queued change is confirmed
        self._spawn = spawn
        # Told the folders a scan walked: one made during a burst that was not observed event
        # by event is not watched yet, and nothing else would notice.
        self._folders_found = folders_found
        self.scans_done = 0

    async def run(self, root: WatchedRoot) -> int:
        """Catch up with ``root``; the number of differences queued. An unavailable root is
        only reported: nothing under it is compared, let alone deleted."""
        if self._availability.check(root) is not None:
            return 0
        await root.record_identity_if_new()
        root.refresh_source()
        started = time.perf_counter()
        rules = root.filter.fingerprint
        trust_rules = root.state.checked_rules() == rules
        away = await root.look_at_mounts()
        differences, scanning_s, complete = await self._compare(
            root, trust_rules=trust_rules, away=away
        )
        if complete and self._folders_found is not None and root.folders is not None:
            self._folders_found(root, root.folders)
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
                "rules_checked": not trust_rules,
            },
        )
        self.scans_done += 1
        if complete and not trust_rules and self._spawn is not None:
            self._spawn(self._record_rules(root, rules), f"rules:{root.id}")
        return differences

    async def _compare(
        self, root: WatchedRoot, *, trust_rules: bool, away: frozenset[str]
    ) -> tuple[int, float, bool]:
        """Queue the differences; (how many, seconds spent scanning, whether it went through)."""
        scanning_s = 0.0
        differences = 0
        slices = differences_of(root, trust_rules=trust_rules, away=away)
        try:
            while True:
                slice_started = time.perf_counter()
                changes = await asyncio.to_thread(next, slices, None)
                if changes is None:
                    return differences, scanning_s, True
                self._apply(root, changes)
                differences += len(changes)
                scanning_s += time.perf_counter() - slice_started
                del changes
                await self._room(PACED_BACKLOG)
                if self._stopping.is_set():
                    return (
                        differences,
                        scanning_s,
                        False,
                    )  # the next start's catch-up finds the rest
        finally:
            slices.close()  # a scan left early closes its reader of the state file now, not at GC

    async def _record_rules(self, root: WatchedRoot, rules: str) -> None:
        """Every file was matched against these rules: once what that queued (deletions of
        files the rules now leave out) is confirmed, later scans may trust the record."""
        if self._settled is not None:
            await self._settled()
        await root.state.record_rules(rules)

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


def differences_of(
    root: WatchedRoot, *, trust_rules: bool = False, away: frozenset[str] = frozenset()
) -> Generator[Slice, None, None]:
    """The differences between the disk and what was published, a slice of the tree at a time
    (each ``next`` runs in a thread). The folders the walk listed become the root's folders.

    What was published is read a folder at a time, as the walk lists that folder: neither the
    record nor the disk is ever held whole in memory. With ``trust_rules`` (the filter's rules
    are those every known file was matched against), a file whose signature is the one
    published is not matched against them again. What was known under a mount point that is
    ``away`` (not mounted now) is kept, as under a folder that could not be listed."""
    walk = Walk(unlisted=sorted(away))
    deleted: list[str] = []
    with root.known.reader() as known:
        compared = _FolderComparison(known, deleted)
        changes: Slice = []
        scanned = 0
        for relative, signature in scan_tree(
            root.path,
            root.filter,
            recursive=root.config.recursive,
            walk=walk,
            trusted=compared.known_same if trust_rules else None,
        ):
            if not compared.matches(relative, signature):
                changes.append((relative, signature))
            scanned += 1
            if scanned == SCAN_SLICE_FILES:
                yield changes
                changes, scanned = [], 0
        compared.finish()
        root.folders = walk.folders
        # Folders that held known files but gave none this time: removed, emptied, or
        # filtered out now. A folder that could not be listed hides its files: unknown now,
        # not deleted.
        for folder in known.folders():
            if folder not in compared.visited:
                deleted.extend(join(folder, name) for name in known.entries(folder))
    gone = [path for path in deleted if not walk.hides(path)]
    del deleted
    for start in range(0, len(gone), SCAN_SLICE_FILES):
        changes.extend((relative, None) for relative in gone[start : start + SCAN_SLICE_FILES])
        yield changes
        changes = []
    if changes:
        yield changes


class _FolderComparison:
    """The walk lists a folder's files together: each is compared with that folder's record,
    and what is left of the record when the walk moves on was deleted."""

    def __init__(self, known: FolderReader, deleted: list[str]) -> None:
        self._known = known
        self._deleted = deleted
        self._folder: str | None = None
        self._remaining: FolderEntries = {}
        self.visited: set[str] = set()

    def matches(self, relative: str, signature: Signature) -> bool:
        """Whether the file is as published; its record is struck off the folder's."""
        return self._folder_of(relative).pop(split(relative)[1], None) == signature

    def known_same(self, relative: str, signature: Signature) -> bool:
        """Whether the file is as published, asked before the walk yields it."""
        return self._folder_of(relative).get(split(relative)[1]) == signature

    def _folder_of(self, relative: str) -> FolderEntries:
        folder = split(relative)[0]
        if folder != self._folder:
            self.finish()
            self._folder = folder
            self.visited.add(folder)
            self._remaining = self._known.entries(folder)
        return self._remaining

    def finish(self) -> None:
        if self._folder is not None:
            self._deleted.extend(join(self._folder, name) for name in self._remaining)
        self._remaining = {}
