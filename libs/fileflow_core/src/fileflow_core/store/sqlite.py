"""Document store on SQLite (aiosqlite) for the embedded mode: the PostgreSQL store's schema,
upserts and freshness rules in SQLite's dialect, in one WAL-mode database file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from fileflow_core.errors import ContentMissingError, TransientError
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.paths import display_path, path_bytes, path_from_bytes

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

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
RETURNING id
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


def timestamp(moment: datetime) -> str:
    """UTC, microseconds always present: text that orders like the instant it names."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


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


def _file_row(row: aiosqlite.Row) -> dict[str, Any]:
    found = dict(row)
    for key in ("metadata", "source"):
        if found[key] is not None:
            found[key] = orjson.loads(found[key])
    for key in ("created_at", "updated_at"):
        found[key] = datetime.fromisoformat(found[key])
    return found


def migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("fileflow_core.store") / "migrations_sqlite"
    found = [
        (int(entry.name.split("_", 1)[0]), entry.name, entry.read_text())
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)


def statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return found


class SqliteDocumentStore:
    """Files and contents in one SQLite file. One connection; one write at a time (SQLite
    allows no more), each in its own transaction; readers in other processes are not blocked."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()
        self.applied: list[str] = []  # migrations this open applied

    @classmethod
    async def open(cls, path: Path) -> SqliteDocumentStore:
        """Open (creating the folder and the file) and bring the schema up to date."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise TransientError(
                f"cannot open the SQLite database {path}: {exc!r} (set FILEFLOW_DATA_DIR)"
            ) from exc
        store = cls(db, path)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # SQLite's own unhex() arrived in 3.41; older builds are common.
            await db.create_function("ff_unhex", 1, bytes.fromhex, deterministic=True)
            store.applied = await store.migrate()
        except (sqlite3.Error, TransientError) as exc:
            await db.close()
            raise TransientError(f"cannot prepare the SQLite database {path}: {exc!r}") from exc
        return store

    async def migrate(self) -> list[str]:
        """Apply missing migrations, one transaction each (another process waits its turn)."""
        applied: list[str] = []
        async with self._transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                f" name text NOT NULL, applied_at text NOT NULL DEFAULT ({NOW}))"
            )
            done = {
                row[0] for row in await db.execute_fetchall("SELECT version FROM schema_migrations")
            }
            for version, name, script in migrations():
                if version in done:
                    continue
                for statement in statements(script):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name)
                )
                applied.append(name)
        return applied

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise TransientError(f"SQLite at {self.path} is busy: {exc!r}") from exc
            try:
                yield self._db
            except BaseException:
                await self._db.rollback()
                raise
            try:
                await self._db.commit()
            except sqlite3.Error as exc:
                await self._db.rollback()
                raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def _write(self, sql: str, params: Any) -> list[aiosqlite.Row]:
        try:
            async with self._transaction() as db:
                return list(await db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def _read(self, sql: str, params: Any = ()) -> list[aiosqlite.Row]:
        try:
            async with self._lock:
                return list(await self._db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite at {self.path} unavailable: {exc!r}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._read("SELECT 1"))
        except (TransientError, ValueError):
            return False

    async def content_exists(self, sha256: str) -> bool:
        return bool(await self._read("SELECT 1 FROM contents WHERE sha256 = ?", (sha256,)))

    async def record_present(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        sha256: str,
        *,
        attempts: int = 1,
        replace_content: bool = False,
    ) -> bool:
        params = _observation(
            observation, sha256=sha256, attempts=attempts, source=_json(observation.source)
        )
        try:
            async with self._transaction() as db:
                if content is not None:
                    await self._store_content(db, content, replace_content)
                elif not await db.execute_fetchall(
                    "SELECT 1 FROM contents WHERE sha256 = ?", (sha256,)
                ):
                    raise ContentMissingError(f"content {sha256} is not stored")
                written = await db.execute_fetchall(_UPSERT_PRESENT, params)
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc
        return bool(written)

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[bool | ContentMissingError]:
        # One writer, one file: SQLite gains nothing from grouping, so each is its own write.
        results: list[bool | ContentMissingError] = []
        for write in writes:
            try:
                results.append(
                    await self.record_present(
                        write.observation,
                        write.content,
                        write.sha256,
                        attempts=write.attempts,
                        replace_content=write.replace_content,
                    )
                )
            except ContentMissingError as exc:
                results.append(exc)
        return results

    @staticmethod
    async def _store_content(db: aiosqlite.Connection, content: ContentInfo, replace: bool) -> None:
        stored = await db.execute_fetchall(
            _UPSERT_CONTENT,
            {
                "sha256": content.sha256,
                "size": content.size,
                "mime_type": content.mime_type,
                "metadata": _json(content.metadata),
                "status": content.extraction_status,
                "error": content.extraction_error,
                "replace": replace,
            },
        )
        if not stored:
            return
        await db.execute("DELETE FROM chunks WHERE content_sha256 = ?", (content.sha256,))
        await db.executemany(
            "INSERT INTO chunks (content_sha256, seq, text) VALUES (?, ?, ?)",
            [(content.sha256, seq, text) for seq, text in enumerate(content.chunks)],
        )

    async def record_deleted(self, observation: FileObservation) -> bool:
        written = await self._write(
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
        found = await self._read(
            "SELECT 1 FROM files WHERE root_id = ? AND path_bytes = ?"
            " AND status IN ('completed', 'failed') AND size = ? AND mtime_ns = ? AND inode = ?",
            (root_id, path_bytes(path), size, mtime_ns, inode),
        )
        return bool(found)

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        rows = await self._read(
            "SELECT path_bytes, size, mtime_ns, inode FROM files WHERE root_id = ?"
            " AND status IN ('completed', 'failed') AND size IS NOT NULL"
            " AND mtime_ns IS NOT NULL AND inode IS NOT NULL",
            (root_id,),
        )
        return {path_from_bytes(row[0]): (row[1], row[2], row[3]) for row in rows}

    async def record_processing(self, observation: FileObservation, *, attempts: int = 1) -> None:
        await self._write(_MARK_PROCESSING, _observation(observation, attempts=attempts))

    async def record_failed(
        self, observation: FileObservation, error: str, *, attempts: int = 1
    ) -> None:
        await self._write(
            _UPSERT_FAILED, _observation(observation, error=error[:2000], attempts=attempts)
        )

    async def register_roots(self, roots: list[tuple[str, str, str]]) -> None:
        try:
            async with self._transaction() as db:
                await db.executemany(
                    "INSERT INTO roots (id, collection, path) VALUES (?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET collection = excluded.collection,"
                    f" path = excluded.path, updated_at = {NOW}",
                    roots,
                )
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def root_identities(self) -> dict[str, str]:
        rows = await self._read("SELECT id, identity FROM roots WHERE identity IS NOT NULL")
        return {row[0]: row[1] for row in rows}

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        await self._write(
            "INSERT INTO roots (id, collection, path, identity) VALUES (?1, ?1, '', ?2)"
            f" ON CONFLICT (id) DO UPDATE SET identity = excluded.identity, updated_at = {NOW}",
            (root_id, identity),
        )

    async def mark_pending(self, root_id: str, path: str) -> int:
        rows = await self._write(_MARK_PENDING, (root_id, display_path(path), path_bytes(path)))
        return int(rows[0][0])

    async def mark_pending_many(self, root_id: str, paths: list[str]) -> None:
        try:
            async with self._transaction() as db:
                await db.executemany(
                    _MARK_PENDING.replace("RETURNING id", ""),
                    [(root_id, display_path(p), path_bytes(p)) for p in paths],
                )
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def progress(self, root_id: str, paths: list[str]) -> dict[str, int]:
        # Bytes cannot travel as JSON: the paths go as hexadecimal text.
        rows = await self._read(
            "SELECT status, count(*) FROM files WHERE root_id = ?"
            " AND path_bytes IN (SELECT ff_unhex(value) FROM json_each(?)) GROUP BY 1",
            (root_id, orjson.dumps([path_bytes(p).hex() for p in paths]).decode()),
        )
        return {row[0]: row[1] for row in rows}

    async def locations(self, file_ids: list[int] | None) -> list[tuple[int, str, str]]:
        if file_ids is None:
            rows = await self._read(
                "SELECT id, root_id, path_bytes FROM files WHERE status = 'failed' ORDER BY id"
            )
        else:
            rows = await self._read(
                "SELECT id, root_id, path_bytes FROM files"
                " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (orjson.dumps(file_ids).decode(),),
            )
        return [(row[0], row[1], path_from_bytes(row[2])) for row in rows]

    async def completed_since(self, seconds: float) -> int:
        rows = await self._read(
            "SELECT count(*) FROM files WHERE status = 'completed'"
            " AND updated_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
            (f"-{float(seconds)} seconds",),
        )
        return int(rows[0][0])

    async def get_file(self, file_id: int) -> dict[str, Any] | None:
        rows = await self._read(_FILE_VIEW + " WHERE f.id = ?", (file_id,))
        return _file_row(rows[0]) if rows else None

    async def list_files(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        rows = await self._read(
            _FILE_VIEW + " WHERE (?1 IS NULL OR f.status = ?1) ORDER BY f.id LIMIT ?2 OFFSET ?3",
            (status, limit, offset),
        )
        return [_file_row(row) for row in rows]

    async def status_counts(self) -> dict[str, int]:
        rows = await self._read("SELECT status, count(*) FROM files GROUP BY 1")
        return {row[0]: row[1] for row in rows}
