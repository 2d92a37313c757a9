"""Which filesystem a root lives on: the watcher chooses between OS notifications and polling,
the ingestor whether small files may be read on its event loop."""

from __future__ import annotations

import os
from pathlib import Path

# Notifications do not see changes made by other machines on these (or are not delivered).
POLLING_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "ceph",
        "glusterfs",
        "afs",
        "davfs",
        "sshfs",
        "lustre",
        "gpfs",
        "overlay",
        "vboxsf",
        "vmhgfs",
        "prl_fs",
    }
)


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mounts(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) pairs from the text of /proc/mounts."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((_unescape(fields[1]), fields[2]))
    return mounts


def parse_mount_ids(text: str) -> list[tuple[int, str]]:
    """(mount id, mount point) pairs from the text of /proc/self/mountinfo: a filesystem
    mounted again gets a new id."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit():
            mounts.append((int(fields[0]), _unescape(fields[4])))
    return mounts


def filesystem_of(path: Path, mounts: list[tuple[str, str]]) -> str | None:
    """The type of the innermost mount holding ``path`` (already resolved)."""
    best: tuple[int, str] | None = None
    text = str(path)
    for point, fstype in mounts:
        inside = text == point or text.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), fstype)
    return best[1] if best else None


def needs_polling(fstype: str | None) -> bool:
    if fstype is None:
        return False
    return fstype in POLLING_FILESYSTEMS or fstype == "fuse" or fstype.startswith("fuse.")


def detect_filesystem(path: Path) -> str | None:
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as handle:
            return filesystem_of(Path(os.path.realpath(path)), parse_mounts(handle.read()))
    except OSError:
        return None  # not Linux: notifications it is


# Local disks and memory: a page-cached file's open and lstat do not wait on a network.
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "jfs", "bcachefs", "tmpfs", "ramfs"}
)


def is_local(fstype: str | None) -> bool:
    """True for filesystems whose cached metadata and data are read without any I/O wait."""
    return fstype in LOCAL_FILESYSTEMS
