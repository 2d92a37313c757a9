"""The watcher service: catch-up scan, live watch, settle, and publish with confirms."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import watchfiles

from file_watcher.bursts import BurstWatch
from file_watcher.memory import LARGE_BACKLOG, release_free_memory
from file_watcher.outbox import Change, Outbox
from file_watcher.roots import WatchedRoot, open_root
from file_watcher.scan import Signature, scan_tree, signature_of
from file_watcher.settle import Settler
from file_watcher.state import StoredBaseline
from fileflow_core import metrics
from fileflow_core.errors import ConfigError, FileflowError, TransientError
from fileflow_core.http import ReadinessCheck, ops_app, serving
from fileflow_core.messages import FileEvent, Operation
from fileflow_core.paths import relative_to_root
from fileflow_core.ports import EventPublisher
from fileflow_core.roots import RootIdentity
from fileflow_core.runtime import until_stopped
from fileflow_core.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, str]
PublisherFactory = Callable[[], Awaitable[EventPublisher]]


class Baseline(Protocol):
    """What the document store knows of the roots (a ``DocumentStore`` is one)."""

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        """(size, mtime_ns, inode) per path of one root, as the store holds them."""

    async def root_identities(self) -> dict[str, str]: ...

    async def record_root_identity(self, root_id: str, identity: str) -> None: ...


MAX_PUBLISH_BACKOFF_S = 30.0
# A catch-up compares this many files a thread call, and waits until no more than
# PACED_BACKLOG changes are pending before the next slice (see ``Watcher.catch_up``).
SCAN_SLICE_FILES = 5_000
PACED_BACKLOG = 1_000
# Past this many notifications within a burst window (2 s), the rest of the burst is left to the
# catch-up scan after it (see ``Watcher._watch_once``). A file written in place is two (created,
# modified), one moved in is one: a burst of 10,000 files, or a steady stream of a few thousand
# a second, stays live.
LIVE_BURST_EVENTS = 25_000
# What watchfiles says of a file name that is not UTF-8 (it cannot report one).
UNDECODABLE = "Unable to decode path"
FOLDER_RECHECK_S = 1.0
# How often a root's availability is looked at while it is watched, or waited for.
ROOT_CHECK_S = 2.0


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def raise_if_watch_limit(exc: OSError, root: WatchedRoot) -> None:
    """Turn the OS running out of inotify watches into an error that says what to do."""
    text = str(exc).lower()
    if exc.errno == errno.ENOSPC or "limit" in text or "no space left" in text:
        try:
            current = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
        except OSError:
            current = "unknown"
        raise ConfigError(
            f"root {root.id!r}: the OS file-watch limit is reached "
            f"(fs.inotify.max_user_watches = {current}). Raise it, e.g. "
            "`sysctl fs.inotify.max_user_watches=1048576`, or set force_polling = true "
            "for this root"
        ) from exc


def _real_path(folder: str, memo: dict[str, str] | None) -> str:
    if memo is None:
        return os.path.realpath(folder)
    real = memo.get(folder)
    if real is None:
        real = memo[folder] = os.path.realpath(folder)
    return real


class Watcher:
    """Owns the roots, the settler and the outbox; every change flows through ``_decide``."""

    def __init__(
        self, settings: Settings, roots: list[WatchedRoot], publisher_factory: PublisherFactory
    ) -> None:
        self._settings = settings
        self._roots = {root.id: root for root in roots}
        self._publisher_factory = publisher_factory
        self._publisher: EventPublisher | None = None
        self._settler: Settler[Key, Signature] = Settler(settings.settle_s)
        self._outbox: Outbox[Key, Change] = Outbox(settings.max_backlog)
        self._wakeup = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self._drained = asyncio.Event()
        self._room = asyncio.Event()  # set whenever the publish loop has sent a batch
        self._publishing = True  # False while publishing fails
        self._unavailable: dict[str, str] = {}  # root id -> why, while it is
        self._sending: dict[Key, Change] = {}
        self._scheduled: set[tuple[str, str, str]] = set()
        self._bursts = {root.id: BurstWatch() for root in roots}
        self._burst_rescans: dict[str, asyncio.TimerHandle] = {}
        # Roots whose notifications are left to the rescan after the burst (until it starts).
        self._left_to_rescan: set[str] = set()
        self._background: set[asyncio.Task[object]] = set()
        self._largest_backlog = 0
        self.published = 0
        self.scans_done = 0
        self.peak_backlog = 0
        self.left_to_rescan = 0  # notifications not observed one by one (see _watch_once)

    # --- intake -----------------------------------------------------------------------------

    def observe(
        self,
        root: WatchedRoot,
        relative: str,
        now: float,
        real_folders: dict[str, str] | None = None,
    ) -> None:
        """Note what is at ``relative`` now; folders are expanded, other kinds count as gone.

        ``real_folders`` memoises folders' real paths over one batch of notifications (a burst
        names the same few folders thousands of times; each realpath is a walk of lstats)."""
        absolute = root.absolute(relative)
        folder = absolute.rpartition("/")[0]
        if "/" in relative and _real_path(folder, real_folders) != folder:
            # Reached through a symlinked folder (the OS watcher follows them): not ours.
            metrics.EVENTS_FILTERED.labels(root=root.id).inc()
            return
        try:
            info = os.lstat(absolute)
        except OSError:
            # A path known as a file was no folder: no need to look through every known path.
            under = [] if relative in root.known else root.known_under(relative)
            for gone in [relative, *under]:
                self._settler.note((root.id, gone), None, now)
            return
        if stat.S_ISDIR(info.st_mode):
            if root.config.recursive and root.filter.accepts_dir(relative):
                self._observe_folder(root, relative, now)
                # Files created before the OS watch on a new folder exists send no event:
                # look again once that window has passed.
                self._later(
                    FOLDER_RECHECK_S,
                    ("folder", root.id, relative),
                    lambda: self._observe_folder(root, relative, time.monotonic()),
                )
        elif stat.S_ISREG(info.st_mode):
            if root.filter.accepts_file(relative):
                self._note((root.id, relative), signature_of(info), now)
            else:
                metrics.EVENTS_FILTERED.labels(root=root.id).inc()
        else:  # symlink, FIFO, socket, device: never ingested
            self._settler.note((root.id, relative), None, now)

    def _observe_folder(self, root: WatchedRoot, folder: str, now: float) -> None:
        found = set()
        for relative, signature in scan_tree(root.path, root.filter, start=folder):
            found.add(relative)
            self._note((root.id, relative), signature, now)
        for gone in root.known_under(folder):
            if gone not in found:
                self._settler.note((root.id, gone), None, now)

    def _last_published(self, root: WatchedRoot, key: Key) -> Signature | None:
        """What the broker has (or is confirming right now) for this path; None: nothing."""
        sending = self._sending.get(key)
        if sending is None:
            return root.known.get(key[1])
        if sending.op is Operation.DELETE:
            return None
        return Signature(sending.size or 0, sending.mtime_ns or 0, sending.inode or 0)

    def _decide(self, key: Key, signature: Signature | None, *, live: bool = True) -> None:
        root = self._roots[key[0]]
        published = self._last_published(root, key)
        if signature is None:
            reason = root.unavailable_reason()
            if reason is not None:
                # An unmounted share looks like every file deleted: hold, never empty the root.
                self._report_unavailable(root, reason)
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
        self._wakeup.set()

    def _rescan_after_burst(self, root: WatchedRoot, now: float) -> None:
        """(Re)schedule the catch-up scan that finds what an overflow may have dropped."""
        pending = self._burst_rescans.pop(root.id, None)
        if pending is not None:
            pending.cancel()
        bursts = self._bursts[root.id]

        def run() -> None:
            self._burst_rescans.pop(root.id, None)
            self._left_to_rescan.discard(root.id)
            bursts.rescan_started()
            if not self._watch_stop.is_set():
                self._spawn(self.catch_up(root))

        self._burst_rescans[root.id] = asyncio.get_running_loop().call_later(
            bursts.rescan_delay(now), run
        )

    def _leave_to_rescan(self, root: WatchedRoot, now: float, notifications: int) -> None:
        if root.id not in self._left_to_rescan:
            self._left_to_rescan.add(root.id)
            log.info(
                "a large burst of changes: the rest of it is left to a catch-up scan after it",
                extra={"root": root.id, "notifications": self._bursts[root.id].window_events},
            )
        metrics.EVENTS_COALESCED.labels(root=root.id).inc(notifications)
        self.left_to_rescan += notifications
        self._rescan_after_burst(root, now)

    def _later(
        self, delay_s: float, key: tuple[str, str, str], action: Callable[[], object]
    ) -> None:
        """Run ``action`` once after ``delay_s``; the same key scheduled again meanwhile is one."""
        if key in self._scheduled:
            return
        self._scheduled.add(key)

        def run() -> None:
            self._scheduled.discard(key)
            if not self._watch_stop.is_set():
                action()

        asyncio.get_running_loop().call_later(delay_s, run)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _report_unavailable(self, root: WatchedRoot, reason: str) -> None:
        if root.id not in self._unavailable:
            metrics.ROOT_PRESENT.labels(root=root.id).set(0)
            log.error(
                "root unavailable; its files are NOT marked deleted. fileflow waits for it and "
                "catches up when it is back",
                extra={"root": root.id, "path": str(root.path), "reason": reason},
            )
        self._unavailable[root.id] = reason

    def _report_available(self, root: WatchedRoot) -> None:
        if self._unavailable.pop(root.id, None) is not None:
            metrics.ROOT_PRESENT.labels(root=root.id).set(1)
            log.info("root available again; catching up", extra={"root": root.id})

    def unavailable_roots(self) -> dict[str, str]:
        """Why each root that cannot be watched now cannot, for readiness."""
        for root in self._roots.values():
            reason = root.unavailable_reason()
            if reason is None:
                self._report_available(root)
            else:
                self._report_unavailable(root, reason)
        return dict(self._unavailable)

    # --- catch-up -----------------------------------------------------------------------------

    async def catch_up(self, root: WatchedRoot) -> int:
        """Compare the disk with what was published; queue only the differences.

        The tree is compared a slice at a time, and each slice waits until the publish loop
        has sent most of the last one (while publishing works): a first scan of 100,000 files
        never holds them all pending, whose small objects would otherwise stay scattered among
        the ones kept for good, so that the heap would keep its peak size. Never await this
        from the publish loop, which it waits for."""
        reason = root.unavailable_reason()
        if reason is not None:
            self._report_unavailable(root, reason)
            return 0
        self._report_available(root)
        await root.record_identity_if_new()
        root.refresh_source()
        started = time.perf_counter()
        scanning_s = 0.0
        differences = 0
        slices = self._differences(root)
        while True:
            slice_started = time.perf_counter()
            changes = await asyncio.to_thread(next, slices, None)
            if changes is None:
                break
            now = time.monotonic()
            for relative, signature in changes:
                key = (root.id, relative)
                if key in self._settler:
                    continue  # a notified change still settling is decided then
                if signature is None:
                    self._decide(key, None, live=False)
                else:
                    self._note(key, signature, now, live=False)
            differences += len(changes)
            scanning_s += time.perf_counter() - slice_started
            del changes
            await self._room_in_backlog()
            if self._watch_stop.is_set():
                break  # stopping: the next start's catch-up finds the rest
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

    async def _room_in_backlog(self) -> None:
        """Wait until at most ``PACED_BACKLOG`` changes are pending, unless publishing fails
        (then the backlog is held, as it must be) or the watcher stops."""
        while (
            len(self._outbox) > PACED_BACKLOG and self._publishing and not self._watch_stop.is_set()
        ):
            self._room.clear()
            await self._room.wait()

    @staticmethod
    def _differences(root: WatchedRoot) -> Iterator[list[tuple[str, Signature | None]]]:
        """The differences between the disk and what was published, a slice of the tree at a
        time (each ``next`` runs in a thread)."""
        changes: list[tuple[str, Signature | None]] = []
        # What is left of the known paths once the disk's are struck off is what was deleted
        # (a set of the known strings, not a second copy of 100,000 paths from the scan).
        not_seen = set(root.known)
        scanned = 0
        for relative, signature in scan_tree(
            root.path, root.filter, recursive=root.config.recursive
        ):
            not_seen.discard(relative)
            if not root.known.matches(relative, signature):
                changes.append((relative, signature))
            scanned += 1
            if scanned == SCAN_SLICE_FILES:
                yield changes
                changes, scanned = [], 0
        deleted = list(not_seen)
        del not_seen
        for start in range(0, len(deleted), SCAN_SLICE_FILES):
            changes.extend(
                (relative, None) for relative in deleted[start : start + SCAN_SLICE_FILES]
            )
            yield changes
            changes = []
        if changes:
            yield changes

    # --- live watch ---------------------------------------------------------------------------

    async def watch(self, root: WatchedRoot) -> None:
        """Watch ``root`` until stopped. While it is unavailable (missing, unmounted, another
        folder in its place) wait for it; whenever it comes back or the watch ends, catch up
        with what was missed and watch again."""
        first = True
        while not self._watch_stop.is_set():
            was_available = root.is_present()
            if not await self._until_available(root):
                return
            if not (first and was_available):
                # The start's catch-up covered a root available then; anything else was missed.
                await self.catch_up(root)
            first = False
            try:
                await self._watch_once(root)
            except Exception as exc:  # the watch must outlive anything the OS or library does
                for error in _leaves(exc):
                    if isinstance(error, OSError):
                        raise_if_watch_limit(error, root)
                if any(UNDECODABLE in str(error) for error in _leaves(exc)):
                    # watchfiles cannot report a name that is not UTF-8; the scan can.
                    log.info(
                        "a file name that is not UTF-8 ended the OS watch; a catch-up scan "
                        "finds it, and the watch starts again",
                        extra={"root": root.id},
                    )
                    continue
                log.warning(
                    "watch failed; restarting it after a catch-up scan",
                    extra={"root": root.id, "reason": "; ".join(map(repr, _leaves(exc)))},
                )
                await self._sleep_unless_stopped(1.0)

    async def _until_available(self, root: WatchedRoot) -> bool:
        """Wait until the root is available; False when the watcher stops first."""
        while (reason := root.unavailable_reason()) is not None:
            self._report_unavailable(root, reason)
            if await self._sleep_unless_stopped(ROOT_CHECK_S):
                return False
        return not self._watch_stop.is_set()

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep; True when the watcher stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._watch_stop.wait(), seconds)
        return self._watch_stop.is_set()

    async def _watch_once(self, root: WatchedRoot) -> None:
        """One OS watch of the root, until the watcher stops or the root becomes unavailable
        (an unmounted share sends no events: it is looked at every ``ROOT_CHECK_S``)."""
        ended = asyncio.Event()

        async def end_when_unavailable() -> None:
            while not await self._sleep_unless_stopped(ROOT_CHECK_S):
                reason = root.unavailable_reason()
                if reason is not None:
                    self._report_unavailable(root, reason)
                    break
            ended.set()

        monitor = asyncio.create_task(end_when_unavailable(), name=f"root-check:{root.id}")
        try:
            await self._watch_until(root, ended)
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)

    async def _watch_until(self, root: WatchedRoot, ended: asyncio.Event) -> None:
        async for changes in watchfiles.awatch(
            root.path,
            watch_filter=None,
            debounce=self._settings.debounce_ms,
            step=50,
            stop_event=ended,
            recursive=root.config.recursive,
            force_polling=root.polling,
            poll_delay_ms=self._settings.poll_interval_ms,
            ignore_permission_denied=True,
        ):
            now = time.monotonic()
            metrics.EVENTS_SEEN.labels(root=root.id).inc(len(changes))
            bursts = self._bursts[root.id]
            if bursts.saw(len(changes), now):
                # Bursts this large can overflow the OS event queue, which the watch library
                # does not report: a catch-up scan after the burst finds what was dropped.
                self._rescan_after_burst(root, now)
            if root.id in self._left_to_rescan or bursts.window_events > LIVE_BURST_EVENTS:
                # A burst this large (a library copied in) is caught up by the paced scan after
                # it, not held path by path: a pending change costs ~500 bytes of small objects,
                # which stay scattered among the known paths once it is sent, so the heap would
                # keep its peak size for as long as the watcher runs.
                self._leave_to_rescan(root, now, len(changes))
                continue
            real_folders: dict[str, str] = {}
            for _change, raw_path in changes:
                relative = relative_to_root(root.path, raw_path)
                if relative is None:
                    continue
                if (root.id, relative) in self._settler:
                    metrics.EVENTS_COALESCED.labels(root=root.id).inc()
                self.observe(root, relative, now, real_folders)

    async def reconcile_loop(self) -> None:
        """The safety net: a periodic catch-up finds anything the notifications missed."""
        interval = self._settings.reconcile_interval_s
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            for root in self._roots.values():
                await self.catch_up(root)

    def _note(self, key: Key, signature: Signature, now: float, *, live: bool = True) -> None:
        """Note a file seen now. Its mtime says how long its bytes have been unchanged: a
        file the notification reached late (batched by the OS watch) is not kept waiting a
        second full settle period, and one unchanged for the whole period already (moved in
        whole, as programs that deliver files atomically do) is decided at once. A catch-up's
        file (``live`` False) still being written settles as a live one does."""
        age_s = time.time() - signature.mtime_ns / 1e9
        if age_s >= self._settings.settle_s:
            self._settler.forget(key)
            self._decide(key, signature, live=live)
            return
        self._settler.note(key, signature, now, unchanged_since=now - max(0.0, age_s))

    async def settle_loop(self) -> None:
        tick = max(0.02, min(0.25, self._settings.settle_s / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            # Only paths whose quiet period is over are looked at again (changes meanwhile
            # arrive as notifications): a burst of 20,000 pending files costs no stat per tick.
            for key, signature in self._settler.due(now):
                seen = self._current_signature(key)
                if seen == signature:
                    self._decide(key, signature)
                elif seen is None:
                    self._settler.note(key, None, now)
                else:
                    self._note(key, seen, now)

    def _current_signature(self, key: Key) -> Signature | None:
        try:
            info = os.lstat(self._roots[key[0]].absolute(key[1]))
        except OSError:
            return None
        return signature_of(info) if stat.S_ISREG(info.st_mode) else None

    # --- publish ------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Open the publisher (declaring the queues) now; if the broker is down, the publish
        loop keeps trying while the watcher watches and holds a backlog."""
        try:
            self._publisher = await self._publisher_factory()
        except ConfigError:
            raise  # a wrong password or address does not fix itself: say so and stop
        except FileflowError as exc:
            log.warning(
                "broker unreachable at start; watching anyway and publishing later",
                extra={"reason": str(exc)},
            )
            self._publishing = False
            return False
        return True

    async def publish_loop(self) -> None:
        failures = 0
        while True:
            if not self._outbox:
                if self._largest_backlog >= LARGE_BACKLOG:
                    release_free_memory()
                self._largest_backlog = 0
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
            self._largest_backlog = max(self._largest_backlog, len(self._outbox))
            self.peak_backlog = max(self.peak_backlog, self._largest_backlog)
            batch = self._outbox.take(self._settings.publish_window)
            if not batch:
                continue
            # While confirms are awaited, these count as published: a later identical
            # observation of the same path must not queue the same message again.
            self._sending = dict(batch)
            try:
                if self._publisher is None:
                    self._publisher = await self._publisher_factory()
                await self._publisher.publish(self._message(key, change) for key, change in batch)
            except FileflowError as exc:
                self._sending = {}
                failures += 1
                self._publishing = False
                self._room.set()  # a paced catch-up holds its backlog instead of waiting
                self._outbox.put_back(batch)
                for key, _ in batch:
                    metrics.PUBLISH_ERRORS.labels(root=key[0]).inc()
                delay = min(MAX_PUBLISH_BACKOFF_S, 0.5 * 2 ** min(failures, 10))
                log.warning(
                    "publish failed, keeping the backlog and retrying",
                    extra={"backlog": len(self._outbox), "retry_in_s": delay, "reason": str(exc)},
                )
                await asyncio.sleep(delay)
                continue
            await self._confirmed(batch)
            self._sending = {}
            self._publishing = True
            self._room.set()
            # Catch-ups run beside this loop: they wait for it to publish as they go.
            if failures:
                failures = 0
                log.info("publishing again; catching up on every root")
                for root in self._roots.values():
                    self._spawn(self.catch_up(root))
            if self._outbox.overflowed:
                self._outbox.overflowed = False
                metrics.BACKLOG_DROPPED.inc()
                log.warning(
                    "backlog overflowed and was dropped; rescanning every root",
                    extra={"max_backlog": self._settings.max_backlog},
                )
                for root in self._roots.values():
                    self._spawn(self.catch_up(root))

    def _message(self, key: Key, change: Change) -> FileEvent:
        """The event for a pending change, built only now that it is sent."""
        root_id, relative = key
        return FileEvent.observed(
            root_id,
            relative,
            change.op,
            size=change.size,
            mtime_ns=change.mtime_ns,
            inode=change.inode,
            source=None if change.op is Operation.DELETE else self._roots[root_id].source,
            seen_at=datetime.fromtimestamp(change.seen_at, UTC),
        )

    async def _confirmed(self, batch: list[tuple[Key, Change]]) -> None:
        by_root: dict[str, tuple[list[tuple[str, Signature]], list[str]]] = {}
        published: Counter[tuple[str, str]] = Counter()
        for (root_id, relative), event in batch:
            root = self._roots[root_id]
            present, deleted = by_root.setdefault(root_id, ([], []))
            if event.op is Operation.DELETE:
                root.known.pop(relative, None)
                deleted.append(relative)
            else:
                signature = Signature(event.size or 0, event.mtime_ns or 0, event.inode or 0)
                root.known[relative] = signature
                present.append((relative, signature))
            published[root_id, event.op.value] += 1
        for (root_id, op), count in published.items():
            metrics.EVENTS_PUBLISHED.labels(root=root_id, op=op).inc(count)
        self.published += len(batch)
        metrics.BACKLOG.set(len(self._outbox))
        for root_id, (present, deleted) in by_root.items():
            await asyncio.to_thread(self._roots[root_id].state.apply, present, deleted)

    @property
    def backlog(self) -> int:
        return len(self._outbox)

    async def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._outbox and time.monotonic() < deadline:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), deadline - time.monotonic())
        return not self._outbox

    def stop_watching(self) -> None:
        self._watch_stop.set()
        self._room.set()
        for task in self._background:
            task.cancel()


