"""Include/ignore rules: editor and download droppings ignored by default, folders pruned whole."""

from __future__ import annotations

import pathspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from file_watcher.filters import DEFAULT_IGNORES, PathFilter


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


# Names built from what gitignore rules treat specially, plus text that is not ASCII.
_NAME = st.text(alphabet="ab.*#~!-_ [ü文4913", min_size=1, max_size=8).filter(
    lambda name: name not in (".", "..")
)
_RULES = [
    [],
    ["*.log", "!keep.log", "build/", "/top-only.txt", "**/cache/**", "a?c", "[ab]*.md"],
]


@settings(max_examples=300, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=4), st.sampled_from(_RULES), st.booleans())
def test_the_fast_matcher_agrees_with_pathspecs_reference(
    parts: list[str], ignore: list[str], folder: bool
) -> None:
    """RE2 decides the valid-UTF-8 paths; pathspec's pure-Python backend is the reference."""
    relative = "/".join(parts)
    fast = PathFilter(include=["*.txt", "ü*", "d/"], ignore=ignore)
    reference = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_IGNORES, *ignore], backend="simple")
    if folder:
        assert fast.accepts_dir(relative) == (not reference.match_file(relative + "/"))
    else:
        included = pathspec.GitIgnoreSpec.from_lines(["*.txt", "ü*", "d/"], backend="simple")
        expected = not reference.match_file(relative) and included.match_file(relative)
        assert fast.accepts_file(relative) == expected


def test_a_name_that_is_not_utf8_is_matched_too() -> None:
    """RE2 refuses such a name; it is matched by the reference backend instead."""
    odd = b"caf\xe9".decode("utf-8", "surrogateescape")
    rules = PathFilter(ignore=["*.log"])
    assert not rules.accepts_file(f"d/{odd}.tmp")
    assert not rules.accepts_file(f"{odd}.log")
    assert rules.accepts_file(f"{odd}/{odd}.txt")
    assert not rules.accepts_dir(f"{odd}/.git")
