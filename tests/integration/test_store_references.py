"""Files and chunks name only stored contents, and a named content cannot disappear: the rules
of the foreign keys the schema had, checked a statement at a time, including the races between
a file being written and its content being deleted."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from fileflow_core.store.migrate import migrate

pytestmark = pytest.mark.integration

BLOCKED_S = 0.5  # long enough for a statement that could go on to have gone on


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


STORED = sha("stored")
ABSENT = sha("absent")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url)
    connection = await asyncpg.connect(database_url)
    await connection.execute(
        "INSERT INTO contents (sha256, size, mime_type) VALUES ($1, 1, 'text/plain')", STORED
    )
    await connection.execute("INSERT INTO chunks VALUES ($1, 0, 'x'), ($1, 1, 'y')", STORED)
    try:
        yield connection
    finally:
        await connection.close()


async def add_file(conn: asyncpg.Connection, path: str, content: str) -> None:
    await conn.execute(
        "INSERT INTO files (root_id, path, path_bytes, content_sha256, status)"
        " VALUES ('lib', $1, convert_to($1, 'UTF8'), $2, 'completed')",
        path,
        content,
    )


async def count(conn: asyncpg.Connection, query: str, *args: object) -> int:
    return int(await conn.fetchval(query, *args))


async def test_a_file_or_chunk_naming_an_absent_content_is_refused(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="not stored") as refused:
        await add_file(conn, "a.txt", ABSENT)
    assert ABSENT in str(refused.value.detail)
    await add_file(conn, "b.txt", STORED)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE files SET content_sha256 = $1 WHERE path = 'b.txt'", ABSENT)
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # the ingestor's upsert of a change
        await conn.execute(
            "INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, status)"
            " VALUES ('lib', 'b.txt', convert_to('b.txt', 'UTF8'), $1, 'completed')"
            " ON CONFLICT (root_id, path_hash) DO UPDATE"
            " SET content_sha256 = EXCLUDED.content_sha256",
            ABSENT,
        )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.copy_records_to_table(
            "chunks", records=[(ABSENT, 0, "text")], columns=["content_sha256", "seq", "text"]
        )
    assert await count(conn, "SELECT count(*) FROM files WHERE content_sha256 = $1", STORED) == 1
    assert await count(conn, "SELECT count(*) FROM files") == 1
    assert await count(conn, "SELECT count(*) FROM chunks WHERE content_sha256 = $1", ABSENT) == 0


async def test_deleting_a_content_takes_its_chunks_and_is_refused_while_a_file_names_it(
    conn: asyncpg.Connection,
) -> None:
    await add_file(conn, "a.txt", STORED)
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="a file names"):
        await conn.execute("DELETE FROM contents WHERE sha256 = $1", STORED)
    assert await count(conn, "SELECT count(*) FROM chunks") == 2
    await conn.execute("DELETE FROM files")
    await conn.execute("DELETE FROM contents WHERE sha256 = $1", STORED)
    assert await count(conn, "SELECT count(*) FROM chunks") == 0


async def test_truncating_contents_alone_is_refused_while_they_are_named(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.FeatureNotSupportedError, match="TRUNCATE files, contents"):
        await conn.execute("TRUNCATE contents")
    assert await count(conn, "SELECT count(*) FROM contents") == 1
    await add_file(conn, "a.txt", STORED)
    await conn.execute("TRUNCATE files, contents, chunks")
    assert await count(conn, "SELECT count(*) FROM contents") == 0


async def test_a_contents_name_cannot_change(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="cannot be changed"):
        await conn.execute("UPDATE contents SET sha256 = $1", ABSENT)
    await conn.execute("UPDATE contents SET mime_type = 'text/markdown'")  # other columns may


@pytest.mark.parametrize(
    "name", [STORED.upper(), STORED[:63], STORED + "0", STORED[:63] + "g", STORED[:62] + "é"]
)
async def test_a_content_is_named_by_64_lower_case_hex_digits(
    conn: asyncpg.Connection, name: str
) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO contents (sha256, size, mime_type) VALUES ($1, 1, 'text/plain')", name
        )


async def test_deleting_contents_under_repeatable_read_is_refused(
    conn: asyncpg.Connection,
) -> None:
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute("DELETE FROM contents WHERE sha256 = $1", ABSENT)  # nothing: fine
    with pytest.raises(asyncpg.FeatureNotSupportedError, match="REPEATABLE READ"):
        async with conn.transaction(isolation="repeatable_read"):
            await conn.execute("DELETE FROM contents WHERE sha256 = $1", STORED)
    assert await count(conn, "SELECT count(*) FROM contents") == 1


async def test_a_delete_waiting_for_a_files_writer_sees_its_file(
    conn: asyncpg.Connection, database_url: str
) -> None:
    deleter = await asyncpg.connect(database_url)
    try:
        writing = conn.transaction()
        await writing.start()
        await add_file(conn, "a.txt", STORED)
        delete = asyncio.ensure_future(
            deleter.execute("DELETE FROM contents WHERE sha256 = $1", STORED)
        )
        await asyncio.sleep(BLOCKED_S)
        assert not delete.done(), "the delete went on while a file naming it was being written"
        await writing.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await delete
    finally:
        await deleter.close()
    assert await count(conn, "SELECT count(*) FROM contents") == 1
    assert await count(conn, "SELECT count(*) FROM chunks") == 2


async def test_a_files_writer_waiting_for_a_delete_sees_the_content_gone(
    conn: asyncpg.Connection, database_url: str
) -> None:
    deleter = await asyncpg.connect(database_url)
    try:
        deleting = deleter.transaction()
        await deleting.start()
        await deleter.execute("DELETE FROM contents WHERE sha256 = $1", STORED)
        write = asyncio.ensure_future(add_file(conn, "a.txt", STORED))
        await asyncio.sleep(BLOCKED_S)
        assert not write.done(), "the file was written while its content was being deleted"
        await deleting.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await write
    finally:
        await deleter.close()
    assert await count(conn, "SELECT count(*) FROM files") == 0


async def test_an_update_that_keeps_the_content_locks_nothing(conn: asyncpg.Connection) -> None:
    await add_file(conn, "a.txt", STORED)
    lockers = "SELECT xmax::text FROM contents"
    before = await conn.fetchval(lockers)
    async with conn.transaction():
        await conn.execute("UPDATE files SET status = 'failed', error = 'x'")
        assert await conn.fetchval(lockers) == before


async def test_a_temporary_table_cannot_stand_in_for_contents(conn: asyncpg.Connection) -> None:
    """The checks find the real tables whatever the caller's search path holds."""
    await conn.execute("CREATE TEMP TABLE contents (sha256 text PRIMARY KEY)")
    await conn.execute("INSERT INTO pg_temp.contents VALUES ($1)", ABSENT)
    await conn.execute("SET search_path = pg_temp, public")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await add_file(conn, "a.txt", ABSENT)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute(
            "INSERT INTO public.chunks (content_sha256, seq, text) VALUES ($1, 0, 'x')", ABSENT
        )
