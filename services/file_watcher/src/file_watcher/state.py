"""What the watcher has published and had confirmed, per root, kept in SQLite across restarts."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

from file_watcher.known import KnownFiles, KnownFilesInMemory
from file_watcher.known_store import SCHEMA, StoredKnownFiles
from file_watcher.scan import Signature
from fileflow_core import submounts
from fileflow_core.errors import ConfigError
from fileflow_core.paths import is_text
from fileflow_core.roots import RootIdentity

# 2: paths are stored as their bytes (a name need not be UTF-8).
# 3: a row per (folder, name), so that a folder's files are read together.
STATE_VERSION = 3


class PublishedState(Protocol):
    """What the catch-up scan compares the disk with, where confirmed publishes go, and the
    root's identity when it was first scanned."""

    def load(self) -> KnownFiles: ...

    def recorded_identity(self) -> RootIdentity | None: ...

    async def record_identity(self, identity: RootIdentity) -> None: ...

    def checked_rules(self) -> str | None:
        """The filter rules every known file was last matched against (their fingerprint)."""
        ...

    async def record_rules(self, fingerprint: str) -> None: ...

    def recorded_mounts(self) -> frozenset[str]:
        """The mount points beneath the root seen mounted (``fileflow_core.submounts``)."""
        ...

    async def record_mounts(self, points: frozenset[str]) -> None: ...

    def close(self) -> None: ...


