"""Reconcile one event with the disk: missing → tombstone; present → hash, dedupe, store."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fileflow_core import metrics
from fileflow_core.errors import ContentMissingError, PermanentError
from fileflow_core.messages import FileEvent
from fileflow_core.models import ContentInfo, FileObservation
from fileflow_core.paths import resolve_inside
from fileflow_core.ports import DocumentStore, SeenHashCache
from fileflow_core.settings import Settings

from ingestor.extract import basic_metadata
from ingestor.read import NotARegularFile, read_and_hash

log = logging.getLogger(__name__)


class Result(enum.StrEnum):
    STORED = "stored"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"


@dataclass(slots=True)
class FileHandler:
    """The per-file work, written against the store and cache ports only."""

    settings: Settings
    store: DocumentStore
    cache: SeenHashCache
    executor: Executor | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def locate(self, event: FileEvent) -> Path:
        root = self.settings.root(event.root_id)
        if root is None:
            raise PermanentError(f"unknown root {event.root_id!r}: not in FILEFLOW_ROOTS")
        try:
            return resolve_inside(root.path, event.path)
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc

    async def handle(self, event: FileEvent, attempt: int = 1) -> Result:
        path = self.locate(event)
        observed = self.clock()
        base = FileObservation(event.root_id, event.path, observed)
        started = time.perf_counter()
        try:
            digest = await read_and_hash(path, self.settings.read_chunk_bytes)
        except FileNotFoundError:
            await self.store.record_deleted(base)
            return Result.DELETED
        except NotADirectoryError:
            await self.store.record_deleted(base)
            return Result.DELETED
        except (PermissionError, NotARegularFile) as exc:
            reason = f"cannot read {event.path!r}: {exc}"
            log.warning(
                "file failed", extra={"root": event.root_id, "path": event.path, "reason": reason}
            )
            await self.store.record_failed(base, reason, attempts=attempt)
            return Result.FAILED
        metrics.STAGE_DURATION.labels(stage="hash").observe(time.perf_counter() - started)
        observation = FileObservation(
            event.root_id, event.path, observed, digest.size, digest.mtime_ns, digest.inode
        )
        seen = not event.reprocess and await self.cache.seen(digest.sha256)
        content = None if seen else await self._extract(digest.sha256, digest.size, digest.head)
        started = time.perf_counter()
        try:
            written = await self.store.record_present(
                observation,
                content,
                digest.sha256,
                attempts=attempt,
                replace_content=event.reprocess,
            )
        except ContentMissingError:
            # The cache remembered a content this database does not hold (a reset database):
            # the database is the truth, so extract after all.
            metrics.CACHE_LOOKUPS.labels(result="stale").inc()
            content = await self._extract(digest.sha256, digest.size, digest.head)
            written = await self.store.record_present(
                observation, content, digest.sha256, attempts=attempt
            )
        metrics.STAGE_DURATION.labels(stage="store").observe(time.perf_counter() - started)
        if content is not None:
            # Only after the commit: marking earlier would turn one failed write into a
            # permanent silent skip.
            await self.cache.mark_seen(digest.sha256)
        return Result.STORED if written else Result.UNCHANGED

    async def _extract(self, sha256: str, size: int, head: bytes) -> ContentInfo:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        mime, metadata = await loop.run_in_executor(self.executor, basic_metadata, head, size)
        metrics.STAGE_DURATION.labels(stage="extract").observe(time.perf_counter() - started)
        metrics.EXTRACTIONS.labels(outcome="completed").inc()
        return ContentInfo(sha256=sha256, size=size, mime_type=mime, metadata=metadata)
