"""A watched root at run time: its folder, filter, and what was published for it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from file_watcher.filters import PathFilter
from file_watcher.scan import Signature
from file_watcher.state import WatcherState
from fileflow_core.errors import ConfigError
from fileflow_core.settings import RootConfig


@dataclass(slots=True)
class WatchedRoot:
    config: RootConfig
    path: Path
    filter: PathFilter
    state: WatcherState
    known: dict[str, Signature] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.config.id

    def known_under(self, folder: str) -> list[str]:
        prefix = folder + "/"
        return [path for path in self.known if path.startswith(prefix)]


def check_root_folder(config: RootConfig) -> Path:
    """The root's resolved folder, or a ConfigError saying what is wrong with it."""
    path = config.path.expanduser()
    if not path.exists():
        raise ConfigError(f"root {config.id!r}: {path} does not exist (check FILEFLOW_ROOTS)")
    if not path.is_dir():
        raise ConfigError(f"root {config.id!r}: {path} is not a directory (check FILEFLOW_ROOTS)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(f"root {config.id!r}: {path} is not readable by this user")
    return path.resolve()


def open_root(config: RootConfig, state_dir: Path, queue: str) -> WatchedRoot:
    path = check_root_folder(config)
    state = WatcherState(state_dir, config.id, path, queue)
    return WatchedRoot(config, path, PathFilter(config.include, config.ignore), state, state.load())
