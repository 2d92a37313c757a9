"""Sharing the loop's turns: steps made ready together are spread over turns of a slice each."""

from __future__ import annotations

import asyncio

from ingestor.turns import LoopTurns


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _turn_counter(turns: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        turns[0] += 1
        await asyncio.sleep(0)


async def test_steps_ready_together_are_spread_over_turns_of_one_slice() -> None:
    clock = _Clock()
    shared = LoopTurns(slice_s=0.003, clock=clock)
    turn = [0]
    stop = asyncio.Event()
    counter = asyncio.create_task(_turn_counter(turn, stop))
    ran_in: list[int] = []

    async def step() -> None:
        await shared.share()
        ran_in.append(turn[0])
        clock.now += 0.001  # a millisecond of work on the loop

    await asyncio.gather(*(step() for _ in range(20)))
    stop.set()
    await counter
    per_turn = {t: ran_in.count(t) for t in set(ran_in)}
    assert len(ran_in) == 20  # every step ran
    # A step starts while its turn has used up to 3 ms: at most four (0, 1, 2, 3 ms) a turn.
    assert max(per_turn.values()) <= 4
    assert len(per_turn) >= 5


async def test_a_lone_step_never_waits_and_an_idle_loop_is_left_alone() -> None:
    clock = _Clock()
    shared = LoopTurns(slice_s=0.003, clock=clock)
    for _ in range(3):
        await shared.share()  # a turn's first step goes on at once
        clock.now += 0.010  # however long it then takes
        await asyncio.sleep(0)  # the next turn: a slice of its own
    # Nothing stays scheduled: the loop has no callback of ours once the steps are done.
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    assert not [h for h in getattr(loop, "_ready", []) if "_next_turn" in repr(h)]


def test_a_new_loop_is_not_held_by_a_turn_of_the_old_one() -> None:
    clock = _Clock()
    shared = LoopTurns(slice_s=0.003, clock=clock)

    async def over_its_slice() -> None:
        await shared.share()
        clock.now += 1.0

    asyncio.run(over_its_slice())
    asyncio.run(asyncio.wait_for(shared.share(), timeout=1))  # would spin for good otherwise
