"""Mount points beneath a root: which are away, what they hide, and how they are recorded."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from file_watcher.catchup import differences_of
from file_watcher.filters import PathFilter
from file_watcher.roots import WatchedRoot
from file_watcher.scan import scan_tree
from file_watcher.state import WatcherState
from fileflow_core import submounts
from fileflow_core.mounts import parse_mount_ids
from fileflow_core.settings import RootConfig


def test_only_mount_points_strictly_beneath_the_root_count() -> None:
    points = ["/", "/srv/lib", "/srv/lib/share", "/srv/lib/a/b/disk", "/srv/library", "/srv"]
    assert submounts.points_beneath("/srv/lib", points) == {"share", "a/b/disk"}


def test_a_point_not_mounted_whose_folder_is_there_is_away() -> None:
    seen = frozenset({"share", "usb", "old"})
    found = submounts.look_again(seen, frozenset({"usb", "new"}), lambda p: p != "old")
    assert found.away == {"share"}
    # "old" lost its folder (removed on purpose): forgotten; "new" is remembered from now on.
    assert found.seen == {"share", "usb", "new"}
    assert submounts.covers(found.away, "share/a.txt") and submounts.covers(found.away, "share")
    assert not submounts.covers(found.away, "shared/a.txt")
    assert not submounts.covers(found.away, "usb/a.txt")


def test_a_point_inside_an_away_point_stays_known() -> None:
    # The outer share is away, so the inner mount point's folder cannot be seen either.
    found = submounts.look_again(frozenset({"nas", "nas/inner"}), frozenset(), lambda p: p == "nas")
    assert found.away == {"nas", "nas/inner"}
    assert found.seen == {"nas", "nas/inner"}


@given(st.frozensets(st.text(min_size=1)))
def test_recorded_points_read_back_the_same(points: frozenset[str]) -> None:
    assert submounts.decode(submounts.encode(points)) == points


def test_names_that_are_not_utf8_and_damaged_records() -> None:
    odd = frozenset({b"caf\xe9".decode("utf-8", "surrogateescape")})
    assert submounts.decode(submounts.encode(odd)) == odd
    assert submounts.decode("not json") == frozenset()
    assert submounts.decode('{"a": 1}') == frozenset()
    assert submounts.decode(None) == frozenset()


def test_the_mount_table_names_what_is_mounted_beneath(tmp_path: Path) -> None:
    # Nothing is mounted beneath a fresh folder; "/" has something beneath it.
    assert submounts.mount_points_beneath(tmp_path) == frozenset()
    assert submounts.mount_points_beneath(Path("/"))


def test_the_catch_up_keeps_what_was_known_under_an_away_point(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    for path in ["a.txt", "share/b.txt", "share/d/c.txt", "shared/e.txt"]:
        (library / path).parent.mkdir(parents=True, exist_ok=True)
        (library / path).write_text(path)
    config = RootConfig(id="lib", path=library)
    state = WatcherState(tmp_path / "state", "lib", library, "q")
    root = WatchedRoot(config, library, PathFilter.for_root(config), state, known=state.load())
    state.apply(list(scan_tree(library, root.filter)), [])
    for path in ["share/b.txt", "share/d/c.txt", "shared/e.txt"]:
        (library / path).unlink()
    (library / "share" / "d").rmdir()  # the bare folder an unmounted share leaves
    away = frozenset({"share"})
    changes = {p: s for part in differences_of(root, away=away) for p, s in part}
    assert changes == {"shared/e.txt": None}
    state.close()


async def test_the_watcher_state_keeps_the_points_it_saw(tmp_path: Path) -> None:
    state = WatcherState(tmp_path / "state", "lib", tmp_path / "lib", "q")
    await state.record_mounts(frozenset({"share", "a/usb"}))
    state.close()
    again = WatcherState(tmp_path / "state", "lib", tmp_path / "lib", "q")
    assert again.recorded_mounts() == {"share", "a/usb"}
    again.close()
    # Another folder under the same id: its mount points are not this one's.
    other = WatcherState(tmp_path / "state", "lib", tmp_path / "elsewhere", "q")
    assert other.recorded_mounts() == frozenset()
    other.close()


def test_mount_ids_say_when_a_share_was_mounted_again() -> None:
    info = (
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "91 22 7:0 / /srv/lib/my\\040share rw - ext4 /dev/loop0 rw\n"
    )
    assert parse_mount_ids(info) == [(22, "/"), (91, "/srv/lib/my share")]
    again = info.replace("91 22 7:0", "97 22 7:1")
    assert parse_mount_ids(again) != parse_mount_ids(info)


def test_nothing_is_mounted_beneath_a_fresh_folder(tmp_path: Path) -> None:
    assert submounts.mounts_now_beneath(tmp_path) == frozenset()
