"""The embedded store's file rebuilt whole: the free pages a migration or deletions left are
given back to the disk, and the pages take the size a new database gets.

SQLite changes a database's page size only in a ``VACUUM`` run outside WAL mode, and it can
leave WAL mode only when no other connection has the file open: that is also how a running
``fileflow run`` is told apart, and refused, rather than waited for."""

from __future__ import annotations

import sqlite3
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

from fileflow_core.errors import FileflowError
from fileflow_core.store.sqlite.connection import NEW_DATABASE_PAGE_BYTES


class CompactError(FileflowError):
    """The file could not be compacted; it is left as it was."""


@dataclass(frozen=True, slots=True)
class Compacted:
    path: Path
    bytes_before: int
    bytes_after: int
    page_bytes_before: int
    page_bytes_after: int


def on_disk_bytes(path: Path) -> int:
    """The database file and its write-ahead log."""
    log = path.with_name(path.name + "-wal")
    return sum(p.stat().st_size for p in (path, log) if p.exists())


def failure_reason(path: Path, exc: sqlite3.Error) -> str:
    if exc.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return (
            f"{path} is in use ({exc}): stop `fileflow run` and any other fileflow command "
            "using it, then compact again"
        )
    if exc.sqlite_errorname == "SQLITE_FULL":
        return (
            f"compacting {path} ran out of disk space and changed nothing: it needs free space "
            f"of up to twice the file's size in {path.parent}"
        )
    return f"compacting {path} failed and changed nothing: {exc}"


def compact(path: Path) -> Compacted:
    """Rebuild ``path`` (blocking: seconds a gigabyte). Raises ``CompactError``."""
    if not path.is_file():
        raise CompactError(f"no SQLite database at {path} (see FILEFLOW_DATA_DIR or --data-dir)")
    before = on_disk_bytes(path)
    try:
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.Error as exc:
        raise CompactError(f"cannot open {path}: {exc}") from exc
    with closing(conn):
        page_before = int(conn.execute("PRAGMA page_size").fetchone()[0])
        try:
            # Leaving WAL mode first copies the log into the file, and needs no other user.
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute(f"PRAGMA page_size = {NEW_DATABASE_PAGE_BYTES}")
            conn.execute("VACUUM")
        except sqlite3.Error as exc:
            raise CompactError(failure_reason(path, exc)) from exc
        finally:
            # Back to WAL mode whatever happened (``fileflow run`` sets it again anyway).
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA journal_mode = WAL")
        page_after = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return Compacted(path, before, on_disk_bytes(path), page_before, page_after)
