"""`fileflow migrate --compact`: an embedded store an earlier release left (4 KB pages, free
pages after the chunks' rebuild) becomes the layout a new one has, keeping every row; it is
refused, changing nothing, while the file is in use or when the store is not SQLite."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fileflow_core.settings import SQLITE_FILE_NAME
from tests.integration.test_embedded_run import bare_env, fileflow
from tests.unit.test_sqlite_store import SHA_A, old_database

pytestmark = pytest.mark.integration


def layout(path: Path) -> tuple[int, str, int]:
    """Page size, journal mode, chunks of ``SHA_A``."""
    with closing(sqlite3.connect(path)) as conn:
        return (
            int(conn.execute("PRAGMA page_size").fetchone()[0]),
            str(conn.execute("PRAGMA journal_mode").fetchone()[0]),
            int(
                conn.execute(
                    "SELECT count(*) FROM chunks WHERE content_sha256 = ?", (SHA_A,)
                ).fetchone()[0]
            ),
        )


def earlier_release_store(tmp_path: Path) -> tuple[dict[str, str], Path]:
    env = bare_env(tmp_path)
    database = tmp_path / "data" / SQLITE_FILE_NAME
    database.parent.mkdir(parents=True)
    old_database(database, 3)
    return env, database


def test_compact_migrates_then_rebuilds_with_every_row(tmp_path: Path) -> None:
    env, database = earlier_release_store(tmp_path)
    assert layout(database) == (4096, "delete", 3)

    done = fileflow(env, "migrate", "--compact")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "applied: 0004_chunks_with_rowid.sql"
    assert lines[1].startswith(f"compacted {database}: ")
    assert lines[1].endswith("pages of 8 KB (were 4 KB)")
    assert layout(database) == (8192, "wal", 3)
    again = fileflow(env, "migrate", "--compact")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "database schema is up to date"
    assert again.stdout.splitlines()[1].endswith("pages of 8 KB (were 8 KB)")


def test_compact_is_refused_while_the_file_is_in_use(tmp_path: Path) -> None:
    env, database = earlier_release_store(tmp_path)
    assert fileflow(env, "migrate").returncode == 0
    with closing(sqlite3.connect(database)) as running:  # as `fileflow run` holds it
        running.execute("SELECT count(*) FROM files").fetchone()

        refused = fileflow(env, "migrate", "--compact")

        assert refused.returncode == 2
        assert f"{database} is in use" in refused.stderr
        assert "stop `fileflow run`" in refused.stderr
        assert layout(database) == (4096, "wal", 3)


def test_compact_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    """A mistyped data folder is named, not given a new empty store."""
    env = bare_env(tmp_path) | {"FILEFLOW_DATA_DIR": str(tmp_path / "typo")}

    refused = fileflow(env, "migrate", "--compact")

    assert refused.returncode == 2
    assert f"no SQLite database at {tmp_path / 'typo' / SQLITE_FILE_NAME}" in refused.stderr
    assert "nothing was created" in refused.stderr
    assert not (tmp_path / "typo").exists()


def test_compact_names_the_store_it_does_not_apply_to(tmp_path: Path) -> None:
    env = bare_env(tmp_path) | {"FILEFLOW_DATABASE_URL": "postgresql://127.0.0.1:1/none"}

    refused = fileflow(env, "migrate", "--compact")

    assert refused.returncode == 2
    assert "--compact rebuilds the embedded store's SQLite file" in refused.stderr
    assert not (tmp_path / "data").exists()
