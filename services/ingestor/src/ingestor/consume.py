"""Turn deliveries into settled messages: bounded concurrency, per-path order, ack after commit."""

from __future__ import annotations

import asyncio
import logging
import time

from fileflow_core import metrics
from fileflow_core.errors import (
    MessageDecodeError,
    PermanentError,
    RootUnavailableError,
    StoreUnavailableError,
    TransientError,
)
from fileflow_core.messages import BatchEntry, FileEvent, decode_message
from fileflow_core.ports import Delivery, WriteStore
from ingestor import faults, stages
from ingestor.failures import FailedEvents
from ingestor.handle import FileHandler, Result
from ingestor.handover import Taken
from ingestor.intake import BatchIntake, IntakeParts
from ingestor.outage import StoreOutage
from ingestor.pathlocks import KeyedLocks
from ingestor.slots import SlotPool

log = logging.getLogger(__name__)

_CONSUMED = metrics.MESSAGES.labels(outcome="consumed")
_ACKED = metrics.MESSAGES.labels(outcome="acked")
_REQUEUED = metrics.MESSAGES.labels(outcome="requeued")
_RENEWED = metrics.MESSAGES.labels(outcome="renewed")
_DEAD_LETTERED = metrics.MESSAGES.labels(outcome="dead_lettered")
_POSTPONED = metrics.MESSAGES.labels(outcome="postponed")
_FILES_DONE = {result: metrics.FILES_DONE.labels(result=result.value) for result in Result}
_FAILURES = {reason: metrics.FAILURES.labels(reason=reason) for reason in metrics.FAILURE_REASONS}
_SEEN_TO_COMMITTED = metrics.SEEN_TO_COMMITTED


