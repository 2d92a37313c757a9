"""fileflow's images, run with podman against this machine's PostgreSQL, Redis and RabbitMQ.

The containers get what compose.yaml gives them: a read-only root filesystem with a tmpfs on
/tmp, an init process, a memory limit, the library mounted read-only, the watcher's state in
a named volume, and the stop grace period.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.containers import podman as pm
from tests.support import AMQP_URL, REDIS_URL, free_port, unique_name

pytestmark = pytest.mark.integration

USER = "10001:10001"
STOP_GRACE_S = 45  # compose.yaml's stop_grace_period
DRAIN_TIMEOUT_S = 30  # compose.yaml's FILEFLOW_DRAIN_TIMEOUT_S
HEALTHY_WITHIN_S = 90
EXTRACTION_MODULES = ("pypdf", "PIL", "tinytag", "pebble", "puremagic", "aiofiles")


def test_both_images_build_and_run_as_the_unprivileged_user(images: dict[str, pm.Build]) -> None:
    print()
    for target, built in images.items():
        assert pm.inspect(built.tag, "{{.Config.User}}") == USER
        argv = pm.inspect(built.tag, "{{json .HealthCheck.Test}}")
        assert "/healthz" in argv, f"{target} has no HEALTHCHECK: {argv}"
        uid = pm.podman("run", "--rm", built.tag, "id", "-u").stdout.strip()
        assert uid == USER.split(":", maxsplit=1)[0]
        print(f"{target}: user {USER}, uid in the container {uid}, healthcheck {argv}")


def importable(tag: str, modules: tuple[str, ...]) -> set[str]:
    code = (
        "import importlib.util, sys; "
        "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))"
    )
    done = pm.podman("run", "--rm", tag, "python", "-c", code, *modules)
    return set(done.stdout.split())


def test_the_watcher_image_carries_no_extraction_library(images: dict[str, pm.Build]) -> None:
    assert importable(images["file_watcher"].tag, EXTRACTION_MODULES) == set()
    assert importable(images["file_watcher"].tag, ("file_watcher", "fileflow_core")) == {
        "file_watcher",
        "fileflow_core",
    }
    assert importable(images["ingestor"].tag, EXTRACTION_MODULES) == set(EXTRACTION_MODULES)
    cli = pm.podman("run", "--rm", images["ingestor"].tag, "fileflow", "--help").stdout
    assert "migrate" in cli and "status" in cli
    print(
        f"\nwatcher {images['file_watcher'].size_bytes / 1e6:.0f} MB (no extraction "
        f"libraries, no CLI), ingestor {images['ingestor'].size_bytes / 1e6:.0f} MB"
    )


@pytest.fixture
def library() -> Iterator[Path]:
    """The watched folder; readable by the containers' uid, as the README asks."""
    with tempfile.TemporaryDirectory(prefix="fileflow-containers-") as work:
        folder = Path(work) / "library"
        folder.mkdir()
        folder.chmod(0o755)
        yield folder


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """Container and volume names of one test, removed afterwards."""
    prefix = unique_name("ffct")
    found = {
        "watcher": f"{prefix}-watcher",
        "ingestor": f"{prefix}-ingestor",
        "state": f"{prefix}-state",
    }
    yield found
    pm.remove_containers(found["watcher"], found["ingestor"])
    pm.podman("volume", "rm", "--force", found["state"], check=False)


def run_service(image: str, name: str, library: Path, env: dict[str, str], *extra: str) -> float:
    """Start one service as compose would; seconds until its healthcheck passes."""
    started = time.monotonic()
    pm.podman(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--init",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--memory",
        "1g",
        "--stop-timeout",
        str(STOP_GRACE_S),
        "--volume",
        f"{library}:/data/library:ro",
        *(arg for key, value in env.items() for arg in ("--env", f"{key}={value}")),
        *extra,
        image,
    )
    pm.wait_healthy(name, HEALTHY_WITHIN_S)
    return time.monotonic() - started


def stop(name: str) -> tuple[float, int]:
    """``podman stop`` with the grace period: (seconds it took, the exit code)."""
    started = time.monotonic()
    pm.podman("stop", "--time", str(STOP_GRACE_S), name, timeout_s=STOP_GRACE_S + 30)
    seconds = time.monotonic() - started
    return seconds, int(pm.inspect(name, "{{.State.ExitCode}}"))


