"""Include/ignore rules: editor and download droppings ignored by default, folders pruned whole."""

from __future__ import annotations

import pytest

from file_watcher.filters import PathFilter


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        "a/.git/HEAD",
        "__pycache__/m.pyc",
        ".fileflow/state",
        "doc.swp",
        "a/b~",
        ".#lock",
        "notes.tmp",
        "movie.part",
        "file.crdownload",
        ".DS_Store",
        "sub/Thumbs.db",
        "desktop.ini",
        "4913",
        ".~lock.report.odt#",
    ],
)
def test_default_ignores(path: str) -> None:
    assert not PathFilter().accepts_file(path)


@pytest.mark.parametrize("path", ["a.txt", "gitx/a", ".gitignore", "a/4913x", "dir.tmp.d/x.pdf"])
def test_default_accepts_ordinary_files(path: str) -> None:
    assert PathFilter().accepts_file(path)


def test_default_ignores_emacs_autosave() -> None:
    assert not PathFilter().accepts_file("#draft.txt#")


def test_defaults_can_be_turned_off() -> None:
    path_filter = PathFilter(defaults=False)
    assert path_filter.accepts_file("x.swp")
    assert path_filter.accepts_dir(".git")


def test_include_restricts_files() -> None:
    path_filter = PathFilter(include=["*.pdf", "docs/"])
    assert path_filter.accepts_file("a.pdf")
    assert path_filter.accepts_file("deep/er/a.pdf")
    assert path_filter.accepts_file("docs/readme.txt")
    assert not path_filter.accepts_file("a.txt")


def test_ignore_wins_over_include() -> None:
    path_filter = PathFilter(include=["*.pdf"], ignore=["secret/", "old.pdf"])
    assert not path_filter.accepts_file("secret/a.pdf")
    assert not path_filter.accepts_file("x/old.pdf")
    assert not path_filter.accepts_file("x.pdf.tmp")
    assert path_filter.accepts_file("x/new.pdf")


def test_user_ignore_adds_to_defaults() -> None:
    path_filter = PathFilter(ignore=["*.bak"])
    assert not path_filter.accepts_file("a.bak")
    assert not path_filter.accepts_file("a.swp")


def test_negation_reincludes_a_default() -> None:
    path_filter = PathFilter(ignore=["!keep.tmp"])
    assert path_filter.accepts_file("keep.tmp")
    assert not path_filter.accepts_file("other.tmp")


@pytest.mark.parametrize(
    ("folder", "accepted"),
    [
        (".git", False),
        ("a/.git", False),
        ("__pycache__", False),
        (".git/", False),
        ("src", True),
        (".gitx", True),
        ("secret", False),
        ("x/secret", False),
        ("docs", True),
    ],
)
def test_accepts_dir(folder: str, accepted: bool) -> None:
    path_filter = PathFilter(include=["*.pdf"], ignore=["secret/"])
    assert path_filter.accepts_dir(folder) is accepted


def test_include_does_not_prune_folders() -> None:
    assert PathFilter(include=["*.pdf"]).accepts_dir("photos")