async def _record_identity(baseline: Baseline, root_id: str, identity: RootIdentity) -> None:
    await baseline.record_root_identity(root_id, identity.encode())


async def run_watcher(
    settings: Settings,
    stop: asyncio.Event,
    publisher_factory: PublisherFactory,
    started: asyncio.Event | None = None,
    checks: dict[str, ReadinessCheck] | None = None,
    *,
    baseline: Baseline | None = None,
) -> Watcher:
    """Run until ``stop`` is set; returns the watcher (its counters are useful to tests).

    With ``baseline`` (for a broker that keeps nothing across restarts) the catch-up scan
    compares the disk with what the store holds instead of with what this watcher published;
    see ``StoredBaseline``.
    """
    if not settings.roots:
        raise TransientError("no roots to watch: set FILEFLOW_ROOTS or name folders")
    roots = []
    identities = await baseline.root_identities() if baseline is not None else {}
    for config in settings.roots:
        state = None
        if baseline is not None:
            stored = await baseline.signatures(config.id)
            recorded = identities.get(config.id)
            state = StoredBaseline(
                {path: Signature(*sig) for path, sig in stored.items()},
                None if recorded is None else RootIdentity.decode(recorded),
                partial(_record_identity, baseline, config.id),
            )
        roots.append(open_root(config, settings.state_dir, settings.queue_name, state))
    watcher = Watcher(settings, roots, publisher_factory)
    tasks = [
        asyncio.create_task(watcher.publish_loop(), name="publish"),
        asyncio.create_task(watcher.settle_loop(), name="settle"),
        asyncio.create_task(watcher.reconcile_loop(), name="reconcile"),
    ]
    tasks += [asyncio.create_task(watcher.watch(root), name=f"watch:{root.id}") for root in roots]

    async def roots_available() -> bool | str:
        unavailable = watcher.unavailable_roots()
        return True if not unavailable else "; ".join(f"{k}: {v}" for k, v in unavailable.items())

    app = ops_app("file_watcher", {**(checks or {}), "roots": roots_available})
    exits = contextlib.AsyncExitStack()
    try:
        port = await exits.enter_async_context(
            serving(app, settings.http_host, settings.watcher_http_port)
        )
        log.info("watcher serving HTTP", extra={"http": f"{settings.http_host}:{port}"})
        await until_stopped(stop, watcher.connect())

        async def catch_up_every_root() -> None:
            for root in roots:
                await watcher.catch_up(root)
            if started is not None:
                started.set()

        # A task, not awaited here: a catch-up waits for publishing, and a stop must be heard
        # meanwhile (the broker may be down for a long time).
        catching_up = asyncio.create_task(catch_up_every_root(), name="catch-up")
        tasks.append(catching_up)
        stop_wait = asyncio.create_task(stop.wait())
        running = {stop_wait, *tasks}
        while True:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            if done != {catching_up} or catching_up.exception() is not None:
                break  # stopped, or a task failed (every other task runs for good)
        stop_wait.cancel()
        for task in done:
            if task is not stop_wait and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        watcher.stop_watching()
        if not await watcher.flush(settings.drain_timeout_s):
            log.warning(
                "stopped with unpublished events; the next start's scan catches up",
                extra={"backlog": watcher.backlog},
            )
    finally:
        await exits.aclose()
        watcher.stop_watching()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for root in roots:
            root.state.close()
    return watcher
