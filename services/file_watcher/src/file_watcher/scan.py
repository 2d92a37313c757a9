"""Walking a root: regular files only, symlinks never followed, ignored folders never entered."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from file_watcher.filters import PathFilter

log = logging.getLogger(__name__)


class Signature(NamedTuple):
    """What the watcher compares to decide whether a file changed."""

    size: int
    mtime_ns: int
    inode: int


def signature_of(stat_result: os.stat_result) -> Signature:
    return Signature(stat_result.st_size, stat_result.st_mtime_ns, stat_result.st_ino)


def scan_tree(
    root: Path, path_filter: PathFilter, *, recursive: bool = True, start: str = ""
) -> Iterator[tuple[str, Signature]]:
    """Yield (relative path, signature) for every accepted regular file under ``root/start``."""
    stack = [start]
    while stack:
        relative_dir = stack.pop()
        try:
            entries = os.scandir(root / relative_dir if relative_dir else root)
        except OSError as exc:
            log.warning(
                "cannot list folder, skipped",
                extra={"root": str(root), "dir": relative_dir, "reason": exc.strerror},
            )
            continue
        with entries:
            for entry in entries:
                # A name that is not UTF-8 comes with surrogates for its bytes, and is kept so.
                relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if recursive and path_filter.accepts_dir(relative):
                            stack.append(relative)
                    elif entry.is_file(follow_symlinks=False) and path_filter.accepts_file(
                        relative
                    ):
                        yield relative, signature_of(entry.stat(follow_symlinks=False))
                except OSError:
                    continue  # vanished while listed: its delete event follows
