"""WatcherState: what was confirmed survives a restart, unless the root or queue changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from file_watcher.known_store import StateUnreadableError
from file_watcher.scan import Signature
from file_watcher.state import WatcherState
from fileflow_core.errors import ConfigError

SIG_A = Signature(10, 1_700_000_000_000_000_001, 11)
SIG_B = Signature(20, 1_700_000_000_000_000_002, 12)


def test_persists_across_reopen(tmp_path: Path) -> None:
    state = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
    assert dict(state.load().items()) == {}
    state.apply([("a.txt", SIG_A), ("d/b.txt", SIG_B)], [])
    state.close()

    reopened = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
    assert dict(reopened.load().items()) == {"a.txt": SIG_A, "d/b.txt": SIG_B}
    reopened.close()


def test_apply_updates_and_deletes(tmp_path: Path) -> None:
    state = WatcherState(tmp_path, "lib", tmp_path, "q")
    state.apply([("a.txt", SIG_A), ("b.txt", SIG_A)], [])
    state.apply([("a.txt", SIG_B)], ["b.txt", "never-known.txt"])
    assert dict(state.load().items()) == {"a.txt": SIG_B}
    state.close()


def test_other_root_path_clears(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    state = WatcherState(tmp_path / "s", "lib", tmp_path / "one", "q")
    state.apply([("a.txt", SIG_A)], [])
    state.close()

    moved = WatcherState(tmp_path / "s", "lib", tmp_path / "two", "q")
    assert dict(moved.load().items()) == {}
    moved.close()


def test_other_queue_clears(tmp_path: Path) -> None:
    state = WatcherState(tmp_path / "s", "lib", tmp_path, "q1")
    state.apply([("a.txt", SIG_A)], [])
    state.close()

    requeued = WatcherState(tmp_path / "s", "lib", tmp_path, "q2")
    assert dict(requeued.load().items()) == {}
    requeued.close()


def test_roots_are_kept_apart(tmp_path: Path) -> None:
    first = WatcherState(tmp_path / "s", "one", tmp_path, "q")
    second = WatcherState(tmp_path / "s", "two", tmp_path, "q")
    first.apply([("a.txt", SIG_A)], [])
    assert dict(second.load().items()) == {}
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
    assert dict(again.load().items()) == {"a.txt": SIG_A}
    again.close()


def test_a_damaged_state_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "watcher-lib.sqlite3").write_bytes(b"not a database at all " * 300)
    with pytest.raises(ConfigError, match="damaged: move it aside and start again"):
        WatcherState(tmp_path / "s", "lib", tmp_path, "q")


def test_a_state_file_that_cannot_be_read_stops_the_decisions(tmp_path: Path) -> None:
    """Guessing "not published" would lose a deletion: the watcher stops with the reason."""
    state = WatcherState(tmp_path / "s", "lib", tmp_path, "q")
    known = state.load()
    known._read.close()  # as after the disk under it went away
    with pytest.raises(StateUnreadableError, match="cannot read the watcher's state in"):
        known.get("a.txt")
    state.close()


def test_a_root_path_that_is_not_utf8_keeps_its_state_and_is_told_apart(tmp_path: Path) -> None:
    """Such a path is kept by its bytes: the same folder finds what it published, and a
    folder whose real name is that path's escaped form is another root."""
    latin1 = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"m\xfcsic")))
    escaped = tmp_path / "m\\xfcsic"
    latin1.mkdir()
    escaped.mkdir()
    state = WatcherState(tmp_path / "s", "lib", latin1, "q")
    state.apply([("a.txt", SIG_A)], [])
    state.close()
    again = WatcherState(tmp_path / "s", "lib", latin1, "q")
    assert dict(again.load().items()) == {"a.txt": SIG_A}
    again.close()
    other = WatcherState(tmp_path / "s", "lib", escaped, "q")
    assert dict(other.load().items()) == {}
    other.close()
