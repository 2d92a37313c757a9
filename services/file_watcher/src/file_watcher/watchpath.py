"""The path the OS watch is given for a root.

``watchfiles`` takes paths as text, so a root whose own path is not valid UTF-8 (a share or a
disk named in Latin-1) could not be watched at all: every start of the watch failed, and only
the catch-up scan after each failure saw its changes. Such a root is watched through an alias:
a symbolic link to it in the watcher's state folder, named after the root's id. The OS watch
resolves the link when each folder's watch is placed, and the notifications name paths beneath
the link. A link rather than an open descriptor of the folder (``/proc/self/fd/N``): a
descriptor held for as long as the watch runs would keep a share mounted there from being
unmounted ("target is busy"), and the OS watch itself does not.
"""

from __future__ import annotations

import os
from pathlib import Path

from fileflow_core.paths import display_path, is_text

ALIASES = "watch-aliases"


def watch_path(root: Path, state_dir: Path, root_id: str) -> Path:
    """``root`` itself when its path is valid UTF-8, else a link to it named in text."""
    text = str(root)
    if is_text(text):
        return root
    # Absolute, as the root's own paths are: the watch reports paths as it was given them.
    alias = (state_dir.expanduser() / ALIASES / root_id).absolute()
    if not is_text(str(alias)):
        raise OSError(
            f"the root's path {display_path(text)} is not valid UTF-8, which the OS watch "
            "cannot take, and its alias in FILEFLOW_STATE_DIR would not be either: set "
            "FILEFLOW_STATE_DIR to a folder whose path is valid UTF-8"
        )
    alias.parent.mkdir(parents=True, exist_ok=True)
    # Made aside and renamed over the old one: a watch starting meanwhile never finds no link.
    staged = alias.with_name(f".{root_id}.{os.getpid()}")
    staged.unlink(missing_ok=True)
    staged.symlink_to(os.path.abspath(text))
    staged.replace(alias)
    return alias
