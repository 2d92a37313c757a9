"""Document store on SQLite (aiosqlite) for the embedded mode: the PostgreSQL store's schema,
upserts and freshness rules in SQLite's dialect, in one WAL-mode file; in parts by who calls
them, as the PostgreSQL store is."""

from __future__ import annotations

from pathlib import Path

from fileflow_core.store.sqlite.connection import Database
from fileflow_core.store.sqlite.queries import SqliteQueries
from fileflow_core.store.sqlite.roots import SqliteRoots
from fileflow_core.store.sqlite.writes import SqliteWrites


class SqliteDocumentStore:
    check_name = "sqlite"

    def __init__(self, db: Database) -> None:
        self._db = db
        self.path = db.path
        self.writes = SqliteWrites(db)
        self.roots = SqliteRoots(db)
        self.queries = SqliteQueries(db)

    @property
    def applied(self) -> list[str]:
        return self._db.applied

    @classmethod
    async def open(cls, path: Path) -> SqliteDocumentStore:
        """Open (creating the folder and the file) and bring the schema up to date."""
        return cls(await Database.open(path))

    async def ping(self) -> bool:
        return await self._db.ping()

    async def close(self) -> None:
        await self._db.close()
