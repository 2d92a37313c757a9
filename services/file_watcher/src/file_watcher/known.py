"""What was published per path, held compactly: the watcher keeps one entry per file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping

from file_watcher.scan import Signature

_BITS = 64
_MASK = (1 << _BITS) - 1
# mtime_ns may be negative (a file dated before 1970); shifted up, it packs like the others.
_MTIME_OFFSET = 1 << 63


def pack(signature: Signature) -> int:
    """The signature as one int, exactly (no hash, so no collision can hide a change)."""
    size, mtime_ns, inode = signature
    return ((mtime_ns + _MTIME_OFFSET) << (2 * _BITS)) | ((inode & _MASK) << _BITS) | size


def unpack(packed: int) -> Signature:
    return Signature(
        packed & _MASK, (packed >> (2 * _BITS)) - _MTIME_OFFSET, (packed >> _BITS) & _MASK
    )


class KnownFiles(MutableMapping[str, Signature]):
    """path → signature, each signature stored as one int: ~60 bytes a file instead of ~160
    (a named tuple and its three ints), which is most of the watcher's memory at 100,000 files.
    """

    __slots__ = ("_packed",)

    def __init__(self, items: Iterable[tuple[str, Signature]] = ()) -> None:
        self._packed: dict[str, int] = {path: pack(signature) for path, signature in items}

    def __getitem__(self, path: str) -> Signature:
        return unpack(self._packed[path])

    def get(self, path: str, default: None = None) -> Signature | None:  # type: ignore[override]
        packed = self._packed.get(path)
        return None if packed is None else unpack(packed)

    def matches(self, path: str, signature: Signature) -> bool:
        return self._packed.get(path) == pack(signature)

    def __setitem__(self, path: str, signature: Signature) -> None:
        self._packed[path] = pack(signature)

    def __delitem__(self, path: str) -> None:
        del self._packed[path]

    def __contains__(self, path: object) -> bool:
        return path in self._packed

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)
