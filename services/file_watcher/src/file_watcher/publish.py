"""Publishers for the watcher, from a broker opened lazily (so the watcher runs, and backs up,
while the broker is down) or from one the process already shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fileflow_core.ports import Broker, EventPublisher
from fileflow_core.settings import Settings


class PublisherFactory:
    """Called by the watcher for a publisher; opens the broker on first use if it must."""

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
