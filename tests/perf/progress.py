"""The benchmarks' own look at progress, kept out of the figures they report.

A benchmark counts the stored files every 50 ms. Through a new connection each time, every look
forked a PostgreSQL backend and loaded its catalogs: about 30 % of the server CPU a bulk import
reported was the benchmark watching. One connection serves every look here, and its
backend's CPU is taken out of PostgreSQL's, so the figure is the pipeline's work alone.
"""

from __future__ import annotations

from types import TracebackType

import asyncpg

from tests.perf.procstats import process_stats, server_cpu_s
from tests.pipeline import COMPLETED_COUNT
from tests.support import CONNECT_TIMEOUT_S


class ProgressProbe:
    """``completed()`` counts the files stored; ``server_cpu_s()`` is the local servers' CPU
    without this probe's own queries. The server must be local (its backends in /proc)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._backend_pid = 0

    async def __aenter__(self) -> ProgressProbe:
        self._conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_S)
        self._backend_pid = int(await self._conn.fetchval("SELECT pg_backend_pid()"))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def completed(self) -> int:
        assert self._conn is not None, "use ProgressProbe in async with"
        return int(await self._conn.fetchval(COMPLETED_COUNT))

    def server_cpu_s(self) -> dict[str, float]:
        totals = server_cpu_s()
        try:
            probe = process_stats(self._backend_pid).cpu_s
        except OSError as exc:
            raise AssertionError(
                f"the probe's PostgreSQL backend {self._backend_pid} is not in /proc: "
                "the server's CPU can be measured only when it runs on this machine"
            ) from exc
        totals["postgresql"] -= probe
        return totals
