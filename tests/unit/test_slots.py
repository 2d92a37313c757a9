"""The pool's work slots and commit places (ingestor.slots), without servers."""

from __future__ import annotations

import asyncio

import pytest

from ingestor.slots import COMMIT_PLACES_PER_SLOT, SlotPool

pytestmark = pytest.mark.timeout(10)


async def _stays_blocked(awaitable: asyncio.Future[None] | asyncio.Task[None]) -> bool:
    await asyncio.sleep(0.05)
    return not awaitable.done()


async def test_a_file_waiting_for_its_commit_gives_its_work_slot_to_the_next_file() -> None:
    pool = SlotPool(1)
    committed = asyncio.Event()
    first = pool.slot()
    await first.acquire()

    async def commit_first() -> None:
        async with first.waiting_for_commit():
            await committed.wait()

    committing = asyncio.create_task(commit_first())
    second = pool.slot()
    await asyncio.wait_for(second.acquire(), 1)  # the slot the first file gave back
    assert (pool.working, pool.committing) == (1, 1)
    committed.set()
    await committing
    second.release()
    assert (pool.working, pool.committing, pool.max_working) == (0, 0, 1)


async def test_with_every_commit_place_taken_a_file_keeps_its_work_slot() -> None:
    pool = SlotPool(1, commit_places=1)
    committed = asyncio.Event()

    async def file_through(slot_ready: asyncio.Event | None = None) -> None:
        slot = pool.slot()
        await slot.acquire()
        if slot_ready is not None:
            slot_ready.set()
        try:
            async with slot.waiting_for_commit():
                await committed.wait()
        finally:
            slot.release()

    first = asyncio.create_task(file_through())
    await asyncio.sleep(0.01)
    ready = asyncio.Event()
    second = asyncio.create_task(file_through(ready))
    await ready.wait()
    third = asyncio.create_task(pool.slot().acquire())
    # The second file waits for a commit place with its work slot: the third cannot start.
    assert await _stays_blocked(third)
    assert (pool.working, pool.committing) == (1, 1)
    committed.set()
    await asyncio.gather(first, second)
    await asyncio.wait_for(third, 1)
    assert pool.working == 1


async def test_release_is_idempotent_and_the_default_places_are_a_multiple() -> None:
    pool = SlotPool(3)
    slot = pool.slot()
    await slot.acquire()
    slot.release()
    slot.release()
    assert pool.working == 0
    # Three slots free again, not four: a second release gave nothing back.
    taken = [pool.slot() for _ in range(4)]
    for held in taken[:3]:
        await held.acquire()
    assert await _stays_blocked(asyncio.ensure_future(taken[3].acquire()))
    places = SlotPool(5)
    entered = 0

    async def hold_place(release: asyncio.Event) -> None:
        nonlocal entered
        async with places.slot().waiting_for_commit():
            entered += 1
            await release.wait()

    release = asyncio.Event()
    holders = [asyncio.create_task(hold_place(release)) for _ in range(6 * COMMIT_PLACES_PER_SLOT)]
    await asyncio.sleep(0.05)
    assert entered == 5 * COMMIT_PLACES_PER_SLOT
    release.set()
    await asyncio.gather(*holders)


async def test_read_ahead_places_are_as_many_as_the_work_slots() -> None:
    pool = SlotPool(2)
    assert [pool.try_read_ahead() for _ in range(3)] == [True, True, False]
    assert pool.reading_ahead == 2
    pool.give_read_ahead()
    assert pool.try_read_ahead()


async def test_places_taken_at_once_count_like_awaited_ones() -> None:
    pool = SlotPool(1, commit_places=1)
    assert pool.try_take_work() and not pool.try_take_work()
    assert pool.try_take_commit_place() and not pool.try_take_commit_place()
    assert (pool.working, pool.committing, pool.max_held) == (1, 1, 2)
    pool.give_work()
    pool.give_commit_place()
    assert (pool.working, pool.committing) == (0, 0)
    await asyncio.wait_for(pool.take_work(), 1)
