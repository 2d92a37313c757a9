"""A batch message's events taken in by one task: read at once where a place is free, copies of
a stored content settled by their rows alone, everything else handed to a task of its own
(see docs/design-decisions.md, "A batch's files read at once; its copies written together")."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from fileflow_core import metrics
from fileflow_core.beneath import OpenRoots
from fileflow_core.errors import TransientError
from fileflow_core.messages import BatchEntry, FileEvent
from fileflow_core.models import PresentWrite
from fileflow_core.ports import Delivery
from ingestor import faults, stages
from ingestor.handle import FileHandler, Result
from ingestor.handover import Taken, all_ended
from ingestor.pathlocks import KeyedLocks
from ingestor.slots import SlotPool
from ingestor.turnroots import TURN_ROOTS
from ingestor.turns import LOOP_TURNS

log = logging.getLogger("ingestor.consume")

_CONSUMED = metrics.MESSAGES.labels(outcome="consumed")
_ACKED = metrics.MESSAGES.labels(outcome="acked")
_FILES_DONE = {result: metrics.FILES_DONE.labels(result=result.value) for result in Result}

# The whole way for one event: (entry, its delivery, what was taken for it, already counted).
WholeWay = Callable[[BatchEntry, Delivery, Taken | None, bool], Awaitable[None]]


@dataclass(frozen=True)
class IntakeParts:
    """What a batch's intake works with, all owned by its ``DeliveryProcessor``."""

    handler: FileHandler
    slots: SlotPool
    locks: KeyedLocks
    whole_way: WholeWay
    # Hands a delivery over to a fresh copy (see ``DeliveryProcessor``), after this long.
    renew: Callable[[Delivery], None]
    renew_after_s: float


