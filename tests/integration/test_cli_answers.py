"""What the CLI answers an operator: a version, one line and a non-zero exit for every bad
argument, a bar with a rate and a time left, queues labelled in messages."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from rich.console import Console

from fileflow.progress import files_progress
from fileflow_core.settings import Settings
from tests.integration.test_cli import env_for, fileflow
from tests.support import free_port

pytestmark = pytest.mark.integration


def one_error_line(result: object, *needles: str) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fileflow: error: "), stderr
    for needle in needles:
        assert needle in lines[0], stderr
    return str(lines[0])


def test_version() -> None:
    result = fileflow("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("fileflow 0.")


def test_an_unknown_status_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    result = fileflow("ls", "--status", "failde", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    one_error_line(result, "'failde'", "failed", "deleted")
    assert result.stdout == ""


def test_retry_of_an_unknown_id_exits_non_zero(settings: Settings) -> None:
    env = env_for(settings)
    assert fileflow("migrate", env=env).returncode == 0
    result = fileflow("retry", "999999", env=env)
    assert result.returncode == 2
    one_error_line(result, "999999", "fileflow ls")
    negative = fileflow("retry", "--", "-3", env=env)
    assert negative.returncode == 2
    one_error_line(negative, "-3")


def test_backfill_of_a_folder_missing_inside_a_root_names_it(
    settings: Settings, root_dir: Path
) -> None:
    env = env_for(settings) | {"FILEFLOW_ROOTS": f"lib={root_dir}"}
    missing = root_dir / "no-such-folder"
    result = fileflow("backfill", str(missing), env=env)
    assert result.returncode == 2
    one_error_line(result, str(missing), "does not exist", "'lib'")
    assert result.stdout == ""
    (root_dir / "a-file.txt").write_text("x")
    not_folder = fileflow("backfill", str(root_dir / "a-file.txt"), env=env)
    assert not_folder.returncode == 2
    one_error_line(not_folder, "is not a folder")


def test_a_broker_that_is_down_is_one_line_with_no_library_noise(
    settings: Settings, root_dir: Path
) -> None:
    closed = free_port()
    env = env_for(settings) | {
        "FILEFLOW_ROOTS": f"lib={root_dir}",
        "FILEFLOW_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{closed}/",
        "FILEFLOW_CONNECT_TIMEOUT_S": "2",
    }
    result = fileflow("backfill", str(root_dir), env=env)
    assert result.returncode == 2
    one_error_line(result, "RabbitMQ", f"127.0.0.1:{closed}")
    assert "aiormq" not in result.stderr


@pytest.mark.parametrize("command", ["watch", "ingest"])
def test_a_port_in_use_is_one_line_naming_the_setting(
    command: str, settings: Settings, root_dir: Path
) -> None:
    variable = "FILEFLOW_WATCHER_HTTP_PORT" if command == "watch" else "FILEFLOW_INGESTOR_HTTP_PORT"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = env_for(settings) | {"FILEFLOW_ROOTS": f"lib={root_dir}", variable: str(port)}
        result = fileflow(command, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fileflow: error: cannot serve HTTP on 127.0.0.1:")
    assert str(port) in last and "Address already in use" in last and variable in last


def test_status_says_its_queues_are_counted_in_messages(settings: Settings) -> None:
    env = env_for(settings)
    assert fileflow("migrate", env=env).returncode == 0
    result = fileflow("status", env=env | {"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "queues (in messages, up to" in result.stdout
    assert "file events each)" in result.stdout


def test_the_bar_shows_a_rate_and_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(record=True, width=160, force_terminal=False)
    monkeypatch.setattr("rich.progress.get_console", lambda: console)
    with files_progress("backfill", disable=False) as update:
        for done in range(0, 1001, 100):
            update(done, 1000, "completed 1")
    text = console.export_text()
    assert "1000/1000" in text
    assert "files/s" in text
    assert "left" in text
