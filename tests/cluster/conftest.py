"""The cluster suite: three RabbitMQ nodes of its own for the session, killed at its end.

Run alone: ``uv run pytest tests/cluster -s``. Where the nodes cannot start (no
rabbitmq-server, ports taken) it is skipped with the reason, and fails when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.nodes import Node, NodesUnavailable, kill_all, start_cluster
from tests.services import stop_leftover_services
from tests.support import in_ci


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The standard event loop on the test side, as in tests/faults (uvloop's close waits for
    every transport, and a killed node leaves some half-closed)."""
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(scope="session")
def cluster() -> Iterator[list[Node]]:
    stopped = stop_leftover_services()
    if stopped:
        print(f"\nstopped {len(stopped)} service process(es) left by an interrupted run")
    try:
        try:
            nodes = start_cluster()
        except (NodesUnavailable, OSError, subprocess.SubprocessError) as exc:
            reason = f"the three RabbitMQ nodes cannot start here: {exc}"
            if in_ci():
                pytest.fail(reason)
            pytest.skip(reason)
        yield nodes
    finally:
        kill_all()
