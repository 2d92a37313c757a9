"""The watcher service: the steps wired together, run in one task group, stopped in one order.

    watch (OS notifications) ─► observe (what is there) ─► settle (until it stops changing)
        ─► decide (what differs from what was published) ─► publish (outbox, confirms)
    catchup (scan against what was published) ─► observe / decide

Shutdown: stop intake (the watches and catch-ups), publish what is held for up to
``FILEFLOW_DRAIN_TIMEOUT_S``, cancel the loops, close the HTTP side, close the state files.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from file_watcher.availability import Availability
from file_watcher.catchup import CatchUp
from file_watcher.decide import Decider, Key
from file_watcher.observe import Observer
from file_watcher.outbox import Change, Outbox, oldest_age_s
from file_watcher.publish import PublishLoop
from file_watcher.roots import WatchedRoot, open_root
from file_watcher.scan import Signature
from file_watcher.settle import Settling
from file_watcher.state import StoredBaseline
from file_watcher.tasks import Owned
from file_watcher.watch import RootWatch
from fileflow_core import metrics, submounts
from fileflow_core.errors import FileflowError, TransientError
from fileflow_core.http import ReadinessCheck, ops_app, serving
from fileflow_core.ports import EventPublisher
from fileflow_core.roots import RootIdentity
from fileflow_core.runtime import until_stopped
from fileflow_core.settings import Settings

log = logging.getLogger(__name__)

PublisherFactory = Callable[[], Awaitable[EventPublisher]]


class Baseline(Protocol):
    """What the document store knows of the roots (a ``DocumentStore`` is one)."""

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        """(size, mtime_ns, inode) per path of one root, as the store holds them."""

    async def root_identities(self) -> dict[str, str]: ...

    async def record_root_identity(self, root_id: str, identity: str) -> None: ...

    async def root_mounts(self) -> dict[str, str]: ...

    async def record_root_mounts(self, root_id: str, mounts: str) -> None: ...


class Watcher:
    """The steps of one watcher over its roots; ``run`` runs them until stopped."""

    def __init__(
        self,
        settings: Settings,
        roots: list[WatchedRoot],
        publisher_factory: PublisherFactory,
        owned: Owned,
    ) -> None:
        self._settings = settings
        self.roots = {root.id: root for root in roots}
        self.owned = owned
        self.stopping = asyncio.Event()
        self.availability = Availability(roots)
        outbox: Outbox[Key, Change] = Outbox(settings.max_backlog)
        # Computed when scraped: a pass over the backlog, never per change.
        metrics.OLDEST_UNPUBLISHED.set_function(lambda: oldest_age_s(outbox))
        self.publisher = PublishLoop(
            settings, self.roots, outbox, publisher_factory, self.catch_up_all
        )
        decider = Decider(self.roots, outbox, self.availability, self.publisher.wake)
        settling: Settling[Key, Signature] = Settling(settings.settle_s)
        self.observer = Observer(self.roots, settling, decider, owned, self._new_folders)
        self.catch_up = CatchUp(
            self.availability,
            self.observer,
            decider,
            partial(self.publisher.room, stopping=self.stopping),
            self.stopping,
            settled=self.publisher.settled,
            spawn=owned.spawn,
            folders_found=self._folders_walked,
        )
        self.watches = {
            root.id: RootWatch(
                settings,
                root,
                availability=self.availability,
                observer=self.observer,
                catch_up=self.catch_up.run,
                owned=owned,
                stopping=self.stopping,
            )
            for root in roots
        }

    # Figures the tests and benchmarks read.
    @property
    def published(self) -> int:
        return self.publisher.published

    @property
    def peak_backlog(self) -> int:
        return self.publisher.peak_backlog

    @property
    def scans_done(self) -> int:
        return self.catch_up.scans_done

    @property
    def left_to_rescan(self) -> int:
        return sum(watch.left_to_rescan for watch in self.watches.values())

    def _new_folders(self, root: WatchedRoot, folders: set[str]) -> None:
        self.watches[root.id].add_folders(folders)

    def _folders_walked(self, root: WatchedRoot, folders: set[str]) -> None:
        self.watches[root.id].add_folders(folders, made_again_too=False)

    def catch_up_all(self) -> None:
        for root in self.roots.values():
            self.owned.spawn(self.catch_up.run(root), f"catch-up:{root.id}")

    async def reconcile_loop(self) -> None:
        """The safety net: a periodic catch-up finds anything the notifications missed."""
        interval = self._settings.reconcile_interval_s
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            for root in self.roots.values():
                await self.catch_up.run(root)

    async def readiness(self) -> bool | str:
        down = self.availability.unavailable()
        return True if not down else "; ".join(f"{k}: {v}" for k, v in down.items())

    def stop_intake(self) -> None:
        self.stopping.set()
        self.publisher.release()
        self.owned.stop()


async def run_watcher(
    settings: Settings,
    stop: asyncio.Event,
    publisher_factory: PublisherFactory,
    started: asyncio.Event | None = None,
    checks: dict[str, ReadinessCheck] | None = None,
    *,
    baseline: Baseline | None = None,
) -> Watcher:
    """Run until ``stop`` is set; returns the watcher (its counters are useful to tests).

    With ``baseline`` (for a broker that keeps nothing across restarts) the catch-up scan
    compares the disk with what the store holds instead of with what this watcher published;
    see ``StoredBaseline``.
    """
    if not settings.roots:
        raise TransientError("no roots to watch: set FILEFLOW_ROOTS or name folders")
    roots = await _open_roots(settings, baseline)
    try:
        async with asyncio.TaskGroup() as group:
            watcher = Watcher(settings, roots, publisher_factory, Owned(group))
            await _serve(watcher, settings, stop, group, started=started, checks=checks or {})
    except BaseExceptionGroup as failed:
        # One error of the watcher's own says what went wrong (a limit, a refused login).
        raise _first_own(failed) from None
    finally:
        for root in roots:
            root.state.close()
    return watcher


async def _serve(
    watcher: Watcher,
    settings: Settings,
    stop: asyncio.Event,
    group: asyncio.TaskGroup,
    *,
    started: asyncio.Event | None,
    checks: dict[str, ReadinessCheck],
) -> None:
    loops = [
        group.create_task(watcher.publisher.run(), name="publish"),
        group.create_task(watcher.observer.settle_loop(), name="settle"),
        group.create_task(watcher.reconcile_loop(), name="reconcile"),
        *(group.create_task(w.run(), name=f"watch:{i}") for i, w in watcher.watches.items()),
    ]
    app = ops_app("file_watcher", {**checks, "roots": watcher.readiness}, registry=metrics.WATCHER)
    try:
        async with serving(
            app,
            settings.http_host,
            settings.watcher_http_port,
            port_setting="FILEFLOW_WATCHER_HTTP_PORT",
        ) as port:
            log.info("watcher serving HTTP", extra={"http": f"{settings.http_host}:{port}"})
            await until_stopped(stop, watcher.publisher.connect())

            async def catch_up_every_root() -> None:
                for root in watcher.roots.values():
                    await watcher.catch_up.run(root)
                if started is not None:
                    started.set()

            # A task, not awaited here: a catch-up waits for publishing, and a stop must be
            # heard meanwhile (the broker may be down for a long time).
            loops.append(group.create_task(catch_up_every_root(), name="catch-up"))
            await stop.wait()
            watcher.stop_intake()
            if not await watcher.publisher.flush(settings.drain_timeout_s):
                log.warning(
                    "stopped with unpublished events; the next start's scan catches up",
                    extra={"backlog": watcher.publisher.backlog},
                )
    finally:
        watcher.stop_intake()
        for loop in loops:
            loop.cancel()


def _first_own(failed: BaseExceptionGroup) -> BaseException:
    leaves = list(_leaves(failed))
    return next((e for e in leaves if isinstance(e, FileflowError)), leaves[0])


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _open_roots(settings: Settings, baseline: Baseline | None) -> list[WatchedRoot]:
    roots = []
    identities = await baseline.root_identities() if baseline is not None else {}
    mounts = await baseline.root_mounts() if baseline is not None else {}
    for config in settings.roots:
        state = None
        if baseline is not None:
            stored = await baseline.signatures(config.id)
            recorded = identities.get(config.id)
            state = StoredBaseline(
                {path: Signature(*sig) for path, sig in stored.items()},
                None if recorded is None else RootIdentity.decode(recorded),
                partial(_record_identity, baseline, config.id),
                submounts.decode(mounts.get(config.id)),
                partial(_record_mounts, baseline, config.id),
            )
        roots.append(open_root(config, settings.state_dir, settings.queue_name, state))
    return roots


async def _record_identity(baseline: Baseline, root_id: str, identity: RootIdentity) -> None:
    await baseline.record_root_identity(root_id, identity.encode())


async def _record_mounts(baseline: Baseline, root_id: str, points: frozenset[str]) -> None:
    await baseline.record_root_mounts(root_id, submounts.encode(points))
