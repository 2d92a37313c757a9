"""docker/Dockerfile, compose.yaml and its podman override, Prometheus and Grafana
configuration, checked against the code.

No container engine is needed: the files are parsed and compared with the CLI's commands, the
settings fields and defaults, the lock file and the metrics the services register. The
container suite (tests/containers) builds and runs them for real.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from prometheus_client.metrics import MetricWrapperBase

import fileflow_core.metrics as metrics_module
from fileflow.cli import app as cli_app
from fileflow_core.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
INFRA = ("rabbitmq", "redis", "postgres")
ONE_SHOTS = ("db-roles", "migrate")
# What the ingestor alone needs to extract metadata; the watcher's image must not carry it.
EXTRACTION_PACKAGES = {"pillow", "pypdf", "tinytag", "pebble", "puremagic", "aiofiles"}
OWNER_ROLE, APP_ROLE = "fileflow_owner", "fileflow_app"


@dataclass(frozen=True)
class AppService:
    name: str
    package: str
    command: list[str]
    port_field: str
    needs: tuple[str, ...]


APPS = (
    AppService(
        "file_watcher",
        "fileflow-file-watcher",
        ["python", "-m", "file_watcher"],
        "watcher_http_port",
        ("rabbitmq",),
    ),
    AppService(
        "ingestor", "fileflow", ["fileflow", "ingest"], "ingestor_http_port", (*INFRA, "migrate")
    ),
)
APP_IDS = [a.name for a in APPS]


# --- parsing -------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        pairs = (token.partition("=") for rest in self.all("ENV") for token in shlex.split(rest))
        return {key: value for key, _, value in pairs}


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found

    def chain(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, outermost first."""
        names = {s.name for s in self.stages}
        found = [self.stage(name)]
        while found[0].base in names:
            found.insert(0, self.stage(found[0].base))
        return found

    def target(self, name: str) -> Stage:
        """A target as built: its chain's instructions in order, from the chain's base."""
        chain = self.chain(name)
        return Stage(chain[0].base, name, [i for s in chain for i in s.instructions])


def parse_dockerfile(path: Path) -> Dockerfile:
    """Global ARGs and stages with their instructions; continuation lines joined, comments
    dropped; ``${ARG}`` in FROM left as written."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], alias))
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(global_args, stages)


def default_of(dockerfile: Dockerfile, reference: str) -> str:
    """``${ARG}`` with the ARG's default."""
    return re.sub(r"\$\{(\w+)\}", lambda m: dockerfile.args[m.group(1)], reference)


_DEFAULTED = re.compile(r"\$\{(\w+)(:?-)([^}]*)\}")
_REQUIRED = re.compile(r"\$\{(\w+):?\?[^}]*\}")


def interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}`` with nothing set: the defaults;
    a required ``${VAR:?message}`` as if set to ``required-VAR``."""
    text = _DEFAULTED.sub(lambda m: m.group(3), text)
    text = _REQUIRED.sub(lambda m: f"required-{m.group(1)}", text)
    bare = re.findall(r"(?<!\$)\$\{?\w+", text.replace("$$", ""))
    assert not bare, f"variables without a default in compose.yaml: {bare}"
    return text.replace("$$", "$")


def load_yaml(relative: str) -> dict[str, Any]:
    data = yaml.safe_load(interpolate((REPO / relative).read_text()))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml("compose.yaml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def app_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of `environment`"
    return {key: str(value) for key, value in env.items()}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp: Path) -> Settings:
    """The settings a container gets: image ENV, then compose environment, then defaults."""
    for name in list(os.environ):
        if name.startswith("FILEFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp))
    for key, value in env.items():
        if key.startswith("FILEFLOW_"):
            monkeypatch.setenv(key, value)
    return load_settings()


def container_ports(service: dict[str, Any]) -> set[int]:
    """Container sides of ``ports`` entries (``[ip:][host]:container``)."""
    return {int(str(entry).rsplit(":", 1)[-1].split("/")[0]) for entry in service.get("ports", [])}


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), test
    return [str(part) for part in test[1:]] if test[0] == "CMD" else shlex.split(test[1])


def duration_s(value: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"bad duration {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source, for ``source:target[:mode]`` volume entries."""
    return {str(m).split(":")[1]: str(m).split(":")[0] for m in service.get("volumes", [])}


# --- the CLI and the lock ------------------------------------------------------------------


