"""What operators and the ingest API ask of SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from fileflow_core.errors import TransientError
from fileflow_core.paths import display_path, path_bytes, path_from_bytes
from fileflow_core.store.sqlite.connection import NOW, Database

_MARK_PENDING = f"""
INSERT INTO files (root_id, path, path_bytes, status) VALUES (?, ?, ?, 'pending')
ON CONFLICT (root_id, path_bytes) DO UPDATE SET status = 'pending', error = NULL,
    deleted = 0, deleted_at = NULL, updated_at = {NOW}
RETURNING id
"""

_FILE_VIEW = """
SELECT f.id, f.root_id, f.path, f.path_bytes, f.status, f.content_sha256, f.size, c.mime_type,
       c.metadata, f.attempts, f.error, f.source, f.created_at, f.updated_at
FROM files f LEFT JOIN contents c ON c.sha256 = f.content_sha256
"""


def _file_row(row: aiosqlite.Row) -> dict[str, Any]:
    found = dict(row)
    for key in ("metadata", "source"):
        if found[key] is not None:
            found[key] = orjson.loads(found[key])
    for key in ("created_at", "updated_at"):
        found[key] = datetime.fromisoformat(found[key])
    return found


class SqliteQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_pending(self, root_id: str, path: str) -> int:
        rows = await self._db.write(_MARK_PENDING, (root_id, display_path(path), path_bytes(path)))
        return int(rows[0][0])

    async def mark_pending_many(self, root_id: str, paths: list[str]) -> None:
        try:
            async with self._db.transaction() as db:
                await db.executemany(
                    _MARK_PENDING.replace("RETURNING id", ""),
                    [(root_id, display_path(p), path_bytes(p)) for p in paths],
                )
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def progress(self, root_id: str, paths: list[str]) -> dict[str, int]:
        # Bytes cannot travel as JSON: the paths go as hexadecimal text.
        rows = await self._db.read(
            "SELECT status, count(*) FROM files WHERE root_id = ?"
            " AND path_bytes IN (SELECT ff_unhex(value) FROM json_each(?)) GROUP BY 1",
            (root_id, orjson.dumps([path_bytes(p).hex() for p in paths]).decode()),
        )
        return {row[0]: row[1] for row in rows}

    async def locations(self, file_ids: list[int] | None) -> list[tuple[int, str, str]]:
        if file_ids is None:
            rows = await self._db.read(
                "SELECT id, root_id, path_bytes FROM files WHERE status = 'failed' ORDER BY id"
            )
        else:
            rows = await self._db.read(
                "SELECT id, root_id, path_bytes FROM files"
                " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (orjson.dumps(file_ids).decode(),),
            )
        return [(row[0], row[1], path_from_bytes(row[2])) for row in rows]

    async def completed_since(self, seconds: float) -> int:
        rows = await self._db.read(
            "SELECT count(*) FROM files WHERE status = 'completed'"
            " AND updated_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
            (f"-{float(seconds)} seconds",),
        )
        return int(rows[0][0])

    async def get_file(self, file_id: int) -> dict[str, Any] | None:
        rows = await self._db.read(_FILE_VIEW + " WHERE f.id = ?", (file_id,))
        return _file_row(rows[0]) if rows else None

    async def list_files(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        rows = await self._db.read(
            _FILE_VIEW + " WHERE (?1 IS NULL OR f.status = ?1) ORDER BY f.id LIMIT ?2 OFFSET ?3",
            (status, limit, offset),
        )
        return [_file_row(row) for row in rows]

    async def status_counts(self) -> dict[str, int]:
        rows = await self._db.read("SELECT status, count(*) FROM files GROUP BY 1")
        return {row[0]: row[1] for row in rows}
