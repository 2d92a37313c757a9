"""No secret leaves: passwords in server URLs, a token in a git remote and the API token never
reach a log line, an API answer, a metric, a CLI answer or a row."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from fileflow_core.settings import Settings
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import in_ci, wait_until

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


@pytest.fixture
def rabbit_user() -> Iterator[tuple[str, str]]:
    """A RabbitMQ user of this test's own, with a password no other text contains."""
    if shutil.which("rabbitmqctl") is None:
        reason = "rabbitmqctl is not installed: cannot make a RabbitMQ user with a password"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    user, password = f"ff_{uuid.uuid4().hex[:8]}", f"amqp-secret-{uuid.uuid4().hex}"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_user", user, password], check=True, capture_output=True)
    try:
        subprocess.run(
            [*ctl, "set_permissions", "-p", "/", user, ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        yield user, password
    finally:
        subprocess.run([*ctl, "delete_user", user], check=False, capture_output=True)


def git_repository(folder: Path, remote: str) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", remote], check=True)


def fileflow(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "fileflow"), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def with_password(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


async def test_no_secret_reaches_logs_answers_metrics_or_rows(
    settings: Settings, root_dir: Path, tmp_path: Path, rabbit_user: tuple[str, str]
) -> None:
    user, amqp_secret = rabbit_user
    pg_secret, redis_secret, git_secret = (f"{kind}-secret-{uuid.uuid4().hex}" for kind in "prg")
    api_token = f"api-token-{uuid.uuid4().hex}"
    remote = f"https://someone:{git_secret}@example.org/team/docs.git"
    await asyncio.to_thread(git_repository, root_dir, remote)
    env = service_env(
        settings,
        root_dir,
        FILEFLOW_LOG_LEVEL="DEBUG",
        FILEFLOW_AMQP_URL=with_password(settings.amqp_url, user, amqp_secret),
        FILEFLOW_DATABASE_URL=with_password(settings.database_url, "postgres", pg_secret),
        FILEFLOW_REDIS_URL=f"redis://:{redis_secret}@127.0.0.1:6379/0",
        FILEFLOW_ROOTS=f'[{{"id": "lib", "path": "{root_dir}", "git": true}}]',
        FILEFLOW_API_TOKEN=api_token,
    )
    secrets = [amqp_secret, pg_secret, redis_secret, git_secret, api_token]
    log = tmp_path / "services.log"
    seen: list[str] = []
    async with (
        service("ingest", env, log=log) as ingestor,
        service("watch", env, log=log) as watcher,
    ):
        (root_dir / "notes.txt").write_text("a file from a repository with a token in its remote")
        db = Db(settings.database_url)
        await wait_until(db.completed_count, lambda n: n == 1, what="the file")
        headers = {"Authorization": f"Bearer {api_token}"}
        async with aiohttp.ClientSession() as session:
            for url in (
                f"{ingestor.url}/files",
                f"{ingestor.url}/files/1",
                f"{ingestor.url}/readyz",
                f"{ingestor.url}/metrics",
                f"{watcher.url}/readyz",
                f"{watcher.url}/metrics",
                f"{ingestor.url}/openapi.json",
            ):
                async with session.get(url, headers=headers) as response:
                    assert response.status in (200, 503), url
                    seen.append(await response.text())
        for command in (["status", "--json"], ["ls", "--json"], ["roots", "--json"]):
            done = await asyncio.to_thread(fileflow, command, env)
            seen += [done.stdout, done.stderr]
    wrong = {**env, "FILEFLOW_AMQP_URL": with_password(settings.amqp_url, user, "x" + amqp_secret)}
    refused = await asyncio.to_thread(fileflow, ["watch"], wrong)
    assert refused.returncode == 2 and "refused the login" in refused.stderr
    seen.append(refused.stderr)
    rows = [str(dict(row)) for row in await Db(settings.database_url).fetch("SELECT * FROM files")]
    assert "example.org/team/docs.git" in " ".join(rows)  # the remote is kept, without the token
    seen += rows
    seen.append(log.read_text())
    assert len(seen) > 10
    for text in seen:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:300]}"
