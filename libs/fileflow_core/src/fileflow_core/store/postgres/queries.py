"""What operators and the ingest API ask of PostgreSQL: files by status, one file, progress,
and marking files to ingest again."""

from __future__ import annotations

from typing import Any

from fileflow_core.paths import display_path, path_bytes, path_from_bytes
from fileflow_core.store.postgres.connection import Database

_MARK_PENDING = """
INSERT INTO files AS f (root_id, path, path_bytes, status)
SELECT $1, p.path, p.raw, 'pending' FROM unnest($2::text[], $3::bytea[]) AS p(path, raw)
ON CONFLICT (root_id, path_hash) DO UPDATE SET status = 'pending', error = NULL,
    deleted = false, deleted_at = NULL, updated_at = now()
RETURNING id
"""

_FILE_VIEW = """
SELECT f.id, f.root_id, f.path, f.path_bytes, f.status, f.content_sha256, f.size, c.mime_type,
       c.metadata, f.attempts, f.error, f.source, f.created_at, f.updated_at
FROM files f LEFT JOIN contents c ON c.sha256 = f.content_sha256
"""


class PostgresQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_pending(self, root_id: str, path: str) -> int:
        """Create or reset the file's row to ``pending`` (an explicit ingest); return its id."""
        rows = await self._db.run(
            lambda conn: conn.fetch(
                _MARK_PENDING, root_id, [display_path(path)], [path_bytes(path)]
            )
        )
        return int(rows[0]["id"])

    async def mark_pending_many(self, root_id: str, paths: list[str]) -> None:
        """``mark_pending`` for many paths in one statement."""
        await self._db.run(
            lambda conn: conn.execute(
                _MARK_PENDING,
                root_id,
                [display_path(p) for p in paths],
                [path_bytes(p) for p in paths],
            )
        )

    async def progress(self, root_id: str, paths: list[str]) -> dict[str, int]:
        """How many of ``paths`` are in each status now."""
        rows = await self._db.run(
            lambda conn: conn.fetch(
                "SELECT status, count(*) AS n FROM files WHERE root_id = $1"
                " AND path_hash IN (SELECT sha256(p) FROM unnest($2::bytea[]) AS p)"
                " GROUP BY 1",
                root_id,
                [path_bytes(p) for p in paths],
            )
        )
        return {row["status"]: row["n"] for row in rows}

    async def locations(self, file_ids: list[int] | None) -> list[tuple[int, str, str]]:
        """(id, root, path) of the given files, or of every failed file when ``None``."""
        rows = await self._db.run(
            lambda conn: conn.fetch(
                "SELECT id, root_id, path_bytes FROM files WHERE"
                " ($1::bigint[] IS NULL AND status = 'failed')"
                " OR id = ANY($1::bigint[]) ORDER BY id",
                file_ids,
            )
        )
        return [(row["id"], row["root_id"], path_from_bytes(row["path_bytes"])) for row in rows]

    async def completed_since(self, seconds: float) -> int:
        count = await self._db.run(
            lambda conn: conn.fetchval(
                "SELECT count(*) FROM files WHERE status = 'completed'"
                " AND updated_at > now() - make_interval(secs => $1)",
                seconds,
            )
        )
        return int(count)

    async def get_file(self, file_id: int) -> dict[str, Any] | None:
        rows = await self._db.run(lambda conn: conn.fetch(_FILE_VIEW + " WHERE f.id = $1", file_id))
        return dict(rows[0]) if rows else None

    async def list_files(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        rows = await self._db.run(
            lambda conn: conn.fetch(
                _FILE_VIEW + " WHERE ($1::text IS NULL OR f.status = $1)"
                " ORDER BY f.id LIMIT $2 OFFSET $3",
                status,
                limit,
                offset,
            )
        )
        return [dict(row) for row in rows]

    async def status_counts(self) -> dict[str, int]:
        rows = await self._db.run(
            lambda conn: conn.fetch("SELECT status, count(*) AS n FROM files GROUP BY 1")
        )
        return {row["status"]: row["n"] for row in rows}
