"""PostgreSQL's ``shared_buffers`` set for one benchmark, and given back after it.

A million-file import writes at random places into indexes several hundred MB large, so
PostgreSQL's cost a file depends on whether its buffer cache holds them. Debian's default
(128 MB) does not; operations.md tells an operator of such a library to set it, as PostgreSQL's
own documentation does. The benchmark measures both. The setting needs a restart of the local
server, as the fault suite does for its own faults, so the perf suite runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator

import asyncpg

from tests.support import PG_ADMIN_URL

AUTO_CONF = "postgresql.auto.conf"
RESTART_WAIT_S = 60.0


class CannotRestart(RuntimeError):
    """The local PostgreSQL cannot be restarted from here; the message says why."""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _no_local_cluster() -> str | None:
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        return "pg_ctlcluster and /etc/postgresql (Debian's PostgreSQL packages) are not here"
    if len(os.listdir("/etc/postgresql")) != 1:
        return "more than one PostgreSQL version in /etc/postgresql: which one serves is unclear"
    return None


async def cannot_restart() -> str | None:
    """Why the local server's ``shared_buffers`` cannot be set from here, or None."""
    if why := await asyncio.to_thread(_no_local_cluster):
        return why
    conn = await _connect()
    try:
        if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            return f"{conn.get_settings().session_authorization} is not a superuser (ALTER SYSTEM)"
    finally:
        await conn.close()
    return None


def _cluster(action: str, *pg_ctl_options: str) -> None:
    (version,) = os.listdir("/etc/postgresql")
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *pg_ctl_options],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise CannotRestart(f"pg_ctlcluster {version} main {action}: {done.stderr.strip()}")


async def _connect(wait_s: float = RESTART_WAIT_S) -> asyncpg.Connection:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            return await asyncpg.connect(PG_ADMIN_URL)
        except (OSError, asyncpg.PostgresError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _alter_system(value: str | None) -> None:
    """``ALTER SYSTEM`` the setting (``None``: back to the configuration files') and restart."""
    conn = await _connect()
    try:
        if value is None:
            await conn.execute("ALTER SYSTEM RESET shared_buffers")
        else:
            await conn.execute(f"ALTER SYSTEM SET shared_buffers = {_literal(value)}")
    finally:
        await conn.close()
    await asyncio.to_thread(_cluster, "restart")
    await (await _connect()).close()


async def _put_back(before: str | None, running: str) -> None:
    """What ``ALTER SYSTEM`` held before, however the change ended. A server that would not
    start with the new value (more than the machine's memory) is down: it is started with the
    value it ran with, just long enough to take the old setting back."""
    try:
        await (await _connect(wait_s=5.0)).close()
    except (OSError, asyncpg.PostgresError):
        await asyncio.to_thread(_cluster, "start", "-o", f"-c shared_buffers={running}")
    await _alter_system(before)


@contextlib.asynccontextmanager
async def shared_buffers(value: str) -> AsyncIterator[str]:
    """The server restarted with ``shared_buffers = value`` meanwhile; afterwards, whatever
    ``ALTER SYSTEM`` had set before (or nothing), and restarted again. Yields the setting the
    server reports."""
    conn = await _connect()
    try:
        running = str(await conn.fetchval("SHOW shared_buffers"))
        before = await conn.fetchval(
            "SELECT setting FROM pg_file_settings"
            " WHERE name = 'shared_buffers' AND sourcefile LIKE '%' || $1"
            " ORDER BY seqno DESC LIMIT 1",
            AUTO_CONF,
        )
    finally:
        await conn.close()
    try:
        await _alter_system(value)
        conn = await _connect()
        try:
            yield str(await conn.fetchval("SHOW shared_buffers"))
        finally:
            await conn.close()
    finally:
        await _put_back(before, running)
