"""Include/ignore rules per root, gitignore-style (pathspec)."""

from __future__ import annotations

from collections.abc import Sequence

import pathspec

from fileflow_core.settings import RootConfig

DEFAULT_IGNORES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    ".fileflow/",
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    r"\#*#",
    ".~lock.*#",
    "4913",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "*.!qB",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
)


class PathFilter:
    """Decides which relative paths of a root are ingested."""

    @classmethod
    def for_root(cls, config: RootConfig) -> PathFilter:
        """The root's own filter: what the watcher and ``fileflow backfill`` both apply."""
        return cls(config.include, config.ignore, defaults=config.default_ignores)

    def __init__(
        self, include: Sequence[str] = (), ignore: Sequence[str] = (), *, defaults: bool = True
    ) -> None:
        self._include = pathspec.GitIgnoreSpec.from_lines(include) if include else None
        self._ignore = pathspec.GitIgnoreSpec.from_lines(
            [*(DEFAULT_IGNORES if defaults else ()), *ignore]
        )

    def accepts_file(self, relative: str) -> bool:
        if self._ignore.match_file(relative):
            return False
        return self._include is None or self._include.match_file(relative)

    def accepts_dir(self, relative: str) -> bool:
        """False for folders that are ignored whole, so a scan never descends into them."""
        return not self._ignore.match_file(relative.rstrip("/") + "/")
