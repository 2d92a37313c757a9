"""read_and_hash: correct digest of regular files; symlinks, FIFOs and missing files refused."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from ingestor.read import HEAD_BYTES, NotARegularFile, read_and_hash


@pytest.mark.parametrize(
    ("size", "chunk_bytes"),
    [(0, 8192), (1, 8192), (8192, 8192), (20_000, 8192), (1 << 20, 64 * 1024), (1 << 20, 1 << 19)],
)
async def test_hash_and_size_match_hashlib(tmp_path: Path, size: int, chunk_bytes: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = await read_and_hash(path, chunk_bytes)
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
    digest = await read_and_hash(path, 4096)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)


async def test_head_is_full_with_small_chunks(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = await read_and_hash(path, 4096)
    assert digest.head == data[:HEAD_BYTES]


async def test_symlink_refused(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("hello")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(NotARegularFile):
        await read_and_hash(link, 4096)


async def test_fifo_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile):
        await asyncio.wait_for(read_and_hash(fifo, 4096), timeout=5)


async def test_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(NotARegularFile):
        await read_and_hash(tmp_path, 4096)


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await read_and_hash(tmp_path / "missing", 4096)
