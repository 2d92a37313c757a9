"""Giving freed memory back to the OS after a large backlog drains."""

from __future__ import annotations

import ctypes
import ctypes.util

# After a first scan of a big library publishes 100,000 files, most of what held them is
# free but stays in the C heap, so the process keeps its peak size while it just watches.
# glibc's malloc_trim hands free pages back. Other C libraries lack it: then this does nothing.
_libc_name = ctypes.util.find_library("c")
_malloc_trim = getattr(ctypes.CDLL(_libc_name), "malloc_trim", None) if _libc_name else None

LARGE_BACKLOG = 10_000


def release_free_memory() -> None:
    if _malloc_trim is not None:
        _malloc_trim(0)
