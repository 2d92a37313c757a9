"""The catch-up's comparison: a folder's record read as the walk lists that folder, and the
filter's rules trusted for files already published under the same rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from file_watcher.catchup import CatchUp, differences_of
from file_watcher.filters import PathFilter
from file_watcher.roots import WatchedRoot
from file_watcher.scan import Signature, scan_tree
from file_watcher.state import WatcherState
from fileflow_core.settings import RootConfig


def _root(tmp_path: Path, ignore: list[str]) -> WatchedRoot:
    library = tmp_path / "lib"
    config = RootConfig(id="lib", path=library, ignore=ignore)
    state = WatcherState(tmp_path / "state", "lib", library, "q")
    return WatchedRoot(config, library, PathFilter.for_root(config), state, known=state.load())


def _differences(root: WatchedRoot, *, trust_rules: bool) -> dict[str, Signature | None]:
    return {
        path: sig for part in differences_of(root, trust_rules=trust_rules) for path, sig in part
    }


@pytest.fixture
def library(tmp_path: Path) -> Path:
    for path in ["a.txt", "a.log", "d/b.txt", "d/e/c.txt", "gone/x.txt", "f/y.txt"]:
        (tmp_path / "lib" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "lib" / path).write_text(path)
    return tmp_path / "lib"


def _publish_all(root: WatchedRoot) -> None:
    root.state.apply(list(scan_tree(root.path, root.filter)), [])  # type: ignore[attr-defined]


def test_only_what_changed_is_queued_folder_by_folder(tmp_path: Path, library: Path) -> None:
    root = _root(tmp_path, [])
    _publish_all(root)
    (library / "d" / "b.txt").write_text("changed, and longer")
    (library / "d" / "new.txt").write_text("new")
    (library / "gone" / "x.txt").unlink()
    (library / "gone").rmdir()
    (library / "f" / "y.txt").unlink()  # f stays, empty
    (library / "a.txt").unlink()  # a file of the root itself
    changes = _differences(root, trust_rules=False)
    assert set(changes) == {"d/b.txt", "d/new.txt", "gone/x.txt", "f/y.txt", "a.txt"}
    assert changes["gone/x.txt"] is None and changes["f/y.txt"] is None
    assert changes["a.txt"] is None and changes["d/new.txt"] is not None
    root.state.close()


def test_trusted_rules_skip_the_filter_for_unchanged_files(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, [])
    _publish_all(root)
    (library / "d" / "b.txt").write_text("changed, and longer")
    (library / "d" / "new.tmp").write_text("ignored by default")
    matched: list[str] = []
    accepts = root.filter.accepts_file
    monkeypatch.setattr(root.filter, "accepts_file", lambda p: matched.append(p) or accepts(p))
    changes = _differences(root, trust_rules=True)
    assert set(changes) == {"d/b.txt"}
    assert sorted(matched) == ["d/b.txt", "d/new.tmp"]  # only what is not as published
    root.state.close()


def test_rules_that_changed_are_applied_to_every_file(tmp_path: Path, library: Path) -> None:
    """A known file that the new rules leave out is deleted from the store (untrusted scan)."""
    root = _root(tmp_path, [])
    _publish_all(root)
    root.state.close()
    stricter = _root(tmp_path, ["*.log"])
    assert stricter.state.checked_rules() is None  # recorded only once a scan applied them
    changes = _differences(stricter, trust_rules=False)
    assert changes == {"a.log": None}
    stricter.state.close()


def test_the_rules_are_recorded_once_their_changes_are_confirmed(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    root = _root(tmp_path, [])
    confirmed = asyncio.Event()
    spawned: list[asyncio.Task[object]] = []

    async def scenario() -> None:
        catch_up = CatchUp(
            _Available(),  # type: ignore[arg-type]
            _Observer(),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            _no_wait,
            asyncio.Event(),
            settled=confirmed.wait,
            spawn=lambda work, name: spawned.append(asyncio.ensure_future(work)),
        )
        await catch_up.run(root)
        await asyncio.sleep(0.01)
        assert root.state.checked_rules() is None  # not before the changes are confirmed
        confirmed.set()
        await asyncio.gather(*spawned)
        assert root.state.checked_rules() == root.filter.fingerprint

    asyncio.run(scenario())
    root.state.close()


async def _no_wait(limit: int) -> None:
    return None


class _Available:
    def check(self, root: WatchedRoot) -> None:
        return None


class _Observer:
    def __init__(self) -> None:
        self.settling: dict[object, object] = {}

    def note(self, *args: object, **kwargs: object) -> None:
        return None
