"""Publishing: the outbox sent a window at a time, with confirms; on failure the backlog is held
and sending is tried again with backoff; what the broker confirmed becomes the known state.

A publish not confirmed is not sent: its changes go back to the outbox (unless a newer change of
the same path arrived meanwhile). The backlog is bounded (``FILEFLOW_MAX_BACKLOG``); past it, it
is dropped whole and every root caught up again instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import backoff

from file_watcher.memory import LARGE_BACKLOG, release_free_memory
from file_watcher.outbox import Change, Outbox
from file_watcher.roots import WatchedRoot
from file_watcher.scan import Signature
from fileflow_core import metrics
from fileflow_core.errors import ConfigError, FileflowError
from fileflow_core.messages import FileEvent, Operation
from fileflow_core.ports import Broker, EventPublisher
from fileflow_core.runtime import honour_cancel
from fileflow_core.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, str]
FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 30.0


class PublisherFactory:
    """Called for a publisher; opens the broker on first use if it must, so the watcher runs
    (and holds a backlog) while the broker is down."""

    def __init__(self, settings: Settings, open_broker: Callable[[], Awaitable[Broker]]) -> None:
        self._settings = settings
        self._open_broker = open_broker
        self._broker: Broker | None = None
        self._owned = True

    @classmethod
    def over(cls, settings: Settings, broker: Broker) -> PublisherFactory:
        """Publishers from a broker someone else owns (and closes)."""

        async def shared() -> Broker:
            return broker

        factory = cls(settings, shared)
        factory._broker, factory._owned = broker, False
        return factory

    async def __call__(self) -> EventPublisher:
        if self._broker is None:
            self._broker = await self._open_broker()
        return await self._broker.publisher(
            window=self._settings.publish_window,
            timeout_s=self._settings.publish_timeout_s,
            batch_events=self._settings.publish_batch_events,
        )

    async def connected(self) -> bool:
        return self._broker is not None and await self._broker.connected()

    async def close(self) -> None:
        if self._broker is not None and self._owned:
            await self._broker.close()
            self._broker = None


def retry_delays() -> Iterator[float]:
    """Waits between failed publishes: exponential, capped, with full jitter (watchers that
    lost the same broker do not all come back at the same instant)."""
    for delay in backoff.expo(base=2, factor=FIRST_RETRY_S, max_value=LONGEST_RETRY_S):
        if delay:
            yield backoff.full_jitter(delay)


class PublishLoop:
    def __init__(
        self,
        settings: Settings,
        roots: dict[str, WatchedRoot],
        outbox: Outbox[Key, Change],
        factory: Callable[[], Awaitable[EventPublisher]],
        catch_up_all: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._roots = roots
        self._outbox = outbox
        self._factory = factory
        self._catch_up_all = catch_up_all
        self._publisher: EventPublisher | None = None
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._sent = asyncio.Event()  # set whenever a window was sent, or sending fails
        self.publishing = True  # False while publishing fails
        self.published = 0
        self.peak_backlog = 0
        self._largest = 0

    def wake(self) -> None:
        self._wakeup.set()

    async def connect(self) -> bool:
        """Open the publisher (declaring the queues) now; if the broker is down, the loop keeps
        trying while the watcher watches and holds a backlog. A refused login stops it."""
        try:
            self._publisher = await self._factory()
        except ConfigError:
            raise  # a wrong password or address does not fix itself: say so and stop
        except FileflowError as exc:
            log.warning(
                "broker unreachable at start; watching anyway and publishing later",
                extra={"reason": str(exc)},
            )
            self.publishing = False
            return False
        return True

    async def room(self, limit: int, stopping: asyncio.Event) -> None:
        """Wait until at most ``limit`` changes are pending, unless publishing fails (then the
        backlog is held, as it must be) or the watcher stops."""
        while len(self._outbox) > limit and self.publishing and not stopping.is_set():
            self._sent.clear()
            await self._sent.wait()

    async def settled(self) -> None:
        """Return once no change is waiting or being sent (all of them confirmed)."""
        while self._outbox or self._outbox.sending:
            self._drained.clear()
            await self._drained.wait()

    def release(self) -> None:
        """Let every waiter for room go (the watcher stops)."""
        self._sent.set()

    async def run(self) -> None:
        delays = retry_delays()
        while True:
            batch = await self._next_batch()
            try:
                if self._publisher is None:
                    self._publisher = await self._factory()
                await self._publisher.publish(self._event(key, change) for key, change in batch)
            except FileflowError as exc:
                honour_cancel()
                await self._failed(batch, exc, next(delays))
                continue
            await self._confirmed(batch)
            if not self.publishing:
                self.publishing = True
                delays = retry_delays()
                log.info("publishing again; catching up on every root")
                self._catch_up_all()
            self._sent.set()
            if self._outbox.overflowed:
                self._outbox.overflowed = False
                metrics.BACKLOG_DROPPED.inc()
                log.warning(
                    "backlog overflowed and was dropped; rescanning every root",
                    extra={"max_backlog": self._settings.max_backlog},
                )
                self._catch_up_all()

    async def _next_batch(self) -> list[tuple[Key, Change]]:
        while not self._outbox:
            if self._largest >= LARGE_BACKLOG:
                release_free_memory()
            self._largest = 0
            self._drained.set()
            self._wakeup.clear()
            await self._wakeup.wait()
        self._largest = max(self._largest, len(self._outbox))
        self.peak_backlog = max(self.peak_backlog, self._largest)
        return self._outbox.take(self._settings.publish_window)

    async def _failed(
        self, batch: list[tuple[Key, Change]], exc: FileflowError, delay: float
    ) -> None:
        self.publishing = False
        self._sent.set()  # a paced catch-up holds its backlog instead of waiting
        self._outbox.put_back(batch)
        for key, _ in batch:
            metrics.PUBLISH_ERRORS.labels(root=key[0]).inc()
        log.warning(
            "publish failed, keeping the backlog and retrying",
            extra={
                "backlog": len(self._outbox),
                "retry_in_s": round(delay, 2),
                "reason": str(exc),
            },
        )
        await asyncio.sleep(delay)

    def _event(self, key: Key, change: Change) -> FileEvent:
        """The event for a pending change, built only now that it is sent."""
        root_id, relative = key
        return FileEvent.observed(
            root_id,
            relative,
            change.op,
            size=change.size,
            mtime_ns=change.mtime_ns,
            inode=change.inode,
            source=None if change.op is Operation.DELETE else self._roots[root_id].source,
            seen_at=datetime.fromtimestamp(change.seen_at, UTC),
        )

    async def _confirmed(self, batch: list[tuple[Key, Change]]) -> None:
        by_root: dict[str, tuple[list[tuple[str, Signature]], list[str]]] = {}
        published: Counter[tuple[str, str]] = Counter()
        for (root_id, relative), event in batch:
            present, deleted = by_root.setdefault(root_id, ([], []))
            if event.op is Operation.DELETE:
                deleted.append(relative)
            else:
                signature = Signature(event.size or 0, event.mtime_ns or 0, event.inode or 0)
                present.append((relative, signature))
            published[root_id, event.op.value] += 1
        # Recorded before the outbox forgets what it was sending: a lookup in between would
        # see the publish undone and send it again.
        writes = [
            self._roots[root_id].known.record(present, deleted)
            for root_id, (present, deleted) in by_root.items()
        ]
        self._outbox.sent()
        for (root_id, op), count in published.items():
            metrics.EVENTS_PUBLISHED.labels(root=root_id, op=op).inc(count)
        self.published += len(batch)
        metrics.BACKLOG.set(len(self._outbox))
        for write in writes:
            await write

    @property
    def backlog(self) -> int:
        return len(self._outbox)

    async def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._outbox and time.monotonic() < deadline:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), deadline - time.monotonic())
        return not self._outbox
