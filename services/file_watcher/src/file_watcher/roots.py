"""A watched root at run time: its folder, filter, watch mode, and what was published for it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from file_watcher.filters import PathFilter
from file_watcher.gitinfo import git_source
from file_watcher.known import KnownFiles
from file_watcher.state import PublishedState, WatcherState
from fileflow_core import metrics
from fileflow_core.errors import ConfigError
from fileflow_core.mounts import detect_filesystem, needs_polling
from fileflow_core.settings import RootConfig

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WatchedRoot:
    config: RootConfig
    path: Path
    filter: PathFilter
    state: PublishedState
    polling: bool = False
    filesystem: str | None = None
    known: KnownFiles = field(default_factory=KnownFiles)
    source: dict[str, str] | None = None

    @property
    def id(self) -> str:
        return self.config.id

    def absolute(self, relative: str) -> str:
        """``relative`` under the root, as text (a path join per notification adds up)."""
        return f"{self.path}/{relative}"

    def known_under(self, folder: str) -> list[str]:
        prefix = folder + "/"
        return [path for path in self.known if path.startswith(prefix)]

    def is_present(self) -> bool:
        """False when the root folder itself is gone (an unmounted share, a removed disk)."""
        return self.path.is_dir()

    def refresh_source(self) -> None:
        if self.config.git:
            self.source = git_source(self.path)


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


def open_root(
    config: RootConfig, state_dir: Path, queue: str, state: PublishedState | None = None
) -> WatchedRoot:
    """Open a root; what was published comes from ``state``, by default the watcher's own
    record in ``state_dir``."""
    path = check_root_folder(config)
    filesystem = detect_filesystem(path)
    polling = (
        config.force_polling if config.force_polling is not None else needs_polling(filesystem)
    )
    if state is None:
        state = WatcherState(state_dir, config.id, path, queue)
    root = WatchedRoot(
        config,
        path,
        PathFilter(config.include, config.ignore, defaults=config.default_ignores),
        state,
        polling=polling,
        filesystem=filesystem,
        known=state.load(),
    )
    root.refresh_source()
    metrics.WATCH_POLLING.labels(root=config.id).set(1 if polling else 0)
    metrics.ROOT_PRESENT.labels(root=config.id).set(1)
    log.info(
        "watching root",
        extra={
            "root": config.id,
            "path": str(path),
            "filesystem": filesystem,
            "mode": "polling" if polling else "notify",
            "known_files": len(root.known),
            "git": root.source,
        },
    )
    return root
