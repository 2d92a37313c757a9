"""The small interfaces the services are written against; adapters live in broker/cache/store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from fileflow_core.errors import ContentMissingError
from fileflow_core.messages import FileEvent
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[FileEvent]) -> None:
        """Publish and wait for every confirm; raise ``TransientError`` if any is missing.
        Events may share a message (up to the publisher's ``batch_events``)."""


class Delivery(Protocol):
    """One received message and the ways to settle it (exactly one of them, once)."""

    @property
    def body(self) -> bytes: ...

    @property
    def published_events(self) -> Sequence[FileEvent] | None:
        """The events as their publisher handed them over, when they never left this process
        (the in-process queue's first delivery): already valid, so ``body`` need not be
        decoded. None for a message that came over the wire or came back (a retry, a
        requeue), and for a part of a batch."""

    @property
    def attempt(self) -> int:
        """1 for the first delivery, incremented by each retry."""

    async def ack(self) -> None: ...

    async def retry(self, reason: str) -> bool:
        """Schedule a later attempt; False when attempts are exhausted (then dead-lettered)."""

    async def dead_letter(self, reason: str) -> None: ...

    async def postpone(self, reason: str) -> None:
        """Look at it again later (the topology's hold delay) without counting an attempt:
        for work that waits on an outage (a root unavailable), not on a fault of the file."""

    async def requeue(self) -> None:
        """Give the message back untouched, for another consumer or a later start."""

    @property
    def renewed(self) -> bool:
        """True for a copy made by ``renew``: the work may already be done."""

    async def renew(self) -> None:
        """Republish a copy and ack this delivery, so long work never outlives the broker's
        delivery-acknowledgement timeout; settling this delivery afterwards does nothing."""

    def split(self, bodies: Sequence[Callable[[], bytes]]) -> Sequence[Delivery]:
        """For a batch message: one delivery per event, whose ``body`` is that event alone.
        Each is settled on its own, and the message is acked once all of them are; this
        delivery itself is then settled through them only."""


DeliveryHandler = Callable[[Delivery], Awaitable[None]]


class EventConsumer(Protocol):
    async def start(self, handler: DeliveryHandler) -> None: ...

    async def pause(self) -> None:
        """Receive nothing new until ``resume`` (a dependency is down); deliveries already
        received still reach the handler and can be settled."""

    async def resume(self) -> None: ...

    async def stop(self) -> None:
        """Stop receiving new deliveries; in-flight ones can still be settled."""


class ClosableConsumer(EventConsumer, Protocol):
    async def close(self) -> None:
        """Stop, and give back whatever is still unsettled (it will be redelivered)."""


class Broker(Protocol):
    """A queue with retries and dead letters: hands out publishers and consumers."""

    @property
    def durable(self) -> bool:
        """True when accepted messages survive a restart of this process."""

    @property
    def reaches_other_processes(self) -> bool:
        """True when a publisher in one process reaches a consumer in another."""

    @property
    def check_name(self) -> str:
        """Its name in readiness answers."""

    async def publisher(
        self, *, window: int, timeout_s: float, batch_events: int = 1
    ) -> EventPublisher:
        """Confirms for up to ``window`` messages in flight; up to ``batch_events`` events a
        message."""

    def consumer(self, *, prefetch: int) -> ClosableConsumer: ...

    async def connected(self) -> bool: ...

    async def queue_depths(self) -> dict[str, int]:
        """Messages waiting in the work, retry and dead-letter queues."""

    async def work_consumers(self) -> int:
        """Consumers of the work queue, every process's, as the broker counts them."""

    async def drain_dead_letters(
        self,
        select: Callable[[bytes], bool],
        republish: Callable[[list[bytes]], Awaitable[None]],
    ) -> tuple[int, int]:
        """Hand the selected dead letters to ``republish``, then remove them; return
        (taken, left)."""

    async def close(self) -> None: ...


class SeenHashCache(Protocol):
    async def seen(self, sha256: str) -> bool:
        """True if this content was extracted and committed before (a hint, never the truth)."""

    async def mark_seen(self, sha256: str) -> None: ...

    async def seen_many(self, hashes: Sequence[str]) -> set[str]:
        """The ones of ``hashes`` seen before, in one round trip."""

    async def mark_seen_many(self, hashes: Sequence[str]) -> None: ...


class Cache(SeenHashCache, Protocol):
    @property
    def check_name(self) -> str: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class WriteStore(Protocol):
    """The ingestor's writes: every one a transaction, idempotent and freshness-checked."""

    async def content_exists(self, sha256: str) -> bool: ...

    async def record_present(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        sha256: str,
        *,
        attempts: int = 1,
        replace_content: bool = False,
    ) -> str | None:
        """Upsert the file pointing at ``sha256`` (and the content, when given) in one
        transaction. With ``content`` None the content must be stored already, else
        ``ContentMissingError``. The status the row took (``completed``, or ``failed`` when its
        content failed to extract); None when nothing changed or a newer observation won."""

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[str | ContentMissingError | None]:
        """``record_present`` for many files (distinct paths) at once; per file, the status
        its row took (None: unchanged) or ``ContentMissingError``. Raises
        ``WriteRejectedError`` when the database refused the batch (write the files one by one
        to find which)."""

    async def record_deleted(self, observation: FileObservation) -> bool: ...

    async def record_processing(
        self, observation: FileObservation, *, attempts: int = 1
    ) -> None: ...

    async def record_failed(
        self, observation: FileObservation, error: str, *, attempts: int = 1
    ) -> None: ...

    async def is_current(
        self, root_id: str, path: str, size: int, mtime_ns: int, inode: int
    ) -> bool:
        """True when the stored row is completed and matches this signature."""


class RootStore(Protocol):
    """What is known of the roots: for the watcher's baseline and the ingestor's root checks."""

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        """(size, mtime_ns, inode) of every live, settled (completed or failed) file of a root."""

    async def register_roots(self, roots: list[tuple[str, str, str]]) -> None:
        """Record (id, collection, path) of the configured roots."""

    async def root_identities(self) -> dict[str, str]:
        """The identity recorded for each registered root that has one (``RootIdentity``)."""

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        """Record a root's identity (replacing the one recorded)."""

    async def root_mounts(self) -> dict[str, str]:
        """The mount points seen beneath each root that has any (``submounts.encode``)."""

    async def record_root_mounts(self, root_id: str, mounts: str) -> None:
        """Record the mount points seen beneath a root (replacing the ones recorded)."""


class QueryStore(Protocol):
    """What operators and the ingest API ask, and files marked to be ingested again."""

    async def mark_pending(self, root_id: str, path: str) -> int:
        """Create or reset the file's row to ``pending`` (an explicit ingest); return its id."""

    async def mark_pending_many(self, root_id: str, paths: list[str]) -> None: ...

    async def progress(self, root_id: str, paths: list[str]) -> dict[str, int]:
        """How many of ``paths`` are in each status now."""

    async def locations(self, file_ids: list[int] | None) -> list[tuple[int, str, str]]:
        """(id, root, path) of the given files, or of every failed file when ``None``."""

    async def completed_since(self, seconds: float) -> int: ...

    async def get_file(self, file_id: int) -> dict[str, Any] | None: ...

    async def list_files(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]: ...

    async def status_counts(self) -> dict[str, int]: ...


class DocumentStore(Protocol):
    """Files and contents, in parts by who calls them: a caller takes only its part, so its
    fake in a test is a few lines."""

    @property
    def writes(self) -> WriteStore: ...

    @property
    def roots(self) -> RootStore: ...

    @property
    def queries(self) -> QueryStore: ...

    @property
    def check_name(self) -> str: ...

    @property
    def applied(self) -> list[str]:
        """The schema migrations this open applied."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