class DeliveryProcessor:
    """Settles every delivery exactly once: ack, retry, dead-letter or (on shutdown) requeue."""

    def __init__(
        self,
        handler: FileHandler,
        store: WriteStore,
        concurrency: int,
        *,
        outage: StoreOutage | None = None,
        failure_record_timeout_s: float = 60.0,
        renew_after_s: float = 900.0,
    ) -> None:
        self._handler = handler
        self._failed = FailedEvents(
            store, handler.clock, failure_record_timeout_s=failure_record_timeout_s
        )
        self.outage = outage
        self.slots = SlotPool(concurrency)
        self._locks = KeyedLocks()
        self._active: set[asyncio.Task[None]] = set()
        self._renewals: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._renew_after_s = renew_after_s
        # When each event held here (running or waiting for its path or a slot) was seen.
        self._held_since: dict[object, float] = {}
        self._intake = BatchIntake(
            IntakeParts(
                handler,
                self.slots,
                self._locks,
                self._whole_way,
                self._start_renewal,
                renew_after_s,
            ),
            self._held_since,
        )
        # Read when scraped, not set per file.
        metrics.FILES_IN_FLIGHT.set_function(lambda: self.slots.working)
        metrics.FILES_IN_FLIGHT_MAX.set_function(lambda: self.slots.max_working)
        metrics.FILES_COMMITTING.set_function(lambda: self.slots.committing)
        metrics.FILES_READ_AHEAD.set_function(lambda: self.slots.reading_ahead)
        metrics.OLDEST_PENDING.set_function(self.oldest_pending_s)

    def oldest_pending_s(self) -> float:
        """Age of the oldest event this process holds, from when the watcher saw it."""
        if not self._held_since:
            return 0.0
        return max(0.0, time.time() - min(self._held_since.values()))

    async def __call__(self, delivery: Delivery) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            await self._process(delivery)
        except TransientError as exc:
            # Settling failed (the broker went away): unacked, so it will be redelivered.
            log.warning(
                "could not settle a message; the broker will redeliver it",
                extra={"reason": str(exc)},
            )
        finally:
            self._active.discard(task)

    async def _process(self, delivery: Delivery) -> None:
        try:
            decoded = _decoded(delivery)
        except MessageDecodeError as exc:
            _CONSUMED.inc()
            log.error("malformed message dead-lettered", extra={"reason": str(exc)})
            await delivery.dead_letter(f"malformed message: {exc}")
            _DEAD_LETTERED.inc()
            _FAILURES["malformed_message"].inc()
            return
        if isinstance(decoded, FileEvent):
            await self._process_event(decoded, delivery)
            return
        parts = delivery.split([entry.body for entry in decoded])
        at_once = not (self._stopping or self._paused() or stages.per_file_lines())
        await self._intake.process(decoded, parts, at_once=at_once)

    async def _whole_way(
        self, entry: BatchEntry, delivery: Delivery, held: Taken | None, counted: bool
    ) -> None:
        await self._process_entry(entry, delivery, held, counted=counted)

    def _paused(self) -> bool:
        return self.outage is not None and self.outage.paused

    async def _process_entry(
        self,
        entry: BatchEntry,
        delivery: Delivery,
        held: Taken | None = None,
        *,
        counted: bool = False,
    ) -> None:
        try:
            if entry.event is None:
                _CONSUMED.inc()
                log.error("malformed batch entry dead-lettered", extra={"reason": str(entry.error)})
                await delivery.dead_letter(f"malformed batch entry: {entry.error}")
                _DEAD_LETTERED.inc()
                _FAILURES["malformed_message"].inc()
                return
            await self._process_event(entry.event, delivery, held, counted=counted)
        except TransientError as exc:
            log.warning(
                "could not settle an event of a batch; the broker will redeliver the batch",
                extra={"reason": str(exc)},
            )

    async def _process_event(
        self,
        event: FileEvent,
        delivery: Delivery,
        held: Taken | None = None,
        *,
        counted: bool = False,
    ) -> None:
        """``held``: what was taken for the event already (its path lock at least)."""
        if not counted:
            _CONSUMED.inc()
        token = object()
        self._held_since[token] = event.seen_at.timestamp()
        try:
            if held is None:
                held = Taken((event.root_id, event.path))
                await self._locks.take(held.key)
            try:
                await self._process_held(event, delivery, held)
            finally:
                held.release(self._locks)
        finally:
            del self._held_since[token]

    async def _process_held(self, event: FileEvent, delivery: Delivery, held: Taken) -> None:
        if held.slot is None:
            slot = self.slots.slot()
            await slot.acquire()
            held.slot = slot
            held.leave_read_ahead()
        if self._stopping or self._paused():
            # Handed back untouched: no attempt is spent while the store is down.
            await delivery.requeue()
            _REQUEUED.inc()
            return
        # A timer, not a task per file: most files finish long before it fires.
        renewal = asyncio.get_running_loop().call_later(
            self._renew_after_s, self._start_renewal, delivery
        )
        try:
            with stages.timed_file(event.root_id, event.path, delivery.attempt) as outcome:
                outcome["result"] = await self._settle(event, delivery, held)
        finally:
            renewal.cancel()

    async def _settle(self, event: FileEvent, delivery: Delivery, held: Taken) -> str:
        """Handle the event and settle its delivery; returns what became of it."""
        try:
            result = await self._handler.handle(
                event,
                delivery.attempt,
                renewed=delivery.renewed,
                slot=held.slot,
                prepared=held.prepared,
            )
        except RootUnavailableError as exc:
            await delivery.postpone(str(exc))
            _POSTPONED.inc()
            return "postponed"
        except StoreUnavailableError as exc:
            if self.outage is None:
                return await self._failed.retry(event, delivery, str(exc))
            await self.outage.report(str(exc))
            await delivery.requeue()
            _REQUEUED.inc()
            return "requeued"
        except PermanentError as exc:
            return await self._failed.reject(event, delivery, exc)
        except Exception as exc:  # the loop must survive anything one file does
            reason = str(exc) if isinstance(exc, TransientError) else f"unexpected error: {exc!r}"
            return await self._failed.retry(event, delivery, reason)
        faults.reach("crash-after-commit")
        await delivery.ack()
        _ACKED.inc()
        _FILES_DONE[result].inc()
        _SEEN_TO_COMMITTED.observe(max(0.0, time.time() - event.seen_at.timestamp()))
        return result.value

    def _start_renewal(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._renew(delivery))
        self._renewals.add(task)
        task.add_done_callback(self._renewals.discard)

    async def _renew(self, delivery: Delivery) -> None:
        """Hand long work over to a fresh copy before the broker's ack timeout closes the
        channel (which would redeliver it while this task still runs)."""
        try:
            await delivery.renew()
        except TransientError as exc:
            log.warning("could not renew a long-running delivery", extra={"reason": str(exc)})
            return
        _RENEWED.inc()

    @property
    def in_flight(self) -> int:
        """Files holding a work slot now (reading, hashing, extracting)."""
        return self.slots.working

    @property
    def max_in_flight(self) -> int:
        return self.slots.max_working

    async def close(self) -> None:
        """Stop the hand-overs still being published (their deliveries go back anyway)."""
        for task in list(self._renewals):
            task.cancel()
        await asyncio.gather(*self._renewals, return_exceptions=True)

    async def drain(self, timeout_s: float) -> int:
        """Stop starting new files, wait for running ones; return how many were cancelled."""
        self._stopping = True
        pending = set(self._active)
        if not pending:
            return 0
        _, still_running = await asyncio.wait(pending, timeout=timeout_s)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running, timeout=5)
        return len(still_running)


def _decoded(delivery: Delivery) -> FileEvent | list[BatchEntry]:
    """The delivery's event, or its batch's entries: as published when they never left this
    process, else decoded from its body (``MessageDecodeError`` when it is not valid)."""
    events = delivery.published_events
    if events is None:
        return decode_message(delivery.body)
    if len(events) == 1:
        return events[0]  # as its body decodes: one event travels as a message of its own
    return [BatchEntry(event) for event in events]
