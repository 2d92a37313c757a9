"""The ingestor's writes to SQLite: the PostgreSQL store's upserts and freshness rules in
SQLite's dialect."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from fileflow_core.errors import ContentMissingError, WriteRejectedError
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.paths import display_path, path_bytes
from fileflow_core.store.sqlite.connection import NOW, Database, json_text, timestamp

# As on PostgreSQL: a stale observation never overwrites a newer one, an identical one writes
# nothing, and the file takes its status from its content. ``IS NOT`` is SQLite's null-safe
# "is distinct from"; ``WHERE true`` keeps the parser from reading ON CONFLICT as a join.
_UPSERT_PRESENT = f"""
INSERT INTO files (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                   status, error, attempts, deleted, deleted_at, observed_at, source)
SELECT :root_id, :path, :path_bytes, :sha256, :size, :mtime_ns, :inode,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, :attempts, 0, NULL, :observed_at, :source
FROM contents c WHERE c.sha256 = :sha256
ON CONFLICT (root_id, path_bytes) DO UPDATE SET
    content_sha256 = excluded.content_sha256, size = excluded.size,
    mtime_ns = excluded.mtime_ns, inode = excluded.inode, status = excluded.status,
    error = excluded.error, attempts = excluded.attempts, deleted = 0, deleted_at = NULL,
    observed_at = excluded.observed_at, source = excluded.source, updated_at = {NOW}
WHERE (files.observed_at IS NULL OR files.observed_at <= excluded.observed_at)
  AND (files.content_sha256 IS NOT excluded.content_sha256 OR files.size IS NOT excluded.size
       OR files.mtime_ns IS NOT excluded.mtime_ns OR files.inode IS NOT excluded.inode
       OR files.status IS NOT excluded.status OR files.error IS NOT excluded.error
       OR files.deleted IS NOT 0 OR files.source IS NOT excluded.source)
RETURNING status
"""

_UPSERT_CONTENT = f"""
INSERT INTO contents (sha256, size, mime_type, metadata, extraction_status, extraction_error)
VALUES (:sha256, :size, :mime_type, :metadata, :status, :error)
ON CONFLICT (sha256) DO UPDATE SET
    size = excluded.size, mime_type = excluded.mime_type, metadata = excluded.metadata,
    extraction_status = excluded.extraction_status,
    extraction_error = excluded.extraction_error, updated_at = {NOW}
WHERE contents.extraction_status <> 'completed' OR :replace
RETURNING sha256
"""

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
            return await self._db.write_in_one_hop(
                lambda conn: [_write_present(conn, w) for w in writes]
            )
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


def _write_present(
    conn: sqlite3.Connection, write: PresentWrite
) -> str | ContentMissingError | None:
    if write.content is not None:
        _store_content(conn, write.content, write.replace_content)
    elif not conn.execute("SELECT 1 FROM contents WHERE sha256 = ?", (write.sha256,)).fetchone():
        return ContentMissingError(f"content {write.sha256} is not stored")
    params = _observation(
        write.observation,
        sha256=write.sha256,
        attempts=write.attempts,
        source=json_text(write.observation.source),
    )
    written = conn.execute(_UPSERT_PRESENT, params).fetchone()
    return None if written is None else str(written[0])


def _store_content(conn: sqlite3.Connection, content: ContentInfo, replace: bool) -> None:
    stored = conn.execute(
        _UPSERT_CONTENT,
        {
            "sha256": content.sha256,
            "size": content.size,
            "mime_type": content.mime_type,
            "metadata": json_text(content.metadata),
            "status": content.extraction_status,
            "error": content.extraction_error,
            "replace": replace,
        },
    ).fetchone()
    if stored is None:
        return
    conn.execute("DELETE FROM chunks WHERE content_sha256 = ?", (content.sha256,))
    conn.executemany(
        "INSERT INTO chunks (content_sha256, seq, text) VALUES (?, ?, ?)",
        [(content.sha256, seq, text) for seq, text in enumerate(content.chunks)],
    )
