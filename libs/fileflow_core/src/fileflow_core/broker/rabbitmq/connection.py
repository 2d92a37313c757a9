"""Connecting to RabbitMQ, declaring the topology, building persistent messages."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)

from fileflow_core.broker.topology import (
    Topology,
)
from fileflow_core.errors import ConfigError, TransientError
from fileflow_core.urls import redact

log = logging.getLogger(__name__)

# An ack or republish on a channel that died with its connection can wait for ever; the broker
# redelivers whatever was not settled, so giving up after this long loses nothing.
SETTLE_TIMEOUT_S = 10.0

BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    RuntimeError,
)


async def connect(url: str, *, name: str, timeout_s: float) -> AbstractRobustConnection:
    """Open a robust connection, or raise ``TransientError`` saying what to check."""
    try:
        return await aio_pika.connect_robust(
            url, timeout=timeout_s, client_properties={"connection_name": name}
        )
    except aiormq.exceptions.ProbableAuthenticationError as exc:
        raise ConfigError(
            f"RabbitMQ at {redact(url)} refused the login: {exc.args[0] if exc.args else exc}; "
            "check the user and password in FILEFLOW_AMQP_URL"
        ) from exc
    except BROKER_ERRORS as exc:
        raise TransientError(
            f"cannot connect to RabbitMQ at {redact(url)}: {exc!r}; "
            "is it running? (set FILEFLOW_AMQP_URL)"
        ) from exc


async def declare_topology(
    channel: AbstractRobustChannel, topology: Topology
) -> AbstractRobustQueue:
    """Declare every queue (idempotent) and return the work queue."""
    await channel.declare_queue(topology.dead_queue, durable=True)
    for name, delay_s in [*topology.retry_queues, (topology.hold_queue, topology.hold_delay_s)]:
        await channel.declare_queue(name, durable=True, arguments=topology.retry_arguments(delay_s))
    return await channel.declare_queue(
        topology.work_queue, durable=True, arguments=topology.work_arguments()
    )


def build_message(
    body: bytes, *, priority: int = 0, headers: dict[str, Any] | None = None
) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=priority,
        headers=headers or {},
    )
