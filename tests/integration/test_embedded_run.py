"""The README's first command on a bare machine: `fileflow run ROOT` with no server configured
uses the embedded backends, survives a restart, and `status`/`ls` read what it stored."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.samples import image, pdf_with_text
from tests.support import wait_until

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def bare_env(tmp_path: Path) -> dict[str, str]:
    """No FILEFLOW_* server URL: nothing but this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLOW_")}
    env.update(
        FILEFLOW_DATA_DIR=str(tmp_path / "data"),
        FILEFLOW_STATE_DIR=str(tmp_path / "state"),
        FILEFLOW_SETTLE_S="0.2",
        FILEFLOW_WATCHER_HTTP_PORT="0",
        FILEFLOW_INGESTOR_HTTP_PORT="0",
        FILEFLOW_LOG_LEVEL="WARNING",
    )
    return env


def fileflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "fileflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def mixed_file(i: int) -> tuple[str, bytes]:
    kind = i % 4
    if kind == 0:
        return f"text/note-{i}.txt", f"note {i}\n".encode() * (1 + i % 7)
    if kind == 1:
        return f"images/pic-{i}.png", image("PNG") + i.to_bytes(4, "big")
    if kind == 2:
        return f"docs/doc-{i}.pdf", pdf_with_text([f"document {i}"])
    return f"blobs/blob-{i}.bin", os.urandom(512 + i)


def status(env: dict[str, str]) -> dict[str, Any]:
    result = fileflow(env, "status", "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = orjson.loads(result.stdout)
    return report


class Run:
    """`fileflow run` as a subprocess."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env, self.root = env, root
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> str:
        self.process = await asyncio.create_subprocess_exec(
            str(BIN / "fileflow"),
            "run",
            str(self.root),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        return line.decode()

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=60)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


async def wait_for_status(env: dict[str, str], expected: dict[str, int], what: str) -> None:
    await wait_until(
        lambda: asyncio.to_thread(lambda: status(env)["files"]),
        lambda files: files == expected,
        timeout_s=180,
        interval_s=1.0,
        what=what,
    )


def listed(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = fileflow(env, "ls", "--json", "--limit", "5000")
    assert result.returncode == 0, result.stderr
    return {row["path"]: row for row in orjson.loads(result.stdout)}


def test_run_help_shows_where_the_embedded_database_lives() -> None:
    result = subprocess.run(
        [str(BIN / "fileflow"), "run", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    assert "~/.local/share/fileflow/fileflow.sqlite3" in result.stdout
    assert "--backend" in result.stdout


@pytest.mark.timeout(420)
async def test_bare_machine_run_ingests_1000_mixed_files_and_catches_up_after_restart(
    tmp_path: Path,
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    env = bare_env(tmp_path)
    run = Run(env, root)
    try:
        first_line = await run.start()
        assert "embedded backends" in first_line
        assert str(tmp_path / "data" / "fileflow.sqlite3") in first_line
        files = dict(mixed_file(i) for i in range(1000))
        for relative, data in files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
        await wait_for_status(env, {"completed": 1000}, "1000 completed files")
        assert await run.stop() == 0

        report = status(env)
        assert report["backend"] == "embedded" and report["total"] == 1000
        rows = listed(env)
        assert {path: row["content_sha256"] for path, row in rows.items()} == {
            path: hashlib.sha256(data).hexdigest() for path, data in files.items()
        }
        types = {row["mime_type"] for row in rows.values()}
        assert {"text/plain", "image/png", "application/pdf"} <= types
        assert rows["images/pic-1.png"]["metadata"]["width"] == 32

        # While stopped: modify, delete and add; the next start applies exactly that.
        for i in (0, 4, 8):
            (root / f"text/note-{i}.txt").write_bytes(b"modified while stopped %d" % i)
        for i in (3, 7):
            (root / f"blobs/blob-{i}.bin").unlink()
        (root / "text/added.txt").write_bytes(b"added while stopped")
        await run.start()
        await wait_for_status(env, {"completed": 999, "deleted": 2}, "the changes")
        assert await run.stop() == 0
        rows = listed(env)
        assert (
            rows["text/note-4.txt"]["content_sha256"]
            == hashlib.sha256(b"modified while stopped 4").hexdigest()
        )
        assert rows["blobs/blob-3.bin"]["status"] == "deleted"
        assert rows["text/added.txt"]["status"] == "completed"
        ls = fileflow(env, "ls", "--limit", "3")
        assert ls.returncode == 0 and "completed" in ls.stdout
    finally:
        run.kill()
