"""What was published per path: the questions the watcher asks of it, and a version in memory.

The watcher's own record lives on disk (``known_store.StoredKnownFiles``), read a folder at a
time, so its memory does not grow with the library. The version here holds everything in memory:
for a root whose record is rebuilt from the document store at each start (embedded mode), and
for tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from file_watcher.scan import Signature

_BITS = 64
_MASK = (1 << _BITS) - 1
# mtime_ns may be negative (a file dated before 1970); shifted up, it packs like the others.
_MTIME_OFFSET = 1 << 63

# A folder's files as the catch-up compares them: name → (size, mtime_ns, inode).
FolderEntries = dict[str, tuple[int, int, int]]


def pack(signature: Signature) -> int:
    """The signature as one int, exactly (no hash, so no collision can hide a change)."""
    size, mtime_ns, inode = signature
    return ((mtime_ns + _MTIME_OFFSET) << (2 * _BITS)) | ((inode & _MASK) << _BITS) | size


def unpack(packed: int) -> Signature:
    return Signature(
        packed & _MASK, (packed >> (2 * _BITS)) - _MTIME_OFFSET, (packed >> _BITS) & _MASK
    )


def split(path: str) -> tuple[str, str]:
    """(folder, name); the root's own files are in the folder ``""``."""
    folder, _, name = path.rpartition("/")
    return folder, name


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


class FolderReader(Protocol):
    """The record read a folder at a time, from the catch-up's thread."""

    def entries(self, folder: str) -> FolderEntries: ...

    def folders(self) -> list[str]:
        """Every folder holding a known file."""
        ...


class KnownFiles(Protocol):
    """path → the signature last published (and confirmed) for it."""

    def get(self, path: str) -> Signature | None: ...

    def matches(self, path: str, signature: Signature) -> bool: ...

    def __contains__(self, path: object) -> bool: ...

    def __len__(self) -> int: ...

    def __bool__(self) -> bool: ...

    def under(self, folder: str) -> list[str]:
        """The known paths beneath ``folder`` (at any depth; "": the root's)."""
        ...

    def items(self) -> Iterator[tuple[str, Signature]]: ...

    def record(
        self, present: Sequence[tuple[str, Signature]], deleted: Sequence[str]
    ) -> Awaitable[None]:
        """What the broker confirmed: these paths now have these signatures, those are gone.
        Lookups see it at once; the awaitable returned writes it down."""
        ...

    def reader(self) -> AbstractContextManager[FolderReader]: ...

    def close(self) -> None: ...


async def _nothing_to_write() -> None:
    return None


class _GroupedSnapshot:
    def __init__(self, by_folder: dict[str, FolderEntries]) -> None:
        self._by_folder = by_folder

    def entries(self, folder: str) -> FolderEntries:
        return dict(self._by_folder.get(folder, {}))

    def folders(self) -> list[str]:
        return list(self._by_folder)


class KnownFilesInMemory:
    """path → signature, each signature stored as one int: ~60 bytes a file instead of ~160
    (a named tuple and its three ints)."""

    __slots__ = ("_packed",)

    def __init__(self, items: Iterable[tuple[str, Signature]] = ()) -> None:
        self._packed: dict[str, int] = {path: pack(signature) for path, signature in items}

    def get(self, path: str) -> Signature | None:
        packed = self._packed.get(path)
        return None if packed is None else unpack(packed)

    def matches(self, path: str, signature: Signature) -> bool:
        return self._packed.get(path) == pack(signature)

    def __contains__(self, path: object) -> bool:
        return path in self._packed

    def __len__(self) -> int:
        return len(self._packed)

    def __bool__(self) -> bool:
        return bool(self._packed)

    def under(self, folder: str) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        return [path for path in self._packed if path.startswith(prefix)]

    def items(self) -> Iterator[tuple[str, Signature]]:
        return ((path, unpack(packed)) for path, packed in list(self._packed.items()))

    def record(
        self, present: Sequence[tuple[str, Signature]], deleted: Sequence[str]
    ) -> Awaitable[None]:
        for path in deleted:
            self._packed.pop(path, None)
        for path, signature in present:
            self._packed[path] = pack(signature)
        return _nothing_to_write()

    @contextmanager
    def reader(self) -> Iterator[FolderReader]:
        by_folder: dict[str, FolderEntries] = {}
        # A copy taken at once: the loop keeps recording while the catch-up's thread reads.
        for path, packed in list(self._packed.items()):
            folder, name = split(path)
            by_folder.setdefault(folder, {})[name] = unpack(packed)
        yield _GroupedSnapshot(by_folder)

    def close(self) -> None:
        return None
