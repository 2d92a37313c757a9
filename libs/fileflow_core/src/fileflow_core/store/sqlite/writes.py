"""The ingestor's writes to SQLite: the PostgreSQL store's upserts and freshness rules in
SQLite's dialect."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from fileflow_core.errors import ContentMissingError, WriteRejectedError
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.paths import display_path, path_bytes
from fileflow_core.store.sqlite.batch import write_batch
from fileflow_core.store.sqlite.connection import NOW, Database, timestamp

_MARK_DELETED = f"""
UPDATE files SET deleted = 1, deleted_at = {NOW}, status = 'deleted', error = NULL,
                 observed_at = :observed_at, updated_at = {NOW}
WHERE root_id = :root_id AND path_bytes = :path_bytes AND NOT deleted
  AND (observed_at IS NULL OR observed_at <= :observed_at)
RETURNING id
"""

_MARK_PROCESSING = f"""
INSERT INTO files (root_id, path, path_bytes, size, mtime_ns, inode, status, attempts,
                   observed_at)
VALUES (:root_id, :path, :path_bytes, :size, :mtime_ns, :inode, 'processing', :attempts,
        :observed_at)
ON CONFLICT (root_id, path_bytes) DO UPDATE SET
    status = 'processing', attempts = excluded.attempts, deleted = 0, deleted_at = NULL,
    updated_at = {NOW}
WHERE files.observed_at IS NULL OR files.observed_at <= excluded.observed_at
"""

_UPSERT_FAILED = f"""
INSERT INTO files (root_id, path, path_bytes, size, mtime_ns, inode, status, error, attempts,
                   observed_at)
VALUES (:root_id, :path, :path_bytes, :size, :mtime_ns, :inode, 'failed', :error, :attempts,
        :observed_at)
ON CONFLICT (root_id, path_bytes) DO UPDATE SET
    status = 'failed', error = excluded.error, attempts = excluded.attempts, deleted = 0,
    deleted_at = NULL, observed_at = excluded.observed_at, updated_at = {NOW}
WHERE files.observed_at IS NULL OR files.observed_at <= excluded.observed_at
"""


def _observation(observation: FileObservation, **extra: Any) -> dict[str, Any]:
    return {
        "root_id": observation.root_id,
        "path": display_path(observation.path),
        "path_bytes": path_bytes(observation.path),
        "size": observation.size,
        "mtime_ns": observation.mtime_ns,
        "inode": observation.inode,
        "observed_at": timestamp(observation.observed_at),
        **extra,
    }


class SqliteWrites:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def content_exists(self, sha256: str) -> bool:
        return bool(await self._db.read("SELECT 1 FROM contents WHERE sha256 = ?", (sha256,)))

    async def record_present(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        sha256: str,
        *,
        attempts: int = 1,
        replace_content: bool = False,
    ) -> str | None:
        write = PresentWrite(observation, sha256, content, attempts, replace_content)
        (result,) = await self.record_present_many([write])
        if isinstance(result, ContentMissingError):
            raise result
        return result

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[str | ContentMissingError | None]:
        """Every file in one transaction, run on the connection's thread in one hop: SQLite
        takes one writer at a time, and each commit is a fixed cost that a batch shares."""
        try:
            return await self._db.write_in_one_hop(lambda conn: write_batch(conn, writes))
        except sqlite3.Error as exc:
            raise WriteRejectedError(f"SQLite rejected the write: {exc!r}") from exc

    async def record_deleted(self, observation: FileObservation) -> bool:
        written = await self._db.write(
            _MARK_DELETED,
            {
                "root_id": observation.root_id,
                "path_bytes": path_bytes(observation.path),
                "observed_at": timestamp(observation.observed_at),
            },
        )
        return bool(written)

    async def is_current(
        self, root_id: str, path: str, size: int, mtime_ns: int, inode: int
    ) -> bool:
        found = await self._db.read(
            "SELECT 1 FROM files WHERE root_id = ? AND path_bytes = ?"
            " AND status IN ('completed', 'failed') AND size = ? AND mtime_ns = ? AND inode = ?",
            (root_id, path_bytes(path), size, mtime_ns, inode),
        )
        return bool(found)

    async def record_processing(self, observation: FileObservation, *, attempts: int = 1) -> None:
        await self._db.write(_MARK_PROCESSING, _observation(observation, attempts=attempts))

    async def record_failed(
        self, observation: FileObservation, error: str, *, attempts: int = 1
    ) -> None:
        await self._db.write(
            _UPSERT_FAILED, _observation(observation, error=error[:2000], attempts=attempts)
        )
