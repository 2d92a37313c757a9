"""What the watcher and the ingestor know of the roots: their files' signatures, their
registration and recorded identity."""

from __future__ import annotations

from fileflow_core.paths import display_path, path_from_bytes
from fileflow_core.store.postgres.connection import Database


class PostgresRoots:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        rows = await self._db.run(
            lambda conn: conn.fetch(
                "SELECT path_bytes, size, mtime_ns, inode FROM files WHERE root_id = $1"
                " AND status IN ('completed', 'failed') AND size IS NOT NULL"
                " AND mtime_ns IS NOT NULL AND inode IS NOT NULL",
                root_id,
            )
        )
        return {
            path_from_bytes(row["path_bytes"]): (row["size"], row["mtime_ns"], row["inode"])
            for row in rows
        }

    async def register_roots(self, roots: list[tuple[str, str, str]]) -> None:
        """Record (id, collection, path) of the configured roots; a path that is not valid
        UTF-8 is recorded readable, each invalid byte as ``\\xNN``."""
        rows = [(root_id, collection, display_path(path)) for root_id, collection, path in roots]
        await self._db.run(
            lambda conn: conn.executemany(
                "INSERT INTO roots (id, collection, path) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET collection = EXCLUDED.collection,"
                " path = EXCLUDED.path, updated_at = now()",
                rows,
            )
        )

    async def root_identities(self) -> dict[str, str]:
        """The identity recorded for each root that has one (see ``fileflow_core.roots``)."""
        rows = await self._db.run(
            lambda conn: conn.fetch("SELECT id, identity FROM roots WHERE identity IS NOT NULL")
        )
        return {row["id"]: row["identity"] for row in rows}

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        # A root not registered yet (the watcher may record first) gets its collection and
        # path when the ingestor registers it.
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO roots (id, collection, path, identity) VALUES ($1, $1, '', $2)"
                " ON CONFLICT (id) DO UPDATE SET identity = EXCLUDED.identity, updated_at = now()",
                root_id,
                identity,
            )
        )

    async def root_mounts(self) -> dict[str, str]:
        rows = await self._db.run(
            lambda conn: conn.fetch("SELECT id, mounts FROM roots WHERE mounts IS NOT NULL")
        )
        return {row["id"]: row["mounts"] for row in rows}

    async def record_root_mounts(self, root_id: str, mounts: str) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO roots (id, collection, path, mounts) VALUES ($1, $1, '', $2)"
                " ON CONFLICT (id) DO UPDATE SET mounts = EXCLUDED.mounts, updated_at = now()",
                root_id,
                mounts,
            )
        )
