"""WatcherState: what was confirmed survives a restart, unless the root or queue changed."""

from __future__ import annotations

from pathlib import Path

from file_watcher.scan import Signature
from file_watcher.state import WatcherState

SIG_A = Signature(10, 1_700_000_000_000_000_001, 11)
SIG_B = Signature(20, 1_700_000_000_000_000_002, 12)


def test_persists_across_reopen(tmp_path: Path) -> None:
    state = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
    assert state.load() == {}
    state.apply([("a.txt", SIG_A), ("d/b.txt", SIG_B)], [])
    state.close()

    reopened = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
    assert reopened.load() == {"a.txt": SIG_A, "d/b.txt": SIG_B}
    reopened.close()


def test_apply_updates_and_deletes(tmp_path: Path) -> None:
    state = WatcherState(tmp_path, "lib", tmp_path, "q")
    state.apply([("a.txt", SIG_A), ("b.txt", SIG_A)], [])
    state.apply([("a.txt", SIG_B)], ["b.txt", "never-known.txt"])
    assert state.load() == {"a.txt": SIG_B}
    state.close()


def test_other_root_path_clears(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    state = WatcherState(tmp_path / "s", "lib", tmp_path / "one", "q")
    state.apply([("a.txt", SIG_A)], [])
    state.close()

    moved = WatcherState(tmp_path / "s", "lib", tmp_path / "two", "q")
    assert moved.load() == {}
    moved.close()


def test_other_queue_clears(tmp_path: Path) -> None:
    state = WatcherState(tmp_path / "s", "lib", tmp_path, "q1")
    state.apply([("a.txt", SIG_A)], [])
    state.close()

    requeued = WatcherState(tmp_path / "s", "lib", tmp_path, "q2")
    assert requeued.load() == {}
    requeued.close()


def test_roots_are_kept_apart(tmp_path: Path) -> None:
    first = WatcherState(tmp_path / "s", "one", tmp_path, "q")
    second = WatcherState(tmp_path / "s", "two", tmp_path, "q")
    first.apply([("a.txt", SIG_A)], [])
    assert second.load() == {}
    assert first.path != second.path
    first.close()
    second.close()


def test_same_root_through_symlink_keeps_state(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    state = WatcherState(tmp_path / "s", "lib", real, "q")
    state.apply([("a.txt", SIG_A)], [])
    state.close()

    again = WatcherState(tmp_path / "s", "lib", alias, "q")
    assert again.load() == {"a.txt": SIG_A}
    again.close()
