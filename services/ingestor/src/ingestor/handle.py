"""Reconcile one event with the disk: missing → tombstone; present → hash, dedupe, store."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from fileflow_core import metrics
from fileflow_core.beneath import Location, NotARegularFile, OpenRoots, stat_beneath
from fileflow_core.errors import ContentMissingError, TransientError, UnknownRootError
from fileflow_core.messages import FileEvent
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.mounts import detect_filesystem, is_local
from fileflow_core.ports import SeenHashCache, WriteStore
from fileflow_core.settings import Settings
from ingestor import stages
from ingestor.extract import Extractor, parses_on_loop, unextracted
from ingestor.grouped import GroupedSeen, GroupedWrites
from ingestor.kept import KeptExtractions
from ingestor.pathlocks import KeyedLocks
from ingestor.read import FileDigest, GroupedReads, read_and_hash, read_if_small
from ingestor.recent import RecentSet
from ingestor.roots import RootGuard
from ingestor.slots import FileSlot, NoSlot
from ingestor.turns import LOOP_TURNS

log = logging.getLogger(__name__)

RECENT_HASHES = 50_000
# Labelled children looked up once: ``labels()`` per file is measurable at thousands a second.
_EXTRACTIONS = {
    outcome: metrics.EXTRACTIONS.labels(outcome=outcome) for outcome in metrics.EXTRACTION_OUTCOMES
}
_FAILURES = {reason: metrics.FAILURES.labels(reason=reason) for reason in metrics.FAILURE_REASONS}
_SHORT_CIRCUITS = {
    where: metrics.SHORT_CIRCUITS.labels(where=where) for where in metrics.SHORT_CIRCUIT_PLACES
}


class Result(enum.StrEnum):
    STORED = "stored"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A file located and read whole, hashed, not yet stored."""

    event: FileEvent
    location: Location
    observation: FileObservation
    digest: FileDigest


