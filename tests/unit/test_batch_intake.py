"""A batch message's events through DeliveryProcessor, with fakes for the store, cache,
extractor and broker (no servers): copies of a stored content are written together without a
work slot each, a copy whose write fails goes the whole way, and nothing taken for an event is
kept once its batch ends, however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from fileflow_core.errors import ContentMissingError, TransientError
from fileflow_core.messages import FileEvent, encode_events
from fileflow_core.models import PresentWrite
from fileflow_core.settings import RootConfig, Settings
from ingestor.consume import DeliveryProcessor
from ingestor.handle import FileHandler
from ingestor.roots import RootGuard
from tests.unit.test_handle import CountingExtractor, FakeCache, FakeStore, upsert

pytestmark = pytest.mark.timeout(20)


class FakeDelivery:
    """A message, or one event of a batch message, and how it was settled."""

    def __init__(self, body: bytes, message: FakeDelivery | None = None) -> None:
        self._body = body
        self._message = message
        self._left = 0
        self.outcome: str | None = None
        self.parts: list[FakeDelivery] = []

    @property
    def body(self) -> bytes:
        return self._body

    @property
    def attempt(self) -> int:
        return 1

    @property
    def renewed(self) -> bool:
        return False

    def _settle(self, outcome: str) -> None:
        assert self.outcome is None, f"settled twice: {self.outcome}, then {outcome}"
        self.outcome = outcome
        if self._message is not None:
            self._message._left -= 1
            if self._message._left == 0:
                self._message._settle("ack")

    async def ack(self) -> None:
        self._settle("ack")

    async def retry(self, reason: str) -> bool:
        self._settle(f"retry: {reason}")
        return True

    async def dead_letter(self, reason: str) -> None:
        self._settle(f"dead_letter: {reason}")

    async def postpone(self, reason: str) -> None:
        self._settle(f"postpone: {reason}")

    async def requeue(self) -> None:
        self._settle("requeue")

    async def renew(self) -> None:
        self._settle("renew")

    published_events = None

    def split(self, bodies: Sequence[Callable[[], bytes]]) -> list[FakeDelivery]:
        self._left = len(bodies)
        self.parts = [FakeDelivery(body(), self) for body in bodies]
        return self.parts


class GroupingStore(FakeStore):
    """Records how the rows were grouped; can refuse the next group with ``fail_next``."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[str]] = []
        self.fail_next: BaseException | None = None
        self.hold: asyncio.Event | None = None

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[str | ContentMissingError | None]:
        if self.hold is not None:
            await self.hold.wait()
        self.groups.append([write.observation.path for write in writes])
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        return await super().record_present_many(writes)


@pytest.fixture
async def intake(tmp_path: Path) -> Any:
    root = tmp_path / "root"
    root.mkdir()
    settings = Settings(roots=[RootConfig(id="lib", path=root)], state_dir=tmp_path / "s")
    store, cache, extractor = GroupingStore(), FakeCache(), CountingExtractor()
    roots = await RootGuard.open(settings.roots, store)  # type: ignore[arg-type]
    handler = FileHandler(settings, store, cache, extractor, roots)  # type: ignore[arg-type]

    def processor(concurrency: int = 100) -> DeliveryProcessor:
        return DeliveryProcessor(handler, store, concurrency)  # type: ignore[arg-type]

    return processor, store, extractor, root


def files(root: Path, names: list[str], content: bytes = b"same words\n") -> list[FileEvent]:
    for name in names:
        (root / name).write_bytes(content)
    return [upsert(name) for name in names]


def batch(events: list[FileEvent]) -> FakeDelivery:
    return FakeDelivery(encode_events(events))


def assert_nothing_held(processor: DeliveryProcessor) -> None:
    slots = processor.slots
    assert (slots.working, slots.committing, slots.reading_ahead) == (0, 0, 0)
    assert len(processor._locks) == 0
    assert processor.oldest_pending_s() == 0.0


async def test_copies_are_written_together_without_a_work_slot_each(intake: Any) -> None:
    make, store, extractor, root = intake
    processor = make()
    await processor(batch(files(root, ["original.txt"])))
    copies = files(root, [f"copy{n}.txt" for n in range(20)])
    message = batch(copies)
    await processor(message)
    assert message.outcome == "ack"
    assert {part.outcome for part in message.parts} == {"ack"}
    assert extractor.calls == 1
    assert set(store.present) == {"original.txt"} | {event.path for event in copies}
    # One group for the twenty rows, and never more than one work slot taken at a time:
    # each copy gave its slot back as soon as it was known to be a copy.
    assert store.groups[-1] == [event.path for event in copies]
    assert processor.slots.max_working == 1
    assert_nothing_held(processor)


async def test_a_copy_whose_content_the_database_lost_is_extracted_after_all(
    intake: Any,
) -> None:
    make, store, extractor, root = intake
    processor = make()
    await processor(batch(files(root, ["original.txt"])))
    store.contents.clear()  # a reset database: the process still remembers the content
    message = batch(files(root, ["copy.txt"]))
    await processor(message)
    assert message.outcome == "ack"
    assert extractor.calls == 2
    assert "copy.txt" in store.present
    assert_nothing_held(processor)


async def test_a_copy_whose_write_failed_is_retried_the_whole_way(intake: Any) -> None:
    make, store, _, root = intake
    processor = make()
    await processor(batch(files(root, ["original.txt"])))
    store.fail_next = TransientError("connection reset")
    message = batch(files(root, ["a.txt", "b.txt"]))
    await processor(message)
    # The group failed once; each copy then went the whole way and was written.
    assert store.groups[-2] == ["a.txt", "b.txt"]
    assert message.outcome == "ack"
    assert {"a.txt", "b.txt"} <= set(store.present)
    assert_nothing_held(processor)


