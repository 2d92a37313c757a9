"""Helpers shared by integration, fault and perf tests: servers, isolation, polling."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

AMQP_URL = os.environ.get("FILEFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("FILEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_ADMIN_URL = os.environ.get("FILEFLOW_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")

# Every connection a test opens to a server, and every cleanup, gives up after these: a server
# that stalls must fail the test, not hold the run.
CONNECT_TIMEOUT_S = 10.0
CLEANUP_TIMEOUT_S = 60.0

SERVERS = {
    "PostgreSQL": ("127.0.0.1", 5432),
    "Redis": ("127.0.0.1", 6379),
    "RabbitMQ": ("127.0.0.1", 5672),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_server(name: str) -> None:
    """Skip locally, fail in CI, when a server the test needs is not reachable."""
    host, port = SERVERS[name]
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        reason = f"{name} is not reachable at {host}:{port} ({exc}); start it (see README)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


REPO = Path(__file__).resolve().parent.parent


def promtool() -> str:
    """promtool's path: on PATH, or where scripts/get-promtool.sh puts it. Skips locally, fails
    in CI, when there is none."""
    found = shutil.which("promtool") or shutil.which("promtool", path=str(REPO / ".tools/bin"))
    if found:
        return found
    reason = "promtool not found; run scripts/get-promtool.sh (Debian's prometheus package)"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until ``done(value)``; fail with the last value when time runs out."""
    deadline = time.monotonic() + timeout_s
    value = await probe()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s}s waiting for {what}; last: {value!r}"
            )
        await asyncio.sleep(interval_s)
        value = await probe()
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def earlier_sqlite_store(path: Path, up_to: int, *, marked_up_to: int | None = None) -> None:
    """An embedded store as an earlier release created it: SQLite's default 4 KB pages and the
    migrations up to ``up_to`` applied; those up to ``marked_up_to`` (default: the same) are
    recorded as applied, so the store leaves the rest undone."""
    from fileflow_core.store.sqlite.connection import migrations, statements

    marked = up_to if marked_up_to is None else marked_up_to
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at text NOT NULL DEFAULT '')"
        )
        for version, name, script in migrations():
            if version <= up_to:
                for statement in statements(script):
                    conn.execute(statement)
            if version <= marked:
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '')", (version, name))
    conn.close()
