"""Root descriptors shared within one turn of the loop: opened once a turn, closed before the
next one, so a root replaced between turns is seen by the next read."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from fileflow_core.beneath import Location, open_beneath
from fileflow_core.errors import RootUnavailableError
from fileflow_core.roots import identify
from ingestor.turnroots import TurnRoots


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _read(location: Location, turns: TurnRoots) -> bytes:
    fd, _ = open_beneath(location, turns.current())
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "d").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "d" / f"{name}.txt").write_text(name)
    return root


async def test_reads_in_one_turn_share_the_root_and_it_is_closed_before_the_next(
    library: Path,
) -> None:
    turns = TurnRoots()
    identity = identify(library)
    before = _open_fds()
    bodies = [
        _read(Location("lib", str(library), f"d/{name}.txt", identity), turns)
        for name in ("a", "b", "c")
    ]
    assert bodies == [b"a", b"b", b"c"]
    assert _open_fds() == before + 1  # one root descriptor for the three reads
    await asyncio.sleep(0)  # the next turn
    assert _open_fds() == before


async def test_a_root_replaced_between_turns_is_refused_on_the_next_read(
    library: Path,
) -> None:
    turns = TurnRoots()
    location = Location("lib", str(library), "d/a.txt", identify(library))
    assert _read(location, turns) == b"a"
    # The volume goes away and an empty folder of the same name takes its place.
    os.rename(library, library.with_name("unmounted"))
    (library / "d").mkdir(parents=True)
    (library / "d" / "a.txt").write_text("not the library's")
    await asyncio.sleep(0)
    with pytest.raises(RootUnavailableError, match="not the folder it was"):
        _read(location, turns)


async def test_a_refused_root_is_asked_again_within_the_turn(library: Path) -> None:
    turns = TurnRoots()
    missing = Location("lib", str(library.with_name("gone")), "d/a.txt")
    for _ in range(2):
        with pytest.raises(RootUnavailableError, match="does not exist"):
            _read(missing, turns)
    os.rename(library, library.with_name("gone"))  # mounted now, in the same turn
    assert _read(missing, turns) == b"a"
    turns.close()


def test_a_new_loop_does_not_reuse_the_last_loops_descriptors(library: Path) -> None:
    turns = TurnRoots()
    location = Location("lib", str(library), "d/a.txt")
    before = _open_fds()

    async def read_and_stop() -> bytes:
        body = _read(location, turns)
        asyncio.get_running_loop().stop()  # ends before its next turn: nothing closed yet
        return body

    for _ in range(3):
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(read_and_stop())
            loop.run_forever()
            assert task.result() == b"a"
        finally:
            loop.close()
    assert _open_fds() <= before + 1  # at most the last loop's, never one a loop
    turns.close()
    assert _open_fds() == before
