"""What the watcher has published and had confirmed, per root, kept in SQLite across restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from file_watcher.known import KnownFiles
from file_watcher.scan import Signature


class PublishedState(Protocol):
    """What the catch-up scan compares the disk with, and where confirmed publishes go."""

    def load(self) -> KnownFiles: ...

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None: ...

    def close(self) -> None: ...


class StoredBaseline:
    """What the document store holds for a root, read once at start.

    For a broker that keeps nothing across restarts (the in-process one): a message it
    accepted may never have been ingested, so "published" proves nothing; only a file the
    ingestor committed counts as known. ``apply`` does nothing: during the run the watcher's
    in-memory record is right (the broker lives as long as the process), and the next start
    reads the store again, so whatever was still queued when the process ended is sent again.
    """

    def __init__(self, known: dict[str, Signature]) -> None:
        self._known = known

    def load(self) -> KnownFiles:
        return KnownFiles(self._known.items())

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None:
        return None

    def close(self) -> None:
        return None


class WatcherState:
    """A table of (path → signature) for one root; written only after confirmed publishes."""

    def __init__(self, state_dir: Path, root_id: str, root_path: Path, queue: str) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / f"watcher-{root_id}.sqlite3"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS known (path TEXT PRIMARY KEY, size INTEGER,"
            " mtime_ns INTEGER, inode INTEGER) WITHOUT ROWID"
        )
        identity = f"{root_path.resolve()}|{queue}"
        row = self._db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        if row is None or row[0] != identity:
            # Another folder or queue under the same id: what was known does not apply.
            self._db.execute("DELETE FROM known")
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('identity', ?)", (identity,)
            )

    def load(self) -> KnownFiles:
        return KnownFiles(
            (row[0], Signature(row[1], row[2], row[3]))
            for row in self._db.execute("SELECT path, size, mtime_ns, inode FROM known")
        )

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO known (path, size, mtime_ns, inode) VALUES (?, ?, ?, ?)",
                ((path, *sig) for path, sig in present),
            )
            self._db.executemany("DELETE FROM known WHERE path = ?", ((p,) for p in deleted))

    def close(self) -> None:
        self._db.close()