def fileflow_commands() -> set[str]:
    group = typer.main.get_command(cli_app)
    commands = getattr(group, "commands", {})
    return set(commands)


def test_the_cli_registers_the_service_commands() -> None:
    assert {"watch", "ingest", "run", "migrate", "status"} <= fileflow_commands()


def locked_closure(package: str) -> set[str]:
    """The package and everything uv.lock installs with it (no dev groups)."""
    locked = {p["name"]: p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    found: set[str] = set()
    pending = [package]
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += [d["name"] for d in locked[name].get("dependencies", [])]
    return found


# --- docker/Dockerfile ---------------------------------------------------------------------


def uv_syncs(dockerfile: Dockerfile, target: str) -> list[str]:
    return [run for s in dockerfile.chain(target) for run in s.all("RUN") if "uv sync" in run]


def venv_stage(dockerfile: Dockerfile, target: str) -> str:
    (copy,) = [c for c in dockerfile.target(target).all("COPY") if c.endswith("/app/.venv")]
    return copy.split()[0].removeprefix("--from=")


def test_dockerfile_has_public_defaults_for_its_base_and_uv_images() -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    assert dockerfile.args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", dockerfile.args["UV_IMAGE"]), (
        "uv from a pinned official image by default"
    )
    (uv_stage,) = [s for s in dockerfile.stages if s.base == "${UV_IMAGE}"]
    copies = [c for s in dockerfile.stages for c in s.all("COPY") if "/uv " in c]
    assert copies == [f"--from={uv_stage.name} /uv /uvx /bin/"]


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_dockerfile_builds_the_locked_venv_of_each_target(svc: AppService) -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    venv = venv_stage(dockerfile, svc.name)
    build, runtime = dockerfile.chain(venv)[0], dockerfile.chain(svc.name)[0]
    assert build.base == runtime.base == "${PYTHON_IMAGE}", (
        "the venv's interpreter must exist at the same path"
    )
    syncs = uv_syncs(dockerfile, venv)
    assert len(syncs) == 2, "dependencies first, then the workspace"
    for run in syncs:
        for flag in ("--frozen", "--no-dev", f"--package {svc.package} ", "--mount=type=cache"):
            assert flag in run, f"{flag} missing in: {run}"
        assert "--mount=type=secret,id=cacert" in run, "the proxy's CA, never baked in"
    assert "--no-install-workspace" in syncs[0], "dependencies layer first, for caching"
    assert "--no-editable" in syncs[1], "the final venv must not point back at /app sources"

    copied_manifests = {
        part
        for stage in dockerfile.chain(venv)
        for copy in stage.all("COPY")
        for part in copy.split()
        if part.endswith("pyproject.toml") and "/" in part
    }
    members = {
        str(p.relative_to(REPO))
        for pattern in ("libs/*/pyproject.toml", "services/*/pyproject.toml")
        for p in REPO.glob(pattern)
    }
    assert copied_manifests == members, "every workspace member's manifest, for --frozen"


def test_the_watcher_target_installs_no_extraction_library() -> None:
    watcher = locked_closure("fileflow-file-watcher")
    assert not watcher & EXTRACTION_PACKAGES, watcher & EXTRACTION_PACKAGES
    assert "fileflow-ingestor" not in watcher
    assert locked_closure("fileflow") >= EXTRACTION_PACKAGES, "the ingestor's target has them"


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_dockerfile_runtime_stage_is_unprivileged_and_self_contained(svc: AppService) -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    runtime = dockerfile.target(svc.name)
    user = runtime.last("USER").split(":")[0]
    assert user not in ("root", "0"), "the service must not run as root"
    assert all("/uv" not in copy for copy in runtime.all("COPY")), "no uv at runtime"
    assert all(not copy.startswith("--from=") or "_venv " in copy for copy in runtime.all("COPY"))
    env = runtime.env()
    assert env["PATH"].split(":")[0] == "/app/.venv/bin"
    assert env["FILEFLOW_HTTP_HOST"] == "0.0.0.0"
    for key in env:
        if key.startswith("FILEFLOW_"):
            assert key.removeprefix("FILEFLOW_").lower() in Settings.model_fields, key


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_dockerfile_cmd_port_and_healthcheck_match_the_code(svc: AppService) -> None:
    runtime = parse_dockerfile(DOCKERFILE).target(svc.name)
    command = json.loads(runtime.last("CMD"))
    assert command == svc.command
    if command[0] == "fileflow":
        assert command[1] in fileflow_commands()
    else:
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None

    default_port = Settings.model_fields[svc.port_field].default
    port_var = f"FILEFLOW_{svc.port_field.upper()}"
    assert runtime.env()[port_var] == str(default_port)
    assert runtime.last("EXPOSE").split() == [str(default_port)]

    healthcheck = runtime.last("HEALTHCHECK")
    assert "/healthz" in healthcheck and port_var in healthcheck
    assert not re.search(r"\b(curl|wget)\b", healthcheck), "slim images have neither"
    argv = json.loads(healthcheck[healthcheck.index("CMD ") + 4 :])
    with healthz_server(200) as port:
        assert probe(argv, env={port_var: str(port)}) == 0
    with healthz_server(503) as port:
        assert probe(argv, env={port_var: str(port)}) != 0


