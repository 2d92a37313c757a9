"""Walking a root: regular files only, symlinks never followed, ignored folders never entered.

The walk opens each folder beneath the one before it (``O_NOFOLLOW``), so it never leaves the
root through a symlink and reaches paths longer than ``PATH_MAX``. A folder that cannot be
listed is named in ``Walk.unlisted``: what was known under it is unknown now, not deleted.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from file_watcher.filters import PathFilter
from fileflow_core.mounts import detect_filesystem

# Filesystems where a folder's st_nlink is 2 + its subfolders (btrfs, for one, always says 1;
# network and FUSE filesystems say what their server or driver likes).
LINK_COUNTING_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "tmpfs"})

log = logging.getLogger(__name__)

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Signature(NamedTuple):
    """What the watcher compares to decide whether a file changed."""

    size: int
    mtime_ns: int
    inode: int


def signature_of(stat_result: os.stat_result) -> Signature:
    return Signature(stat_result.st_size, stat_result.st_mtime_ns, stat_result.st_ino)


@dataclass(slots=True)
class Walk:
    """What a walk found besides files: the folders it listed and those it could not."""

    folders: set[str] = field(default_factory=set)
    unlisted: list[str] = field(default_factory=list)

    def hides(self, relative: str) -> bool:
        """True when ``relative`` lies under a folder that could not be listed."""
        return any(
            folder in ("", relative) or relative.startswith(folder + "/")
            for folder in self.unlisted
        )


# Asked of a file before the filter is: True when it is known to have passed the same rules.
Trusted = Callable[[str, Signature], bool]


def scan_tree(
    root: Path,
    path_filter: PathFilter,
    *,
    recursive: bool = True,
    start: str = "",
    walk: Walk | None = None,
    trusted: Trusted | None = None,
) -> Iterator[tuple[str, Signature]]:
    """Yield (relative path, signature) for every accepted regular file under ``root/start``,
    recording in ``walk`` the folders listed and those that could not be. A file ``trusted``
    vouches for is not matched against the rules again (most of an unchanged tree's cost)."""
    walk = walk if walk is not None else Walk()
    try:
        top = _open_folder(root, start)
    except OSError as exc:
        _unlisted(walk, root, start, exc)
        return
    # Depth first, with only the open folders of the current branch held.
    stack: list[tuple[int, str, Iterator[str]]] = []
    fd, relative_dir = top, start
    while True:
        if fd >= 0:
            walk.folders.add(relative_dir)
            subfolders = yield from _list(
                fd,
                relative_dir,
                path_filter,
                recursive=recursive,
                walk=walk,
                root=root,
                trusted=trusted,
            )
            stack.append((fd, relative_dir, iter(subfolders)))
        if not stack:
            return
        parent_fd, parent_dir, pending = stack[-1]
        name = next(pending, None)
        if name is None:
            os.close(parent_fd)
            stack.pop()
            fd = -1
            continue
        relative_dir = f"{parent_dir}/{name}" if parent_dir else name
        try:
            fd = os.open(name, _FOLDER_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            _unlisted(walk, root, relative_dir, exc)
            fd = -1


def _open_folder(root: Path, start: str) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for name in filter(None, start.split("/")):
        try:
            inner = os.open(name, _FOLDER_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = inner
    return fd


def _list(
    fd: int,
    relative_dir: str,
    path_filter: PathFilter,
    *,
    recursive: bool,
    walk: Walk,
    root: Path,
    trusted: Trusted | None = None,
) -> Generator[tuple[str, Signature], None, list[str]]:
    """Yield the folder's accepted files; return the names of the subfolders to walk."""
    subfolders: list[str] = []
    try:
        entries = os.scandir(fd)
    except OSError as exc:
        _unlisted(walk, root, relative_dir, exc)
        return subfolders
    with entries:
        for entry in entries:
            # A name that is not UTF-8 comes with surrogates for its bytes, and is kept so.
            relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and path_filter.accepts_dir(relative):
                        subfolders.append(entry.name)
                elif not entry.is_file(follow_symlinks=False):
                    continue
                elif trusted is None:
                    if path_filter.accepts_file(relative):
                        yield relative, signature_of(entry.stat(follow_symlinks=False))
                else:
                    signature = signature_of(entry.stat(follow_symlinks=False))
                    if trusted(relative, signature) or path_filter.accepts_file(relative):
                        yield relative, signature
            except OSError:
                continue  # vanished while listed: its delete event follows
    return subfolders


def _unlisted(walk: Walk, root: Path, relative_dir: str, exc: OSError) -> None:
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno == errno.ELOOP:
        return  # gone meanwhile, or a file or symlink now: what was under it is gone too
    walk.unlisted.append(relative_dir)
    log.warning(
        "cannot list a folder: what is known under it is kept, not marked deleted",
        extra={"root": str(root), "dir": relative_dir, "reason": exc.strerror},
    )


def folders_of(root: Path, path_filter: PathFilter, *, recursive: bool = True) -> set[str]:
    """The real folders under ``root`` (itself as ""), walked as ``scan_tree`` walks them
    but without looking at the files: what the OS watch is placed on.

    A folder that counts two links has no subfolder (its own name and its "."; each subfolder's
    ".." adds one), so its files are not listed: on a library of albums, only the artists'
    folders are. Trusted only on the root's own filesystem and one that counts them so."""
    found = {""}
    if not recursive:
        return found
    root_device = os.stat(root).st_dev
    counts_links = _counts_subfolder_links(root)
    stack = [""]
    while stack:
        relative_dir = stack.pop()
        try:
            fd = _open_folder(root, relative_dir)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if counts_links and info.st_nlink == 2 and info.st_dev == root_device:
                continue
            with os.scandir(fd) as entries:
                for entry in entries:
                    relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
                    try:
                        is_folder = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_folder and path_filter.accepts_dir(relative):
                        found.add(relative)
                        stack.append(relative)
        except OSError:
            pass
        finally:
            os.close(fd)
    return found


def _counts_subfolder_links(root: Path) -> bool:
    """Whether the root's filesystem keeps a folder's link count at 2 + its subfolders."""
    return detect_filesystem(root) in LINK_COUNTING_FILESYSTEMS
