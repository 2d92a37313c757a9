"""Document store on PostgreSQL (asyncpg): idempotent, freshness-conditional upserts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, TypeVar

import asyncpg
import orjson

from fileflow_core.errors import (
    ContentMissingError,
    StoreUnavailableError,
    TransientError,
    WriteRejectedError,
)
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.paths import display_path, path_bytes, path_from_bytes
from fileflow_core.store.database import CONNECTION_ERRORS, refused, unreachable
from fileflow_core.store.urls import describe

T = TypeVar("T")
Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

# A stale observation never overwrites a newer one; an identical one writes nothing. Shared by
# the single-file and the batch statement, so the two cannot disagree.
_PRESENT_ON_CONFLICT = """
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    content_sha256 = EXCLUDED.content_sha256, size = EXCLUDED.size,
    mtime_ns = EXCLUDED.mtime_ns, inode = EXCLUDED.inode, status = EXCLUDED.status,
    error = EXCLUDED.error, attempts = EXCLUDED.attempts, deleted = false, deleted_at = NULL,
    observed_at = EXCLUDED.observed_at, source = EXCLUDED.source, updated_at = now()
WHERE (f.observed_at IS NULL OR f.observed_at <= EXCLUDED.observed_at)
  AND (f.content_sha256, f.size, f.mtime_ns, f.inode, f.status, f.error, f.deleted, f.source)
      IS DISTINCT FROM (EXCLUDED.content_sha256, EXCLUDED.size, EXCLUDED.mtime_ns,
                        EXCLUDED.inode, EXCLUDED.status, EXCLUDED.error, false, EXCLUDED.source)
"""

# The file takes its status from its content (failed extraction → failed file, with the reason).
_UPSERT_PRESENT = (
    """
WITH c AS (SELECT extraction_status, extraction_error FROM contents WHERE sha256 = $3)
INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                        status, error, attempts, deleted, deleted_at, observed_at, source)
SELECT $1, $2, $10, $3, $4, $5, $6,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, $7, false, NULL, $8, $9::jsonb
FROM c
"""
    + _PRESENT_ON_CONFLICT
    + """
RETURNING id
"""
)

_UPSERT_CONTENT = """
INSERT INTO contents AS c (sha256, size, mime_type, metadata, extraction_status, extraction_error)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
ON CONFLICT (sha256) DO UPDATE SET
    size = EXCLUDED.size, mime_type = EXCLUDED.mime_type, metadata = EXCLUDED.metadata,
    extraction_status = EXCLUDED.extraction_status,
    extraction_error = EXCLUDED.extraction_error, updated_at = now()
WHERE c.extraction_status <> 'completed' OR $7
RETURNING sha256
"""

# The batch forms of the two upserts above: the same conditions, one statement for many rows.
_UPSERT_CONTENTS = """
INSERT INTO contents AS c (sha256, size, mime_type, metadata, extraction_status, extraction_error)
SELECT v.sha256, v.size, v.mime_type, v.metadata::jsonb, v.status, v.error
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS v(sha256, size, mime_type, metadata, status, error)
ON CONFLICT (sha256) DO UPDATE SET
    size = EXCLUDED.size, mime_type = EXCLUDED.mime_type, metadata = EXCLUDED.metadata,
    extraction_status = EXCLUDED.extraction_status,
    extraction_error = EXCLUDED.extraction_error, updated_at = now()
WHERE c.extraction_status <> 'completed' OR EXCLUDED.sha256 = ANY($7::text[])
RETURNING sha256
"""

_UPSERT_PRESENT_MANY = (
    """
INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                        status, error, attempts, deleted, deleted_at, observed_at, source)
SELECT v.root_id, v.path, v.path_bytes, v.sha256, v.size, v.mtime_ns, v.inode,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, v.attempts, false, NULL, v.observed_at, v.source::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
            $7::int[], $8::timestamptz[], $9::text[], $10::bytea[])
     AS v(root_id, path, sha256, size, mtime_ns, inode, attempts, observed_at, source,
          path_bytes)
JOIN contents c ON c.sha256 = v.sha256
"""
    + _PRESENT_ON_CONFLICT
    + """