async def test_a_small_pool_with_many_batches_of_copies_does_not_wait_for_ever(
    intake: Any,
) -> None:
    """Copies waiting for commit places must not hold some while waiting for more."""
    make, store, _, root = intake
    processor = make(concurrency=2)
    await processor(batch(files(root, ["original.txt"])))
    messages = [batch(files(root, [f"m{m}-{n}.txt" for n in range(20)])) for m in range(10)]
    await asyncio.wait_for(asyncio.gather(*(processor(message) for message in messages)), 10)
    assert {message.outcome for message in messages} == {"ack"}
    assert len(store.present) == 201
    assert_nothing_held(processor)


async def test_an_event_twice_in_one_batch_is_settled_twice_one_after_the_other(
    intake: Any,
) -> None:
    make, store, _, root = intake
    processor = make()
    await processor(batch(files(root, ["original.txt"])))
    (event,) = files(root, ["twice.txt"])
    message = batch([event, event])
    await processor(message)
    assert [part.outcome for part in message.parts] == ["ack", "ack"]
    # Two writes of the same row, in two groups: the second waited for the first.
    assert [group for group in store.groups if "twice.txt" in group] == [["twice.txt"]] * 2
    assert_nothing_held(processor)


async def test_a_stop_that_cancels_a_batch_leaves_nothing_taken(intake: Any) -> None:
    make, store, _, root = intake
    processor = make(concurrency=4)
    await processor(batch(files(root, ["original.txt"])))
    store.hold = asyncio.Event()  # every write now waits for ever
    messages = []
    for m in range(3):
        messages.append(batch(files(root, [f"m{m}-{n}.txt" for n in range(20)])))
        names = [f"new{m}-{n}.txt" for n in range(5)]
        messages.append(batch(files(root, names, f"new {m}".encode())))
    working = [asyncio.create_task(processor(message)) for message in messages]
    await asyncio.sleep(0.2)
    assert processor.slots.committing > 0
    assert await processor.drain(timeout_s=0.1) == len(working)
    assert_nothing_held(processor)
    # Nothing was acked: every event comes back with its message.
    assert all(message.outcome is None for message in messages)


class BlockingExtractor(CountingExtractor):
    """Parses nothing until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def extract(self, *args: Any, **kwargs: Any) -> Any:
        self.started.set()
        await self.release.wait()
        return await super().extract(*args, **kwargs)


async def one_slot_with_a_stored_original(
    tmp_path: Path,
) -> tuple[DeliveryProcessor, GroupingStore, BlockingExtractor, Path]:
    """A pool of one work slot whose extractor waits to be released, with original.txt
    stored (so its content's copies are known)."""
    root = tmp_path / "root"
    root.mkdir()
    settings = Settings(roots=[RootConfig(id="lib", path=root)], state_dir=tmp_path / "s")
    store, extractor = GroupingStore(), BlockingExtractor()
    roots = await RootGuard.open(settings.roots, store)  # type: ignore[arg-type]
    handler = FileHandler(settings, store, FakeCache(), extractor, roots)  # type: ignore[arg-type]
    processor = DeliveryProcessor(handler, store, 1)  # type: ignore[arg-type]
    extractor.release.set()
    await processor(batch(files(root, ["original.txt"])))
    extractor.release.clear()
    extractor.started.clear()
    return processor, store, extractor, root


async def test_copies_are_written_while_every_work_slot_is_taken(tmp_path: Path) -> None:
    """A new file that takes long to parse holds the only work slot: copies of a stored
    content need none, so they are written meanwhile."""
    processor, store, extractor, root = await one_slot_with_a_stored_original(tmp_path)
    slow = asyncio.create_task(processor(batch(files(root, ["new.txt"], b"something new\n"))))
    await asyncio.wait_for(extractor.started.wait(), 5)
    assert processor.slots.working == 1
    message = batch(files(root, [f"copy{n}.txt" for n in range(20)]))
    await asyncio.wait_for(processor(message), 5)
    assert message.outcome == "ack"
    assert "new.txt" not in store.present
    extractor.release.set()
    await slow
    assert "new.txt" in store.present
    assert_nothing_held(processor)


async def test_copies_that_found_no_place_free_wait_for_one(tmp_path: Path) -> None:
    """The only work slot and the only read-ahead place are taken by new files: a batch of
    copies waits for a place, then is written (two commit places at a time)."""
    processor, store, extractor, root = await one_slot_with_a_stored_original(tmp_path)
    new_files = [
        *files(root, ["first-new.txt"], b"first new\n"),
        *files(root, ["second-new.txt"], b"second new\n"),
    ]
    new = asyncio.create_task(processor(batch(new_files)))
    await asyncio.wait_for(extractor.started.wait(), 5)
    assert (processor.slots.working, processor.slots.reading_ahead) == (1, 1)
    message = batch(files(root, [f"copy{n}.txt" for n in range(20)]))
    copies = asyncio.create_task(processor(message))
    await asyncio.sleep(0.1)
    assert message.outcome is None
    extractor.release.set()
    await asyncio.wait_for(asyncio.gather(copies, new), 5)
    assert message.outcome == "ack"
    assert extractor.calls == 3
    assert {f"copy{n}.txt" for n in range(20)} <= set(store.present)
    assert max(len(group) for group in store.groups) <= 2
    assert_nothing_held(processor)