@dataclass
class CopyRows:
    """The rows of one batch's copies: each written as soon as it is known to be a copy,
    then all acked once their writes have ended."""

    parts: IntakeParts
    started: float = field(default_factory=time.perf_counter)
    _renewal: asyncio.TimerHandle | None = None
    _copies: list[tuple[PresentWrite, FileEvent, Delivery, Taken]] = field(default_factory=list)
    _writes: list[asyncio.Future[str | None]] = field(default_factory=list)

    async def add(self, write: PresentWrite, event: FileEvent, part: Delivery, held: Taken) -> None:
        await self.parts.slots.take_commit_place()
        held.committing_in = self.parts.slots
        status = self.parts.handler.write_soon(write)
        # Given back by each write as it ends, never held while waiting for another place:
        # batches waiting for places while holding some would wait for ever.
        status.add_done_callback(held.written)
        self._copies.append((write, event, part, held))
        self._writes.append(status)
        _CONSUMED.inc()
        if self._renewal is None:
            # A timer for the batch, not one a file: most batches end long before it fires.
            self._renewal = asyncio.get_running_loop().call_later(
                self.parts.renew_after_s, self._renew_all
            )

    def _renew_all(self) -> None:
        for _, _, part, _ in self._copies:
            self.parts.renew(part)

    def cancel(self) -> None:
        for status in self._writes:
            status.cancel()  # its result is nobody's now; its row may still be written
        self._end_renewal()

    def _end_renewal(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()

    async def settle(self) -> None:
        """Ack each copy whose row was written; one whose write failed goes the whole way in
        a task of its own, which retries it or reports it as any file's failure is."""
        if not self._writes:
            return
        try:
            await asyncio.wait(self._writes)
        finally:
            self._end_renewal()
        faults.reach("crash-after-commit")
        again: list[Awaitable[None]] = []
        for (write, event, part, held), status in zip(self._copies, self._writes, strict=True):
            if status.exception() is not None:
                again.append(self.parts.whole_way(BatchEntry(event), part, held, True))
                continue
            stages.observe("store", self.started)
            await self._ack(write, event, part, status.result())
            held.release(self.parts.locks)
        await all_ended(*again)

    async def _ack(
        self, write: PresentWrite, event: FileEvent, part: Delivery, status: str | None
    ) -> None:
        result = self.parts.handler.copy_written(write, status)
        try:
            await part.ack()
        except TransientError as exc:
            log.warning(
                "could not settle an event of a batch; the broker will redeliver the batch",
                extra={"reason": str(exc)},
            )
            return
        _ACKED.inc()
        _FILES_DONE[result].inc()
        metrics.SEEN_TO_COMMITTED.observe(max(0.0, time.time() - event.seen_at.timestamp()))


@dataclass
class BatchIntake:
    """Every event of a batch is settled on its own, like a message of its own.

    First, in order and without awaiting, each event's path lock is taken where it is free,
    and its file read where a work slot or a read-ahead place is free; an event whose path is
    busy, or whose file was read and is not a copy of a stored content, gets a task of its own
    at once, handed what was taken and read for it (``whole_way``). Then, in the same order, an
    event holding its lock but no place waits for one and is read; a copy has its row written
    (``CopyRows``), anything else gets its task."""

    parts: IntakeParts
    # When each event held was seen (see ``DeliveryProcessor.oldest_pending_s``).
    held_since: dict[object, float]

    async def process(
        self, entries: Sequence[BatchEntry], parts: Sequence[Delivery], *, at_once: bool
    ) -> None:
        copies = CopyRows(self.parts)
        held_here: list[tuple[BatchEntry, Delivery, Taken]] = []
        tasks: list[asyncio.Future[None]] = []
        token = object()
        seen = [entry.event.seen_at.timestamp() for entry in entries if entry.event is not None]
        if seen:
            self.held_since[token] = min(seen)
        try:
            # No await in this pass: its reads share the roots' descriptors.
            with OpenRoots() as roots:
                for entry, part in zip(entries, parts, strict=True):
                    held = None
                    if entry.event is not None and at_once and not part.renewed:
                        held = self._take_at_once(entry.event, part.attempt, roots)
                    if held is not None:
                        held_here.append((entry, part, held))
                    # Read and not a copy: its task starts now, not after the batch's copies.
                    if held is None or (held.looked and held.row is None):
                        tasks.append(self._hand_over(entry, part, held))
            for entry, part, held in held_here:
                if held.looked and held.row is None:
                    continue  # handed over above
                await self._read_when_placed(held, part.attempt)
                if held.row is not None and entry.event is not None:
                    await copies.add(held.row, entry.event, part, held)
                else:
                    tasks.append(self._hand_over(entry, part, held))
            await all_ended(copies.settle(), *tasks)
        except BaseException:
            copies.cancel()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
            raise
        finally:
            # Every task has ended: what one never took over is given back here.
            for *_, held in held_here:
                held.release(self.parts.locks)
            self.held_since.pop(token, None)

    def _hand_over(
        self, entry: BatchEntry, part: Delivery, held: Taken | None
    ) -> asyncio.Future[None]:
        """The event's own task, started now: it does not wait for the rest of the batch."""
        return asyncio.ensure_future(self.parts.whole_way(entry, part, held, False))

    def _take_at_once(self, event: FileEvent, attempt: int, roots: OpenRoots) -> Taken | None:
        """The event's path lock, and its file read if a place is free; None when the path
        is busy."""
        held = Taken((event.root_id, event.path), event=event)
        if not self.parts.locks.try_take(held.key):
            return None
        self._read_if_placed(held, attempt, roots)
        return held

    def _read_if_placed(self, held: Taken, attempt: int, roots: OpenRoots | None) -> None:
        """Read the file if a work slot or a read-ahead place is free."""
        slot = self.parts.slots.slot()
        if slot.try_acquire():
            held.slot = slot
        elif self.parts.slots.try_read_ahead():
            held.ahead_in = self.parts.slots
        else:
            return
        self._read(held, attempt, roots)

    def _read(self, held: Taken, attempt: int, roots: OpenRoots | None) -> None:
        """A copy of a stored content gives its place back at once: its row is all it needs.
        A file that could not be read at once gives back a read-ahead place: its task reads
        it once it has a work slot."""
        assert held.event is not None
        held.looked = True
        prepared = self.parts.handler.prepare(held.event, roots)
        if prepared is not None and self.parts.handler.is_stored_copy(prepared):
            held.row = self.parts.handler.copy_row(prepared, attempt)
            held.keep_lock_only()
            return
        held.prepared = prepared
        if prepared is None:
            held.leave_read_ahead()

    async def _read_when_placed(self, held: Taken, attempt: int) -> None:
        """An event that found no place free waits for a read-ahead place, then is read."""
        if held.looked:
            return
        await LOOP_TURNS.share()
        self._read_if_placed(held, attempt, TURN_ROOTS.current())
        if held.looked:
            return
        await self.parts.slots.take_read_ahead()
        held.ahead_in = self.parts.slots
        await LOOP_TURNS.share()  # places given back together wake their batches together
        self._read(held, attempt, TURN_ROOTS.current())
