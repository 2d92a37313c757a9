"""What the operator commands do, apart from how they print: status, backfill, retry,
migrate."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from file_watcher.filters import PathFilter
from file_watcher.scan import scan_tree
from file_watcher.state import read_identity, read_mounts, write_identity
from fileflow_core import submounts
from fileflow_core.adapters import describe, open_broker, open_store, scheme_of
from fileflow_core.errors import ConfigError, MessageDecodeError, TransientError
from fileflow_core.messages import FileEvent, Operation, decode_event
from fileflow_core.paths import display_path, locate_in_roots
from fileflow_core.ports import Broker, DocumentStore
from fileflow_core.roots import RootIdentity, identify, unavailable_reason
from fileflow_core.settings import Settings
from fileflow_core.urls import sqlite_file

DONE_STATUSES = ("completed", "failed", "deleted")


EMBEDDED_QUEUE = "the queue lives inside the running `fileflow run` process"


@contextlib.asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[DocumentStore]:
    """The store the settings choose (its URL's scheme), schema up to date."""
    store = await open_store(settings.in_one_process())
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def opened_broker(settings: Settings) -> AsyncIterator[Broker]:
    broker = await open_broker(settings.in_one_process(), name="fileflow-cli")
    try:
        yield broker
    finally:
        await broker.close()


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[tuple[DocumentStore, Broker]]:
    """Store and broker, for the commands that send messages: a broker other processes reach,
    since an in-process queue lives inside the `fileflow run` process."""
    async with opened_broker(settings) as broker:
        if not broker.reaches_other_processes:
            raise ConfigError(
                f"this command sends messages, but {EMBEDDED_QUEUE}; set the server URLs "
                "(or --backend real) to use the real servers"
            )
        async with opened_store(settings) as store:
            yield store, broker


async def collect_status(settings: Settings) -> dict[str, Any]:
    """Files by status and the ingest rate; queue depths when a broker is reachable."""
    async with opened_store(settings) as store:
        by_status = await store.queries.status_counts()
        per_minute = await store.queries.completed_since(60)
    queues: dict[str, int] = {}
    note = None
    try:
        async with opened_broker(settings) as broker:
            if broker.reaches_other_processes:
                queues = await broker.queue_depths()
            else:
                note = EMBEDDED_QUEUE
    except TransientError as exc:
        note = f"queue depths unavailable: {exc}"
    return {
        "backend": "embedded" if settings.embedded() else "servers",
        "where": describe(settings.in_one_process()),
        "files": by_status,
        "total": sum(by_status.values()),
        "queues": queues,
        "queues_note": note,
        "events_per_message_max": settings.publish_batch_events,
        "completed_last_minute": per_minute,
    }


@dataclass
class BackfillResult:
    root_id: str
    enqueued: int
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return sum(self.statuses.get(name, 0) for name in DONE_STATUSES)


def _backfill_target(settings: Settings, path: Path) -> tuple[str, Path, str]:
    absolute = path.expanduser().absolute()
    roots = [(root.id, root.path.expanduser().absolute()) for root in settings.roots]
    for root_id, root_path in roots:
        if absolute == root_path:
            return root_id, root_path, ""
    located = locate_in_roots(str(absolute), roots)
    if located is None:
        raise ConfigError(
            f"{display_path(str(path))} is not under any configured root (set FILEFLOW_ROOTS)"
        )
    root_id, relative = located
    if not absolute.is_dir():
        what = "does not exist" if not absolute.exists() else "is not a folder"
        raise ConfigError(
            f"{display_path(str(path))} {what} (inside root {root_id!r}); name a folder of the "
            "root, or the root"
        )
    return root_id, dict(roots)[root_id], relative


async def backfill(
    settings: Settings,
    path: Path,
    *,
    reprocess: bool = False,
    wait: bool = True,
    timeout_s: float = 3600.0,
    on_progress: Callable[[BackfillResult], None] | None = None,
) -> BackfillResult:
    """Enqueue every file of an existing tree, then (with ``wait``) follow it until stored."""
    root_id, root_path, start = _backfill_target(settings, path)
    root = settings.root(root_id)
    assert root is not None
    # An unmounted share or a mistyped root would enqueue nothing and call that done.
    reason = unavailable_reason(root_id, root_path, None, root.marker)
    if reason is not None:
        raise ConfigError(f"root {root_id!r}: {reason}")
    path_filter = PathFilter.for_root(root)
    found = await asyncio.to_thread(
        lambda: [rel for rel, _ in scan_tree(root_path, path_filter, start=start)]
    )
    started = time.monotonic()
    result = BackfillResult(root_id, len(found))
    async with connected(settings) as (store, broker):
        publisher = await broker.publisher(
            window=settings.publish_window,
            timeout_s=settings.publish_timeout_s,
            batch_events=settings.publish_batch_events,
        )
        for offset in range(0, len(found), 5000):
            batch = found[offset : offset + 5000]
            await store.queries.mark_pending_many(root_id, batch)
            await publisher.publish(
                FileEvent.observed(root_id, rel, Operation.UPSERT, reprocess=reprocess)
                for rel in batch
            )
        while wait and found:
            result.statuses = await store.queries.progress(root_id, found)
            result.seconds = time.monotonic() - started
            if on_progress is not None:
                on_progress(result)
            if result.done >= len(found) or result.seconds > timeout_s:
                break
            await asyncio.sleep(0.5)
    result.seconds = time.monotonic() - started
    return result


@dataclass
class RetryResult:
    files: list[tuple[int, str, str]]
    dead_letters_taken: int
    dead_letters_left: int
    deferred: bool = False  # embedded: marked pending, sent again when `fileflow run` starts


async def retry(settings: Settings, file_ids: list[int] | None) -> RetryResult:
    """Send failed files (all, or the given ids) back through the pipeline, re-extracting them,
    and take their messages out of the dead-letter queue."""
    async with opened_broker(settings) as broker:
        if not broker.reaches_other_processes:
            return await _mark_for_next_start(settings, file_ids)
    async with connected(settings) as (store, broker):
        files = await _located(store, file_ids)
        wanted = {(root_id, path) for _, root_id, path in files}

        def select(body: bytes) -> bool:
            try:
                event = decode_event(body)
            except MessageDecodeError:
                return False  # malformed: stays for a human to read
            if file_ids is None:
                if settings.root(event.root_id) is None:
                    return False  # a root this deployment does not have: leave it
                wanted.add((event.root_id, event.path))
                return True
            return (event.root_id, event.path) in wanted

        publisher = await broker.publisher(
            window=settings.publish_window,
            timeout_s=settings.publish_timeout_s,
            batch_events=settings.publish_batch_events,
        )

        async def republish(_bodies: list[bytes]) -> None:
            await send(sorted(wanted))

        async def send(targets: list[tuple[str, str]]) -> None:
            for root_id in {root for root, _ in targets}:
                paths = [p for r, p in targets if r == root_id]
                await store.queries.mark_pending_many(root_id, paths)
            await publisher.publish(
                FileEvent.observed(root, path, Operation.UPSERT, reprocess=True)
                for root, path in targets
            )

        taken, left = await broker.drain_dead_letters(select, republish)
        if not taken and wanted:
            await send(sorted(wanted))
    return RetryResult(files, taken, left)


async def _located(store: DocumentStore, file_ids: list[int] | None) -> list[tuple[int, str, str]]:
    """Where the files are; every id named must exist, or nothing is retried."""
    files = await store.queries.locations(file_ids)
    unknown = sorted(set(file_ids or ()) - {file_id for file_id, _, _ in files})
    if unknown:
        listed = ", ".join(map(str, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
        raise ConfigError(f"no file with id {listed}; nothing retried (see `fileflow ls`)")
    return files


async def _mark_for_next_start(settings: Settings, file_ids: list[int] | None) -> RetryResult:
    """Embedded: the queue and its dead letters live in the running process, out of reach;
    a file marked pending does not count as stored, so the next start's scan sends it again."""
    async with opened_store(settings) as store:
        files = await _located(store, file_ids)
        for root_id in {root for _, root, _ in files}:
            await store.queries.mark_pending_many(root_id, [p for _, r, p in files if r == root_id])
    return RetryResult(files, 0, 0, deferred=True)


async def describe_roots(settings: Settings) -> list[dict[str, Any]]:
    """Each configured root: whether it can testify about its files now, and why not."""
    async with opened_store(settings) as store:
        recorded = await store.roots.root_identities()
        mounts = await store.roots.root_mounts()
    report = []
    for root in settings.roots:
        path = root.path.expanduser()
        known = recorded.get(root.id) or _watcher_identity(settings, root.id)
        identity = None if known is None else RootIdentity.decode(known)
        reason = unavailable_reason(root.id, path, identity, root.marker)
        try:
            now: str | None = identify(path).describe()
        except OSError:
            now = None
        report.append(
            {
                "id": root.id,
                "path": display_path(str(path)),
                "available": reason is None,
                "reason": reason,
                "recorded": None if identity is None else identity.describe(),
                "now": now,
                "mounts_away": _mounts_away(settings, root.id, path, mounts.get(root.id)),
            }
        )
    return report


def _mounts_away(settings: Settings, root_id: str, path: Path, stored: str | None) -> list[str]:
    """Mount points beneath the root that the ingestor or the watcher saw, not mounted now."""
    seen = submounts.decode(stored) | read_mounts(settings.state_dir, root_id)
    current = submounts.mount_points_beneath(path)
    if current is None:
        return []
    found = submounts.look_again(seen, current, partial(submounts.is_folder, path))
    return sorted(display_path(point) for point in found.away)


async def accept_roots(settings: Settings, root_ids: list[str]) -> None:
    """Record the named roots' folders as they are now, in the store and in the watcher's
    state (both are consulted: the ingestor and the watcher may have recorded them)."""
    async with opened_store(settings) as store:
        await store.roots.register_roots(
            [(r.id, r.collection_name, str(r.path)) for r in settings.roots if r.id in root_ids]
        )
        for root_id in root_ids:
            config = settings.root(root_id)
            assert config is not None
            path = config.path.expanduser()
            try:
                identity = identify(path)
            except OSError as exc:
                raise ConfigError(
                    f"root {root_id!r}: {display_path(str(path))} cannot be accepted: {exc}"
                ) from None
            await store.roots.record_root_identity(root_id, identity.encode())
            write_identity(settings.state_dir, root_id, identity)


def _watcher_identity(settings: Settings, root_id: str) -> str | None:
    identity = read_identity(settings.state_dir, root_id)
    return None if identity is None else identity.encode()


async def migrate_store(settings: Settings, compact: bool) -> list[str]:
    """Apply the schema's migrations; with ``compact``, then rebuild the SQLite file. What was
    done, a line each."""
    from fileflow_core.store.sqlite.compact import CompactError
    from fileflow_core.store.sqlite.compact import compact as compact_file

    settings = settings.in_one_process()
    if compact and scheme_of(settings.database_url) != "sqlite":
        raise ConfigError(
            "--compact rebuilds the embedded store's SQLite file; FILEFLOW_DATABASE_URL names "
            "another store (on PostgreSQL, VACUUM FULL or pg_repack do this)"
        )
    if compact and not sqlite_file(settings.database_url).is_file():
        # Before migrating, which would create it: a mistyped folder must not get a new store.
        raise CompactError(
            f"no SQLite database at {sqlite_file(settings.database_url)} to compact (a typo in "
            "FILEFLOW_DATA_DIR or --data-dir?); nothing was created"
        )
    store = await open_store(settings)
    await store.close()
    applied = store.applied
    lines = [f"applied: {', '.join(applied)}" if applied else "database schema is up to date"]
    if compact:
        done = await asyncio.to_thread(compact_file, sqlite_file(settings.database_url))
        lines.append(
            f"compacted {done.path}: {done.bytes_before / 1e6:,.1f} MB -> "
            f"{done.bytes_after / 1e6:,.1f} MB, pages of {done.page_bytes_after // 1024} KB "
            f"(were {done.page_bytes_before // 1024} KB)"
        )
    return lines