class StoredBaseline:
    """What the document store holds for a root, read once at start.

    For a broker that keeps nothing across restarts (the in-process one): a message it
    accepted may never have been ingested, so "published" proves nothing; only a file the
    ingestor committed counts as known. Nothing is written: during the run the watcher's
    in-memory record is right (the broker lives as long as the process), and the next start
    reads the store again, so whatever was still queued when the process ended is sent again.
    """

    def __init__(
        self,
        known: dict[str, Signature],
        identity: RootIdentity | None = None,
        save_identity: Callable[[RootIdentity], Awaitable[None]] | None = None,
        mounts: frozenset[str] = frozenset(),
        save_mounts: Callable[[frozenset[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._known = known
        self._identity = identity
        self._save_identity = save_identity
        self._mounts = mounts
        self._save_mounts = save_mounts

    def load(self) -> KnownFiles:
        return KnownFilesInMemory(self._known.items())

    def recorded_identity(self) -> RootIdentity | None:
        return self._identity

    async def record_identity(self, identity: RootIdentity) -> None:
        self._identity = identity
        if self._save_identity is not None:
            await self._save_identity(identity)

    def checked_rules(self) -> str | None:
        return None  # what the store holds passed whatever rules were in force then

    async def record_rules(self, fingerprint: str) -> None:
        return None

    def recorded_mounts(self) -> frozenset[str]:
        return self._mounts

    async def record_mounts(self, points: frozenset[str]) -> None:
        self._mounts = points
        if self._save_mounts is not None:
            await self._save_mounts(points)

    def close(self) -> None:
        return None


def state_file(state_dir: Path, root_id: str) -> Path:
    return state_dir / f"watcher-{root_id}.sqlite3"


def read_identity(state_dir: Path, root_id: str) -> RootIdentity | None:
    """The identity a watcher recorded for a root in ``state_dir`` (touching nothing else)."""
    text = _read_meta(state_dir, root_id, "root_identity")
    return None if text is None else RootIdentity.decode(text)


def read_mounts(state_dir: Path, root_id: str) -> frozenset[str]:
    """The mount points a watcher saw beneath a root (touching nothing else)."""
    return submounts.decode(_read_meta(state_dir, root_id, "mounts"))


def _read_meta(state_dir: Path, root_id: str, key: str) -> str | None:
    path = state_file(state_dir, root_id)
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return None if row is None else str(row[0])


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
    """One root's state file: what was published and confirmed (the ``published`` table, see
    ``known_store``), and the root's identity. Written only after confirmed publishes."""

    def __init__(self, state_dir: Path, root_id: str, root_path: Path, queue: str) -> None:
        self.path = state_file(state_dir, root_id)
        if state_dir.exists() and not state_dir.is_dir():
            raise ConfigError(f"FILEFLOW_STATE_DIR {state_dir} is not a folder")
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._prepare()
        except OSError as exc:
            raise ConfigError(
                f"cannot keep the watcher's state in {self.path}: {exc.strerror} "
                "(FILEFLOW_STATE_DIR must be a folder this user can write)"
            ) from None
        except sqlite3.OperationalError as exc:
            raise ConfigError(
                f"cannot keep the watcher's state in {self.path}: {exc} "
                "(FILEFLOW_STATE_DIR must be a folder this user can write)"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"cannot use the watcher's state in {self.path}: {exc}. If the disk is fine, "
                "the file is damaged: move it aside and start again; the watcher then sends "
                "every file once more, which the ingestor finds unchanged"
            ) from None
        where = f"{_as_text(root_path.resolve())}|{queue}"
        if self._meta("identity") != where:
            # Another folder or queue under the same id: what was known does not apply.
            self._db.execute("DELETE FROM published")
            self._db.execute("DELETE FROM meta WHERE key IN ('root_identity', 'rules', 'mounts')")
            self._set_meta("identity", where)
        self._known: StoredKnownFiles | None = None

    def _prepare(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(SCHEMA)
        if (self._meta("version") or "1") != str(STATE_VERSION):
            self._upgrade()

    def _upgrade(self) -> None:
        """Rows of an earlier version's ``known`` table (a path each, as text in version 1)
        move to ``published``, a folder and a name each."""
        with self._db:
            self._db.execute("BEGIN")
            old = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'known'"
            ).fetchone()
            if old is not None:
                rows = self._db.execute(
                    "SELECT CAST(path AS BLOB), size, mtime_ns, inode FROM known"
                )
                while chunk := rows.fetchmany(10_000):
                    self._db.executemany(
                        "INSERT OR REPLACE INTO published (folder, name, size, mtime_ns, inode)"
                        " VALUES (?, ?, ?, ?, ?)",
                        [(*_split_bytes(path), *signature) for path, *signature in chunk],
                    )
                self._db.execute("DROP TABLE known")
            self._set_meta("version", str(STATE_VERSION))

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def load(self) -> StoredKnownFiles:
        if self._known is None:
            self._known = StoredKnownFiles(self.path)
        return self._known

    def apply(self, present: Iterable[tuple[str, Signature]], deleted: Iterable[str]) -> None:
        """Write a confirmed batch at once (the watcher records through ``load()``'s
        ``record``)."""
        self.load().write(list(present), list(deleted))

    def recorded_identity(self) -> RootIdentity | None:
        text = self._meta("root_identity")
        return None if text is None else RootIdentity.decode(text)

    async def record_identity(self, identity: RootIdentity) -> None:
        self._set_meta("root_identity", identity.encode())

    def checked_rules(self) -> str | None:
        return self._meta("rules")

    async def record_rules(self, fingerprint: str) -> None:
        self._set_meta("rules", fingerprint)

    def recorded_mounts(self) -> frozenset[str]:
        return submounts.decode(self._meta("mounts"))

    async def record_mounts(self, points: frozenset[str]) -> None:
        self._set_meta("mounts", submounts.encode(points))

    def close(self) -> None:
        if self._known is not None:
            self._known.close()
        self._db.close()


def _split_bytes(path: bytes) -> tuple[bytes, bytes]:
    folder, _, name = path.rpartition(b"/")
    return folder, name


def _as_text(path: Path) -> str:
    """``path`` as SQLite can keep it, one text for one path: itself when it is valid UTF-8,
    else its bytes in hex (an escaped form could equal another folder's real name)."""
    text = str(path)
    return text if is_text(text) else f"bytes:{os.fsencode(text).hex()}"
