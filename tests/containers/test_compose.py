"""compose.yaml brought up for real with podman-compose, the servers swapped for the stand-ins
of docker/compose.podman.yaml: healthchecks, ``depends_on`` conditions, the one-shot roles
and migration, the least-privileged runtime role, volumes, the ingest path and Prometheus.

The stack runs under a project name of its own, its library in a temporary folder and its
host ports chosen free, so it touches neither a stack the user runs nor this machine's
servers; ``down --volumes`` removes it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.containers import podman as pm
from tests.support import free_port, unique_name

pytestmark = pytest.mark.integration

COMPOSE_FILES = ("compose.yaml", "docker/compose.podman.yaml")
PODMAN_SHIM = Path(__file__).with_name("podman-healthy-wait")
COMPOSE_TIMEOUT_S = 900
ONE_SHOTS = ("db-roles", "migrate")
SERVICES = ("rabbitmq", "redis", "postgres", "file_watcher", "ingestor", "prometheus")
FILEFLOW_SERVICES = ("file_watcher", "ingestor")


def podman_compose() -> str | None:
    found = shutil.which("podman-compose")
    if found is None and (uv := os.environ.get("UV") or shutil.which("uv")):
        tools = subprocess.run(
            [uv, "tool", "dir", "--bin"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidate = Path(tools) / "podman-compose"
        found = str(candidate) if candidate.is_file() else None
    return found


@dataclass
class Stack:
    command: list[str]
    env: dict[str, str]
    library: Path
    ports: dict[str, int]
    waits: Path

    def waited_for(self) -> list[str]:
        """What podman-compose waited for before starting dependants (the podman shim's log)."""
        return self.waits.read_text().splitlines() if self.waits.exists() else []

    def compose(self, *args: str, timeout_s: float = COMPOSE_TIMEOUT_S) -> float:
        """Run a podman-compose command; the seconds it took."""
        started = time.monotonic()
        done = subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=pm.REPO,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"podman-compose {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return time.monotonic() - started

    def containers(self) -> dict[str, str]:
        """service -> container name, for this project's containers."""
        project = self.command[self.command.index("--project-name") + 1]
        listed = pm.podman(
            "ps",
            "--all",
            "--format",
            "json",
            "--filter",
            f"label=io.podman.compose.project={project}",
        ).stdout
        return {
            entry["Labels"]["com.docker.compose.service"]: entry["Names"][0]
            for entry in json.loads(listed or "[]")
        }

    def psql(self, query: str) -> str:
        """A query on the stack's database, as its superuser, from inside the server's
        container (the servers publish no host port)."""
        postgres = self.containers()["postgres"]
        done = pm.podman(
            "exec", postgres, "psql", "-U", "fileflow", "-d", "fileflow", "-AtX", "-c", query
        )
        return done.stdout.strip()


@pytest.fixture
def work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fileflow-containers-") as work:
        yield Path(work)


@pytest.fixture
def stack(base_images: tuple[str, str], work_dir: Path) -> Iterator[Stack]:
    executable = podman_compose()
    if executable is None:
        pytest.skip(f"podman-compose is not installed; run `{pm.PREREQS}`")
    base, uv = base_images
    library = work_dir / "library"
    library.mkdir()
    library.chmod(0o755)
    ports = {
        name: free_port()
        for name in (
            "WATCHER_HOST_PORT",
            "INGESTOR_HOST_PORT",
            "RABBITMQ_UI_HOST_PORT",
            "PROMETHEUS_HOST_PORT",
            "GRAFANA_HOST_PORT",
        )
    }
    env = {
        **pm.environment(),
        "FILEFLOW_BASE_IMAGE": base,
        "FILEFLOW_UV_IMAGE": uv,
        "FILEFLOW_API_TOKEN": secrets.token_hex(32),
        "FILEFLOW_LIBRARY": str(library),
        "BUILDAH_FORMAT": "docker",
        "FILEFLOW_HEALTHY_WAIT_LOG": str(work_dir / "healthy-waits.log"),
        **{name: str(port) for name, port in ports.items()},
    }
    if bundle := pm.ca_bundle():
        env["FILEFLOW_CA_BUNDLE"] = str(bundle)
    command = [
        executable,
        "--podman-path",
        str(PODMAN_SHIM),
        "--project-name",
        unique_name("ffct").replace("_", "-"),
    ]
    for file in COMPOSE_FILES:
        command += ["--file", file]
    running = Stack(command, env, library, ports, work_dir / "healthy-waits.log")
    try:
        yield running
    finally:
        running.compose("down", "--volumes", timeout_s=300)


def drop(stack: Stack, name: str) -> str:
    body = f"{name}: dropped into the library of a compose stack\n".encode()
    path = stack.library / name
    path.write_bytes(body)
    path.chmod(0o644)
    return hashlib.sha256(body).hexdigest()


def wait_for_row(stack: Stack, name: str, timeout_s: float = 90) -> str:
    started = time.monotonic()
    query = f"SELECT status || ' ' || content_sha256 FROM files WHERE path = '{name}'"
    while True:
        found = stack.psql(query)
        if found.startswith("completed "):
            return found.split()[1]
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{name}: no completed row after {timeout_s} s (last: {found!r})")
        time.sleep(1)


def check_services(stack: Stack) -> None:
    """Every long-running service healthy; the one-shots exited 0; fileflow's services
    unprivileged, on a read-only root, memory-limited, with rotated logs."""
    names = stack.containers()
    print(f"{'service':<13} {'state':<8} {'health':<8} {'user':<12} read-only memory log")
    for service in SERVICES:
        name = names[service]
        assert pm.healthcheck(name), f"{service}: healthcheck fails"
        state = pm.inspect(name, "{{.State.Status}}")
        user = pm.inspect(name, "{{.Config.User}}") or "(image)"
        read_only = pm.inspect(name, "{{.HostConfig.ReadonlyRootfs}}")
        memory = int(pm.inspect(name, "{{.HostConfig.Memory}}"))
        log = pm.inspect(name, "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Size}}")
        health = pm.inspect(name, "{{.State.Health.Status}}")
        print(
            f"{service:<13} {state:<8} {health:<8} {user:<12} {read_only:<9} "
            f"{memory >> 20} MiB {log}"
        )
        assert state == "running" and health == "healthy"
        assert memory > 0, f"{service} has no memory limit"
        if service in FILEFLOW_SERVICES:
            assert user == "10001:10001"
            assert read_only == "true"
    for service in ONE_SHOTS:
        name = names[service]
        state = pm.inspect(name, "{{.State.Status}} {{.State.ExitCode}}")
        print(f"{service:<13} {state}")
        assert state == "exited 0", f"{service}: {pm.podman('logs', name, check=False).stderr}"


def check_stopped(stack: Stack) -> None:
    """fileflow's services drained on SIGTERM and exited 0."""
    names = stack.containers()
    for service in FILEFLOW_SERVICES:
        state = pm.inspect(names[service], "{{.State.Status}} {{.State.ExitCode}}")
        print(f"{service:<13} {state}")
        assert state == "exited 0", service
        messages = [str(line.get("msg")) for line in pm.json_logs(names[service])]
        stopped = "ingestor stopped" if service == "ingestor" else "Finished server process"
        assert any(m.startswith(stopped) for m in messages[-3:]), f"{service}: {messages[-3:]}"


def prometheus_query(stack: Stack, query: str) -> list[dict[str, object]]:
    port = stack.ports["PROMETHEUS_HOST_PORT"]
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as answer:
        result: list[dict[str, object]] = json.load(answer)["data"]["result"]
    return result


def wait_for_series(stack: Stack, query: str, jobs: set[str], timeout_s: float = 90) -> None:
    started = time.monotonic()
    while True:
        result = prometheus_query(stack, query)
        seen = {str(dict(entry["metric"]).get("job")) for entry in result}  # type: ignore[call-overload]
        if jobs <= seen:
            print(f"prometheus: {query} -> {json.dumps(result)[:600]}")
            return
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"prometheus: {query} found jobs {seen}, not {jobs}")
        time.sleep(3)


