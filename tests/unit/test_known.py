"""KnownFiles: the record of what was published, in memory and on disk, answering alike."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from file_watcher.known import KnownFiles, KnownFilesInMemory, pack, unpack
from file_watcher.known_store import StoredKnownFiles
from file_watcher.scan import Signature
from file_watcher.state import WatcherState

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
i64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
ODD = b"caf\xe9".decode("utf-8", "surrogateescape")  # a name that is not UTF-8
BIG_INODE = (1 << 64) - 5  # beyond SQLite's signed integers


@given(u64, i64, u64)
def test_pack_round_trips(size: int, mtime_ns: int, inode: int) -> None:
    signature = Signature(size, mtime_ns, inode)
    assert unpack(pack(signature)) == signature


@given(st.tuples(u64, i64, u64), st.tuples(u64, i64, u64))
def test_different_signatures_never_pack_alike(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    if a != b:
        assert pack(Signature(*a)) != pack(Signature(*b))


@pytest.fixture(params=["memory", "disk"])
def known(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnownFiles]:
    if request.param == "memory":
        yield KnownFilesInMemory()
        return
    state = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
    yield state.load()
    state.close()


def _record(known: KnownFiles, present: list[tuple[str, Signature]], deleted: list[str]) -> None:
    asyncio.run(_awaited(known, present, deleted))


async def _awaited(
    known: KnownFiles, present: list[tuple[str, Signature]], deleted: list[str]
) -> None:
    await known.record(present, deleted)


def test_answers_what_was_recorded(known: KnownFiles) -> None:
    assert not known and len(known) == 0
    _record(
        known,
        [
            ("a.txt", Signature(1, 2, 3)),
            ("d/b.txt", Signature(4, -5, 6)),
            ("d/e/c.txt", Signature(7, 8, BIG_INODE)),
            (f"{ODD}/{ODD}.txt", Signature(9, 10, 11)),
            ("dx/f.txt", Signature(1, 1, 1)),
        ],
        [],
    )
    assert known and len(known) == 5
    assert known.get("missing") is None and "missing" not in known
    assert known.get("d/e/c.txt") == Signature(7, 8, BIG_INODE)
    assert known.matches("a.txt", Signature(1, 2, 3))
    assert not known.matches("a.txt", Signature(1, 2, 4))
    assert f"{ODD}/{ODD}.txt" in known
    assert sorted(known.under("d")) == ["d/b.txt", "d/e/c.txt"]  # not dx/
    assert known.under("d/e") == ["d/e/c.txt"]
    assert sorted(known.under("")) == sorted(path for path, _ in known.items())

    _record(known, [("a.txt", Signature(1, 2, 4))], ["d/b.txt", "never-known.txt"])
    assert len(known) == 4
    assert dict(known.items()) == {
        "a.txt": Signature(1, 2, 4),
        "d/e/c.txt": Signature(7, 8, BIG_INODE),
        f"{ODD}/{ODD}.txt": Signature(9, 10, 11),
        "dx/f.txt": Signature(1, 1, 1),
    }


def test_reads_a_folder_at_a_time(known: KnownFiles) -> None:
    _record(known, [("a.txt", Signature(1, 2, 3)), ("d/b.txt", Signature(4, 5, BIG_INODE))], [])
    with known.reader() as folders:
        assert sorted(folders.folders()) == ["", "d"]
        assert folders.entries("") == {"a.txt": (1, 2, 3)}
        assert folders.entries("d") == {"b.txt": (4, 5, BIG_INODE)}
        assert folders.entries("nowhere") == {}


def test_a_confirmed_batch_counts_before_it_is_written(tmp_path: Path) -> None:
    """Between the broker's confirm and the write in a thread, a lookup must already see it:
    otherwise the same change would be published again."""

    async def scenario() -> None:
        state = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
        known = state.load()
        writing = known.record([("d/a.txt", Signature(1, 2, 3))], ["gone.txt"])
        assert known.get("d/a.txt") == Signature(1, 2, 3)
        assert known.under("d") == ["d/a.txt"]
        with known.reader() as folders:
            assert folders.entries("d") == {"a.txt": (1, 2, 3)}
        await writing
        assert known.get("d/a.txt") == Signature(1, 2, 3) and len(known) == 1
        state.close()

    asyncio.run(scenario())


def test_the_record_on_disk_survives_a_restart(tmp_path: Path) -> None:
    state = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
    _record(state.load(), [("a.txt", Signature(1, 2, 3)), ("d/b.txt", Signature(4, 5, 6))], [])
    state.close()
    again = StoredKnownFiles(tmp_path / "state" / "watcher-lib.sqlite3")
    assert len(again) == 2 and again.get("d/b.txt") == Signature(4, 5, 6)
    again.close()


def test_a_failed_write_is_kept_and_written_with_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A state file that cannot be written for a while (a full disk, a lock held by someone
    else) loses nothing: the rows stay in memory and go with the next confirmed batch."""

    async def scenario() -> None:
        state = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
        known = state.load()
        real = known._write_rows

        def full_disk(rows: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(known, "_write_rows", full_disk)
        await known.record([("a.txt", Signature(1, 2, 3))], [])
        assert known.get("a.txt") == Signature(1, 2, 3)  # still decided right meanwhile
        assert "cannot write the watcher's state" in caplog.text
        monkeypatch.setattr(known, "_write_rows", real)
        await known.record([("d/b.txt", Signature(4, 5, 6))], [])
        state.close()
        again = WatcherState(tmp_path / "state", "lib", tmp_path, "q")
        assert dict(again.load().items()) == {
            "a.txt": Signature(1, 2, 3),
            "d/b.txt": Signature(4, 5, 6),
        }
        again.close()

    asyncio.run(scenario())