RETURNING root_id, path_bytes
"""
)

# A file is found by the hash of its name's bytes: the unique index holds 32 bytes a row,
# whatever the path's length.
_BY_PATH = "root_id = $1 AND path_hash = sha256($2::bytea)"

_MARK_DELETED = f"""
UPDATE files SET deleted = true, deleted_at = now(), status = 'deleted', error = NULL,
                 observed_at = $3, updated_at = now()
WHERE {_BY_PATH} AND NOT deleted
  AND (observed_at IS NULL OR observed_at <= $3)
RETURNING id
"""

_MARK_PROCESSING = """
INSERT INTO files AS f (root_id, path, path_bytes, size, mtime_ns, inode, status, attempts,
                        observed_at)
VALUES ($1, $8, $2, $3, $4, $5, 'processing', $6, $7)
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    status = 'processing', attempts = EXCLUDED.attempts, deleted = false, deleted_at = NULL,
    updated_at = now()
WHERE f.observed_at IS NULL OR f.observed_at <= EXCLUDED.observed_at
"""

_UPSERT_FAILED = """
INSERT INTO files AS f (root_id, path, path_bytes, size, mtime_ns, inode, status, error,
                        attempts, observed_at)
VALUES ($1, $9, $2, $3, $4, $5, 'failed', $6, $7, $8)
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    status = 'failed', error = EXCLUDED.error, attempts = EXCLUDED.attempts, deleted = false,
    deleted_at = NULL, observed_at = EXCLUDED.observed_at, updated_at = now()
