"""Whether a root can testify about its files: it is there, and it is the filesystem it was.

Absence is not deletion. A share that is not mounted, a volume a container did not get or a
mistyped path all look like a folder without files; only a root that is present, and is the
same root it was when first scanned, may have its missing files recorded as deleted.

A root's identity is its folder's inode and its filesystem: the device number, or, where the
device number changed (a disk plugged in again, a loop image mounted anew), the filesystem id
that ``statfs`` derives from the filesystem itself. The bare mount point of an unmounted share
has another inode on another device, so it never passes for the share.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from fileflow_core.paths import display_path


@dataclass(frozen=True, slots=True)
class RootIdentity:
    device: int
    inode: int
    fsid: int = 0

    def same_as(self, other: RootIdentity) -> bool:
        if self.inode != other.inode:
            return False
        return self.device == other.device or (self.fsid != 0 and self.fsid == other.fsid)

    def encode(self) -> str:
        return f"{self.device}:{self.inode}:{self.fsid}"

    @classmethod
    def decode(cls, text: str) -> RootIdentity:
        device, inode, fsid = (int(part) for part in text.split(":"))
        return cls(device, inode, fsid)

    def describe(self) -> str:
        return f"device {os.major(self.device)}:{os.minor(self.device)}, inode {self.inode}"


def identity_of(info: os.stat_result, fsid: int) -> RootIdentity:
    return RootIdentity(info.st_dev, info.st_ino, fsid)


def identify(path: Path) -> RootIdentity:
    """The identity of the folder at ``path`` now (the root's own symlink is followed: where
    the root points is the operator's choice). Raises ``OSError``."""
    return identity_of(os.stat(path), os.statvfs(path).f_fsid)


def mismatch_of_fd(recorded: RootIdentity, fd: int) -> RootIdentity | None:
    """The open folder's identity when it is not the ``recorded`` one, else None: checked on
    the very descriptor a lookup starts from. The same device and inode settle it with one
    ``fstat`` (this runs for every file read); the filesystem's id is asked for only when the
    device number differs."""
    info = os.fstat(fd)
    if info.st_ino == recorded.inode and info.st_dev == recorded.device:
        return None
    now = identity_of(info, os.fstatvfs(fd).f_fsid)
    return None if recorded.same_as(now) else now


def unavailable_reason(
    root_id: str, path: Path, recorded: RootIdentity | None, marker: str | None = None
) -> str | None:
    """Why the root at ``path`` cannot testify about its files now, or None when it can."""
    shown = display_path(str(path))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"{shown} does not exist (not mounted? a typo in FILEFLOW_ROOTS?)"
    except OSError as exc:
        return f"{shown} cannot be looked at: {exc.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{shown} is not a directory"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{shown} is not readable by this user"
    if marker is not None and not os.path.lexists(path / marker):
        return f"the marker {marker!r} is missing in {shown} (is the volume mounted?)"
    if recorded is None:
        return None
    try:
        now = identity_of(info, os.statvfs(path).f_fsid)
    except OSError as exc:
        return f"{shown} cannot be looked at: {exc.strerror}"
    if not recorded.same_as(now):
        return mismatch_reason(root_id, path, recorded, now)
    return None


def is_empty_folder(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def empty_reason(root_id: str, path: Path, files: int) -> str:
    """Why a root with no recorded identity (recorded by an older fileflow, or lost) is not
    taken as it is: empty, while files are known in it."""
    return (
        f"{display_path(str(path))} is empty, while {files} files are known in it and no "
        "identity was recorded for it yet: is the share or volume mounted? If every file was "
        f"really deleted, run `fileflow roots --accept {root_id}`"
    )


def mismatch_reason(
    root_id: str, path: Path | str, recorded: RootIdentity, now: RootIdentity
) -> str:
    return (
        f"{display_path(str(path))} is not the folder it was when first scanned "
        f"({recorded.describe()}; now "
        f"{now.describe()}): is the share or volume mounted? If the library really moved, "
        f"run `fileflow roots --accept {root_id}`"
    )
