"""Relative paths: validation, mapping from absolute paths, and symlink-safe resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from fileflow_core.paths import relative_to_root, resolve_inside, validate_relative_path


@pytest.mark.parametrize("path", ["a", "a/b/c.txt", "..a", "a..", "a/...", ".hidden/x", "a b/ç"])
def test_accepts_clean_relative_paths(path: str) -> None:
    assert validate_relative_path(path) == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/a", "absolute"),
        ("..", r"\.\."),
        ("a/../b", r"\.\."),
        ("a/..", r"\.\."),
        (".", r"'\.'"),
        ("a/./b", r"'\.'"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("a\x00b", "NUL"),
    ],
)
def test_rejects_unsafe_paths(path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_relative_path(path)


def test_relative_to_root(tmp_path: Path) -> None:
    assert relative_to_root(tmp_path, tmp_path / "a" / "b.txt") == "a/b.txt"
    assert relative_to_root(tmp_path, tmp_path / "x") == "x"


@pytest.mark.parametrize(
    "tail", ["a/b.txt", "x", "a//b", "a/./b", "a/", "", "/", "a/../b", ".hidden", "é/ü.txt"]
)
def test_relative_to_root_of_text_agrees_with_paths(tmp_path: Path, tail: str) -> None:
    text = f"{tmp_path}/{tail}"
    assert relative_to_root(tmp_path, text) == relative_to_root(tmp_path, Path(text))


def test_relative_to_root_of_text_outside(tmp_path: Path) -> None:
    assert relative_to_root(tmp_path / "root", f"{tmp_path}/rootless/x") is None
    assert relative_to_root(tmp_path / "root", f"{tmp_path}/root") is None


def test_relative_to_root_outside_or_root_itself(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert relative_to_root(root, tmp_path / "other" / "x") is None
    assert relative_to_root(root, tmp_path / "rootless" / "x") is None
    assert relative_to_root(root, root) is None


def test_resolve_inside_plain(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert resolve_inside(tmp_path, "a/b/c.txt") == tmp_path.resolve() / "a" / "b" / "c.txt"
    assert resolve_inside(tmp_path, "top.txt") == tmp_path.resolve() / "top.txt"


def test_resolve_inside_missing_parents_are_fine(tmp_path: Path) -> None:
    assert resolve_inside(tmp_path, "gone/x") == tmp_path.resolve() / "gone" / "x"


def test_resolve_inside_validates(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.\."):
        resolve_inside(tmp_path, "../x")
    with pytest.raises(ValueError, match="absolute"):
        resolve_inside(tmp_path, "/etc/passwd")


def test_resolve_inside_refuses_symlinked_parent_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("s")
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside its root"):
        resolve_inside(root, "link/secret")


def test_resolve_inside_refuses_sibling_with_root_prefix(tmp_path: Path) -> None:
    root = tmp_path / "root"
    sibling = tmp_path / "root-evil"
    root.mkdir()
    sibling.mkdir()
    (root / "link").symlink_to(sibling, target_is_directory=True)
    with pytest.raises(ValueError, match="outside its root"):
        resolve_inside(root, "link/x")


def test_resolve_inside_keeps_final_symlink_unfollowed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "leaf").symlink_to("/etc/passwd")
    assert resolve_inside(root, "leaf") == root.resolve() / "leaf"


def test_resolve_inside_allows_root_that_is_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    assert resolve_inside(alias, "sub/f") == real.resolve() / "sub" / "f"


def test_resolve_inside_refuses_a_deep_symlinked_folder_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "out").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match="outside its root"):
        resolve_inside(root, "a/b/out/c/d.txt")


def test_resolve_inside_follows_a_symlinked_folder_that_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert resolve_inside(root, "alias/f.txt") == root.resolve() / "real" / "f.txt"