WHERE f.observed_at IS NULL OR f.observed_at <= EXCLUDED.observed_at
"""

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


def _jsonb_codec() -> dict[str, Any]:
    return {
        "encoder": lambda value: orjson.dumps(value).decode(),
        "decoder": orjson.loads,
        "schema": "pg_catalog",
    }


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.set_type_codec("jsonb", **_jsonb_codec())


class PostgresDocumentStore:
    """Files and contents in PostgreSQL; every write is one transaction and safe to repeat."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10) -> PostgresDocumentStore:
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=max_connections, init=_init_connection, timeout=10
            )
        except CONNECTION_ERRORS as exc:
            raise unreachable(url, exc) from exc
        except asyncpg.PostgresError as exc:
            raise refused(url, exc) from exc
        return cls(pool, url)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        try:
            async with self._pool.acquire(timeout=30) as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise StoreUnavailableError(
                f"PostgreSQL at {describe(self._url)} unavailable: {exc!r}"
            ) from exc

    async def _run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        async with self._connection() as conn:
            try:
                return await work(conn)
            except asyncpg.PostgresError as exc:
                if isinstance(exc, CONNECTION_ERRORS):
                    raise
                raise WriteRejectedError(f"PostgreSQL rejected the write: {exc!r}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._run(lambda conn: conn.fetchval("SELECT 1")))
        except TransientError:
            return False

    async def content_exists(self, sha256: str) -> bool:
        return bool(
            await self._run(
                lambda conn: conn.fetchval("SELECT 1 FROM contents WHERE sha256 = $1", sha256)
            )
        )

    async def record_present(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        sha256: str,
        *,
        attempts: int = 1,
        replace_content: bool = False,
    ) -> bool:
        async def work(conn: Conn) -> bool:
            async with conn.transaction():
                if content is not None:
                    await self._store_content(conn, content, replace_content)
                elif not await conn.fetchval("SELECT 1 FROM contents WHERE sha256 = $1", sha256):
                    raise ContentMissingError(f"content {sha256} is not stored")
                written = await conn.fetchval(
                    _UPSERT_PRESENT,
                    observation.root_id,
                    display_path(observation.path),
                    sha256,
                    observation.size,
                    observation.mtime_ns,
                    observation.inode,
                    attempts,
                    observation.observed_at,
                    observation.source,
                    path_bytes(observation.path),
                )
            return written is not None

        return await self._run(work)

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[bool | ContentMissingError]:
        """``record_present`` for many files in one transaction of five statements.

        Each file's result is whether its row changed, or ``ContentMissingError`` when it has
        no content and the store holds none (that file is left out, the others are written).
        The files must name distinct paths. A database refusal raises ``WriteRejectedError``
        for the whole batch: the caller then writes the files one by one to find the culprit.
        """
        contents = {w.sha256: w.content for w in writes if w.content is not None}
        replaced = [w.sha256 for w in writes if w.content is not None and w.replace_content]

        async def work(conn: Conn) -> list[bool | ContentMissingError]:
            async with conn.transaction():
                if contents:
                    await self._store_contents(conn, list(contents.values()), replaced)
                referenced = list({w.sha256 for w in writes if w.content is None} - set(contents))
                present = set(contents)
                if referenced:
                    rows = await conn.fetch(
                        "SELECT sha256 FROM contents WHERE sha256 = ANY($1::text[])", referenced
                    )
                    present.update(row["sha256"] for row in rows)
                storable = [w for w in writes if w.sha256 in present]
                written = await self._upsert_files(conn, storable) if storable else set()
            return [
                (w.observation.root_id, path_bytes(w.observation.path)) in written
                if w.sha256 in present
                else ContentMissingError(f"content {w.sha256} is not stored")
                for w in writes
            ]

        return await self._run(work)

    @staticmethod
    async def _store_contents(conn: Conn, contents: list[ContentInfo], replaced: list[str]) -> None:
        rows = await conn.fetch(
            _UPSERT_CONTENTS,
            [c.sha256 for c in contents],
            [c.size for c in contents],
            [c.mime_type for c in contents],
            [orjson.dumps(c.metadata).decode() for c in contents],
            [c.extraction_status for c in contents],
            [c.extraction_error for c in contents],
            replaced,
        )
        stored = {row["sha256"] for row in rows}
        if not stored:
            return
        await conn.execute(
            "DELETE FROM chunks WHERE content_sha256 = ANY($1::text[])", list(stored)
        )
        records = [
            (c.sha256, seq, text)
            for c in contents
            if c.sha256 in stored
            for seq, text in enumerate(c.chunks)
        ]
        if records:
            await conn.copy_records_to_table(
                "chunks", records=records, columns=["content_sha256", "seq", "text"]
            )

    @staticmethod
    async def _upsert_files(conn: Conn, writes: list[PresentWrite]) -> set[tuple[str, bytes]]:
        observations = [w.observation for w in writes]
        rows = await conn.fetch(
            _UPSERT_PRESENT_MANY,
            [o.root_id for o in observations],
            [display_path(o.path) for o in observations],
            [w.sha256 for w in writes],
            [o.size for o in observations],
            [o.mtime_ns for o in observations],
            [o.inode for o in observations],
            [w.attempts for w in writes],
            [o.observed_at for o in observations],
            [None if o.source is None else orjson.dumps(o.source).decode() for o in observations],
            [path_bytes(o.path) for o in observations],
        )
        return {(row["root_id"], row["path_bytes"]) for row in rows}

    @staticmethod
    async def _store_content(conn: Conn, content: ContentInfo, replace: bool) -> None:
        stored = await conn.fetchval(
            _UPSERT_CONTENT,
            content.sha256,
            content.size,
            content.mime_type,
            content.metadata,
            content.extraction_status,
            content.extraction_error,
            replace,
        )
        if stored is None:
            return
        await conn.execute("DELETE FROM chunks WHERE content_sha256 = $1", content.sha256)
        if content.chunks:
            await conn.copy_records_to_table(
                "chunks",
                records=[(content.sha256, seq, text) for seq, text in enumerate(content.chunks)],
                columns=["content_sha256", "seq", "text"],
            )

    async def record_deleted(self, observation: FileObservation) -> bool:
        written = await self._run(
            lambda conn: conn.fetchval(
                _MARK_DELETED,
                observation.root_id,
                path_bytes(observation.path),
                observation.observed_at,
            )
        )
        return written is not None

    async def is_current(
        self, root_id: str, path: str, size: int, mtime_ns: int, inode: int
    ) -> bool:
        found = await self._run(
            lambda conn: conn.fetchval(
                f"SELECT 1 FROM files WHERE {_BY_PATH}"
                " AND status IN ('completed', 'failed') AND size = $3 AND mtime_ns = $4"
                " AND inode = $5",
                root_id,
                path_bytes(path),
                size,
                mtime_ns,
                inode,
            )
        )
        return bool(found)

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        rows = await self._run(
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

    async def record_processing(self, observation: FileObservation, *, attempts: int = 1) -> None:
        await self._run(
            lambda conn: conn.execute(
                _MARK_PROCESSING,
                observation.root_id,
                path_bytes(observation.path),
                observation.size,
                observation.mtime_ns,
                observation.inode,
                attempts,
                observation.observed_at,
                display_path(observation.path),
            )
        )

    async def record_failed(
        self, observation: FileObservation, error: str, *, attempts: int = 1
    ) -> None:
        await self._run(
            lambda conn: conn.execute(
                _UPSERT_FAILED,
                observation.root_id,
                path_bytes(observation.path),
                observation.size,
                observation.mtime_ns,
                observation.inode,
                error[:2000],
                attempts,
                observation.observed_at,
                display_path(observation.path),
            )
        )

    async def register_roots(self, roots: list[tuple[str, str, str]]) -> None:
        """Record (id, collection, path) of the configured roots."""
        await self._run(
            lambda conn: conn.executemany(
                "INSERT INTO roots (id, collection, path) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET collection = EXCLUDED.collection,"
                " path = EXCLUDED.path, updated_at = now()",
                roots,
            )
        )

    async def root_identities(self) -> dict[str, str]:
        """The identity recorded for each root that has one (see ``fileflow_core.roots``)."""
        rows = await self._run(
            lambda conn: conn.fetch("SELECT id, identity FROM roots WHERE identity IS NOT NULL")
        )
        return {row["id"]: row["identity"] for row in rows}

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        # A root not registered yet (the watcher may record first) gets its collection and
        # path when the ingestor registers it.
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO roots (id, collection, path, identity) VALUES ($1, $1, '', $2)"
                " ON CONFLICT (id) DO UPDATE SET identity = EXCLUDED.identity, updated_at = now()",
                root_id,
                identity,
            )
        )

    async def mark_pending(self, root_id: str, path: str) -> int:
        """Create or reset the file's row to ``pending`` (an explicit ingest); return its id."""
        rows = await self._run(
            lambda conn: conn.fetch(
                _MARK_PENDING, root_id, [display_path(path)], [path_bytes(path)]
            )
        )
        return int(rows[0]["id"])

    async def mark_pending_many(self, root_id: str, paths: list[str]) -> None:
        """``mark_pending`` for many paths in one statement."""
        await self._run(
            lambda conn: conn.execute(
                _MARK_PENDING,
                root_id,
                [display_path(p) for p in paths],
                [path_bytes(p) for p in paths],
            )
        )

    async def progress(self, root_id: str, paths: list[str]) -> dict[str, int]:
        """How many of ``paths`` are in each status now."""
        rows = await self._run(
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
        rows = await self._run(
            lambda conn: conn.fetch(
                "SELECT id, root_id, path_bytes FROM files WHERE"
                " ($1::bigint[] IS NULL AND status = 'failed')"
                " OR id = ANY($1::bigint[]) ORDER BY id",
                file_ids,
            )
        )
        return [(row["id"], row["root_id"], path_from_bytes(row["path_bytes"])) for row in rows]

    async def completed_since(self, seconds: float) -> int:
        count = await self._run(
            lambda conn: conn.fetchval(
                "SELECT count(*) FROM files WHERE status = 'completed'"
                " AND updated_at > now() - make_interval(secs => $1)",
                seconds,
            )
        )
        return int(count)

    async def get_file(self, file_id: int) -> dict[str, Any] | None:
        rows = await self._run(lambda conn: conn.fetch(_FILE_VIEW + " WHERE f.id = $1", file_id))
        return dict(rows[0]) if rows else None

    async def list_files(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        rows = await self._run(
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
        rows = await self._run(
            lambda conn: conn.fetch("SELECT status, count(*) AS n FROM files GROUP BY 1")
        )
        return {row["status"]: row["n"] for row in rows}
