"""Optional per root: the git remote and branch of its work tree, read from .git directly."""

from __future__ import annotations

import configparser
from pathlib import Path

from fileflow_core.urls import without_userinfo


def find_git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = candidate.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (folder / target).resolve()
    return None


def git_source(root: Path) -> dict[str, str] | None:
    """{"remote": url, "branch": name} of the work tree holding ``root``, or None."""
    git_dir = find_git_dir(root)
    if git_dir is None:
        return None
    source: dict[str, str] = {}
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    source["branch"] = head.removeprefix("ref: refs/heads/") if head.startswith("ref:") else head
    config = configparser.ConfigParser(strict=False, interpolation=None)
    common = git_dir / "commondir"
    config_dir = (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir
    try:
        config.read(config_dir / "config")
    except configparser.Error:
        return source
    section = 'remote "origin"'
    if config.has_section(section) and config.has_option(section, "url"):
        # A remote may carry credentials (https://user:TOKEN@host/...): never stored or logged.
        source["remote"] = without_userinfo(config.get(section, "url"))
    return source
