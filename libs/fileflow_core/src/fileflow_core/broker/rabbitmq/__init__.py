"""RabbitMQ adapter (aio-pika): durable topology, confirmed publishes, a manual-ack consumer."""

from fileflow_core.broker.rabbitmq.broker import RabbitBroker
from fileflow_core.broker.rabbitmq.connection import (
    BROKER_ERRORS,
    SETTLE_TIMEOUT_S,
    build_message,
    connect,
    declare_topology,
)
from fileflow_core.broker.rabbitmq.consumer import RabbitConsumer
from fileflow_core.broker.rabbitmq.delivery import RabbitDelivery
from fileflow_core.broker.rabbitmq.publisher import RabbitPublisher

__all__ = [
    "BROKER_ERRORS",
    "SETTLE_TIMEOUT_S",
    "RabbitBroker",
    "RabbitConsumer",
    "RabbitDelivery",
    "RabbitPublisher",
    "build_message",
    "connect",
    "declare_topology",
]
