"""One task per path at a time: a later event for a busy path waits for the current one."""

from __future__ import annotations

from collections.abc import Hashable

from ingestor.gate import Gate


class KeyedLocks:
    """Locks created on demand and dropped when nobody holds or waits for them.

    A key is taken with ``try_take`` (at once, or not at all) or ``take`` (waiting in order),
    and given back with ``give``; ``hold`` does both around a block."""

    __slots__ = ("_gates",)

    def __init__(self) -> None:
        self._gates: dict[Hashable, Gate] = {}

    def try_take(self, key: Hashable) -> bool:
        if key in self._gates:
            return False
        gate = self._gates[key] = Gate(1)
        gate.try_enter()
        return True

    async def take(self, key: Hashable) -> None:
        gate = self._gates.get(key)
        if gate is None:
            self.try_take(key)
            return
        try:
            await gate.enter()
        except BaseException:
            self._forget_if_unused(key, gate)
            raise

    def give(self, key: Hashable) -> None:
        gate = self._gates[key]
        gate.leave()
        self._forget_if_unused(key, gate)

    def _forget_if_unused(self, key: Hashable, gate: Gate) -> None:
        # Free again and nobody waiting: a place handed to a waiter is not free.
        if gate.idle and gate.try_enter():
            del self._gates[key]

    def hold(self, key: Hashable) -> _Held:
        return _Held(self, key)

    def __len__(self) -> int:
        return len(self._gates)


class _Held:
    """``async with locks.hold(key)``: a plain object, cheaper than a generator's context."""

    __slots__ = ("_key", "_locks")

    def __init__(self, locks: KeyedLocks, key: Hashable) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        await self._locks.take(self._key)

    async def __aexit__(self, *_: object) -> None:
        self._locks.give(self._key)