@dataclass(slots=True)
class FileHandler:
    """The per-file work, written against the store, cache and extractor ports only."""

    settings: Settings
    store: WriteStore
    cache: SeenHashCache
    extractor: Extractor
    roots: RootGuard
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _contents_in_progress: KeyedLocks = field(default_factory=KeyedLocks)
    # Large files read in big chunks, a few at a time: bytes in flight stay bounded.
    _large_reads: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))
    # Hashes this process stored lately: copies skip Redis, and still dedupe when it is down.
    _recent: RecentSet = field(default_factory=lambda: RecentSet(RECENT_HASHES))
    _reads: GroupedReads = field(default_factory=GroupedReads)
    _inline_roots: dict[str, bool] = field(default_factory=dict)
    _writes: GroupedWrites = field(init=False)
    _seen: GroupedSeen = field(init=False)
    _kept: KeptExtractions = field(init=False)

    def __post_init__(self) -> None:
        self._writes = GroupedWrites(self.store)
        self._seen = GroupedSeen(self.cache)
        self._kept = KeptExtractions(
            self.settings.kept_extractions_s, self.settings.kept_extractions_bytes
        )

    def _reads_inline(self, root_id: str) -> bool:
        """Small files of a root on a local filesystem are read on the event loop when their
        bytes are cached: no thread hop, whose GIL hand-offs cost milliseconds under load. On a
        network filesystem an ``open`` can wait on the network: a thread does it."""
        inline = self._inline_roots.get(root_id)
        if inline is None:
            root = self.settings.root(root_id)
            inline = root is not None and is_local(detect_filesystem(root.path))
            self._inline_roots[root_id] = inline
        return inline

    def locate(self, event: FileEvent) -> Location:
        location = self.roots.location(event.root_id, event.path)
        if location is None:
            raise UnknownRootError(f"unknown root {event.root_id!r}: not in FILEFLOW_ROOTS")
        return location

    async def handle(
        self,
        event: FileEvent,
        attempt: int = 1,
        *,
        renewed: bool = False,
        slot: FileSlot | None = None,
        prepared: Prepared | None = None,
    ) -> Result:
        """``slot``: the file's place in the pool, given on while the file waits for its
        commit (see ``ingestor.slots``); ``prepared``: the file already read (``prepare``)."""
        slot = slot or NoSlot()
        if prepared is None:
            read = await self._locate_and_read(event, attempt, renewed=renewed)
            if isinstance(read, Result):
                return read
            prepared = read
        observation, path, digest = prepared.observation, prepared.location, prepared.digest
        known_in = None if event.reprocess else await self._known_in(digest.sha256)
        if known_in is not None:
            return await self._store(
                observation, None, path, digest, slot, attempt=attempt, known_in=known_in
            )
        return await self._store_new(
            observation, path, digest, slot, reprocess=event.reprocess, attempt=attempt
        )

    async def _locate_and_read(
        self, event: FileEvent, attempt: int, *, renewed: bool
    ) -> Prepared | Result:
        path = self.locate(event)
        if renewed and await self._already_stored(path):
            _SHORT_CIRCUITS["database"].inc()
            return Result.UNCHANGED
        base = FileObservation(event.root_id, event.path, self.clock())
        digest = await self._read(event, path, base, attempt)
        if isinstance(digest, Result):
            return digest
        return self._prepared(event, path, base.observed_at, digest)

    def _prepared(
        self, event: FileEvent, path: Location, observed_at: datetime, digest: FileDigest
    ) -> Prepared:
        observation = FileObservation(
            event.root_id,
            event.path,
            observed_at,
            digest.size,
            digest.mtime_ns,
            digest.inode,
            event.source,
        )
        return Prepared(event, path, observation, digest)

    def prepare(self, event: FileEvent, roots: OpenRoots | None = None) -> Prepared | None:
        """Locate, read and hash the file now, on the calling thread, with no await: for a
        small file of a local root whose bytes the page cache holds. None when that cannot be
        done at once (not cached, large, missing, refused, a network root): ``handle`` then
        does it, and reports whatever went wrong. ``roots``: see ``open_beneath``."""
        try:
            if not self._reads_inline(event.root_id):
                return None
            path = self.locate(event)
            observed_at = self.clock()
            started = time.perf_counter()
            small = read_if_small(path, only_cached=True, roots=roots)
        except Exception:  # met again by ``handle``, which records it
            return None
        if not isinstance(small, FileDigest):
            return None
        stages.observe("hash", started)
        metrics.BYTES_HASHED.inc(small.size)
        return self._prepared(event, path, observed_at, small)

    def is_stored_copy(self, prepared: Prepared) -> bool:
        """A copy of a content this process stored lately: only its file's row is written."""
        return not prepared.event.reprocess and prepared.digest.sha256 in self._recent

    @staticmethod
    def copy_row(prepared: Prepared, attempt: int) -> PresentWrite:
        """A stored copy's row (see ``is_stored_copy``): the file's bytes are not kept."""
        return PresentWrite(prepared.observation, prepared.digest.sha256, None, attempt)

    def write_soon(self, write: PresentWrite) -> asyncio.Future[str | None]:
        """Queue a copy's row for the next group commit; the future of its status."""
        return self._writes.record_present_soon(write)

    def copy_written(self, write: PresentWrite, status: str | None) -> Result:
        """What became of a copy whose row ``write_soon`` wrote with ``status``."""
        _SHORT_CIRCUITS["in_process"].inc()
        if status is None:
            return Result.UNCHANGED
        if status == "failed":
            return self._extraction_failed(write.observation, None, write.attempts)
        return Result.STORED

    async def _store_new(
        self,
        observation: FileObservation,
        path: Location,
        digest: FileDigest,
        slot: FileSlot,
        *,
        reprocess: bool,
        attempt: int,
    ) -> Result:
        """Store a content not known to be stored: extracted once, however many copies."""
        # Copies arriving together wait for the first one.
        async with self._contents_in_progress.hold(digest.sha256):
            # A copy that held the lock meanwhile stored the content and added it to the
            # recent set, so this asks no second cache round trip (copies in other replicas
            # are rare and idempotent: they cost an extraction).
            if not reprocess and digest.sha256 in self._recent:
                return await self._store(
                    observation, None, path, digest, slot, attempt=attempt, known_in="in_process"
                )
            content = self._kept.take(digest.sha256)
            if content is None:
                if digest.data is None:
                    # A large file can take a while to parse: show it as in progress meanwhile.
                    await self.store.record_processing(observation, attempts=attempt)
                content = await self._extract(path, digest)
            return await self._store(
                observation, content, path, digest, slot, attempt=attempt, reprocess=reprocess
            )

    async def _read(
        self, event: FileEvent, path: Location, base: FileObservation, attempt: int
    ) -> FileDigest | Result:
        """The file's digest; or, when it cannot be read, its outcome, recorded."""
        started = time.perf_counter()
        try:
            digest = await read_and_hash(
                path,
                self.settings.read_chunk_bytes,
                self._large_reads,
                partial(self._reads.read_small, inline=self._reads_inline(event.root_id)),
            )
        except (FileNotFoundError, NotADirectoryError):
            return await self._record_missing(path, base)
        except NotARegularFile as exc:
            # Symlinks, FIFOs, sockets and devices are never opened nor ingested.
            log.info(
                "skipped", extra={"root": event.root_id, "path": event.path, "reason": str(exc)}
            )
            await self.store.record_deleted(base)
            return Result.SKIPPED
        except PermissionError as exc:
            reason = (
                f"permission denied reading {event.path!r}: {exc.strerror}; "
                "give the ingestor's user read access, then run fileflow retry"
            )
            log.warning(
                "file failed",
                extra={
                    "root": event.root_id,
                    "path": event.path,
                    "reason": reason,
                    "attempt": attempt,
                },
            )
            await self.store.record_failed(base, reason, attempts=attempt)
            _FAILURES["permission_denied"].inc()
            return Result.FAILED
        stages.observe("hash", started)
        return digest

    async def _record_missing(self, path: Location, base: FileObservation) -> Result:
        """A file that is not there is deleted only if its root can say so: present, and the
        folder it was (an unmounted share looks like a root whose files are all gone)."""
        self.roots.ensure_available(path.root_id)
        try:
            # The root was away while the file was looked for, and is back already.
            await asyncio.to_thread(stat_beneath, path)
        except (FileNotFoundError, NotADirectoryError, NotARegularFile):
            # Asked after the second look: a share unmounted meanwhile is not taken for it.
            await self.roots.ensure_mounted(path)
            await self.store.record_deleted(base)
            return Result.DELETED
        except OSError:
            pass
        raise TransientError("the file was there again when checked twice; looking again")

    async def _already_stored(self, path: Location) -> bool:
        """For a renewed copy: the first delivery usually finished the work; a matching stored
        signature means nothing changed since, so the file is not read again."""
        try:
            info = await asyncio.to_thread(stat_beneath, path)
        except (OSError, NotARegularFile):
            return False
        return await self.store.is_current(
            path.root_id, path.relative, info.st_size, info.st_mtime_ns, info.st_ino
        )

    async def _known_in(self, sha256: str) -> str | None:
        """Where the content is known to be stored already: this process, Redis, or nowhere."""
        if sha256 in self._recent:
            return "in_process"
        return "redis" if await self._seen.seen(sha256) else None

    async def _store(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        path: Location,
        digest: FileDigest,
        slot: FileSlot,
        *,
        attempt: int,
        reprocess: bool = False,
        known_in: str | None = None,
    ) -> Result:
        """Write the file's row; ``known_in`` says where its content was known to be stored
        already (then ``content`` is None and nothing was extracted)."""
        started = time.perf_counter()
        write = PresentWrite(observation, digest.sha256, content, attempt, reprocess)
        try:
            async with slot.waiting_for_commit():
                status = await self._write_keeping(write)
            if known_in is not None:
                _SHORT_CIRCUITS[known_in].inc()
        except ContentMissingError:
            # The cache remembered a content this database does not hold (a reset database):
            # the database is the truth, so extract after all.
            metrics.CACHE_LOOKUPS.labels(result="stale").inc()
            self._recent.discard(digest.sha256)
            content = await self._extract(path, digest)
            async with slot.waiting_for_commit():
                status = await self._write_keeping(
                    PresentWrite(observation, digest.sha256, content, attempt)
                )
        stages.observe("store", started)
        if content is not None:
            # Only after the commit: marking earlier would turn one failed write into a
            # permanent silent skip. Not awaited: the file's slot and ack need not wait for it.
            self._recent.add(digest.sha256)
            self._seen.mark_seen_soon(digest.sha256)
        if status is None:
            return Result.UNCHANGED
        if status == "failed":
            return self._extraction_failed(observation, content, attempt)
        return Result.STORED

    @staticmethod
    def _extraction_failed(
        observation: FileObservation, content: ContentInfo | None, attempt: int
    ) -> Result:
        """A content that failed to extract is stored, and its file's row says failed."""
        _FAILURES["extraction"].inc()
        log.warning(
            "file failed",
            extra={
                "root": observation.root_id,
                "path": observation.path,
                "reason": (content.extraction_error if content else None)
                or "a copy of a content that failed to extract",
                "attempt": attempt,
            },
        )
        return Result.FAILED

    async def _write_keeping(self, write: PresentWrite) -> str | None:
        """Write; if that fails, keep the extraction for the message's next attempt."""
        try:
            return await self._writes.record_present(write)
        except (TransientError, asyncio.CancelledError):
            if write.content is not None:
                self._kept.keep(write.content)
            raise

    async def _extract(self, path: Location, digest: FileDigest) -> ContentInfo:
        if digest.size > self.settings.extract_max_bytes:
            _EXTRACTIONS["too_large"].inc()
            return unextracted(
                digest.sha256,
                digest.size,
                digest.head,
                f"skipped: over FILEFLOW_EXTRACT_MAX_BYTES ({self.settings.extract_max_bytes})",
            )
        if parses_on_loop(digest.size, digest.data):
            # Parsed on the loop: wait for room in a turn first, outside the stage's clock.
            await LOOP_TURNS.share()
        started = time.perf_counter()
        content = await self.extractor.extract(
            path, digest.sha256, digest.size, digest.head, digest.data
        )
        stages.observe("extract", started)
        _EXTRACTIONS[content.extraction_status].inc()
        return content
