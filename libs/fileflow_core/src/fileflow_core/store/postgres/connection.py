"""The PostgreSQL connection pool every part of the store shares, and its error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, TypeVar

import asyncpg
import orjson

from fileflow_core.errors import StoreUnavailableError, TransientError, WriteRejectedError
from fileflow_core.store.database import CONNECTION_ERRORS, refused, unreachable
from fileflow_core.store.urls import describe

T = TypeVar("T")
Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

# A file is found by the hash of its name's bytes: the unique index holds 32 bytes a row,
# whatever the path's length.
BY_PATH = "root_id = $1 AND path_hash = sha256($2::bytea)"


def _jsonb_codec() -> dict[str, Any]:
    return {
        "encoder": lambda value: orjson.dumps(value).decode(),
        "decoder": orjson.loads,
        "schema": "pg_catalog",
    }


# Each statement planned for the tables as they are. A plan PostgreSQL keeps after a few
# executions is made for the sizes of that moment: one made over a nearly empty library scanned
# all of `contents` in every later batch, so a file's write cost grew with the library (0.06 →
# 0.35 ms at 300,000 files). Planning a batch's statements costs well under a millisecond. Set
# on each connection rather than as a startup parameter, which poolers such as PgBouncer refuse;
# PostgreSQL before 12 has no such setting and keeps its own choice.
PLAN_EVERY_TIME = "SET plan_cache_mode = force_custom_plan"


def _plan_setting(conn: asyncpg.Connection[asyncpg.Record]) -> str:
    return PLAN_EVERY_TIME if conn.get_server_version().major >= 12 else ""


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.set_type_codec("jsonb", **_jsonb_codec())
    if setting := _plan_setting(conn):
        await conn.execute(setting)


async def _reset_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """The pool's own reset (its RESET ALL would undo the plan setting), then the setting again,
    in one round trip."""
    if query := "\n".join(filter(None, [conn.get_reset_query(), _plan_setting(conn)])):
        await conn.execute(query)


class Database:
    """A pool; ``run`` gives a connection to one piece of work and translates its errors:
    unreachable → ``StoreUnavailableError``, refused → ``WriteRejectedError``."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.url = url

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10) -> Database:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_connections,
                init=_init_connection,
                reset=_reset_connection,
                timeout=10,
            )
        except CONNECTION_ERRORS as exc:
            raise unreachable(url, exc) from exc
        except asyncpg.PostgresError as exc:
            raise refused(url, exc) from exc
        return cls(pool, url)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        try:
            async with self._pool.acquire(timeout=30) as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise StoreUnavailableError(
                f"PostgreSQL at {describe(self.url)} unavailable: {exc!r}"
            ) from exc

    async def run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        async with self._connection() as conn:
            try:
                return await work(conn)
            except asyncpg.PostgresError as exc:
                if isinstance(exc, CONNECTION_ERRORS):
                    raise
                raise WriteRejectedError(f"PostgreSQL rejected the write: {exc!r}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self.run(lambda conn: conn.fetchval("SELECT 1")))
        except TransientError:
            return False
