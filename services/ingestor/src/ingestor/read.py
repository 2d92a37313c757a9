"""Reading a file safely: no symlinks, only regular files, streamed and hashed in chunks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from fileflow_core import metrics
from fileflow_core.errors import TransientError

HEAD_BYTES = 8192
LARGE_FILE_BYTES = 64 << 20
LARGE_CHUNK_BYTES = 8 << 20
# hashlib releases the GIL on large updates; off the loop they cost no event-loop time.
_OFFLOAD_UPDATE_BYTES = 256 * 1024


class NotARegularFile(Exception):
    """The path is a symlink, FIFO, socket, device or directory: never opened for reading."""


@dataclass(frozen=True, slots=True)
class FileDigest:
    sha256: str
    size: int
    mtime_ns: int
    inode: int
    head: bytes


def _open_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


async def read_and_hash(
    path: Path, chunk_bytes: int, large_reads: asyncio.Semaphore | None = None
) -> FileDigest:
    """Hash ``path`` in chunks. Raises FileNotFoundError, PermissionError, NotARegularFile, or
    TransientError when the file changed while it was read.

    Files from ``LARGE_FILE_BYTES`` up are read in ``LARGE_CHUNK_BYTES`` chunks (fewer thread
    hops: near hashlib's own speed) but only as many at once as ``large_reads`` allows, so
    the bytes in flight stay bounded.
    """
    before = await asyncio.to_thread(os.lstat, path)
    if not stat.S_ISREG(before.st_mode):
        raise NotARegularFile(f"not a regular file (mode {stat.filemode(before.st_mode)})")
    if before.st_size >= LARGE_FILE_BYTES and large_reads is not None:
        async with large_reads:
            return await _hash(path, before, max(chunk_bytes, LARGE_CHUNK_BYTES))
    return await _hash(path, before, chunk_bytes)


async def _hash(path: Path, before: os.stat_result, chunk_bytes: int) -> FileDigest:
    digest = hashlib.sha256()
    head = b""
    size = 0
    async with aiofiles.open(path, "rb", buffering=0, opener=_open_no_follow) as handle:
        opened = os.fstat(handle.fileno())
        if opened.st_ino != before.st_ino or not stat.S_ISREG(opened.st_mode):
            raise TransientError("file was replaced between check and open")
        while chunk := await handle.read(chunk_bytes):
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            if len(chunk) >= _OFFLOAD_UPDATE_BYTES:
                await asyncio.to_thread(digest.update, chunk)
            else:
                digest.update(chunk)
            size += len(chunk)
        after = os.fstat(handle.fileno())
    metrics.BYTES_HASHED.inc(size)
    if size != after.st_size or after.st_mtime_ns != opened.st_mtime_ns:
        raise TransientError("file changed while it was read; will retry once it settles")
    return FileDigest(digest.hexdigest(), size, after.st_mtime_ns, after.st_ino, head)
