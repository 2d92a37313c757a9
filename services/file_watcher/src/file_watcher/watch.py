"""The OS watch of one root: notifications in, bursts told apart, the root's availability kept.

Each real folder of the root is watched on its own (``watchfiles`` with ``recursive=False``):
the library's recursive mode follows symlinks, so a link to ``/usr`` placed thousands of watches
outside the root. A new folder is added by restarting the watch with it; the new watch starts
before the old one stops, and the folder is looked at again after (see ``observe``).

While the root is unavailable (missing, unmounted, another folder in its place) nothing is
watched: it is looked at every ``ROOT_CHECK_S``, and caught up when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Coroutine
from pathlib import Path, PurePosixPath
from typing import Any

import watchfiles

from file_watcher.availability import Availability
from file_watcher.bursts import BurstWatch
from file_watcher.observe import Observer
from file_watcher.roots import WatchedRoot
from file_watcher.scan import folders_of
from file_watcher.tasks import Owned
from file_watcher.watchpath import watch_path
from fileflow_core import metrics
from fileflow_core.errors import ConfigError
from fileflow_core.paths import is_text, relative_to_root
from fileflow_core.settings import Settings
from fileflow_core.submounts import mounts_now_beneath

log = logging.getLogger(__name__)

ROOT_CHECK_S = 2.0
# Past this many notifications within a burst window (2 s), the rest of the burst is left to the
# catch-up scan after it. A file written in place is two (created, modified), one moved in is
# one: a burst of 10,000 files, or a steady stream of a few thousand a second, stays live.
LIVE_BURST_EVENTS = 25_000
# New folders are added to the watch together, this long after the first of them.
ADD_FOLDERS_S = 0.2
# ...and no sooner than this after the last time folders were added: each addition places a
# watch on every folder again (a system call a folder; a library of 50,000 folders pays 50,000),
# so folders made one after another are added together.
RESTART_GAP_S = 2.0
# The new watch runs this long beside the old one before the old one stops.
OVERLAP_S = 0.3
# A new watch is on a turn or two after it starts (its OS watches are added as it starts).
EARLY_LOOK_S = 0.05
# What watchfiles says of a file name that is not UTF-8 (it cannot report one).
UNDECODABLE = "Unable to decode path"
NOTIFY_STEP_MS = 50
PATH_MAX = 4096


class RootWatch:
    def __init__(
        self,
        settings: Settings,
        root: WatchedRoot,
        *,
        availability: Availability,
        observer: Observer,
        catch_up: Callable[[WatchedRoot], Coroutine[Any, Any, int]],
        owned: Owned,
        stopping: asyncio.Event,
    ) -> None:
        self._settings = settings
        self.root = root
        self._availability = availability
        self._observer = observer
        self._catch_up = catch_up
        self._owned = owned
        self._stopping = stopping
        self.bursts = BurstWatch()
        self._leaving = False  # the rest of a burst is left to the rescan after it
        self._folders_changed = asyncio.Event()
        self._unwatched: set[str] = set()  # folders found new, not in the watch yet
        self._restarted_at = float("-inf")  # when folders were last added (monotonic)
        # Folders the OS watch cannot take, listed every ROOT_CHECK_S instead: names that are
        # not UTF-8 (watchfiles takes paths as text, and one such path stops the whole watch
        # from starting) and paths longer than the OS takes in one call.
        self._listed_instead: set[str] = set()
        self._watch_base = root.path  # what the watch's paths start with (see ``watchpath``)
        # The folders the running watch was placed on, by name, with their inode then: a
        # folder removed and made again under the same name is not watched any more.
        self._watched: dict[str, int] | None = None
        self._mounts: frozenset[tuple[int, str]] | None = None  # beneath it, as the watch began
        self.left_to_rescan = 0  # notifications not observed one by one

    async def run(self) -> None:
        """Watch until stopped; whenever the root comes back or a watch ends, catch up with
        what was missed and watch again (the start's own catch-up covers a root available
        from the start)."""
        first = True
        while not self._stopping.is_set():
            was_available = self.root.is_present()
            if not await self._until_available():
                return
            if not (first and was_available):
                await self._catch_up(self.root)
            first = False
            started = time.monotonic()
            try:
                await self._watch()
            except Exception as exc:  # the watch must outlive anything the OS or library does
                self._after_failure(exc)
                if any(UNDECODABLE in str(error) for error in _leaves(exc)):
                    continue
            if time.monotonic() - started < 1.0:
                await self._sleep_unless_stopped(1.0)  # a watch that cannot last: not a spin

    def add_folders(self, folders: set[str], *, made_again_too: bool = True) -> None:
        """Folders found under the root that the running watch is not on: watched from the
        next restart, soon. What a catch-up found is compared by name; a few folders just seen
        created (``made_again_too``) also by inode, since one may have been removed and made
        again under a watched name."""
        known, watched = self.root.folders, self._watched
        if known is None or watched is None or not self.root.config.recursive:
            return  # not watching yet: the watch starts from the root's folders
        new = folders - watched.keys() - self._listed_instead
        if made_again_too:
            new |= {f for f in folders & watched.keys() if _inode(self.root.path, f) != watched[f]}
        new -= self._unwatched
        known |= folders
        unwatchable = {folder for folder in new if not _can_watch(self._watch_base, folder)}
        self._listed_instead |= unwatchable
        new -= unwatchable
        if not new:
            return
        self._unwatched |= new
        delay = max(ADD_FOLDERS_S, self._restarted_at + RESTART_GAP_S - time.monotonic())
        self._owned.later(delay, ("add-folders", self.root.id), self._folders_changed.set)

    def _after_failure(self, exc: BaseException) -> None:
        for error in _leaves(exc):
            if isinstance(error, OSError):
                raise_if_watch_limit(error, self.root)
        if any(UNDECODABLE in str(error) for error in _leaves(exc)):
            log.info(
                "a file name that is not UTF-8 ended the OS watch; a catch-up scan finds it, "
                "and the watch starts again",
                extra={"root": self.root.id},
            )
            return
        log.warning(
            "watch failed; restarting it after a catch-up scan",
            extra={"root": self.root.id, "reason": "; ".join(map(repr, _leaves(exc)))},
        )

    async def _until_available(self) -> bool:
        """Wait until the root is available; False when the watcher stops first."""
        while self._availability.check(self.root) is not None:
            if await self._sleep_unless_stopped(ROOT_CHECK_S):
                return False
        return not self._stopping.is_set()

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep; True when the watcher stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _watch(self) -> None:
        """Watch the root's folders until the root becomes unavailable or the watcher stops;
        restart with the folders found new meanwhile."""
        if self.root.folders is None:
            root = self.root
            root.folders = await asyncio.to_thread(
                folders_of, root.path, root.filter, recursive=root.config.recursive
            )
        self._mounts = await asyncio.to_thread(mounts_now_beneath, self.root.path)
        ended = asyncio.Event()
        current = asyncio.create_task(self._watch_folders(ended), name=f"watch:{self.root.id}")
        try:
            while True:
                reason = await self._until_change(current)
                if reason != "folders":
                    break
                self._folders_changed.clear()
                added, self._unwatched = self._unwatched, set()
                self._restarted_at = time.monotonic()
                # The new watch first, then the old one stops: no change falls in between.
                replaced, previous_end = current, ended
                ended = asyncio.Event()
                current = asyncio.create_task(self._watch_folders(ended))
                # What was written in them before they were watched is looked at twice: as
                # soon as the new watch is most likely on (those files need not wait out the
                # overlap), and once it surely is.
                await asyncio.sleep(EARLY_LOOK_S)
                self._look_at(added)
                await asyncio.sleep(OVERLAP_S - EARLY_LOOK_S)
                previous_end.set()
                await replaced
                self._look_at(added)
        finally:
            ended.set()
            await current

    def _look_at(self, folders: set[str]) -> None:
        for folder in sorted(folders):
            self._observer.observe_folder(self.root, folder, time.monotonic(), new=False)

    async def _until_change(self, current: asyncio.Task[None]) -> str:
        """Wait until the watcher stops, the root goes, the folders change, or the watch
        ends by itself (an error): say which."""
        while not current.done():
            changed = asyncio.ensure_future(self._folders_changed.wait())
            try:
                await asyncio.wait(
                    {current, changed}, timeout=ROOT_CHECK_S, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                changed.cancel()
            if self._stopping.is_set():
                return "stopped"
            if self._availability.check(self.root) is not None:
                return "unavailable"
            if self._folders_changed.is_set():
                return "folders"
            if await self._mounts_changed():
                return "mounts"
            self._look_at(_outermost(self._listed_instead))
        current.result()  # raises what ended it
        return "ended"

    async def _mounts_changed(self) -> bool:
        """Whether a share beneath the root was mounted, unmounted or mounted again since
        the watch began: the OS watches inside an unmounted filesystem end with it, so the
        watch starts again after a catch-up (which also sees what the share holds now)."""
        now = await asyncio.to_thread(mounts_now_beneath, self.root.path)
        if now is None or now == self._mounts:
            return False
        log.info(
            "mounts beneath the root changed: catching up and watching again",
            extra={"root": self.root.id},
        )
        return True

    async def _watch_folders(self, ended: asyncio.Event) -> None:
        root = self.root
        folders = root.folders or {""}
        base = self._watch_base = watch_path(root.path, self._settings.state_dir, root.id)
        self._listed_instead = {folder for folder in folders if not _can_watch(base, folder)}
        watchable = _watchable(root.path, folders - self._listed_instead)
        self._watched = watchable
        if not watchable:
            return
        paths = [base / folder if folder else base for folder in sorted(watchable)]
        async for changes in watchfiles.awatch(
            *paths,
            watch_filter=None,
            debounce=self._settings.debounce_ms,
            step=NOTIFY_STEP_MS,
            stop_event=ended,
            recursive=False,
            force_polling=root.polling,
            poll_delay_ms=self._settings.poll_interval_ms,
            ignore_permission_denied=True,
        ):
            self._notified(changes, base)

    def _notified(self, changes: set[tuple[watchfiles.Change, str]], base: Path) -> None:
        """``changes`` as the watch reports them: paths beneath ``base``, the root's path or
        its alias (see ``watchpath``)."""
        root = self.root
        now = time.monotonic()
        metrics.EVENTS_SEEN.labels(root=root.id).inc(len(changes))
        if self.bursts.saw(len(changes), now):
            # Bursts this large can overflow the OS event queue, which the watch library does
            # not report: a catch-up scan after the burst finds what was dropped.
            self._rescan_after_burst(now)
        if self._leaving or self.bursts.window_events > LIVE_BURST_EVENTS:
            # A burst this large (a library copied in) is caught up by the paced scan after it,
            # not held path by path: a pending change costs ~500 bytes of small objects, which
            # stay scattered among the known paths once it is sent, so the heap would keep its
            # peak size for as long as the watcher runs.
            self._leave_to_rescan(now, len(changes))
            return
        real_folders: dict[str, str] = {}
        for _change, raw_path in changes:
            relative = relative_to_root(base, raw_path)
            if relative is None:
                continue
            if (root.id, relative) in self._observer.settling:
                metrics.EVENTS_COALESCED.labels(root=root.id).inc()
            self._observer.observe(root, relative, now, real_folders)

    def _rescan_after_burst(self, now: float) -> None:
        """(Re)schedule the catch-up scan that finds what an overflow may have dropped."""

        def run() -> None:
            self._leaving = False
            self.bursts.rescan_started()
            self._owned.spawn(self._catch_up(self.root), f"rescan:{self.root.id}")

        self._owned.again_later(self.bursts.rescan_delay(now), ("rescan", self.root.id), run)

    def _leave_to_rescan(self, now: float, notifications: int) -> None:
        if not self._leaving:
            self._leaving = True
            log.info(
                "a large burst of changes: the rest of it is left to a catch-up scan after it",
                extra={"root": self.root.id, "notifications": self.bursts.window_events},
            )
        metrics.EVENTS_COALESCED.labels(root=self.root.id).inc(notifications)
        self.left_to_rescan += notifications
        self._rescan_after_burst(now)


def _outermost(folders: set[str]) -> set[str]:
    """The folders not beneath another of them: a look at a folder lists all beneath it."""
    return {f for f in folders if not any(str(up) in folders for up in PurePosixPath(f).parents)}


def _can_watch(base: Path, folder: str) -> bool:
    """Whether the OS watch can be placed on ``folder``: named in text, and its path short
    enough for one system call (``PATH_MAX`` bytes with the final NUL)."""
    return is_text(folder) and len(os.fsencode(f"{base}/{folder}")) < PATH_MAX


def _watchable(root: Path, folders: set[str]) -> dict[str, int]:
    """The folders still there as real folders (not replaced by a file or a symlink), with
    their inodes."""
    found = {}
    for folder in folders:
        try:
            info = os.lstat(root / folder if folder else root)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            found[folder] = info.st_ino
    return found


def _inode(root: Path, folder: str) -> int | None:
    try:
        return os.lstat(root / folder if folder else root).st_ino
    except OSError:
        return None


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


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
