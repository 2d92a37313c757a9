"""Group concurrent calls into batches: one round trip for many files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchFunction = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class MicroBatcher(Generic[T, R]):
    """``submit`` an item, get its own result; the items go to ``run_batch`` in groups.

    Whatever arrives while a batch runs forms the next one (group commit), and a batch first
    lingers ``linger_s`` for company: a lone file waits that long at most, and under load the
    batch size grows until one batch's round trips cover all the files waiting.

    ``run_batch`` returns one result or exception per item, in order; if it raises, every item
    of that batch gets the exception.
    """

    def __init__(
        self,
        run_batch: BatchFunction[T, R],
        *,
        max_batch: int,
        max_concurrent: int = 1,
        linger_s: float = 0.0,
    ) -> None:
        if max_batch < 1 or max_concurrent < 1 or linger_s < 0:
            raise ValueError("max_batch and max_concurrent must be positive, linger_s not negative")
        self._linger_s = linger_s
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._max_concurrent = max_concurrent
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._draining = 0

    async def submit(self, item: T) -> R:
        # A cancelled caller may leave its item in a running batch: the work is idempotent,
        # and the caller's message stays unacknowledged, so it is redone rather than lost.
        return await self.submit_nowait(item)

    def submit_nowait(self, item: T) -> asyncio.Future[R]:
        """Queue ``item`` and return the future of its result, without waiting for it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._draining < self._max_concurrent:
            # Counted now, not when the task is done: a drain that has just seen an empty
            # queue must not be taken for one that will pick this item up.
            self._draining += 1
            runner = asyncio.create_task(self._drain())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return future

    async def _drain(self) -> None:
        try:
            await self._drain_waiting()
        finally:
            self._draining -= 1

    async def _drain_waiting(self) -> None:
        while self._waiting:
            if self._linger_s and len(self._waiting) < self._max_batch:
                # A fast server answers before more work arrives, so without a short wait
                # each batch would hold one or two items and its fixed cost would not be shared.
                await asyncio.sleep(self._linger_s)
                if not self._waiting:
                    return  # another drain took them meanwhile
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                results = await self._run_batch([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # every caller of this batch hears about it
                results = [exc] * len(batch)
            if len(results) != len(batch):
                mismatch = RuntimeError(f"batch of {len(batch)} returned {len(results)} results")
                results = [mismatch] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
