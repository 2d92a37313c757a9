"""KeyedLocks: one holder per key, independent keys, nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from ingestor.pathlocks import KeyedLocks


async def test_same_key_serialises() -> None:
    locks = KeyedLocks()
    active = 0
    peak = 0
    order: list[int] = []

    async def work(n: int) -> None:
        nonlocal active, peak
        async with locks.hold("p"):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            order.append(n)
            active -= 1

    await asyncio.gather(*(work(n) for n in range(5)))
    assert peak == 1
    assert order == [0, 1, 2, 3, 4]
    assert len(locks) == 0


async def test_different_keys_run_concurrently() -> None:
    locks = KeyedLocks()
    a_in = asyncio.Event()
    b_in = asyncio.Event()

    async def hold(key: str, mine: asyncio.Event, other: asyncio.Event) -> None:
        async with locks.hold(key):
            mine.set()
            await other.wait()  # deadlocks if the keys shared a lock

    await asyncio.wait_for(asyncio.gather(hold("a", a_in, b_in), hold("b", b_in, a_in)), timeout=5)
    assert len(locks) == 0


async def test_dict_emptied_after_error() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("p"):
            assert len(locks) == 1
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with asyncio.timeout(1), locks.hold("p"):
        pass


async def test_cancelled_waiter_leaves_nothing_behind() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("p"):
            holding.set()
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("p"):
            pytest.fail("a cancelled waiter must not get the lock")

    first = asyncio.create_task(holder())
    await holding.wait()
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert len(locks) == 1
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    await first
    assert len(locks) == 0


async def test_try_take_succeeds_only_on_a_free_key_and_give_hands_it_to_a_waiter() -> None:
    locks = KeyedLocks()
    assert locks.try_take("p")
    assert not locks.try_take("p")
    assert locks.try_take("q")
    waiting = asyncio.create_task(locks.take("p"))
    await asyncio.sleep(0)
    locks.give("p")
    await asyncio.wait_for(waiting, 1)
    assert not locks.try_take("p")  # the waiter holds it now
    locks.give("p")
    locks.give("q")
    assert len(locks) == 0
