"""Taking messages from the in-process queue, each handled in its own task."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fileflow_core.broker.memory.delivery import MemoryDelivery
from fileflow_core.ports import DeliveryHandler

if TYPE_CHECKING:
    from fileflow_core.broker.memory.broker import MemoryBroker


class MemoryConsumer:
    """Takes messages while fewer than ``prefetch`` are unsettled; each runs in its own task."""

    def __init__(self, broker: MemoryBroker, *, prefetch: int) -> None:
        self._broker = broker
        self._slots = asyncio.Semaphore(prefetch)
        self._dispatcher: asyncio.Task[None] | None = None
        self._handler: DeliveryHandler | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self._unsettled: set[MemoryDelivery] = set()

    async def start(self, handler: DeliveryHandler) -> None:
        self._handler = handler
        self._dispatcher = asyncio.create_task(self._dispatch(handler), name="memory-consumer")
        self._broker.consumers += 1

    async def pause(self) -> None:
        await self.stop()

    async def resume(self) -> None:
        if self._dispatcher is None and self._handler is not None:
            await self.start(self._handler)

    async def _dispatch(self, handler: DeliveryHandler) -> None:
        while True:
            await self._slots.acquire()
            try:
                message = await self._broker.queue.get()
            except BaseException:
                self._slots.release()
                raise
            delivery = MemoryDelivery(message, self._broker, self._settled)
            self._unsettled.add(delivery)
            task = asyncio.ensure_future(handler(delivery))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    def _settled(self, delivery: MemoryDelivery) -> None:
        self._unsettled.discard(delivery)
        self._slots.release()

    async def stop(self) -> None:
        """Take no more messages; those being handled can still be settled."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None
            self._broker.consumers -= 1

    async def close(self) -> None:
        """Stop, cancel what is still being handled, and requeue everything unsettled (like a
        closed RabbitMQ channel)."""
        await self.stop()
        for task in list(self._handling):
            task.cancel()
        await asyncio.gather(*self._handling, return_exceptions=True)
        for delivery in list(self._unsettled):
            await delivery.requeue()
        self._unsettled.clear()
