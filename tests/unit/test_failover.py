"""The node list's rotation: each connection attempt takes the next URL, round the list.

Only the choice of URL is tested here (the transport aio-pika would open is replaced by a
recorder); tests/integration/test_broker_nodes.py moves a live connection between nodes."""

from __future__ import annotations

import logging

import pytest
from aio_pika import RobustConnection
from yarl import URL

from fileflow_core.broker.rabbitmq.failover import FailoverConnection

NODES = [f"amqp://fileflow:secret@n{i}:5672/" for i in (1, 2, 3)]


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tried: list[str] = []

    async def record(self: RobustConnection) -> None:
        tried.append(str(self.url.host))

    monkeypatch.setattr(RobustConnection, "_RobustConnection__connect_transport", record)
    return tried


async def test_each_attempt_takes_the_next_node_round_the_list(attempts: list[str]) -> None:
    connection = FailoverConnection(URL(NODES[1]), failover_urls=NODES, failover_start=1)
    for _ in range(4):
        await connection._RobustConnection__connect_transport()  # type: ignore[attr-defined]
    assert attempts == ["n2", "n3", "n1", "n2"]


async def test_a_move_is_logged_without_the_password(
    attempts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    connection = FailoverConnection(URL(NODES[0]), failover_urls=NODES)
    await connection._RobustConnection__connect_transport()  # type: ignore[attr-defined]
    assert not caplog.records  # the first attempt is no move
    await connection._RobustConnection__connect_transport()  # type: ignore[attr-defined]
    assert caplog.messages == ["RabbitMQ connection lost; trying amqp://fileflow:***@n2:5672/"]
    assert connection.node == "amqp://fileflow:***@n2:5672/"


async def test_one_url_is_a_list_of_one(attempts: list[str]) -> None:
    connection = FailoverConnection(URL(NODES[0]))
    for _ in range(2):
        await connection._RobustConnection__connect_transport()  # type: ignore[attr-defined]
    assert attempts == ["n1", "n1"]
