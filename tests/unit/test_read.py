"""read_and_hash: correct digest of regular files; symlinks, FIFOs and missing files refused."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from fileflow_core.beneath import Location, NotARegularFile
from ingestor import read as read_module
from ingestor.read import (
    HEAD_BYTES,
    WHOLE_FILE_BYTES,
    FileDigest,
    GroupedReads,
    read_and_hash,
)


def at(path: Path) -> Location:
    return Location("lib", str(path.parent), path.name)


async def read_digest(path: Path, chunk_bytes: int) -> FileDigest:
    return await read_and_hash(at(path), chunk_bytes)


@pytest.mark.parametrize("size", [0, 5, WHOLE_FILE_BYTES, WHOLE_FILE_BYTES + 1])
async def test_small_files_come_with_their_bytes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = await read_digest(path, 4096)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == size
    # Whole files up to the limit are kept for extraction; larger ones are streamed.
    assert digest.data == (data if size <= WHOLE_FILE_BYTES else None)


@pytest.mark.parametrize(
    ("size", "chunk_bytes"),
    [(0, 8192), (1, 8192), (8192, 8192), (20_000, 8192), (1 << 20, 64 * 1024), (1 << 20, 1 << 19)],
)
async def test_hash_and_size_match_hashlib(tmp_path: Path, size: int, chunk_bytes: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = await read_digest(path, chunk_bytes)
    stat = os.stat(path)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == size
    assert digest.head == data[:HEAD_BYTES]
    assert digest.inode == stat.st_ino
    assert digest.mtime_ns == stat.st_mtime_ns


async def test_small_chunks_hash_correctly(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = await read_digest(path, 4096)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)


async def test_head_is_full_with_small_chunks(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = await read_digest(path, 4096)
    assert digest.head == data[:HEAD_BYTES]


async def test_symlink_refused(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("hello")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(NotARegularFile):
        await read_digest(link, 4096)


async def test_fifo_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile):
        await asyncio.wait_for(read_digest(fifo, 4096), timeout=5)


async def test_directory_refused(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(NotARegularFile):
        await read_digest(tmp_path / "folder", 4096)


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await read_digest(tmp_path / "missing", 4096)


async def test_grouped_reads_share_a_thread_call_and_keep_each_outcome(tmp_path: Path) -> None:
    calls: list[int] = []
    reads = GroupedReads(max_group=8, max_concurrent=1)
    original = reads._run

    async def counting(locations: list[Location]) -> Sequence[object]:
        calls.append(len(locations))
        return await original(locations)

    reads._batcher._run_batch = counting  # type: ignore[assignment]
    for i in range(6):
        (tmp_path / f"f{i}.txt").write_bytes(b"x" * i)
    (tmp_path / "link").symlink_to(tmp_path / "f1.txt")
    names = [*(f"f{i}.txt" for i in range(6)), "missing.txt", "link"]
    results = await asyncio.gather(
        *(read_and_hash(at(tmp_path / name), 4096, read_small=reads.read_small) for name in names),
        return_exceptions=True,
    )
    assert calls == [8]  # all eight files in one thread call
    for i in range(6):
        digest = results[i]
        assert isinstance(digest, FileDigest)
        assert digest.sha256 == hashlib.sha256(b"x" * i).hexdigest()
    # A file's failure is its own: the others of its group are read all the same.
    assert isinstance(results[6], FileNotFoundError)
    assert isinstance(results[7], NotARegularFile)


async def test_inline_reads_give_the_threads_digest_and_fall_back_when_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    reads = GroupedReads()
    inline = await read_and_hash(
        at(path), 4096, read_small=functools.partial(reads.read_small, inline=True)
    )
    threaded = await read_and_hash(at(path), 4096)
    assert inline == threaded
    assert inline.sha256 == hashlib.sha256(data).hexdigest() and inline.data == data

    # Bytes not in the page cache (RWF_NOWAIT says it would block): a thread reads them.
    def would_block(*_: object) -> int:
        raise BlockingIOError

    monkeypatch.setattr(read_module.os, "preadv", would_block)
    threads: list[int] = []
    original = reads._run

    async def counting(locations: list[Location]) -> Sequence[object]:
        threads.append(len(locations))
        return await original(locations)

    reads._batcher._run_batch = counting  # type: ignore[assignment]
    fallback = await read_and_hash(
        at(path), 4096, read_small=functools.partial(reads.read_small, inline=True)
    )
    assert threads == [1]
    assert fallback == threaded


@pytest.mark.parametrize("kind", ["symlink", "missing", "large"])
async def test_inline_reads_refuse_and_defer_like_the_thread(tmp_path: Path, kind: str) -> None:
    reads = GroupedReads()
    target = tmp_path / "target.bin"
    target.write_bytes(b"x" * (WHOLE_FILE_BYTES + 1))
    path = tmp_path / "f"
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "large":
        path = target
    inline = functools.partial(reads.read_small, inline=True)
    if kind == "large":
        # Large files are streamed later, in chunks: only their status comes back.
        digest = await read_and_hash(at(path), 1 << 20, read_small=inline)
        assert digest.data is None and digest.size == WHOLE_FILE_BYTES + 1
        return
    expected = NotARegularFile if kind == "symlink" else FileNotFoundError
    with pytest.raises(expected):
        await read_and_hash(at(path), 4096, read_small=inline)
