"""Opening the RabbitMQ publisher lazily, so the watcher runs (and backs up) while it is down."""

from __future__ import annotations

from aio_pika.abc import AbstractRobustConnection

from fileflow_core.broker.rabbitmq import RabbitPublisher, connect
from fileflow_core.broker.topology import Topology
from fileflow_core.ports import EventPublisher
from fileflow_core.settings import Settings


def topology_for(settings: Settings) -> Topology:
    return Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)


class RabbitPublisherFactory:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: AbstractRobustConnection | None = None

    async def __call__(self) -> EventPublisher:
        if self._connection is None:
            self._connection = await connect(
                self._settings.amqp_url,
                name="fileflow-watcher",
                timeout_s=self._settings.connect_timeout_s,
            )
        return await RabbitPublisher.open(
            self._connection,
            topology_for(self._settings),
            window=self._settings.publish_window,
            timeout_s=self._settings.publish_timeout_s,
        )

    async def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
