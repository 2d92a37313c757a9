"""Document store on PostgreSQL (asyncpg), in parts by who calls them: the ingestor's writes,
what is known of the roots, the operators' queries."""

from __future__ import annotations

from fileflow_core.store.postgres.connection import Database
from fileflow_core.store.postgres.queries import PostgresQueries
from fileflow_core.store.postgres.roots import PostgresRoots
from fileflow_core.store.postgres.writes import PostgresWrites


class PostgresDocumentStore:
    check_name = "postgresql"

    def __init__(self, db: Database) -> None:
        self._db = db
        self.writes = PostgresWrites(db)
        self.roots = PostgresRoots(db)
        self.queries = PostgresQueries(db)
        self.applied: list[str] = []  # migrations this open applied

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10) -> PostgresDocumentStore:
        return cls(await Database.open(url, max_connections=max_connections))

    async def ping(self) -> bool:
        return await self._db.ping()

    async def close(self) -> None:
        await self._db.close()
