"""scan_tree: regular files only, symlinks never followed, ignored folders never entered."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from file_watcher import scan
from file_watcher.filters import PathFilter
from file_watcher.scan import Signature, Walk, scan_tree
from fileflow_core.mounts import detect_filesystem


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "skip").mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "top.txt").write_text("top")
    (root / "a" / "one.txt").write_text("one")
    (root / "a" / "b" / "two.bin").write_bytes(b"\x00\x01")
    (root / ".git" / "HEAD").write_text("ref")
    (root / "skip" / "inside.txt").write_text("x")
    (root / "junk.swp").write_text("x")
    (root / "link-file").symlink_to(root / "top.txt")
    (root / "link-dir").symlink_to(outside, target_is_directory=True)
    (root / "a" / "dangling").symlink_to(root / "missing")
    os.mkfifo(root / "fifo")
    return root


def paths(root: Path, path_filter: PathFilter, **kwargs: object) -> set[str]:
    return {rel for rel, _ in scan_tree(root, path_filter, **kwargs)}  # type: ignore[arg-type]


def test_regular_files_only_and_symlinks_not_followed(tree: Path) -> None:
    found = paths(tree, PathFilter(ignore=["skip/"]))
    assert found == {"top.txt", "a/one.txt", "a/b/two.bin"}


def test_signature_matches_lstat(tree: Path) -> None:
    signatures = dict(scan_tree(tree, PathFilter()))
    stat = os.lstat(tree / "a" / "one.txt")
    assert signatures["a/one.txt"] == Signature(3, stat.st_mtime_ns, stat.st_ino)


def test_ignored_dirs_not_entered(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = os.open

    def spy(path: object, *args: object, **kwargs: object) -> int:
        opened.append(os.fsdecode(path))  # type: ignore[arg-type]
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    found = paths(tree, PathFilter(ignore=["skip/"]))
    assert "skip/inside.txt" not in found
    assert not {".git", "skip", "link-dir"} & set(opened)
    assert "b" in opened


def test_include_filter(tree: Path) -> None:
    assert paths(tree, PathFilter(include=["*.txt"])) == {"top.txt", "a/one.txt", "skip/inside.txt"}


def test_non_recursive(tree: Path) -> None:
    assert paths(tree, PathFilter(), recursive=False) == {"top.txt"}


def test_start_subfolder(tree: Path) -> None:
    assert paths(tree, PathFilter(), start="a") == {"a/one.txt", "a/b/two.bin"}


def test_missing_root_yields_nothing(tmp_path: Path) -> None:
    assert paths(tmp_path / "nope", PathFilter()) == set()


def test_a_name_that_is_not_utf8_is_found_as_its_bytes(tmp_path: Path) -> None:
    try:
        (tmp_path / os.fsdecode(b"bad-\xff.txt")).write_text("x")
    except (OSError, UnicodeEncodeError):
        pytest.skip("file system refuses non-UTF-8 names")
    (tmp_path / "good.txt").write_text("x")
    found = paths(tmp_path, PathFilter())
    assert found == {"good.txt", b"bad-\xff.txt".decode("utf-8", "surrogateescape")}


def test_a_folder_that_cannot_be_listed_hides_its_files_instead_of_losing_them(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def refusing(path: object, *args: object, **kwargs: object) -> int:
        if path == "b":  # as the OS says of a folder this user may not read
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    walk = Walk()
    found = {p for p, _ in scan_tree(tree, PathFilter(), walk=walk)}
    assert "a/b/two.bin" not in found
    assert walk.unlisted == ["a/b"]
    assert walk.hides("a/b/two.bin") and not walk.hides("a/one.txt")


def test_a_tree_deeper_than_path_max_is_walked(tmp_path: Path) -> None:
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    parts = [f"{i:03d}" + "d" * 200 for i in range(30)]
    try:
        for part in parts:
            os.mkdir(part, dir_fd=folder)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        os.close(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder))
    finally:
        os.close(folder)
    assert paths(tmp_path, PathFilter()) == {"/".join([*parts, "deep.txt"])}


@pytest.mark.parametrize("trust_link_counts", [True, False])
def test_folders_are_found_whether_or_not_link_counts_are_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_link_counts: bool
) -> None:
    """Leaf folders (two links) are not listed where link counts are trusted; the folders
    found must be the same either way, at any depth, ignored ones left out."""
    for folder in ["a/b/c", "a/d", "e", "f/g/h/i", "f/.git/objects", "j/k"]:
        (tmp_path / "lib" / folder).mkdir(parents=True)
    for file in ["a/x.txt", "a/b/c/y.txt", "e/z.txt", "j/k/w.txt"]:
        (tmp_path / "lib" / file).write_text("x")
    listed: list[int] = []
    real_scandir = os.scandir
    monkeypatch.setattr(scan.os, "scandir", lambda fd: listed.append(fd) or real_scandir(fd))
    monkeypatch.setattr(
        scan,
        "LINK_COUNTING_FILESYSTEMS",
        scan.LINK_COUNTING_FILESYSTEMS if trust_link_counts else frozenset(),
    )
    found = scan.folders_of(tmp_path / "lib", PathFilter())
    assert found == {
        "",
        "a",
        "a/b",
        "a/b/c",
        "a/d",
        "e",
        "f",
        "f/g",
        "f/g/h",
        "f/g/h/i",
        "j",
        "j/k",
    }
    trusted = trust_link_counts and detect_filesystem(tmp_path) in scan.LINK_COUNTING_FILESYSTEMS
    # Listed: every folder, or only those with subfolders ("", a, a/b, f, f/g, f/g/h, j).
    assert len(listed) == (7 if trusted else len(found))
