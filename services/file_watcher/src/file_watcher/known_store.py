"""The watcher's record of what it published, kept in SQLite and read a folder at a time.

Held as Python objects, a million paths and their signatures take about 250 MB; read from the
table when asked, the watcher's memory stays what watching needs, whatever the library's size.
A notified file costs one indexed lookup; the catch-up reads a folder's rows at a time; a
confirmed batch is written from a thread. Until that write is done its rows are also held in
``_pending``, so a lookup never sees a confirmed publish undone.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from file_watcher.known import FolderEntries, FolderReader, join, split
from file_watcher.scan import Signature
from fileflow_core.errors import FileflowError
from fileflow_core.paths import path_bytes, path_from_bytes

log = logging.getLogger(__name__)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS published (folder BLOB NOT NULL, name BLOB NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,"
    " PRIMARY KEY (folder, name)) WITHOUT ROWID"
)
# Each connection's page cache: enough for the upper levels of the table's index.
CACHE_KIB = 2048

_GET = "SELECT size, mtime_ns, inode FROM published WHERE folder = ? AND name = ?"
_FOLDER = "SELECT name, size, mtime_ns, inode FROM published WHERE folder = ?"
_NAMES = "SELECT name FROM published WHERE folder = ?"
_BENEATH = "SELECT folder, name FROM published WHERE folder >= ? AND folder < ?"
_INSERT_NEW = (
    "INSERT OR IGNORE INTO published (folder, name, size, mtime_ns, inode) VALUES (?, ?, ?, ?, ?)"
)
_UPDATE = "UPDATE published SET size = ?, mtime_ns = ?, inode = ? WHERE folder = ? AND name = ?"
_DELETE = "DELETE FROM published WHERE folder = ? AND name = ?"

# SQLite's integers are signed 64-bit; an inode may use all 64 bits.
_WRAP = 1 << 64
_SIGNED_MAX = (1 << 63) - 1


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    db.execute("PRAGMA busy_timeout = 10000")
    return db


class StateUnreadableError(FileflowError):
    """The watcher cannot tell what it published, so it must not decide anything."""


def _rows(db: sqlite3.Connection, path: Path, sql: str, *params: object) -> list[Any]:
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StateUnreadableError(
            f"cannot read the watcher's state in {path}: {exc}; FILEFLOW_STATE_DIR must stay "
            "on a disk this user can read and write (restart the watcher once it is back: "
            "its catch-up finds whatever changed meanwhile)"
        ) from exc


def _inode_in(inode: int) -> int:
    return inode - _WRAP if inode > _SIGNED_MAX else inode


def _inode_out(stored: int) -> int:
    return stored + _WRAP if stored < 0 else stored


class _FolderRows:
    def __init__(
        self, db: sqlite3.Connection, path: Path, pending: dict[str, dict[str, Signature | None]]
    ) -> None:
        self._db = db
        self._path = path
        self._pending = pending

    def entries(self, folder: str) -> FolderEntries:
        rows = _rows(self._db, self._path, _FOLDER, path_bytes(folder))
        found: FolderEntries = {
            path_from_bytes(name): (size, mtime_ns, inode if inode >= 0 else inode + _WRAP)
            for name, size, mtime_ns, inode in rows
        }
        # A copy taken at once: the loop keeps recording while this thread reads.
        for name, signature in list(self._pending.get(folder, {}).items()):
            if signature is None:
                found.pop(name, None)
            else:
                found[name] = signature
        return found

    def folders(self) -> list[str]:
        rows = _rows(self._db, self._path, "SELECT DISTINCT folder FROM published")
        found = {path_from_bytes(row[0]) for row in rows}
        found.update(folder for folder, names in list(self._pending.items()) if names)
        return list(found)


class StoredKnownFiles:
    """``KnownFiles`` over the ``published`` table of one root's state file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._read = connect(path)  # the event loop's lookups
        self._write = connect(path)  # confirmed batches, from a thread
        self._write.execute("PRAGMA synchronous = NORMAL")
        self._write_lock = threading.Lock()
        self._in_order = asyncio.Lock()
        self._pending: dict[str, dict[str, Signature | None]] = {}
        self._failing = False
        self._count: int = _rows(self._read, path, "SELECT count(*) FROM published")[0][0]

    def get(self, path: str) -> Signature | None:
        folder, name = split(path)
        pending = self._pending.get(folder)
        if pending is not None and name in pending:
            return pending[name]
        rows = _rows(self._read, self._path, _GET, path_bytes(folder), path_bytes(name))
        return Signature(rows[0][0], rows[0][1], _inode_out(rows[0][2])) if rows else None

    def matches(self, path: str, signature: Signature) -> bool:
        return self.get(path) == signature

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None

    def __len__(self) -> int:
        """The files recorded on disk (a batch being written counts once it is)."""
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0 or any(
            signature is not None
            for names in self._pending.values()
            for signature in names.values()
        )

    def under(self, folder: str) -> list[str]:
        if folder:
            raw = path_bytes(folder)
            rows = _rows(self._read, self._path, _NAMES, raw)
            found = {join(folder, path_from_bytes(row[0])) for row in rows}
            beneath = _rows(self._read, self._path, _BENEATH, raw + b"/", raw + b"0")
        else:
            beneath = _rows(self._read, self._path, "SELECT folder, name FROM published")
            found = set()
        found.update(join(path_from_bytes(f), path_from_bytes(n)) for f, n in beneath)
        for path, signature in self._pending_beneath(folder):
            if signature is None:
                found.discard(path)
            else:
                found.add(path)
        return sorted(found)

    def items(self) -> Iterator[tuple[str, Signature]]:
        rows = _rows(
            self._read, self._path, "SELECT folder, name, size, mtime_ns, inode FROM published"
        )
        found = {
            join(path_from_bytes(f), path_from_bytes(n)): Signature(size, mtime_ns, _inode_out(i))
            for f, n, size, mtime_ns, i in rows
        }
        for path, signature in self._pending_beneath(""):
            if signature is None:
                found.pop(path, None)
            else:
                found[path] = signature
        return iter(found.items())

    def _pending_beneath(self, folder: str) -> Iterator[tuple[str, Signature | None]]:
        """Rows not written yet in ``folder`` or beneath it ("": all of them)."""
        prefix = f"{folder}/"
        for pending_folder, names in list(self._pending.items()):
            if not folder or pending_folder == folder or pending_folder.startswith(prefix):
                for name, signature in list(names.items()):
                    yield join(pending_folder, name), signature

    def record(
        self, present: Sequence[tuple[str, Signature]], deleted: Sequence[str]
    ) -> Awaitable[None]:
        for path in deleted:
            folder, name = split(path)
            self._pending.setdefault(folder, {})[name] = None
        for path, signature in present:
            folder, name = split(path)
            self._pending.setdefault(folder, {})[name] = signature
        return self._write_pending()

    async def _write_pending(self) -> None:
        """Write every row not written yet: this batch's, and any an earlier failure left."""
        async with self._in_order:  # one write at a time, so rows land in the order recorded
            rows = [
                (folder, name, signature)
                for folder, names in self._pending.items()
                for name, signature in names.items()
            ]
            if not rows:
                return
            try:
                await asyncio.to_thread(self._write_rows, rows)
            except sqlite3.Error as exc:
                # Kept in memory meanwhile: this run still decides right, and the next
                # confirmed batch tries again. Lost only if the process ends before then.
                if not self._failing:
                    log.error(
                        "cannot write the watcher's state; keeping it in memory and trying "
                        "again with the next batch",
                        extra={"file": str(self._path), "reason": str(exc), "rows": len(rows)},
                    )
                self._failing = True
                return
        if self._failing:
            self._failing = False
            log.info("the watcher's state is written again", extra={"file": str(self._path)})
        for folder, name, signature in rows:
            names = self._pending.get(folder)
            if names is not None and name in names and names[name] is signature:
                del names[name]
                if not names:
                    del self._pending[folder]

    def write(self, present: Sequence[tuple[str, Signature]], deleted: Sequence[str]) -> None:
        """Write a confirmed batch at once (blocking)."""
        rows: list[tuple[str, str, Signature | None]] = [(*split(p), None) for p in deleted]
        rows.extend((*split(path), signature) for path, signature in present)
        self._write_rows(rows)

    def _write_rows(self, rows: Sequence[tuple[str, str, Signature | None]]) -> None:
        with self._write_lock:
            added = removed = 0
            with self._write:
                self._write.execute("BEGIN")
                for folder, name, signature in rows:
                    keys = (path_bytes(folder), path_bytes(name))
                    if signature is None:
                        removed += self._write.execute(_DELETE, keys).rowcount
                        continue
                    size, mtime_ns, inode = signature[0], signature[1], _inode_in(signature[2])
                    if self._write.execute(_INSERT_NEW, (*keys, size, mtime_ns, inode)).rowcount:
                        added += 1
                    else:
                        self._write.execute(_UPDATE, (size, mtime_ns, inode, *keys))
            self._count += added - removed

    @contextmanager
    def reader(self) -> Iterator[FolderReader]:
        db = connect(self._path)
        try:
            yield _FolderRows(db, self._path, self._pending)
        finally:
            db.close()

    def close(self) -> None:
        with self._write_lock:
            self._write.close()
        self._read.close()
