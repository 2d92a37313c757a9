"""Reading a file safely: opened beneath its root (``fileflow_core.beneath``), only regular
files, streamed and hashed in chunks."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiofiles

from fileflow_core import metrics
from fileflow_core.beneath import Location, OpenRoots, open_beneath
from fileflow_core.errors import TransientError
from ingestor.batching import MicroBatcher

HEAD_BYTES = 8192
# Files up to this size are read whole in one thread hop (and kept, so extraction needs no
# second read); aiofiles would cost a hop per open, read and close, which dominates small files.
WHOLE_FILE_BYTES = 256 * 1024
LARGE_FILE_BYTES = 64 << 20
LARGE_CHUNK_BYTES = 8 << 20
# hashlib releases the GIL on large updates; off the loop they cost no event-loop time.
_OFFLOAD_UPDATE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class FileDigest:
    sha256: str
    size: int
    mtime_ns: int
    inode: int
    head: bytes
    # The whole content, for files up to WHOLE_FILE_BYTES.
    data: bytes | None = None


# Reads a file whole if it is small, else gives its status; see ``GroupedReads``.
ReadSmall = Callable[[Location], Awaitable[FileDigest | os.stat_result]]
# Small files ready together are located and read in one thread call: a thread hop (submit,
# wake, hand the result back to the loop) costs more than reading a 4 KB file from the page
# cache. Several groups run at once so that a slow disk still has reads in parallel.
READ_GROUP_FILES = 16
CONCURRENT_READ_GROUPS = 4


class GroupedReads:
    """``read_small`` for one file, done in a thread together with the files waiting."""

    def __init__(
        self, *, max_group: int = READ_GROUP_FILES, max_concurrent: int = CONCURRENT_READ_GROUPS
    ) -> None:
        self._batcher: MicroBatcher[Location, FileDigest | os.stat_result] = MicroBatcher(
            self._run, max_batch=max_group, max_concurrent=max_concurrent
        )

    async def read_small(
        self, location: Location, *, inline: bool = False
    ) -> FileDigest | os.stat_result:
        """``inline``: first try on the calling thread, reading only what the page cache
        holds (a local filesystem's metadata is cached too after the watcher's stat)."""
        if inline:
            small = read_if_small(location, only_cached=True)
            if small is not None:
                return small
        return await self._batcher.submit(location)

    @staticmethod
    async def _run(
        locations: list[Location],
    ) -> Sequence[FileDigest | os.stat_result | BaseException]:
        return await asyncio.to_thread(_read_each, locations)


def _read_each(locations: list[Location]) -> list[FileDigest | os.stat_result | BaseException]:
    results: list[FileDigest | os.stat_result | BaseException] = []
    with OpenRoots() as roots:
        for location in locations:
            try:
                results.append(_read_small_in_thread(location, roots))
            except Exception as exc:  # this file's own outcome, handed to its caller
                results.append(exc)
    return results


def _read_small_in_thread(
    location: Location, roots: OpenRoots | None = None
) -> FileDigest | os.stat_result:
    small = read_if_small(location, roots=roots)
    assert small is not None  # only a read of cached bytes alone gives up
    return small


async def _read_alone(location: Location) -> FileDigest | os.stat_result:
    return await asyncio.to_thread(_read_small_in_thread, location)


async def read_and_hash(
    location: Location,
    chunk_bytes: int,
    large_reads: asyncio.Semaphore | None = None,
    read_small: ReadSmall = _read_alone,
) -> FileDigest:
    """Hash the file at ``location``. Raises FileNotFoundError / NotADirectoryError (nothing
    there), PermissionError, NotARegularFile, RootUnavailableError, or TransientError when
    the file changed while it was read.

    Files from ``LARGE_FILE_BYTES`` up are read in ``LARGE_CHUNK_BYTES`` chunks (fewer thread
    hops: near hashlib's own speed) but only as many at once as ``large_reads`` allows, so
    the bytes in flight stay bounded.
    """
    small = await read_small(location)
    if isinstance(small, FileDigest):
        metrics.BYTES_HASHED.inc(small.size)
        return small
    before = small
    if before.st_size >= LARGE_FILE_BYTES and large_reads is not None:
        async with large_reads:
            return await _hash(location, before, max(chunk_bytes, LARGE_CHUNK_BYTES))
    return await _hash(location, before, chunk_bytes)


def read_if_small(
    location: Location, *, only_cached: bool = False, roots: OpenRoots | None = None
) -> FileDigest | os.stat_result | None:
    """The digest of a small regular file, read whole; for a larger one, its status. With
    ``only_cached``, None when its bytes are not all in the page cache; ``roots``: see
    ``open_beneath``."""
    fd, opened = open_beneath(location, roots)
    try:
        if opened.st_size > WHOLE_FILE_BYTES:
            return opened
        data = _read_cached(fd, opened.st_size) if only_cached else _read_whole(fd)
        if data is None:
            return None
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if len(data) != after.st_size or after.st_mtime_ns != opened.st_mtime_ns:
        raise TransientError("file changed while it was read; will retry once it settles")
    return FileDigest(
        hashlib.sha256(data).hexdigest(),
        len(data),
        after.st_mtime_ns,
        after.st_ino,
        data[:HEAD_BYTES],
        data,
    )


def _read_whole(fd: int) -> bytes:
    blocks: list[bytes] = []
    total = 0
    # Reading one byte past the limit tells a file that grew meanwhile (then: retry).
    while total <= WHOLE_FILE_BYTES and (block := os.read(fd, WHOLE_FILE_BYTES + 1 - total)):
        blocks.append(block)
        total += len(block)
    return b"".join(blocks)


def _read_cached(fd: int, size: int) -> bytes | None:
    """The file's bytes if the page cache holds them all (``RWF_NOWAIT`` never waits for the
    disk), else None. One byte more than ``size`` is asked for: a file that grew reads longer."""
    if size == 0:
        return b""
    buffer = bytearray(size + 1)
    try:
        total = os.preadv(fd, [buffer], 0, os.RWF_NOWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return None  # this filesystem cannot tell: a thread reads it
        raise
    # Short: partly cached, or the file shrank; a thread's read tells which.
    return bytes(buffer[:total]) if total >= size else None


async def _hash(location: Location, before: os.stat_result, chunk_bytes: int) -> FileDigest:
    digest = hashlib.sha256()
    head = b""
    size = 0
    fd, opened = await asyncio.to_thread(open_beneath, location)
    async with aiofiles.open(fd, "rb", buffering=0) as handle:
        if opened.st_ino != before.st_ino:
            raise TransientError("file was replaced between two looks at it")
        # The next chunk is read while this one is hashed: the copy from the page cache and
        # the hashing overlap on two cores instead of taking turns.
        next_chunk = asyncio.ensure_future(handle.read(chunk_bytes))
        try:
            while chunk := await next_chunk:
                next_chunk = asyncio.ensure_future(handle.read(chunk_bytes))
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                if len(chunk) >= _OFFLOAD_UPDATE_BYTES:
                    await asyncio.to_thread(digest.update, chunk)
                else:
                    digest.update(chunk)
                size += len(chunk)
        finally:
            # A read still running must end before the file is closed under it. Never
            # cancelled: its thread would go on reading a closed, maybe reused, descriptor.
            if not next_chunk.done():
                await asyncio.wait([next_chunk])
            if not next_chunk.cancelled():
                next_chunk.exception()  # retrieved, so an error here is not logged twice
        after = os.fstat(handle.fileno())
    metrics.BYTES_HASHED.inc(size)
    if size != after.st_size or after.st_mtime_ns != opened.st_mtime_ns:
        raise TransientError("file changed while it was read; will retry once it settles")
    return FileDigest(digest.hexdigest(), size, after.st_mtime_ns, after.st_ino, head)
