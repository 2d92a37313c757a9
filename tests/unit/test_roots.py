"""When a root may testify that its files are gone: present, a folder, the folder it was."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from file_watcher.roots import open_root
from file_watcher.scan import Signature
from file_watcher.state import StoredBaseline, WatcherState, read_identity, write_identity
from fileflow_core.errors import ConfigError, RootUnavailableError
from fileflow_core.roots import RootIdentity, identify, mismatch_of_fd, unavailable_reason
from fileflow_core.settings import RootConfig
from ingestor.roots import RootGuard


@pytest.mark.parametrize(
    ("recorded", "now", "same"),
    [
        (RootIdentity(1, 2, 3), RootIdentity(1, 2, 3), True),
        (RootIdentity(1, 2, 3), RootIdentity(9, 2, 3), True),  # a disk plugged in again
        (RootIdentity(1, 2, 0), RootIdentity(9, 2, 0), False),  # no filesystem id to tell
        (RootIdentity(1, 2, 3), RootIdentity(1, 7, 3), False),  # another folder
        (RootIdentity(1, 2, 3), RootIdentity(9, 2, 4), False),  # another filesystem
    ],
)
def test_same_root(recorded: RootIdentity, now: RootIdentity, same: bool) -> None:
    assert recorded.same_as(now) is same
    assert RootIdentity.decode(recorded.encode()) == recorded


@pytest.mark.parametrize(
    ("device_moved", "inode_moved", "fsid", "mismatch"),
    [
        (0, 0, None, False),  # the same device and inode: settled without the filesystem id
        (1, 0, None, False),  # another device number, the same filesystem (plugged in again)
        (1, 0, 0, True),  # another device number and no filesystem id to tell
        (0, 1, None, True),  # another folder
    ],
)
def test_an_open_root_checked_against_its_record(
    tmp_path: Path, device_moved: int, inode_moved: int, fsid: int | None, mismatch: bool
) -> None:
    real = identify(tmp_path)
    if device_moved and fsid is None and real.fsid == 0:
        pytest.skip("this filesystem reports no id: a moved device number cannot be told apart")
    recorded = RootIdentity(
        real.device + device_moved, real.inode + inode_moved, real.fsid if fsid is None else fsid
    )
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert mismatch_of_fd(recorded, fd) == (real if mismatch else None)
    finally:
        os.close(fd)


def test_a_root_that_is_there_and_the_same_is_available(tmp_path: Path) -> None:
    assert unavailable_reason("lib", tmp_path, identify(tmp_path)) is None
    assert unavailable_reason("lib", tmp_path, None) is None


def test_reasons_name_what_is_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    assert "does not exist" in (unavailable_reason("lib", missing, None) or "")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "not a directory" in (unavailable_reason("lib", a_file, None) or "")
    other = tmp_path / "other"
    other.mkdir()
    reason = unavailable_reason("lib", other, identify(tmp_path)) or ""
    assert "not the folder it was" in reason and "fileflow roots --accept lib" in reason


def test_a_marker_must_be_there(tmp_path: Path) -> None:
    assert "marker '.mounted' is missing" in (
        unavailable_reason("lib", tmp_path, None, ".mounted") or ""
    )
    (tmp_path / ".mounted").touch()
    assert unavailable_reason("lib", tmp_path, None, ".mounted") is None


def test_a_marker_is_a_name_inside_the_root() -> None:
    for bad in ("../x", "a/b", "..", "."):
        with pytest.raises(ValueError):
            RootConfig(id="lib", path=Path("/x"), marker=bad)


def test_watcher_state_keeps_the_identity_and_the_cli_can_replace_it(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    state = WatcherState(tmp_path / "state", "lib", root, "q")
    assert state.recorded_identity() is None
    state.close()
    assert read_identity(tmp_path / "state", "lib") is None
    assert write_identity(tmp_path / "state", "lib", RootIdentity(5, 6, 7))
    assert read_identity(tmp_path / "state", "lib") == RootIdentity(5, 6, 7)
    state = WatcherState(tmp_path / "state", "lib", root, "q")
    assert state.recorded_identity() == RootIdentity(5, 6, 7)
    state.close()
    assert not write_identity(tmp_path / "nowhere", "lib", RootIdentity(5, 6, 7))


def _legacy_state(
    state_dir: Path, root: Path, version: int, rows: list[tuple[object, ...]]
) -> None:
    """A state file as versions 1 (paths as text) and 2 (paths as bytes) wrote it."""
    state_dir.mkdir()
    db = sqlite3.connect(state_dir / "watcher-lib.sqlite3")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute(
        "CREATE TABLE known (path BLOB PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
        " inode INTEGER) WITHOUT ROWID"
    )
    db.executemany("INSERT INTO known VALUES (?, ?, ?, ?)", rows)
    db.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("version", str(version)), ("identity", f"{root.resolve()}|q")],
    )
    db.commit()
    db.close()


@pytest.mark.parametrize("version", [1, 2])
def test_an_earlier_state_file_is_carried_over(tmp_path: Path, version: int) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    odd = b"caf\xe9.txt"
    rows: list[tuple[object, ...]] = [
        ("old-text.txt", 7, 8, 9),
        ("d/e/deep.txt" if version == 1 else b"d/e/deep.txt", 1, 2, 3),
    ]
    if version == 2:
        rows.append((b"d/" + odd, 4, 5, 6))
    _legacy_state(tmp_path / "state", root, version, rows)
    state = WatcherState(tmp_path / "state", "lib", root, "q")
    expected = {"old-text.txt": Signature(7, 8, 9), "d/e/deep.txt": Signature(1, 2, 3)}
    if version == 2:
        expected["d/" + odd.decode("utf-8", "surrogateescape")] = Signature(4, 5, 6)
    assert dict(state.load().items()) == expected
    assert state.load().under("d") == sorted(expected.keys() - {"old-text.txt"})
    state.apply([], ["old-text.txt"])
    assert len(state.load()) == len(expected) - 1
    state.close()
    # Carried over once: the file reopens as it is now.
    state = WatcherState(tmp_path / "state", "lib", root, "q")
    assert len(state.load()) == len(expected) - 1
    state.close()


def _open(root: Path, tmp_path: Path, known: dict[str, Signature], identity: RootIdentity | None):  # type: ignore[no-untyped-def]
    return open_root(
        RootConfig(id="lib", path=root), tmp_path / "state", "q", StoredBaseline(known, identity)
    )


def test_an_unmounted_share_is_unavailable_to_the_watcher(tmp_path: Path) -> None:
    share, mount_point = tmp_path / "share", tmp_path / "mount-point"
    share.mkdir()
    mount_point.mkdir()
    recorded = identify(share)  # where the files were: now the bare mount point is there
    root = _open(mount_point, tmp_path, {"a.txt": Signature(1, 2, 3)}, recorded)
    assert "not the folder it was" in (root.unavailable_reason() or "")


def test_a_root_whose_record_holds_no_file_takes_the_folder_now_there(tmp_path: Path) -> None:
    share, mount_point = tmp_path / "share", tmp_path / "mount-point"
    share.mkdir()
    mount_point.mkdir()
    root = _open(mount_point, tmp_path, {}, identify(share))
    assert root.unavailable_reason() is None


def test_an_empty_root_with_known_files_and_no_identity_is_unavailable(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    root = _open(share, tmp_path, {"a.txt": Signature(1, 2, 3)}, None)
    assert "is empty, while 1 files are known" in (root.unavailable_reason() or "")
    (share / "a.txt").write_text("x")
    assert root.unavailable_reason() is None


class Identities:
    def __init__(self, recorded: dict[str, str], files: int = 0) -> None:
        self.recorded = recorded
        self.files = files

    async def root_identities(self) -> dict[str, str]:
        return dict(self.recorded)

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        self.recorded[root_id] = identity

    async def root_mounts(self) -> dict[str, str]:
        return {}

    async def record_root_mounts(self, root_id: str, mounts: str) -> None:
        return None

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        return {f"f{i}": (1, 1, 1) for i in range(self.files)}


async def test_the_ingestor_records_a_new_root_and_refuses_another_folder(tmp_path: Path) -> None:
    store = Identities({})
    roots = [RootConfig(id="lib", path=tmp_path)]
    guard = await RootGuard.open(roots, store)  # type: ignore[arg-type]
    assert store.recorded == {"lib": identify(tmp_path).encode()}
    guard.ensure_available("lib")
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(ConfigError, match=r"root 'lib': .* not the folder it was"):
        await RootGuard.open([RootConfig(id="lib", path=other)], store)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"root 'lib': .* does not exist"):
        await RootGuard.open([RootConfig(id="lib", path=tmp_path / "x")], store)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no roots"):
        await RootGuard.open([], store)  # type: ignore[arg-type]


async def test_the_ingestor_refuses_an_empty_root_whose_files_are_stored(tmp_path: Path) -> None:
    empty = tmp_path / "mnt"
    empty.mkdir()
    store = Identities({}, files=3)
    with pytest.raises(ConfigError, match="is empty, while 3 files are known"):
        await RootGuard.open([RootConfig(id="lib", path=empty)], store)  # type: ignore[arg-type]


async def test_a_root_that_goes_away_is_unavailable_until_it_returns(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    guard = await RootGuard.open([RootConfig(id="lib", path=share)], Identities({}))  # type: ignore[arg-type]
    moved = tmp_path / "moved"
    os.rename(share, moved)
    with pytest.raises(RootUnavailableError, match="does not exist"):
        guard.ensure_available("lib")
    assert "lib: " in str(await guard.readiness())
    os.rename(moved, share)
    guard.ensure_available("lib")
    assert await guard.readiness() is True
