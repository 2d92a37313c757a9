"""Opening a file beneath its root's folder, so that no symlink can lead outside the root.

A path from a message is looked up from a descriptor of the root's folder, never by name from
``/``: with ``openat2`` and ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`` the kernel refuses any
symlink on the way and anything that would climb out of the root, in the same call that finds
the folder; where ``openat2`` is missing (kernels before 5.6, sandboxes that forbid it) or the
path is longer than the kernel takes in one call, the folders are opened one at a time, each
with ``O_NOFOLLOW``, beneath the one before. Either way, a folder swapped for a symlink between
a check and the open leads nowhere: there is no check apart from the open.

The file itself is looked at (``fstatat``, no symlink followed) from its folder's descriptor,
opened from the same descriptor with ``O_NOFOLLOW``, and must be the very file looked at.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat
from dataclasses import dataclass
from typing import Any

from fileflow_core.errors import RootUnavailableError, TransientError
from fileflow_core.paths import display_path, path_bytes
from fileflow_core.roots import RootIdentity, mismatch_of_fd, mismatch_reason

_SYS_OPENAT2 = 437  # the same number on every Linux architecture
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_FOLDER_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# openat2 is not there, or not allowed: the walk does the same, a folder at a time.
_NO_OPENAT2 = (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG, errno.EOPNOTSUPP)


class NotARegularFile(Exception):
    """The path is a symlink, FIFO, socket, device or folder, or leads through a symlink:
    never opened for reading, never ingested."""


@dataclass(frozen=True, slots=True)
class Location:
    """A file under a root: where the root is, what it must be, and the path beneath it."""

    root_id: str
    root: str
    relative: str
    identity: RootIdentity | None = None

    def __str__(self) -> str:
        return f"{self.root}/{self.relative}"


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


_libc = ctypes.CDLL(None, use_errno=True)


class _Lookup:
    """Whether openat2 is used: until the kernel says it has none (then the walk, for good)."""

    openat2 = hasattr(_libc, "syscall")


@functools.cache
def _how(flags: int, resolve: int) -> tuple[_OpenHow, Any]:
    """The request, built once: read only, so every thread can pass the same one."""
    how = _OpenHow(flags, 0, resolve)
    return how, ctypes.byref(how)


_HOW_SIZE = ctypes.c_size_t(ctypes.sizeof(_OpenHow))


def _openat2(dir_fd: int, path: bytes, flags: int, resolve: int) -> int:
    fd = int(_libc.syscall(_SYS_OPENAT2, dir_fd, path, _how(flags, resolve)[1], _HOW_SIZE))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return fd


def use_openat2(enabled: bool) -> None:
    """Choose the lookup (tests run both; production detects on first use)."""
    _Lookup.openat2 = enabled and hasattr(_libc, "syscall")


def open_folder(root_fd: int, folder: str) -> int:
    """An ``O_PATH`` descriptor of ``folder`` (relative, validated) beneath ``root_fd``,
    reached through real folders only. Raises ``NotARegularFile`` for a symlink on the way,
    ``FileNotFoundError`` / ``NotADirectoryError`` when there is no such folder."""
    encoded = path_bytes(folder)
    if _Lookup.openat2:
        try:
            return _openat2(
                root_fd,
                encoded,
                _FOLDER_FLAGS,
                _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS,
            )
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EXDEV):
                raise NotARegularFile(f"{folder!r} leads through a symlink") from None
            if exc.errno in _NO_OPENAT2:
                _Lookup.openat2 = False
            elif exc.errno not in (errno.ENAMETOOLONG, errno.ENOTDIR):
                raise
            # Too long for one call, or not a folder: the walk goes on, or tells a symlink.
    return _walk(root_fd, encoded.split(b"/"))


def _walk(root_fd: int, parts: list[bytes]) -> int:
    fd = root_fd
    try:
        for part in parts:
            try:
                following = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
            except NotADirectoryError:
                if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise NotARegularFile("the path leads through a symlink") from None
                raise
            if fd != root_fd:
                os.close(fd)
            fd = following
    except BaseException:
        if fd != root_fd:
            os.close(fd)
        raise
    return fd


def open_root(location: Location) -> int:
    """A descriptor of the root's folder (its own symlink followed: where a root points is the
    operator's choice), checked against the root's recorded identity when one is given."""
    try:
        root_fd = os.open(location.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RootUnavailableError(
            location.root_id, f"{display_path(location.root)} does not exist"
        ) from None
    if location.identity is not None:
        try:
            now = mismatch_of_fd(location.identity, root_fd)
            if now is not None:
                raise RootUnavailableError(
                    location.root_id,
                    mismatch_reason(location.root_id, location.root, location.identity, now),
                )
        except BaseException:
            os.close(root_fd)
            raise
    return root_fd


class OpenRoots:
    """Root descriptors for a run of lookups made at one moment (a batch's files read one
    after another with no await between them): each root is opened and checked once for the
    run, not once a file. Closed when the run ends, never kept: whether a root is still the
    folder it was is asked again by the next run, so an unmounted or replaced root is seen."""

    def __init__(self) -> None:
        self._fds: dict[tuple[str, RootIdentity | None], int] = {}

    def __enter__(self) -> OpenRoots:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def root_fd(self, location: Location) -> int:
        key = (location.root, location.identity)
        fd = self._fds.get(key)
        if fd is None:
            fd = self._fds[key] = open_root(location)
        return fd


def stat_beneath(location: Location) -> os.stat_result:
    """The file's own status (no symlink followed anywhere on the way)."""
    root_fd = open_root(location)
    try:
        folder, _, name = location.relative.rpartition("/")
        dir_fd = open_folder(root_fd, folder) if folder else root_fd
        try:
            return os.stat(path_bytes(name), dir_fd=dir_fd, follow_symlinks=False)
        finally:
            if dir_fd != root_fd:
                os.close(dir_fd)
    finally:
        os.close(root_fd)


def open_beneath(location: Location, roots: OpenRoots | None = None) -> tuple[int, os.stat_result]:
    """Open the regular file at ``location`` for reading; return its descriptor and status.

    Raises ``FileNotFoundError`` / ``NotADirectoryError`` (nothing there), ``NotARegularFile``
    (a symlink, FIFO, device, folder, or a symlink on the way), ``RootUnavailableError`` (the
    root is not the folder it was), ``TransientError`` (replaced between its look and its
    open), ``PermissionError``. With ``roots``, the root's descriptor comes from there."""
    root_fd = open_root(location) if roots is None else roots.root_fd(location)
    try:
        folder, _, name = location.relative.rpartition("/")
        encoded = path_bytes(name)
        dir_fd = open_folder(root_fd, folder) if folder else root_fd
        try:
            looked = os.stat(encoded, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(looked.st_mode):
                raise NotARegularFile(f"not a regular file (mode {stat.filemode(looked.st_mode)})")
            fd = os.open(encoded, _FILE_FLAGS, dir_fd=dir_fd)
        finally:
            if dir_fd != root_fd:
                os.close(dir_fd)
    finally:
        if roots is None:
            os.close(root_fd)
    try:
        opened = os.fstat(fd)
        if (opened.st_ino, opened.st_dev) != (looked.st_ino, looked.st_dev) or not stat.S_ISREG(
            opened.st_mode
        ):
            raise TransientError("file was replaced between its look and its open")
    except BaseException:
        os.close(fd)
        raise
    return fd, opened