def row(database_url: str, path: str) -> tuple[str, str | None] | None:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        try:
            found = conn.execute(
                "SELECT status, content_sha256 FROM files WHERE path = %s AND NOT deleted",
                (path,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return None if found is None else (found[0], found[1])


def wait_for_row(database_url: str, path: str, timeout_s: float) -> tuple[str, str | None]:
    started = time.monotonic()
    while True:
        try:
            found = row(database_url, path)
        except psycopg.OperationalError:
            found = None  # the ingestor creates the database at its start
        if found is not None and found[0] == "completed":
            return found
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{path}: no completed row after {timeout_s} s (last: {found})")
        time.sleep(0.5)


def scans(name: str) -> list[int]:
    """`differences` of each catch-up scan the watcher logged."""
    return [
        int(str(line["differences"]))
        for line in pm.json_logs(name)
        if line.get("msg") == "catch-up scan done"
    ]


@pytest.fixture
def servers_env(database_url: str, queue_name: str, redis_prefix: str) -> dict[str, str]:
    """This test's database, queue and Redis prefix on this machine's servers."""
    # The host's trust authentication knows no role named after the containers' user.
    db = urlsplit(database_url)
    return {
        "FILEFLOW_AMQP_URL": AMQP_URL,
        "FILEFLOW_QUEUE_NAME": queue_name,
        "FILEFLOW_DATABASE_URL": db._replace(netloc=f"postgres@{db.netloc}").geturl(),
        "FILEFLOW_REDIS_URL": REDIS_URL,
        "FILEFLOW_REDIS_KEY_PREFIX": redis_prefix,
    }


def test_the_services_ingest_a_file_drain_on_stop_and_keep_their_state(
    images: dict[str, pm.Build],
    database_url: str,
    servers_env: dict[str, str],
    library: Path,
    names: dict[str, str],
) -> None:
    common = {
        "FILEFLOW_AMQP_URL": servers_env["FILEFLOW_AMQP_URL"],
        "FILEFLOW_QUEUE_NAME": servers_env["FILEFLOW_QUEUE_NAME"],
        "FILEFLOW_ROOTS": "library=/data/library",
        "FILEFLOW_DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S),
    }
    ingestor_env = {
        **servers_env,
        **common,
        "FILEFLOW_INGESTOR_HTTP_PORT": str(free_port()),
        "FILEFLOW_API_TOKEN": secrets.token_hex(32),
    }
    watcher_env = {**common, "FILEFLOW_WATCHER_HTTP_PORT": str(free_port())}
    state = ("--volume", f"{names['state']}:/var/lib/fileflow")

    print()
    healthy_s = run_service(images["ingestor"].tag, names["ingestor"], library, ingestor_env)
    print(f"ingestor healthy after {healthy_s:.1f} s")
    healthy_s = run_service(
        images["file_watcher"].tag, names["watcher"], library, watcher_env, *state
    )
    print(f"file_watcher healthy after {healthy_s:.1f} s")
    for name in (names["ingestor"], names["watcher"]):
        assert pm.inspect(name, "{{.State.Health.Status}}") == "healthy"
        assert pm.inspect(name, "{{.Config.User}}") == USER
        assert pm.inspect(name, "{{.HostConfig.ReadonlyRootfs}}") == "true"

    body = b"a report dropped into the mounted library\n"
    dropped = library / "report.txt"
    dropped.write_bytes(body)
    dropped.chmod(0o644)
    started = time.monotonic()
    status, sha256 = wait_for_row(database_url, "report.txt", timeout_s=60)
    assert sha256 == hashlib.sha256(body).hexdigest()
    print(
        f"row: report.txt {status} sha256 {sha256[:16]}… "
        f"{time.monotonic() - started:.1f} s after the drop"
    )

    for service in ("ingestor", "watcher"):
        seconds, exit_code = stop(names[service])
        print(f"podman stop {service}: exit code {exit_code} after {seconds:.1f} s")
        assert exit_code == 0
        assert seconds < STOP_GRACE_S, "stopped by SIGKILL, not by draining"
    messages = [line.get("msg") for line in pm.json_logs(names["ingestor"])]
    assert "ingestor stopping: draining in-flight files" in messages
    assert messages[-1] == "ingestor stopped", messages[-3:]
    assert not any("drain timed out" in str(m) for m in messages)

    # A new watcher container over the same volume knows what the old one published.
    pm.remove_containers(names["watcher"])
    run_service(images["file_watcher"].tag, names["watcher"], library, watcher_env, *state)
    deadline = time.monotonic() + 30
    while not scans(names["watcher"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert scans(names["watcher"]) == [0], "the re-created watcher found differences"
    print("re-created watcher: its catch-up scan found 0 differences (state kept in the volume)")
    seconds, exit_code = stop(names["watcher"])
    assert exit_code == 0
