"""A root whose own path is not valid UTF-8 (a disk or share named in Latin-1), against both
adapter sets: watched live like any other root, its files stored, and its path recorded in a
readable form."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson
import pytest

from fileflow_core.settings import RootConfig, Settings
from tests import pipeline
from tests.integration.test_embedded_run import bare_env, fileflow
from tests.pipeline import Kind
from tests.support import wait_until

pytestmark = pytest.mark.integration


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as written:
        written.write(data)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_root_whose_path_is_not_utf8_is_watched_live_and_stored(
    flow_settings: tuple[Kind, Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kind, settings = flow_settings
    root = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"m\xfcsic")))
    os.mkdir(root)
    _write(root / "before.txt", b"there before the start")
    settings = settings.model_copy(update={"roots": [RootConfig(id="lib", path=root)]})
    async with pipeline.flow(kind, settings) as flow, flow.ingestor(), flow.watcher():
        db = flow.db
        await wait_until(db.live_files, lambda rows: len(rows) == 1, what="the first file stored")
        _write(root / "later.txt", b"written while watched")
        os.mkdir(root / "new")
        _write(root / "new" / "deep.txt", b"in a folder made while watched")
        os.remove(root / "before.txt")
        rows = await wait_until(
            db.live_files,
            lambda rows: set(rows) == {"later.txt", "new/deep.txt"},
            timeout_s=20,
            what="the changes made while watched",
        )
        recorded = await db.fetchval("SELECT path FROM roots WHERE id = 'lib'")
    assert rows == {
        "later.txt": (_digest(b"written while watched"), 21),
        "new/deep.txt": (_digest(b"in a folder made while watched"), 30),
    }
    assert recorded == f"{tmp_path}/m\\xfcsic"
    # Seen by the OS watch, not by a catch-up scan after each failed start of it.
    assert "watch failed" not in caplog.text


def test_the_commands_show_such_a_root_as_the_store_records_it(tmp_path: Path) -> None:
    root = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"m\xfcsic")))
    os.mkdir(root)
    env = bare_env(tmp_path)
    shown = fileflow(env, "roots", f"lib={root}")
    as_json = fileflow(env, "roots", "--json", f"lib={root}")
    assert shown.returncode == 0, shown.stderr
    assert f"lib  {tmp_path}/m\\xfcsic  available" in shown.stdout
    assert orjson.loads(as_json.stdout)[0]["path"] == f"{tmp_path}/m\\xfcsic", as_json.stderr


def test_why_such_a_root_is_unavailable_is_shown_readable(tmp_path: Path) -> None:
    missing = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"m\xfcsic")))
    found = fileflow(bare_env(tmp_path), "roots", "--json", f"lib={missing}")
    assert found.returncode == 1, found.stderr  # as without --json
    [root] = orjson.loads(found.stdout)
    assert root["available"] is False
    assert root["reason"].startswith(f"{tmp_path}/m\\xfcsic does not exist"), root
