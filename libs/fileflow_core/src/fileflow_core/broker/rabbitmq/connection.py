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

from fileflow_core.broker.rabbitmq.failover import FAILOVER_RECONNECT_S, FailoverConnection
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


async def connect(urls: list[str], *, name: str, timeout_s: float) -> AbstractRobustConnection:
    """Open a robust connection to the first node of ``urls`` that answers (later losses move
    it to the next node), or raise ``TransientError`` saying what to check."""
    failures: list[str] = []
    for start, url in enumerate(urls):
        try:
            return await _connect_one(urls, start, name=name, timeout_s=timeout_s)
        except TransientError as exc:
            failures.append(str(exc))
            log.warning("RabbitMQ node unreachable", extra={"node": redact(url)})
    raise TransientError("; ".join(failures))


async def _connect_one(
    urls: list[str], start: int, *, name: str, timeout_s: float
) -> AbstractRobustConnection:
    url = urls[start]
    extra: dict[str, Any] = {}
    if len(urls) > 1:
        extra = {
            "connection_class": FailoverConnection,
            "failover_urls": urls,
            "failover_start": start,
            "reconnect_interval": FAILOVER_RECONNECT_S,
        }
    try:
        connection: AbstractRobustConnection = await aio_pika.connect_robust(
            url, timeout=timeout_s, client_properties={"connection_name": name}, **extra
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
    return connection


async def declare_topology(
    channel: AbstractRobustChannel, topology: Topology
) -> list[AbstractRobustQueue]:
    """Declare every queue (idempotent) and return the queues to consume, the urgent one
    first; a queue that exists with other arguments is a ``ConfigError`` saying what to do."""
    declared: dict[str, AbstractRobustQueue] = {}
    for name in topology.queues:
        try:
            declared[name] = await channel.declare_queue(
                name, durable=True, arguments=topology.arguments(name)
            )
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise mismatch(name, topology, exc) from exc
    return [declared[name] for name in topology.consumed_queues]


def mismatch(queue: str, topology: Topology, exc: BaseException) -> ConfigError:
    detail = str(exc.args[0] if exc.args else exc).partition("PRECONDITION_FAILED - ")[2]
    return ConfigError(
        f"queue {queue} exists with other arguments than FILEFLOW_QUEUE_TYPE="
        f"{topology.queue_type} needs ({detail or exc}); drain and delete the old queues "
        "(docs/operations.md, 'Switch from classic to quorum queues'), or use another "
        "FILEFLOW_QUEUE_NAME"
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