# --- a real probe against a stand-in /healthz ----------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def healthz_server(status: int) -> Iterator[int]:
    """A local HTTP server answering /healthz with ``status``; yields its port."""
    handler = type("Handler", (_Handler,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def probe(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run a healthcheck command here, with this interpreter standing in for ``python``."""
    assert argv[0] == "python", f"healthcheck should be a python one-liner, got {argv[0]}"
    done = subprocess.run(
        [sys.executable, *argv[1:]],
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode


# --- compose.yaml --------------------------------------------------------------------------


def test_compose_defines_the_pipeline_and_its_servers(services: dict[str, dict[str, Any]]) -> None:
    expected = {*INFRA, *ONE_SHOTS, "file_watcher", "ingestor", "prometheus", "grafana"}
    assert expected <= set(services)
    checks = {
        "rabbitmq": ["rabbitmq-diagnostics", "-q", "ping"],
        "redis": ["redis-cli", "ping"],
        "postgres": ["pg_isready"],
        "prometheus": ["http://127.0.0.1:9090/-/ready"],
        "grafana": ["http://127.0.0.1:3000/api/health"],
    }
    for name, words in checks.items():
        argv = healthcheck_argv(services[name])
        assert all(word in argv for word in words), f"{name} healthcheck: {argv}"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13")


def test_compose_commits_no_secrets() -> None:
    raw = (REPO / "compose.yaml").read_text()
    for line in raw.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and re.search(r"PASS(WORD)?$", key) and value.strip():
            assert value.strip().startswith("${") and ":-" in value, line
        if sep and key.endswith("TOKEN") and value.strip():
            assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value.strip()), f"no default token: {line}"
        if re.search(r"\w+://[^/\s]*:[^@/\s]+@", line):
            credentials = line.split("://", 1)[1].split("@", 1)[0]
            assert "${" in credentials.split(":", 1)[1], f"literal password in URL: {line}"


def test_compose_bounds_every_service(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert re.fullmatch(r"\d+[mg]", str(service.get("mem_limit", ""))), f"{name}: mem_limit"
        logging = service.get("logging", {})
        assert logging.get("options", {}).get("max-size"), f"{name}: logs not rotated"
        assert "healthcheck" in service or name in ONE_SHOTS, f"{name}: no healthcheck"
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_compose_app_service_matches_its_image_and_the_settings(
    svc: AppService,
    services: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    service = services[svc.name]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert service["build"]["target"] == svc.name
    assert Path(REPO / service["build"].get("context", "."), "docker/Dockerfile").is_file()
    runtime = parse_dockerfile(DOCKERFILE).target(svc.name)
    command = service.get("command") or json.loads(runtime.last("CMD"))
    assert command == svc.command

    env = app_env(service)
    for key in env:
        if key.startswith("FILEFLOW_"):
            field_name = key.removeprefix("FILEFLOW_").lower()
            assert field_name in Settings.model_fields, f"{key} is not a setting"
    settings = settings_from({**runtime.env(), **env}, monkeypatch, tmp_path)
    assert settings.http_host == "0.0.0.0"
    assert settings.roots, "FILEFLOW_ROOTS must name the watched folder"

    port = getattr(settings, svc.port_field)
    assert container_ports(service) == {port}
    assert runtime.last("EXPOSE").split() == [str(port)]
    argv = healthcheck_argv(service)
    assert any(f"127.0.0.1:{port}/healthz" in part for part in argv), argv
    with healthz_server(200) as test_port:
        live = [part.replace(f":{port}/", f":{test_port}/") for part in argv]
        assert probe(live) == 0
    assert probe([part.replace(f":{port}/", ":9/") for part in argv]) != 0

    depends = service["depends_on"]
    assert isinstance(depends, dict), "depends_on needs the long form for conditions"
    assert set(svc.needs) <= set(depends)
    for name, condition in depends.items():
        if name in INFRA:
            assert condition["condition"] == "service_healthy", name
            assert "healthcheck" in services[name], name
        if name in ONE_SHOTS:
            assert condition["condition"] == "service_completed_successfully", name

    mounts = bind_mounts(service)
    for root in settings.roots:
        assert mounts.get(str(root.path), "").startswith("./"), f"{root.path} not bind-mounted"
    assert all(str(m).endswith(":ro") for m in service["volumes"] if str(m).startswith("./"))

    assert service.get("init") is True, "an init process forwards SIGTERM and reaps workers"
    assert duration_s(service["stop_grace_period"]) > settings.drain_timeout_s, (
        "docker must wait longer than the drain before SIGKILL"
    )
    assert service.get("read_only") is True and "/tmp" in service.get("tmpfs", [])
    assert service.get("cap_drop") == ["ALL"]

    hosts = {"amqp_url": "rabbitmq", "redis_url": "redis", "database_url": "postgres"}
    for setting, host in hosts.items():
        if f"FILEFLOW_{setting.upper()}" in env:
            assert urlsplit(getattr(settings, setting)).hostname == host
            assert host in svc.needs


def test_compose_credentials_agree(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_from(app_env(services["ingestor"]), monkeypatch, tmp_path)
    amqp = urlsplit(settings.amqp_url)
    rabbit = services["rabbitmq"]["environment"]
    assert (amqp.username, amqp.password) == (
        rabbit["RABBITMQ_DEFAULT_USER"],
        rabbit["RABBITMQ_DEFAULT_PASS"],
    )
    watcher = settings_from(app_env(services["file_watcher"]), monkeypatch, tmp_path)
    assert watcher.amqp_url == settings.amqp_url
    assert watcher.queue_name == settings.queue_name
    assert [(r.id, r.path) for r in watcher.roots] == [(r.id, r.path) for r in settings.roots]


def test_compose_runs_least_privileged_database_roles(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The superuser only creates the roles, the owner only migrates, the services use the
    runtime role: scripts/db-roles.sql's split, with passwords that agree."""
    pg = services["postgres"]["environment"]
    roles = services["db-roles"]
    roles_env = app_env(roles)
    assert (roles_env["PGUSER"], roles_env["PGPASSWORD"]) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
    )
    assert roles_env["PGHOST"] == "postgres" and roles_env["PGDATABASE"] == pg["POSTGRES_DB"]
    assert roles["image"] == services["postgres"]["image"], "psql of the same server version"
    mounts = bind_mounts(roles)
    assert mounts["/fileflow/db-roles.sql"] == "./scripts/db-roles.sql"
    script = (REPO / mounts["/fileflow/db-roles.sh"]).read_text()
    assert f"owner={OWNER_ROLE}" in script and f"app={APP_ROLE}" in script

    migrate = services["migrate"]
    assert migrate["command"] == ["fileflow", "migrate"]
    assert migrate["image"] == services["ingestor"]["image"]
    assert migrate["build"] == services["ingestor"]["build"]
    assert migrate["depends_on"]["db-roles"]["condition"] == "service_completed_successfully"
    owner_url = urlsplit(settings_from(app_env(migrate), monkeypatch, tmp_path).database_url)
    assert (owner_url.username, owner_url.password) == (
        OWNER_ROLE,
        roles_env["FILEFLOW_DB_OWNER_PASSWORD"],
    )
    app_url = urlsplit(
        settings_from(app_env(services["ingestor"]), monkeypatch, tmp_path).database_url
    )
    assert (app_url.username, app_url.password) == (APP_ROLE, roles_env["FILEFLOW_DB_APP_PASSWORD"])
    assert owner_url.path == app_url.path == f"/{pg['POSTGRES_DB']}"
    for name, service in services.items():
        url = app_env(service).get("FILEFLOW_DATABASE_URL")
        if url is not None:
            assert urlsplit(url).username != pg["POSTGRES_USER"], f"{name} uses the superuser"


def test_watcher_state_is_a_named_volume(
    services: dict[str, dict[str, Any]],
    compose: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    service = services["file_watcher"]
    runtime = parse_dockerfile(DOCKERFILE).target("file_watcher")
    settings = settings_from({**runtime.env(), **app_env(service)}, monkeypatch, tmp_path)
    named = set(compose.get("volumes") or {})
    sources = {
        str(m).split(":")[1]: str(m).split(":")[0]
        for m in service["volumes"]
        if str(m).split(":")[0] in named
    }
    assert str(settings.state_dir) in sources, "the watcher's state must survive re-creation"


# --- docker/compose.podman.yaml ------------------------------------------------------------


def test_the_podman_override_builds_every_pulled_server_from_debian(
    services: dict[str, dict[str, Any]],
) -> None:
    override = load_yaml("docker/compose.podman.yaml")["services"]
    standins = parse_dockerfile(REPO / "docker/standins/Dockerfile")
    for name in (*INFRA, "db-roles", "prometheus"):
        build = override[name]["build"]
        assert (REPO / build["context"] / "Dockerfile").is_file()
        standins.stage(build["target"])
        assert build["args"]["BASE_IMAGE"] == "required-FILEFLOW_BASE_IMAGE"
        assert override[name]["image"].startswith("localhost/"), "never pulled"
    assert override["db-roles"]["image"] == override["postgres"]["image"]
    for name in (*ONE_SHOTS[1:], "file_watcher", "ingestor"):
        build = override[name]["build"]
        assert build["args"] == {
            "PYTHON_IMAGE": "required-FILEFLOW_BASE_IMAGE",
            "UV_IMAGE": "required-FILEFLOW_UV_IMAGE",
        }
        assert build["secrets"] == ["cacert"]
    assert override["grafana"]["profiles"], "Grafana has no Debian package: left out"
    covered = {n for n, s in services.items() if "build" in s} | set(override)
    assert covered == set(services), "every pulled image has a stand-in"


# --- Prometheus ----------------------------------------------------------------------------


def scrape_targets() -> dict[str, set[str]]:
    config = load_yaml("docker/prometheus/prometheus.yml")
    targets: dict[str, set[str]] = {}
    for job in config["scrape_configs"]:
        found = targets.setdefault(job["job_name"], set())
        for static in job.get("static_configs", []):
            found.update(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            found.update(f"{name}:{dns['port']}" for name in dns["names"])
    return targets


def test_prometheus_scrapes_every_service_on_its_port(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    targets = scrape_targets()
    all_targets = set().union(*targets.values())
    for svc in APPS:
        port = getattr(
            settings_from(app_env(services[svc.name]), monkeypatch, tmp_path), svc.port_field
        )
        assert f"{svc.name}:{port}" in all_targets
    assert "rabbitmq:15692" in all_targets, "rabbitmq_prometheus plugin port"
    for target in all_targets:
        assert target.split(":")[0] in services, f"{target} is not a compose service"
    mounts = [str(m) for m in services["prometheus"]["volumes"]]
    assert "./docker/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./docker/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


# --- Grafana -------------------------------------------------------------------------------


def exposed_names() -> set[str]:
    """Sample names as Prometheus sees them (counters with _total, histograms with _bucket…)."""
    return metrics_module.registered_names(metrics_module.WATCHER) | (
        metrics_module.registered_names(metrics_module.INGESTOR)
    )


def fileflow_labels() -> dict[str, set[str]]:
    """Each exposed fileflow sample name -> the label names it carries."""
    labels: dict[str, set[str]] = {}
    for metric in vars(metrics_module).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        family = metric.describe()[0]
        names = set(metric._labelnames)
        for sample in exposed_names():
            if sample == family.name or (
                sample.startswith(family.name + "_")
                and sample.removeprefix(family.name) in ("_total", "_bucket", "_count", "_sum")
            ):
                labels[sample] = names | ({"le"} if sample.endswith("_bucket") else set())
    return labels


def dashboard() -> dict[str, Any]:
    data = json.loads((REPO / "docker/grafana/dashboards/fileflow.json").read_text())
    assert isinstance(data, dict)
    return data


def expressions() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def test_dashboard_uses_only_metrics_the_code_registers() -> None:
    text = (REPO / "docker/grafana/dashboards/fileflow.json").read_text()
    used = set(re.findall(r"\bfileflow_[a-z_]+", text))
    assert len(used) >= 10
    unknown = used - exposed_names()
    assert not unknown, f"not registered in fileflow_core.metrics: {sorted(unknown)}"


def test_dashboard_labels_exist_on_their_metrics() -> None:
    labels = fileflow_labels()
    for expr in expressions():
        used_metrics = re.findall(r"\b(fileflow_[a-z_]+)", expr)
        for name, selector in re.findall(r"\b(fileflow_[a-z_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector):
                assert label in labels[name], f"{name} has no label {label!r}: {expr}"
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            for label in (g.strip() for g in group.split(",")):
                if label in ("instance", "job"):
                    continue
                for name in used_metrics:
                    assert label in labels[name], f"{name} has no label {label!r}: {expr}"


def test_dashboard_covers_throughput_latency_load_failures_and_queues() -> None:
    exprs = "\n".join(expressions())
    required = [
        r'fileflow_ingestor_messages_total\{outcome="acked"\}',
        r"rate\(fileflow_watcher_published_total",
        r"histogram_quantile\([^,]+, sum by \(le, stage\) \(rate\("
        r"fileflow_ingestor_stage_duration_seconds_bucket",
        r"fileflow_ingestor_files_in_flight\b",
        r"dead_lettered",
        r"retried",
        r"fileflow_ingestor_failures_total",
        r"fileflow_ingestor_extraction_failures_total",
        r"fileflow_ingestor_short_circuits_total",
        r"fileflow_ingestor_oldest_pending_seconds",
        r"fileflow_ingestor_seen_to_committed_seconds_bucket",
        r"fileflow_ingestor_queue_messages",
        r"fileflow_ingestor_queue_consumers",
        r"fileflow_ingestor_root_available",
        r"fileflow_ingestor_extraction_workers",
        r"rabbitmq_queue_messages_ready",
        r"rabbitmq_queue_messages_unacked",
    ]
    for pattern in required:
        assert re.search(pattern, exprs), f"no panel queries {pattern}"


def test_dashboard_queue_variable_defaults_to_the_queue_setting(
    services: dict[str, dict[str, Any]],
) -> None:
    (variable,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "queue"]
    assert variable["query"] == Settings.model_fields["queue_name"].default
    assert (
        app_env(services["ingestor"]).get("FILEFLOW_QUEUE_NAME", variable["query"])
        == (variable["query"])
    )


def test_grafana_provisioning_matches_compose(services: dict[str, dict[str, Any]]) -> None:
    datasources = load_yaml("docker/grafana/provisioning/datasources/prometheus.yaml")
    (source,) = datasources["datasources"]
    assert urlsplit(source["url"]).hostname == "prometheus"
    uids = {p["datasource"]["uid"] for p in dashboard()["panels"] if "datasource" in p}
    assert uids == {source["uid"]}

    providers = load_yaml("docker/grafana/provisioning/dashboards/fileflow.yaml")["providers"]
    mounts = {str(m).split(":")[1]: str(m).split(":")[0] for m in services["grafana"]["volumes"]}
    for provider in providers:
        host_dir = mounts[provider["options"]["path"]]
        assert (REPO / host_dir / "fileflow.json").is_file()
    assert mounts["/etc/grafana/provisioning"] == "./docker/grafana/provisioning"


# --- .dockerignore -------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    ignored = False
    for rule in rules:
        negated = rule.startswith("!")
        regex = _pattern_regex(rule.removeprefix("!").strip("/"))
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def test_build_context_holds_what_the_dockerfiles_copy_and_nothing_else() -> None:
    for stage in parse_dockerfile(DOCKERFILE).stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from"):
                continue
            for source in copy.split()[:-1]:
                assert (REPO / source).exists(), source
                assert not dockerignored(source), f"{source} is excluded from the context"
    assert not dockerignored("libs/fileflow_core/src/fileflow_core/settings.py")
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/unit/test_settings.py",
        "data/library/report.pdf",
        ".mypy_cache/3.11/x.json",
        "libs/fileflow_core/src/fileflow_core/__pycache__",
        "services/ingestor/src/ingestor/extract.cpython-311.pyc",
        "services/ingestor/.venv/lib",
        "compose.yaml",
    ):
        assert dockerignored(path), f"{path} would be sent to the builder"
