"""A batch of present files written to SQLite in a handful of statements, whatever its size.

Statement by statement, a file cost four round trips through the sqlite3 module (each taking
and giving back the GIL the event loop wants too): about 45 us a file before SQLite did any
work. Here each step is one multi-row statement for the whole batch."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import orjson

from fileflow_core.errors import ContentMissingError
from fileflow_core.models import ContentInfo, PresentWrite
from fileflow_core.paths import display_path, path_bytes
from fileflow_core.store.sqlite.connection import NOW, json_text, timestamp

# As on PostgreSQL: a stale observation never overwrites a newer one, an identical one writes
# nothing. ``IS NOT`` is SQLite's null-safe "is distinct from".
PRESENT_ON_CONFLICT = f"""
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
"""

CONTENT_ON_CONFLICT = f"""
ON CONFLICT (sha256) DO UPDATE SET
    size = excluded.size, mime_type = excluded.mime_type, metadata = excluded.metadata,
    extraction_status = excluded.extraction_status,
    extraction_error = excluded.extraction_error, updated_at = {NOW}
"""

T = TypeVar("T")

# Rows a statement carries at most: SQLite allows 32,766 parameters from 3.32 on.
_ROWS_A_STATEMENT = 500


def write_batch(
    conn: sqlite3.Connection, writes: Sequence[PresentWrite]
) -> list[str | ContentMissingError | None]:
    """Each file's status (None: unchanged), or ``ContentMissingError`` when it has no content
    and none is stored. Runs inside the caller's transaction."""
    contents: dict[str, ContentInfo] = {}
    for write in writes:
        if write.content is not None:
            contents.setdefault(write.sha256, write.content)
    replaced = {w.sha256 for w in writes if w.content is not None and w.replace_content}
    if contents:
        _store_contents(conn, list(contents.values()), replaced)
    referenced = {w.sha256 for w in writes if w.content is None} - contents.keys()
    present = contents.keys() | _existing(conn, referenced)
    written = _upsert_files(conn, [w for w in writes if w.sha256 in present])
    return [
        written.get((w.observation.root_id, path_bytes(w.observation.path)))
        if w.sha256 in present
        else ContentMissingError(f"content {w.sha256} is not stored")
        for w in writes
    ]


def _store_contents(
    conn: sqlite3.Connection, contents: list[ContentInfo], replaced: set[str]
) -> None:
    """Insert new contents; replace those that failed before or are reprocessed, with their
    chunks. A content stored complete is kept as it is."""
    before = _existing(conn, [c.sha256 for c in contents])
    stored: set[str] = set()
    for group in _groups(contents):
        rows = conn.execute(
            _upsert_contents_sql(len(group)),
            [
                *_flat(
                    (
                        c.sha256,
                        c.size,
                        c.mime_type,
                        json_text(c.metadata),
                        c.extraction_status,
                        c.extraction_error,
                    )
                    for c in group
                ),
                orjson.dumps(sorted(replaced)).decode(),
            ],
        ).fetchall()
        stored.update(row[0] for row in rows)
    # A new content has no chunks to clear: only those replaced are looked for.
    for replaced_group in _groups(sorted(stored & before)):
        marks = ",".join("?" * len(replaced_group))
        conn.execute(f"DELETE FROM chunks WHERE content_sha256 IN ({marks})", replaced_group)
    chunks = [
        (c.sha256, seq, text)
        for c in contents
        if c.sha256 in stored
        for seq, text in enumerate(c.chunks)
    ]
    for chunk_group in _groups(chunks):
        marks = ",".join(["(?,?,?)"] * len(chunk_group))
        conn.execute(
            f"INSERT INTO chunks (content_sha256, seq, text) VALUES {marks}",
            list(_flat(chunk_group)),
        )


def _upsert_files(
    conn: sqlite3.Connection, writes: list[PresentWrite]
) -> dict[tuple[str, bytes], str]:
    written: dict[tuple[str, bytes], str] = {}
    for group in _groups(writes):
        rows = conn.execute(_upsert_files_sql(len(group)), list(_flat(_file_row(w) for w in group)))
        written.update(((row[0], bytes(row[1])), str(row[2])) for row in rows.fetchall())
    return written


def _file_row(write: PresentWrite) -> tuple[Any, ...]:
    o = write.observation
    return (
        o.root_id,
        display_path(o.path),
        path_bytes(o.path),
        write.sha256,
        o.size,
        o.mtime_ns,
        o.inode,
        write.attempts,
        timestamp(o.observed_at),
        json_text(o.source),
    )


def _existing(conn: sqlite3.Connection, hashes: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for group in _groups(list(hashes)):
        marks = ",".join("?" * len(group))
        rows = conn.execute(f"SELECT sha256 FROM contents WHERE sha256 IN ({marks})", group)
        found.update(row[0] for row in rows.fetchall())
    return found


@lru_cache(maxsize=64)
def _upsert_contents_sql(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?,?)"] * rows)
    return f"""
INSERT INTO contents (sha256, size, mime_type, metadata, extraction_status, extraction_error)
VALUES {values}
{CONTENT_ON_CONFLICT}
WHERE contents.extraction_status <> 'completed'
   OR excluded.sha256 IN (SELECT value FROM json_each(?))
RETURNING sha256
"""


@lru_cache(maxsize=64)
def _upsert_files_sql(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * rows)
    # ``WHERE true`` keeps the parser from reading ON CONFLICT as the join's.
    return f"""
WITH v(root_id, path, path_bytes, sha256, size, mtime_ns, inode, attempts, observed_at,
       source) AS (VALUES {values})
INSERT INTO files (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                   status, error, attempts, deleted, deleted_at, observed_at, source)
SELECT v.root_id, v.path, v.path_bytes, v.sha256, v.size, v.mtime_ns, v.inode,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, v.attempts, 0, NULL, v.observed_at, v.source
FROM v JOIN contents c ON c.sha256 = v.sha256 WHERE true
{PRESENT_ON_CONFLICT}
RETURNING root_id, path_bytes, status
"""


def _groups(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), _ROWS_A_STATEMENT):
        yield items[start : start + _ROWS_A_STATEMENT]


def _flat(rows: Iterable[tuple[Any, ...]]) -> Iterable[Any]:
    for row in rows:
        yield from row
