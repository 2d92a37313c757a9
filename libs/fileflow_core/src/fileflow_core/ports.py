"""The small interfaces the services are written against; adapters live in broker/cache/store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from fileflow_core.messages import FileEvent
from fileflow_core.models import ContentInfo, FileObservation


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[FileEvent]) -> None:
        """Publish and wait for every confirm; raise ``TransientError`` if any is missing."""


class Delivery(Protocol):
    """One received message and the ways to settle it (exactly one of them, once)."""

    @property
    def body(self) -> bytes: ...

    @property
    def attempt(self) -> int:
        """1 for the first delivery, incremented by each retry."""

    async def ack(self) -> None: ...

    async def retry(self, reason: str) -> bool:
        """Schedule a later attempt; False when attempts are exhausted (then dead-lettered)."""

    async def dead_letter(self, reason: str) -> None: ...

    async def requeue(self) -> None:
        """Give the message back untouched, for another consumer or a later start."""

    @property
    def renewed(self) -> bool:
        """True for a copy made by ``renew``: the work may already be done."""

    async def renew(self) -> None:
        """Republish a copy and ack this delivery, so long work never outlives the broker's
        delivery-acknowledgement timeout; settling this delivery afterwards does nothing."""


DeliveryHandler = Callable[[Delivery], Awaitable[None]]


class EventConsumer(Protocol):
    async def start(self, handler: DeliveryHandler) -> None: ...

    async def stop(self) -> None:
        """Stop receiving new deliveries; in-flight ones can still be settled."""


class SeenHashCache(Protocol):
    async def seen(self, sha256: str) -> bool:
        """True if this content was extracted and committed before (a hint, never the truth)."""

    async def mark_seen(self, sha256: str) -> None: ...


class DocumentStore(Protocol):
    async def content_exists(self, sha256: str) -> bool: ...

    async def record_present(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        sha256: str,
        *,
        attempts: int = 1,
        replace_content: bool = False,
    ) -> bool:
        """Upsert the file pointing at ``sha256`` (and the content, when given) in one
        transaction. With ``content`` None the content must be stored already, else
        ``ContentMissingError``. False when nothing changed or a newer observation won."""

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
