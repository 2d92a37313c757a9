"""The path the OS watch is given for a root.

``watchfiles`` takes paths as text, so a root whose own path is not valid UTF-8 (a share or a
disk named in Latin-1) could not be watched at all: every start of the watch failed, and only
the catch-up scan after each failure saw its changes. Such a root is watched through an alias
in ASCII: ``/proc/self/fd/N``, an open descriptor of the root's folder. The alias names the
folder the descriptor was opened on, which is the root for as long as the watch runs (the watch
ends when the root is replaced or unmounted: see ``availability``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from fileflow_core.paths import is_text

DESCRIPTORS = Path("/proc/self/fd")


@contextlib.contextmanager
def watch_path(root: Path) -> Iterator[Path]:
    """``root`` itself when its path is valid UTF-8, else an ASCII alias of it, valid until
    the ``with`` block ends."""
    if is_text(str(root)):
        yield root
        return
    descriptor = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        alias = DESCRIPTORS / str(descriptor)
        if not alias.is_dir():
            raise OSError(
                f"{root} is not valid UTF-8, which the OS watch cannot take, and no alias of "
                f"it is available ({DESCRIPTORS} is missing: mount /proc)"
            )
        yield alias
    finally:
        os.close(descriptor)
