"""Opening beneath a root: every kind of link refused, with openat2 and with the walk."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fileflow_core import beneath
from fileflow_core.beneath import (
    Location,
    NotARegularFile,
    OpenRoots,
    open_beneath,
    stat_beneath,
)
from fileflow_core.errors import RootUnavailableError, TransientError
from fileflow_core.roots import RootIdentity, identify


@pytest.fixture(params=["openat2", "walk"])
def lookup(request: pytest.FixtureRequest) -> Iterator[str]:
    beneath.use_openat2(request.param == "openat2")
    yield request.param
    beneath.use_openat2(True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    (root / "to-outside").symlink_to(outside)
    (root / "to-inside").symlink_to(root / "a")
    (root / "relative").symlink_to("a/b")
    (root / "file-link.txt").symlink_to(root / "a" / "b" / "f.txt")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (root / "loop").symlink_to(root / "loop")
    os.link(root / "a" / "b" / "f.txt", root / "hard.txt")
    os.mkfifo(root / "pipe")
    return root


def read(root: Path, relative: str, identity: RootIdentity | None = None) -> bytes:
    fd, _ = open_beneath(Location("lib", str(root), relative, identity))
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_a_regular_file_and_a_hard_link_are_read(tree: Path, lookup: str) -> None:
    assert read(tree, "a/b/f.txt") == b"inside"
    assert read(tree, "hard.txt") == b"inside"


@pytest.mark.parametrize(
    "relative",
    [
        "to-outside/secret.txt",  # a folder link out of the root
        "to-inside/b/f.txt",  # a folder link that stays inside: never followed either
        "relative/f.txt",
        "file-link.txt",
        "dangling",
        "loop",
        "loop/x",
        "pipe",
        "a",
    ],
)
def test_links_fifos_and_folders_are_never_read(tree: Path, lookup: str, relative: str) -> None:
    with pytest.raises(NotARegularFile):
        read(tree, relative)


def test_nothing_there(tree: Path, lookup: str) -> None:
    with pytest.raises(FileNotFoundError):
        read(tree, "a/b/missing.txt")
    with pytest.raises(FileNotFoundError):
        read(tree, "nope/f.txt")
    with pytest.raises(NotADirectoryError):
        read(tree, "hard.txt/f.txt")


def test_stat_beneath_sees_the_link_itself(tree: Path, lookup: str) -> None:
    assert stat_beneath(Location("lib", str(tree), "a/b/f.txt")).st_size == 6
    with pytest.raises(NotARegularFile):
        stat_beneath(Location("lib", str(tree), "to-outside/secret.txt"))


def test_a_folder_swapped_for_a_link_after_the_look_still_leads_inside(
    tree: Path, lookup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap happens between the file's look (fstatat) and its open: both start from the
    descriptor of the folder found before, so the swap cannot redirect them."""
    real_stat = os.stat

    def swapping_stat(*args: object, **kwargs: object) -> os.stat_result:
        if kwargs.get("dir_fd") is not None and not (tree / "a" / "b").is_symlink():
            os.rename(tree / "a" / "b", tree / "a" / "b-real")
            (tree / "a" / "b").symlink_to(tree.parent / "outside")
            (tree.parent / "outside" / "f.txt").write_text("outside!")
        return real_stat(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(beneath.os, "stat", swapping_stat)
    assert read(tree, "a/b/f.txt") == b"inside"


def test_a_file_replaced_between_its_look_and_its_open_is_not_read(
    tree: Path, lookup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stat = os.stat

    def replacing_stat(*args: object, **kwargs: object) -> os.stat_result:
        found = real_stat(*args, **kwargs)  # type: ignore[arg-type]
        if kwargs.get("dir_fd") is not None:
            os.replace(tree / "hard.txt", tree / "a" / "b" / "f.txt")
        return found

    monkeypatch.setattr(beneath.os, "stat", replacing_stat)
    os.link(tree / "a" / "b" / "f.txt", tree / "other.txt")
    (tree / "hard.txt").unlink()
    (tree / "hard.txt").write_text("new")
    with pytest.raises(TransientError, match="replaced"):
        read(tree, "a/b/f.txt")


def test_the_root_must_be_the_folder_recorded(tree: Path, lookup: str) -> None:
    assert read(tree, "a/b/f.txt", identify(tree)) == b"inside"
    with pytest.raises(RootUnavailableError, match="not the folder it was"):
        read(tree, "a/b/f.txt", identify(tree / "a"))
    with pytest.raises(RootUnavailableError, match="does not exist"):
        read(tree / "gone", "a/b/f.txt", identify(tree))


def test_a_path_longer_than_path_max_is_walked(tmp_path: Path, lookup: str) -> None:
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    parts = [f"{i:03d}" + "d" * 200 for i in range(30)]  # 6 KB below the root
    try:
        for part in parts:
            os.mkdir(part, dir_fd=folder)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder)
        os.write(fd, b"deep")
        os.close(fd)
    finally:
        os.close(folder)
    assert read(tmp_path, "/".join([*parts, "deep.txt"])) == b"deep"


def test_reads_race_renames_without_leaving_the_root(tree: Path, lookup: str) -> None:
    """Thousands of swaps of a folder and a link to outside while reads run."""
    race = tree / "race"
    (race / "sw").mkdir(parents=True)
    (race / "sw" / "secret.txt").write_text("inside")
    (race / "swlink").symlink_to(tree.parent / "outside")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            for old, new in (("sw", "swdir"), ("swlink", "sw"), ("sw", "swlink"), ("swdir", "sw")):
                with contextlib.suppress(OSError):
                    os.rename(race / old, race / new)

    swapper = threading.Thread(target=swap)
    swapper.start()
    seen = set()
    try:
        for _ in range(5000):
            try:
                seen.add(read(tree, "race/sw/secret.txt"))
            except (OSError, NotARegularFile, TransientError):
                continue
    finally:
        stop.set()
        swapper.join()
    assert seen <= {b"inside"}


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_shared_root_descriptors_are_opened_once_and_closed_at_the_end(
    tree: Path, lookup: str
) -> None:
    other = tree.parent / "other"
    other.mkdir()
    (other / "g.txt").write_text("other")
    before = _open_fds()
    with OpenRoots() as roots:
        for root, relative, body in [(tree, "a/b/f.txt", b"inside")] * 3 + [
            (other, "g.txt", b"other")
        ]:
            fd, _ = open_beneath(Location("lib", str(root), relative), roots)
            assert os.read(fd, 100) == body
            os.close(fd)
        assert _open_fds() == before + 2  # one descriptor a root, however many files
        with pytest.raises(NotARegularFile):
            open_beneath(Location("lib", str(tree), "to-outside/secret.txt"), roots)
    assert _open_fds() == before


def test_shared_root_descriptors_still_check_the_root(tree: Path, lookup: str) -> None:
    wrong = RootIdentity(device=1, inode=2, fsid=3)
    before = _open_fds()
    with OpenRoots() as roots:
        for _ in range(2):  # a refused root is not kept: asked again, refused again
            with pytest.raises(RootUnavailableError):
                open_beneath(Location("lib", str(tree), "a/b/f.txt", wrong), roots)
        with pytest.raises(RootUnavailableError):
            open_beneath(Location("lib", str(tree.parent / "gone"), "f.txt"), roots)
    assert _open_fds() == before