def scans(stack: Stack) -> list[int]:
    name = stack.containers()["file_watcher"]
    return [
        int(str(line["differences"]))
        for line in pm.json_logs(name)
        if line.get("msg") == "catch-up scan done"
    ]


def test_the_stack_comes_up_healthy_ingests_and_keeps_its_data(stack: Stack) -> None:
    print(f"\npodman-compose build: {stack.compose('build'):.1f} s")
    print(f"podman-compose up -d: {stack.compose('up', '--detach'):.1f} s")
    waits = stack.waited_for()
    print("depends_on service_healthy, waited for: " + "; ".join(waits))
    for server in ("rabbitmq", "redis", "postgres"):
        assert any(f"_{server}_1 healthy" in line for line in waits), server
    check_services(stack)
    for service in ("postgres", "rabbitmq", "redis", "prometheus"):
        image = pm.inspect(stack.containers()[service], "{{.ImageName}}")
        print(f"stand-in {image}: {pm.image_size_bytes(image) / 1e6:.0f} MB")

    owner = stack.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'files'")
    assert owner == "fileflow_owner", "the schema belongs to the owner role"
    sha256 = drop(stack, "first.txt")
    assert wait_for_row(stack, "first.txt") == sha256
    print(f"row: first.txt completed, sha256 {sha256[:16]}…")
    users = stack.psql(
        "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity "
        "WHERE datname = 'fileflow' AND application_name <> 'psql'"
    )
    assert users == "fileflow_app", f"the services connect as {users}"
    print(f"the services connect as {users}; the tables belong to {owner}")

    wait_for_series(
        stack, 'count by (job) ({__name__=~"fileflow_.+"})', {"file_watcher", "ingestor"}
    )
    wait_for_series(stack, 'fileflow_ingestor_messages_total{outcome="acked"} > 0', {"ingestor"})

    # fileflow's services first, as docker compose orders it: podman-compose stops every
    # container at once, and an ingestor whose RabbitMQ goes away while it drains does not
    # finish its stop (it is killed at the end of the grace period).
    took = stack.compose("stop", *FILEFLOW_SERVICES)
    print(f"podman-compose stop {' '.join(FILEFLOW_SERVICES)}: {took:.1f} s")
    check_stopped(stack)
    print(f"podman-compose down: {stack.compose('down'):.1f} s")
    print(f"podman-compose up -d: {stack.compose('up', '--detach'):.1f} s")
    check_services(stack)
    assert wait_for_row(stack, "first.txt", timeout_s=5) == sha256, "the database volume kept it"
    deadline = time.monotonic() + 30
    while not scans(stack) and time.monotonic() < deadline:
        time.sleep(1)
    assert scans(stack) == [0], "the watcher's volume kept what it had published"
    second = drop(stack, "second.txt")
    assert wait_for_row(stack, "second.txt") == second
    print(
        "after down and up: first.txt still stored, the watcher found 0 differences, "
        "second.txt stored"
    )
