"""What the watcher and the ingestor know of the roots, in SQLite."""

from __future__ import annotations

import sqlite3

from fileflow_core.errors import TransientError
from fileflow_core.paths import display_path, path_from_bytes
from fileflow_core.store.sqlite.connection import NOW, Database


class SqliteRoots:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        rows = await self._db.read(
            "SELECT path_bytes, size, mtime_ns, inode FROM files WHERE root_id = ?"
            " AND status IN ('completed', 'failed') AND size IS NOT NULL"
            " AND mtime_ns IS NOT NULL AND inode IS NOT NULL",
            (root_id,),
        )
        return {path_from_bytes(row[0]): (row[1], row[2], row[3]) for row in rows}

    async def register_roots(self, roots: list[tuple[str, str, str]]) -> None:
        rows = [(root_id, collection, display_path(path)) for root_id, collection, path in roots]
        try:
            async with self._db.transaction() as db:
                await db.executemany(
                    "INSERT INTO roots (id, collection, path) VALUES (?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET collection = excluded.collection,"
                    f" path = excluded.path, updated_at = {NOW}",
                    rows,
                )
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def root_identities(self) -> dict[str, str]:
        rows = await self._db.read("SELECT id, identity FROM roots WHERE identity IS NOT NULL")
        return {row[0]: row[1] for row in rows}

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        await self._db.write(
            "INSERT INTO roots (id, collection, path, identity) VALUES (?1, ?1, '', ?2)"
            f" ON CONFLICT (id) DO UPDATE SET identity = excluded.identity, updated_at = {NOW}",
            (root_id, identity),
        )

    async def root_mounts(self) -> dict[str, str]:
        rows = await self._db.read("SELECT id, mounts FROM roots WHERE mounts IS NOT NULL")
        return {row[0]: row[1] for row in rows}

    async def record_root_mounts(self, root_id: str, mounts: str) -> None:
        await self._db.write(
            "INSERT INTO roots (id, collection, path, mounts) VALUES (?1, ?1, '', ?2)"
            f" ON CONFLICT (id) DO UPDATE SET mounts = excluded.mounts, updated_at = {NOW}",
            (root_id, mounts),
        )
