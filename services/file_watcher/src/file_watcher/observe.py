"""Looking at a path the OS named or a scan found: what is there now, held until it settles.

Folders are expanded (their files observed, and a folder that is new gets watched), files pass
the root's filter, anything else (a symlink, a FIFO) counts as gone. What is seen goes to the
settling rule (``settle``); what has settled goes to ``decide``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from collections.abc import Callable

from file_watcher.decide import Decider, Key
from file_watcher.roots import WatchedRoot
from file_watcher.scan import Signature, Walk, scan_tree, signature_of
from file_watcher.settle import Settling
from file_watcher.tasks import Owned
from fileflow_core import metrics
from fileflow_core.beneath import Location, NotARegularFile, stat_beneath

# Files created in a new folder before the OS watch on it exists send no event: the folder is
# looked at again once that window has passed.
FOLDER_RECHECK_S = 1.0

NewFolders = Callable[[WatchedRoot, set[str]], None]


def lstat_in(root: WatchedRoot, relative: str) -> os.stat_result:
    """The path's own status; a path too long for one call is looked up beneath the root."""
    try:
        return os.lstat(root.absolute(relative))
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    try:
        return stat_beneath(Location(root.id, str(root.path), relative))
    except NotARegularFile:
        raise FileNotFoundError(errno.ENOENT, "behind a symlink") from None


class Observer:
    def __init__(
        self,
        roots: dict[str, WatchedRoot],
        settling: Settling[Key, Signature],
        decider: Decider,
        owned: Owned,
        new_folders: NewFolders,
    ) -> None:
        self._roots = roots
        self.settling = settling
        self._decider = decider
        self._owned = owned
        self._new_folders = new_folders

    def observe(
        self,
        root: WatchedRoot,
        relative: str,
        now: float,
        real_folders: dict[str, str] | None = None,
    ) -> None:
        """Note what is at ``relative`` now. ``real_folders`` memoises folders' real paths over
        one batch of notifications (a burst names the same few folders thousands of times)."""
        absolute = root.absolute(relative)
        folder = absolute.rpartition("/")[0]
        if "/" in relative and _real_path(folder, real_folders) != folder:
            # Reached through a folder swapped for a symlink since it was watched: not ours.
            metrics.EVENTS_FILTERED.labels(root=root.id).inc()
            return
        try:
            info = lstat_in(root, relative)
        except (FileNotFoundError, NotADirectoryError):
            # A path known as a file was no folder: no need to look through every known path.
            under = [] if relative in root.known else root.known.under(relative)
            for gone in [relative, *under]:
                self.settling.seen((root.id, gone), None, now)
            return
        except OSError:
            return  # cannot be looked at now (EIO, EACCES): what is known stays as it is
        if stat.S_ISDIR(info.st_mode):
            if root.config.recursive and root.filter.accepts_dir(relative):
                self.observe_folder(root, relative, now, new=True)
        elif stat.S_ISREG(info.st_mode):
            if root.filter.accepts_file(relative):
                self.note((root.id, relative), signature_of(info), now)
            else:
                metrics.EVENTS_FILTERED.labels(root=root.id).inc()
        else:  # symlink, FIFO, socket, device: never ingested
            self.settling.seen((root.id, relative), None, now)

    def observe_folder(self, root: WatchedRoot, folder: str, now: float, *, new: bool) -> None:
        walk = Walk()
        found = set()
        for relative, signature in scan_tree(root.path, root.filter, start=folder, walk=walk):
            found.add(relative)
            self.note((root.id, relative), signature, now)
        for gone in root.known.under(folder):
            if gone not in found and not walk.hides(gone):
                self.settling.seen((root.id, gone), None, now)
        if new:
            self._new_folders(root, walk.folders)
            self._owned.later(
                FOLDER_RECHECK_S,
                ("folder", root.id, folder),
                lambda: self.observe_folder(root, folder, time.monotonic(), new=False),
            )

    def note(self, key: Key, signature: Signature, now: float, *, live: bool = True) -> None:
        """Note a file seen now; its mtime says how long its bytes have been unchanged."""
        age_s = time.time() - signature.mtime_ns / 1e9
        if self.settling.seen(key, signature, now, age_s=age_s):
            self._decider.decide(key, signature, live=live)

    def current_signature(self, key: Key) -> Signature | None:
        try:
            info = lstat_in(self._roots[key[0]], key[1])
        except OSError:
            return None
        return signature_of(info) if stat.S_ISREG(info.st_mode) else None

    async def settle_loop(self) -> None:
        """Decide what has settled. Only paths whose quiet period is over are looked at again
        (changes meanwhile arrive as notifications): 20,000 pending files cost no stat a tick."""
        while True:
            await asyncio.sleep(self.settling.tick_s)
            now = time.monotonic()
            for key, was in self.settling.due(now):
                seen = self.current_signature(key)
                age_s = None if seen is None else time.time() - seen.mtime_ns / 1e9
                if self.settling.looked_again(key, was, seen, now, age_s=age_s):
                    self._decider.decide(key, seen)


def _real_path(folder: str, memo: dict[str, str] | None) -> str:
    if memo is None:
        return os.path.realpath(folder)
    real = memo.get(folder)
    if real is None:
        real = memo[folder] = os.path.realpath(folder)
    return real
