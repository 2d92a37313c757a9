"""MicroBatcher and the grouped store writes: batching, per-item results, isolating a bad file."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from fileflow_core.errors import ContentMissingError, TransientError, WriteRejectedError
from fileflow_core.models import FileObservation, PresentWrite
from ingestor.batching import MicroBatcher
from ingestor.grouped import GroupedWrites


async def test_items_arriving_together_share_a_batch_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [item * 2 for item in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(double, max_batch=10)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(25)))
    assert results == [i * 2 for i in range(25)]
    assert [len(b) for b in batches] == [10, 10, 5]


async def test_items_arriving_while_a_batch_runs_form_the_next_one() -> None:
    batches: list[list[int]] = []

    async def slow(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.05)
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(slow, max_batch=100)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.01)  # the first batch is running now
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.gather(first, *rest)
    assert batches == [[0], [1, 2, 3, 4, 5]]


async def test_a_lone_item_is_not_held_back() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(_echo, max_batch=100)
    assert await asyncio.wait_for(batcher.submit(7), timeout=1) == 7


async def test_item_submitted_as_a_batch_finishes_is_still_run() -> None:
    """A drain that has just seen an empty queue must not swallow the next submit."""
    batcher: MicroBatcher[int, int] = MicroBatcher(_echo, max_batch=100)
    for i in range(50):
        assert await asyncio.wait_for(batcher.submit(i), timeout=1) == i


async def test_per_item_exceptions_and_whole_batch_failures() -> None:
    async def picky(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"odd {i}") if i % 2 else i for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(picky, max_batch=10)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert isinstance(outcomes[1], ValueError) and isinstance(outcomes[3], ValueError)

    async def broken(items: list[int]) -> list[int]:
        raise TransientError("server down")

    failing: MicroBatcher[int, int] = MicroBatcher(broken, max_batch=10)
    outcomes = await asyncio.gather(*(failing.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, TransientError) for o in outcomes)


async def _echo(items: list[int]) -> list[int]:
    return items


def _write(path: str, sha: str = "a" * 64) -> PresentWrite:
    return PresentWrite(FileObservation("lib", path, datetime.now(UTC), 1, 1, 1), sha)


class RejectingStore:
    """Refuses any batch holding the file named 'bad'; singles are judged on their own."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.singles: list[str] = []

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[str | ContentMissingError | None]:
        self.batch_sizes.append(len(writes))
        await asyncio.sleep(0.01)
        if any(w.observation.path == "bad" for w in writes):
            raise WriteRejectedError("value too long")
        return ["completed"] * len(writes)

    async def record_present(
        self, observation: FileObservation, *_: object, **__: object
    ) -> str | None:
        self.singles.append(observation.path)
        if observation.path == "bad":
            raise WriteRejectedError("value too long")
        if observation.path == "missing":
            raise ContentMissingError("no content")
        return "completed"


async def test_a_rejected_batch_is_written_file_by_file_so_only_the_culprit_fails() -> None:
    store = RejectingStore()
    writes = GroupedWrites(store)  # type: ignore[arg-type]
    paths = ["first", "a", "bad", "b", "missing"]
    outcomes = await asyncio.gather(
        *(writes.record_present(_write(p)) for p in paths), return_exceptions=True
    )
    assert outcomes[0] == outcomes[1] == outcomes[3] == "completed"
    assert isinstance(outcomes[2], WriteRejectedError)
    assert isinstance(outcomes[4], ContentMissingError)
    assert store.batch_sizes == [5]
    assert sorted(store.singles) == sorted(paths)


async def test_a_rejected_single_file_fails_alone() -> None:
    store = RejectingStore()
    writes = GroupedWrites(store)  # type: ignore[arg-type]
    with pytest.raises(WriteRejectedError):
        await writes.record_present(_write("bad"))
    assert store.singles == []


async def test_lingering_gathers_items_and_never_runs_an_empty_batch() -> None:
    batches: list[list[int]] = []

    async def record(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(
        record, max_batch=100, max_concurrent=2, linger_s=0.02
    )
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.005)  # lingering now
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 4)]
    assert await asyncio.gather(first, *rest) == [0, 1, 2, 3]
    assert batches == [[0, 1, 2, 3]]
