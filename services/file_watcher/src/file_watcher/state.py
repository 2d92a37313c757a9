"""What the watcher has published and had confirmed, per root, kept in SQLite across restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

from file_watcher.known import KnownFiles
from file_watcher.scan import Signature
from fileflow_core.errors import ConfigError
from fileflow_core.paths import path_bytes, path_from_bytes
from fileflow_core.roots import RootIdentity

# 2: paths are stored as their bytes (a name need not be UTF-8).
STATE_VERSION = 2


class PublishedState(Protocol):
    """What the catch-up scan compares the disk with, where confirmed publishes go, and the
    root's identity when it was first scanned."""

    def load(self) -> KnownFiles: ...

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None: ...

    def recorded_identity(self) -> RootIdentity | None: ...

    async def record_identity(self, identity: RootIdentity) -> None: ...

    def close(self) -> None: ...


class StoredBaseline:
    """What the document store holds for a root, read once at start.

    For a broker that keeps nothing across restarts (the in-process one): a message it
    accepted may never have been ingested, so "published" proves nothing; only a file the
    ingestor committed counts as known. ``apply`` does nothing: during the run the watcher's
    in-memory record is right (the broker lives as long as the process), and the next start
    reads the store again, so whatever was still queued when the process ended is sent again.
    """

    def __init__(
        self,
        known: dict[str, Signature],
        identity: RootIdentity | None = None,
        save_identity: Callable[[RootIdentity], Awaitable[None]] | None = None,
    ) -> None:
        self._known = known
        self._identity = identity
        self._save_identity = save_identity

    def load(self) -> KnownFiles:
        return KnownFiles(self._known.items())

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None:
        return None

    def recorded_identity(self) -> RootIdentity | None:
        return self._identity

    async def record_identity(self, identity: RootIdentity) -> None:
        self._identity = identity
        if self._save_identity is not None:
            await self._save_identity(identity)

    def close(self) -> None:
        return None


def state_file(state_dir: Path, root_id: str) -> Path:
    return state_dir / f"watcher-{root_id}.sqlite3"


def read_identity(state_dir: Path, root_id: str) -> RootIdentity | None:
    """The identity a watcher recorded for a root in ``state_dir`` (touching nothing else)."""
    path = state_file(state_dir, root_id)
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'root_identity'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return None if row is None else RootIdentity.decode(row[0])


def write_identity(state_dir: Path, root_id: str, identity: RootIdentity) -> bool:
    """Replace the identity a watcher recorded for a root; False when it has no state here."""
    path = state_file(state_dir, root_id)
    if not path.exists():
        return False
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('root_identity', ?)",
                (identity.encode(),),
            )
    finally:
        db.close()
    return True


class WatcherState:
    """A table of (path → signature) for one root; written only after confirmed publishes."""

    def __init__(self, state_dir: Path, root_id: str, root_path: Path, queue: str) -> None:
        self.path = state_file(state_dir, root_id)
        if state_dir.exists() and not state_dir.is_dir():
            raise ConfigError(f"FILEFLOW_STATE_DIR {state_dir} is not a folder")
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA user_version")
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(
                f"cannot keep the watcher's state in {self.path}: {reason} "
                "(FILEFLOW_STATE_DIR must be a folder this user can write)"
            ) from None
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS known (path BLOB PRIMARY KEY, size INTEGER,"
            " mtime_ns INTEGER, inode INTEGER) WITHOUT ROWID"
        )
        if (self._meta("version") or "1") != str(STATE_VERSION):
            # Paths were text: the same bytes now (a name that is not UTF-8 needs them).
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("UPDATE known SET path = CAST(path AS BLOB)")
                self._set_meta("version", str(STATE_VERSION))
        where = f"{root_path.resolve()}|{queue}"
        if self._meta("identity") != where:
            # Another folder or queue under the same id: what was known does not apply.
            self._db.execute("DELETE FROM known")
            self._db.execute("DELETE FROM meta WHERE key = 'root_identity'")
            self._set_meta("identity", where)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def load(self) -> KnownFiles:
        return KnownFiles(
            (path_from_bytes(row[0]), Signature(row[1], row[2], row[3]))
            for row in self._db.execute("SELECT path, size, mtime_ns, inode FROM known")
        )

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO known (path, size, mtime_ns, inode) VALUES (?, ?, ?, ?)",
                ((path_bytes(path), *sig) for path, sig in present),
            )
            self._db.executemany(
                "DELETE FROM known WHERE path = ?", ((path_bytes(p),) for p in deleted)
            )

    def recorded_identity(self) -> RootIdentity | None:
        text = self._meta("root_identity")
        return None if text is None else RootIdentity.decode(text)

    async def record_identity(self, identity: RootIdentity) -> None:
        self._set_meta("root_identity", identity.encode())

    def close(self) -> None:
        self._db.close()
