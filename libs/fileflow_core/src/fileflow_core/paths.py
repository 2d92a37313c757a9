"""Paths relative to a root: validation, their bytes and readable form, and safe resolution
with no I/O beyond ``lstat``.

A file name is bytes. In memory a path is ``str`` holding those bytes losslessly: valid UTF-8
as text, any other byte as a lone surrogate (Python's ``surrogateescape``, what ``os.fsdecode``
and ``os.scandir`` give). Where text must be valid (JSON, a database's text column, a log line)
the path travels as its bytes and is shown in its readable form, each invalid byte as ``\\xNN``.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path, PurePosixPath


def expand_home(path: Path) -> Path:
    """``path`` with a leading ``~`` (or ``~user``) made that home folder; ``ValueError`` when
    there is none to make it (a misspelt user name, or no home for this process)."""
    try:
        return path.expanduser()
    except RuntimeError:
        head = str(path).split("/", 1)[0]
        raise ValueError(
            f"{str(path)!r} starts with {head}, which names no home folder here: "
            "check the user name, or write the path out in full"
        ) from None


def path_bytes(path: str) -> bytes:
    """The exact bytes of a path held as ``str``."""
    return path.encode("utf-8", "surrogateescape")


def path_from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def is_text(path: str) -> bool:
    """True when the path is valid UTF-8 (no byte needed escaping)."""
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: str) -> str:
    """The path as valid text: itself when it is valid UTF-8, else each invalid byte ``\\xNN``."""
    if is_text(path):
        return path
    return path_bytes(path).decode("utf-8", "backslashreplace")


def validate_relative_path(value: str) -> str:
    """Accept only a clean, relative POSIX path that cannot climb out of its root."""
    if "\x00" in value:
        raise ValueError("path contains a NUL byte")
    if value.startswith("/"):
        raise ValueError("path must be relative to its root, not absolute")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("path must not contain '..', '.', or empty segments")
    return value


def relative_to_root(root: Path, absolute: Path | str) -> str | None:
    """The event path of ``absolute`` inside ``root``, or None when it lies outside."""
    if isinstance(absolute, str):
        # The watch reports clean absolute paths: cut the root off as text (pathlib's parsing
        # cost more than the rest of a notification's handling); anything else goes the long way.
        prefix = str(root).rstrip("/") + "/"
        if absolute.startswith(prefix):
            rest = absolute[len(prefix) :]
            if rest and not any(part in ("", ".", "..") for part in rest.split("/")):
                return rest
        absolute = Path(absolute)
    try:
        rel = PurePosixPath(absolute.relative_to(root).as_posix())
    except ValueError:
        return None
    text = str(rel)
    return None if text in ("", ".") else text


def resolve_inside(root: Path, relative: str) -> Path:
    """Join a validated relative path onto its root, refusing any symlinked parent directory.

    The final component is not followed here: callers ``lstat`` it and open with ``O_NOFOLLOW``.
    """
    validate_relative_path(relative)
    real_root = _real_root(str(root))
    # Fast path, one lstat per folder below the root: with no symlink among them (the usual
    # case) the path is inside. ``realpath`` would lstat every component from ``/``, twice.
    directory = real_root
    folders = relative.split("/")[:-1]
    for folder in folders:
        directory = os.path.join(directory, folder)
        try:
            is_link = stat.S_ISLNK(os.lstat(directory).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            break  # nothing below it exists: nothing there to follow
        if is_link:
            return _resolve_through_links(root, relative)
    return Path(real_root, relative)


def _resolve_through_links(root: Path, relative: str) -> Path:
    candidate = root / relative
    real_parent = Path(os.path.realpath(candidate.parent))
    real_root = Path(os.path.realpath(root))
    if real_parent != real_root and real_root not in real_parent.parents:
        raise ValueError(f"{relative!r} resolves outside its root through a symlink")
    return real_parent / candidate.name


@functools.lru_cache(maxsize=256)
def _real_root(root: str) -> str:
    """A root's own symlinks are the operator's choice, resolved once: re-pointing a root
    while the services run takes a restart."""
    return os.path.realpath(root)


def locate_in_roots(path: str, roots: list[tuple[str, Path]]) -> tuple[str, str] | None:
    """(root id, relative path) of an absolute ``path`` lying under one of ``roots``, judged
    on the path's text alone (nothing is opened); None when it is under none of them."""
    if not path.startswith("/") or "\x00" in path:
        return None
    normalised = Path(os.path.normpath(path))
    for root_id, root_path in roots:
        relative = relative_to_root(Path(os.path.normpath(root_path)), normalised)
        if relative is not None:
            try:
                return root_id, validate_relative_path(relative)
            except ValueError:
                return None
    return None
