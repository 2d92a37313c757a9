"""Gate: places taken at once or in turn, handed on first come first served, never lost."""

from __future__ import annotations

import asyncio

import pytest

from ingestor.gate import Gate

pytestmark = pytest.mark.timeout(10)


async def test_places_are_taken_at_once_until_none_is_free() -> None:
    gate = Gate(2)
    assert gate.try_enter()
    assert gate.try_enter()
    assert not gate.try_enter()
    gate.leave()
    assert gate.try_enter()


async def test_waiters_get_places_in_order_and_a_free_place_does_not_jump_the_queue() -> None:
    gate = Gate(1)
    await gate.enter()
    order: list[int] = []

    async def wait_then_leave(n: int) -> None:
        await gate.enter()
        order.append(n)
        await asyncio.sleep(0)
        gate.leave()

    waiting = [asyncio.create_task(wait_then_leave(n)) for n in range(3)]
    await asyncio.sleep(0)
    gate.leave()
    # A place given back goes to the first waiter: trying now must not take it.
    assert not gate.try_enter()
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2]
    assert gate.idle and gate.try_enter()


async def test_a_waiter_cancelled_after_being_handed_a_place_hands_it_on() -> None:
    gate = Gate(1)
    await gate.enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # the place is now the first waiter's...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    gate.leave()
    assert gate.idle and gate.try_enter() and not gate.try_enter()


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    gate = Gate(1)
    await gate.enter()
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    assert not gate.idle
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.idle
    gate.leave()
    assert gate.try_enter()
