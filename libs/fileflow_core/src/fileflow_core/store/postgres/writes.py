"""The ingestor's writes to PostgreSQL: idempotent, freshness-conditional upserts."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from fileflow_core.errors import ContentMissingError
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.paths import display_path, path_bytes
from fileflow_core.store.postgres.connection import BY_PATH, Conn, Database
from fileflow_core.store.postgres.statements import (
    MARK_DELETED,
    MARK_PROCESSING,
    UPSERT_CONTENT,
    UPSERT_CONTENTS,
    UPSERT_FAILED,
    UPSERT_PRESENT,
    UPSERT_PRESENT_MANY,
)


class PostgresWrites:
    """Files and contents as the ingestor finds them; every write one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def content_exists(self, sha256: str) -> bool:
        return bool(
            await self._db.run(
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
    ) -> str | None:
        async def work(conn: Conn) -> str | None:
            async with conn.transaction():
                if content is not None:
                    await self._store_content(conn, content, replace_content)
                elif not await conn.fetchval("SELECT 1 FROM contents WHERE sha256 = $1", sha256):
                    raise ContentMissingError(f"content {sha256} is not stored")
                written = await conn.fetchval(
                    UPSERT_PRESENT,
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
            return None if written is None else str(written)

        return await self._db.run(work)

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[str | ContentMissingError | None]:
        """``record_present`` for many files in one transaction of five statements.

        Each file's result is the status its row took (None: unchanged), or
        ``ContentMissingError`` when it has
        no content and the store holds none (that file is left out, the others are written).
        The files must name distinct paths. A database refusal raises ``WriteRejectedError``
        for the whole batch: the caller then writes the files one by one to find the culprit.
        """
        contents = {w.sha256: w.content for w in writes if w.content is not None}
        replaced = [w.sha256 for w in writes if w.content is not None and w.replace_content]

        async def work(conn: Conn) -> list[str | ContentMissingError | None]:
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
                written = await self._upsert_files(conn, storable) if storable else {}
            return [
                written.get((w.observation.root_id, path_bytes(w.observation.path)))
                if w.sha256 in present
                else ContentMissingError(f"content {w.sha256} is not stored")
                for w in writes
            ]

        return await self._db.run(work)

    @staticmethod
    async def _store_contents(conn: Conn, contents: list[ContentInfo], replaced: list[str]) -> None:
        rows = await conn.fetch(
            UPSERT_CONTENTS,
            [c.sha256 for c in contents],
            [c.size for c in contents],
            [c.mime_type for c in contents],
            [orjson.dumps(c.metadata).decode() for c in contents],
            [c.extraction_status for c in contents],
            [c.extraction_error for c in contents],
            replaced,
        )
        stored = {row["sha256"] for row in rows}
        updated = [row["sha256"] for row in rows if not row["inserted"]]
        if updated:
            await conn.execute("DELETE FROM chunks WHERE content_sha256 = ANY($1::text[])", updated)
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
    async def _upsert_files(conn: Conn, writes: list[PresentWrite]) -> dict[tuple[str, bytes], str]:
        observations = [w.observation for w in writes]
        rows = await conn.fetch(
            UPSERT_PRESENT_MANY,
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
        return {(row["root_id"], row["path_bytes"]): row["status"] for row in rows}

    @staticmethod
    async def _store_content(conn: Conn, content: ContentInfo, replace: bool) -> None:
        stored = await conn.fetchval(
            UPSERT_CONTENT,
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
        written = await self._db.run(
            lambda conn: conn.fetchval(
                MARK_DELETED,
                observation.root_id,
                path_bytes(observation.path),
                observation.observed_at,
            )
        )
        return written is not None

    async def is_current(
        self, root_id: str, path: str, size: int, mtime_ns: int, inode: int
    ) -> bool:
        found = await self._db.run(
            lambda conn: conn.fetchval(
                f"SELECT 1 FROM files WHERE {BY_PATH}"
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

    async def record_processing(self, observation: FileObservation, *, attempts: int = 1) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                MARK_PROCESSING,
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
        await self._db.run(
            lambda conn: conn.execute(
                UPSERT_FAILED,
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
