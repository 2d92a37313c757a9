"""Schema migrations shipped with the package, applied in order, once, under a lock."""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

from fileflow_core.errors import ConfigError, TransientError
from fileflow_core.store.database import connect_creating

log = logging.getLogger(__name__)

_LOCK_KEY = 0x66696C65666C6F77  # "fileflow": one migrator at a time per database


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled migration, in order."""
    folder = resources.files("fileflow_core.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(found)


async def migrate(database_url: str) -> list[str]:
    """Apply what is missing; return the names applied (empty when up to date)."""
    conn = await connect_creating(database_url)
    try:
        return await _apply(conn)
    except (asyncpg.PostgresError, OSError) as exc:
        raise TransientError(f"migration failed: {exc}") from exc
    finally:
        await conn.close()


async def _applied(conn: asyncpg.Connection) -> set[int] | None:
    """Versions applied so far; None when the database has no migrations table yet."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return None
    return {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}


async def _apply(conn: asyncpg.Connection) -> list[str]:
    # Up to date: touch nothing, so a runtime role without DDL rights starts fine.
    done = await _applied(conn)
    if done is not None and {v for v, _, _ in available_migrations()} <= done:
        return []
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        except asyncpg.InsufficientPrivilegeError as exc:
            raise ConfigError(
                "the database schema needs migrations this role may not apply: run "
                "`fileflow migrate` with the owner role's FILEFLOW_DATABASE_URL first"
            ) from exc
        done = await _applied(conn) or set()
        for version, name, sql in available_migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("applied migration %s", name)
            applied_now.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
