"""The one SQLite connection every part of the embedded store shares: opening, migrating,
one write at a time, and the error mapping."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

from fileflow_core.errors import TransientError
from fileflow_core.store.sqlite.checkpoint import WRITER_CHECKPOINT_BYTES, Checkpointer

log = logging.getLogger(__name__)

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

T = TypeVar("T")

# The writer's page cache. Each new file inserts at random places into the indexes keyed by
# hashes, and SQLite's default cache (2 MB) sent most of those pages back to the kernel and read
# them again: with 64 MB, `fileflow run` imported 10,000 files 8–15 % faster at 8–15 % less CPU a
# file (benchmark 9, alternating runs), for about 64 MB more memory once the database is that
# large.
WRITER_CACHE_KIB = 64 * 1024
# The page size of a database created from now on (an existing one keeps its own). A chunk is
# about 2 KB of text: a 4 KB page (SQLite's default) holds one such row and leaves the rest
# empty, an 8 KB page holds three. Writing 20,000 new files a batch of 100 at a time: 8 KB pages
# made the database 30 % smaller (120 against 172 MB) at the same or less CPU a file.
NEW_DATABASE_PAGE_BYTES = 8192


def timestamp(moment: datetime) -> str:
    """UTC, microseconds always present: text that orders like the instant it names."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def disk_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, sqlite3.Error) and exc.sqlite_errorname == "SQLITE_FULL":
            return True
        exc = exc.__cause__
    return False


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


class Database:
    """One connection; one write at a time (SQLite allows no more), each in its own
    transaction; readers in other processes are not blocked (WAL)."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()
        self.applied: list[str] = []  # migrations this open applied
        self._checkpointer = Checkpointer(path)

    @classmethod
    async def open(cls, path: Path) -> Database:
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
            # Before WAL mode: it takes effect only on a database with no table yet.
            await db.execute(f"PRAGMA page_size = {NEW_DATABASE_PAGE_BYTES}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            ((page_bytes,),) = await db.execute_fetchall("PRAGMA page_size")
            await db.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_BYTES // page_bytes}")
            # The log file keeps the size its largest transaction gave it (a migration that
            # rebuilds a table: gigabytes) unless told to shrink back once it is checkpointed.
            await db.execute(f"PRAGMA journal_size_limit = {WRITER_CHECKPOINT_BYTES}")
            await db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            # SQLite's own unhex() arrived in 3.41; older builds are common.
            await db.create_function("ff_unhex", 1, bytes.fromhex, deterministic=True)
            store.applied = await store.migrate()
        except (sqlite3.Error, TransientError) as exc:
            await db.close()
            reason = str(exc) if isinstance(exc, TransientError) else repr(exc)
            if disk_full(exc):
                reason += (
                    f"; free space where it lives ({path.parent}): a migration that rebuilds a "
                    "table needs about twice the file's size while it runs, and nothing of it "
                    "was kept"
                )
            raise TransientError(f"cannot prepare the SQLite database {path}: {reason}") from exc
        store._checkpointer.start()
        return store

    async def migrate(self) -> list[str]:
        """Apply missing migrations, one transaction each (another process waits its turn)."""
        applied: list[str] = []
        async with self.transaction() as db:
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
                # Said before: a migration that rebuilds a large table takes a while.
                log.info("applying migration %s to %s", name, self.path)
                for statement in statements(script):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name)
                )
                applied.append(name)
        return applied

    async def close(self) -> None:
        await self._checkpointer.close()
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise TransientError(self._busy(exc)) from exc
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
            self._checkpointer.wrote()

    def _busy(self, exc: sqlite3.Error) -> str:
        return (
            f"SQLite at {self.path} is busy ({exc}): another process held its write lock for "
            "10 s (a migration or `fileflow migrate --compact` running); try again once it ends"
        )

    async def write_in_one_hop(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one transaction, run whole on the connection's thread: a batch of
        statements hands over between threads once, not once a statement (under load each
        hand-over waits for the GIL, up to its 5 ms switch interval). Raises
        ``TransientError`` when the database is busy or the commit fails; what ``work`` raises
        (the transaction rolled back) otherwise."""
        async with self._lock:
            # aiosqlite runs every call through this queue to its thread; it has no public way
            # to run a function there (tests/unit/test_sqlite_store.py checks that it works).
            run: Callable[..., Awaitable[T]] = self._db._execute
            try:
                return await run(self._transaction_now, work)
            finally:
                self._checkpointer.wrote()

    def _transaction_now(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._db._conn
        assert conn is not None, "the SQLite connection is closed"
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise TransientError(self._busy(exc)) from exc
        try:
            result = work(conn)
        except BaseException:
            conn.rollback()
            raise
        try:
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc
        return result

    async def write(self, sql: str, params: Any) -> list[aiosqlite.Row]:
        try:
            async with self.transaction() as db:
                return list(await db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite rejected the write: {exc!r}") from exc

    async def read(self, sql: str, params: Any = ()) -> list[aiosqlite.Row]:
        try:
            async with self._lock:
                return list(await self._db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise TransientError(f"SQLite at {self.path} unavailable: {exc!r}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self.read("SELECT 1"))
        except (TransientError, ValueError):
            return False
