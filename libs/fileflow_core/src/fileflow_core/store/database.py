"""Opening PostgreSQL connections, with a clear error and the database created on first use."""

from __future__ import annotations

import contextlib

import asyncpg

from fileflow_core.errors import ConfigError, TransientError
from fileflow_core.store.urls import database_name, describe, with_database

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
)


async def connect_creating(url: str, timeout_s: float = 10.0) -> asyncpg.Connection:
    """Connect; if the database does not exist yet, create it (as the connecting role) first."""
    try:
        return await asyncpg.connect(url, timeout=timeout_s)
    except asyncpg.InvalidCatalogNameError:
        pass
    except CONNECTION_ERRORS as exc:
        raise unreachable(url, exc) from exc
    except asyncpg.PostgresError as exc:
        raise refused(url, exc) from exc
    try:
        admin = await asyncpg.connect(with_database(url, "postgres"), timeout=timeout_s)
        try:
            name = database_name(url).replace('"', '""')
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return await asyncpg.connect(url, timeout=timeout_s)
    except CONNECTION_ERRORS as exc:
        raise unreachable(url, exc) from exc
    except asyncpg.PostgresError as exc:
        raise refused(url, exc) from exc


def unreachable(url: str, exc: BaseException) -> TransientError:
    return TransientError(
        f"cannot connect to PostgreSQL at {describe(url)}: {exc!r}; "
        "is it running? (set FILEFLOW_DATABASE_URL)"
    )


def refused(url: str, exc: BaseException) -> ConfigError:
    """The server answered and said no: a role, a password or a database it does not know."""
    return ConfigError(
        f"PostgreSQL at {describe(url)} refused the connection: {exc}; check the user, "
        "password and database in FILEFLOW_DATABASE_URL"
    )
