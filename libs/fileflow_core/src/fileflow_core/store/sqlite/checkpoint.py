"""Checkpoints of the embedded store's write-ahead log, off the writer's path.

SQLite checkpoints the log from inside a commit once it passes 1,000 pages: that commit copies
the pages into the database and syncs both files while it holds the only write lock, so every
few batches one batch waited on the disk (a batch of 100 new files: 3 ms to commit without
checkpoints, 9 ms on average with them). Here a second connection, on its own thread, runs a
passive checkpoint (it never blocks the writer) shortly after writes. The writer keeps a
checkpoint limit of its own, raised, as a backstop should this task ever stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

# Log the writer lets pile up before it checkpoints inside a commit (set in pages, so divided
# by the database's page size).
WRITER_CHECKPOINT_BYTES = 64 * 1024 * 1024
CHECKPOINT_INTERVAL_S = 0.5


class Checkpointer:
    """Call ``wrote()`` after each write; a passive checkpoint follows within
    ``CHECKPOINT_INTERVAL_S``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    def wrote(self) -> None:
        self._pending.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await self._pending.wait()  # a reader (``fileflow status``) never opens it
        try:
            db = await aiosqlite.connect(self._path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            log.warning(
                "cannot open a second connection for checkpoints; the writer checkpoints itself",
                extra={"reason": repr(exc)},
            )
            return
        try:
            await db.execute("PRAGMA busy_timeout = 1000")
            while True:
                await self._pending.wait()
                self._pending.clear()
                await self._checkpoint(db)
                await asyncio.sleep(CHECKPOINT_INTERVAL_S)
        except (sqlite3.Error, ValueError) as exc:
            # The connection itself failed: the writer's own limit takes over.
            log.warning(
                "WAL checkpoints stopped; the writer checkpoints itself",
                extra={"reason": repr(exc)},
            )
        finally:
            await asyncio.shield(db.close())

    @staticmethod
    async def _checkpoint(db: aiosqlite.Connection) -> None:
        try:
            await db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            # Busy or failing: the next write asks again, and the writer's own limit stands.
            log.warning("WAL checkpoint failed", extra={"reason": repr(exc)})
