"""Dockerfiles, compose.yaml, Prometheus and Grafana configuration, checked against the code.

No Docker engine is needed: the files are parsed and compared with the CLI's commands, the
settings fields and defaults, and the metrics the services register.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import fileflow_core.metrics as metrics_module
from fileflow.cli import app as cli_app
from fileflow_core.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
INFRA = ("rabbitmq", "redis", "postgres")


@dataclass(frozen=True)
class AppService:
    name: str
    dockerfile: str
    command: str
    port_field: str
    needs: tuple[str, ...]


APPS = (
    AppService(
        "file_watcher",
        "docker/file_watcher.Dockerfile",
        "watch",
        "watcher_http_port",
        ("rabbitmq",),
    ),
    AppService("ingestor", "docker/ingestor.Dockerfile", "ingest", "ingestor_http_port", INFRA),
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


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
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
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], parts[0])
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, alias))
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


_DEFAULTED = re.compile(r"\$\{(\w+)(:?-)([^}]*)\}")


def interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}`` with nothing set: the defaults."""
    text = _DEFAULTED.sub(lambda m: m.group(3), text)
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


# --- the CLI -------------------------------------------------------------------------------


def fileflow_commands() -> set[str]:
    group = typer.main.get_command(cli_app)
    commands = getattr(group, "commands", {})
    return set(commands)


def test_the_cli_registers_the_service_commands() -> None:
    assert {"watch", "ingest", "run", "migrate", "status"} <= fileflow_commands()


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_dockerfile_builds_the_locked_venv_in_a_builder_stage(svc: AppService) -> None:
    stages = parse_dockerfile(REPO / svc.dockerfile)
    assert len(stages) >= 2, "multi-stage build expected"
    builder, runtime = stages[0], stages[-1]
    assert builder.base == runtime.base, "the venv's interpreter must exist at the same path"
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", runtime.base), runtime.base

    uv_copy = [c for c in builder.all("COPY") if "ghcr.io/astral-sh/uv" in c]
    assert len(uv_copy) == 1
    assert re.fullmatch(r"--from=ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ /uv /uvx /bin/", uv_copy[0]), (
        "uv copied from a pinned official image"
    )

    syncs = [run for run in builder.all("RUN") if "uv sync" in run]
    assert syncs, "the builder installs with uv sync"
    for run in syncs:
        for flag in ("--frozen", "--no-dev", "--all-packages", "--mount=type=cache"):
            assert flag in run, f"{flag} missing in: {run}"
    assert "--no-editable" in syncs[-1], "the final venv must not point back at /app sources"
    assert "--no-install-workspace" in syncs[0], "dependencies layer first, for caching"

    copied_manifests = {
        part
        for copy in builder.all("COPY")
        for part in copy.split()
        if part.endswith("pyproject.toml") and "/" in part
    }
    members = {
        str(p.relative_to(REPO))
        for pattern in ("libs/*/pyproject.toml", "services/*/pyproject.toml")
        for p in REPO.glob(pattern)
    }
    assert copied_manifests == members, "every workspace member's manifest, for --frozen"


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_dockerfile_runtime_stage_is_unprivileged_and_self_contained(svc: AppService) -> None:
    runtime = parse_dockerfile(REPO / svc.dockerfile)[-1]
    user = runtime.last("USER").split(":")[0]
    assert user not in ("root", "0"), "the service must not run as root"
    assert all("uv" not in copy.split()[0] for copy in runtime.all("COPY")), "no uv at runtime"
    (venv_copy,) = [c for c in runtime.all("COPY") if c.startswith("--from=builder")]
    venv = venv_copy.split()[-1]
    assert venv.endswith("/.venv")
    env = runtime.env()
    assert env["PATH"].split(":")[0] == f"{venv}/bin"
    assert env["FILEFLOW_HTTP_HOST"] == "0.0.0.0"
    for key in env:
        if key.startswith("FILEFLOW_"):
            assert key.removeprefix("FILEFLOW_").lower() in Settings.model_fields, key


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_dockerfile_cmd_port_and_healthcheck_match_the_code(svc: AppService) -> None:
    runtime = parse_dockerfile(REPO / svc.dockerfile)[-1]
    assert json.loads(runtime.last("CMD")) == ["fileflow", svc.command]
    assert svc.command in fileflow_commands()

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
    expected = {*INFRA, "file_watcher", "ingestor", "prometheus", "grafana"}
    assert expected <= set(services)
    checks = {
        "rabbitmq": ["rabbitmq-diagnostics", "-q", "ping"],
        "redis": ["redis-cli", "ping"],
        "postgres": ["pg_isready"],
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
        if re.search(r"\w+://[^/\s]*:[^@/\s]+@", line):
            credentials = line.split("://", 1)[1].split("@", 1)[0]
            assert "${" in credentials.split(":", 1)[1], f"literal password in URL: {line}"


@pytest.mark.parametrize("svc", APPS, ids=APP_IDS)
def test_compose_app_service_matches_its_image_and_the_settings(
    svc: AppService,
    services: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    service = services[svc.name]
    assert service["build"]["dockerfile"] == svc.dockerfile
    assert Path(REPO / service["build"].get("context", "."), svc.dockerfile).is_file()
    runtime = parse_dockerfile(REPO / svc.dockerfile)[-1]
    command = service.get("command") or json.loads(runtime.last("CMD"))
    assert command[0] == "fileflow" and command[1] == svc.command

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

    mounts = {str(m).split(":")[1]: str(m).split(":")[0] for m in service.get("volumes", [])}
    for root in settings.roots:
        assert mounts.get(str(root.path), "").startswith("./"), f"{root.path} not bind-mounted"

    assert service.get("init") is True, "an init process forwards SIGTERM and reaps workers"
    assert duration_s(service["stop_grace_period"]) > settings.drain_timeout_s, (
        "docker must wait longer than the drain before SIGKILL"
    )

    hosts = {"amqp_url": "rabbitmq", "redis_url": "redis", "database_url": "postgres"}
    for setting, host in hosts.items():
        if f"FILEFLOW_{setting.upper()}" in env:
            assert urlsplit(getattr(settings, setting)).hostname == host
            assert host in svc.needs


def test_compose_credentials_agree(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_from(app_env(services["ingestor"]), monkeypatch, tmp_path)
    amqp, database = urlsplit(settings.amqp_url), urlsplit(settings.database_url)
    rabbit = services["rabbitmq"]["environment"]
    assert (amqp.username, amqp.password) == (
        rabbit["RABBITMQ_DEFAULT_USER"],
        rabbit["RABBITMQ_DEFAULT_PASS"],
    )
    pg = services["postgres"]["environment"]
    assert (database.username, database.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
    watcher = settings_from(app_env(services["file_watcher"]), monkeypatch, tmp_path)
    assert watcher.amqp_url == settings.amqp_url
    assert watcher.queue_name == settings.queue_name
    assert [(r.id, r.path) for r in watcher.roots] == [(r.id, r.path) for r in settings.roots]


def test_watcher_state_is_a_named_volume(
    services: dict[str, dict[str, Any]],
    compose: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    service = services["file_watcher"]
    runtime = parse_dockerfile(REPO / "docker/file_watcher.Dockerfile")[-1]
    settings = settings_from({**runtime.env(), **app_env(service)}, monkeypatch, tmp_path)
    named = set(compose.get("volumes") or {})
    sources = {
        str(m).split(":")[1]: str(m).split(":")[0]
        for m in service["volumes"]
        if str(m).split(":")[0] in named
    }
    assert str(settings.state_dir) in sources, "the watcher's state must survive re-creation"


# --- Prometheus ----------------------------------------------------------------------------


def scrape_targets() -> dict[str, set[str]]:
    config = load_yaml("docker/prometheus.yml")
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
    assert "./docker/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


# --- Grafana -------------------------------------------------------------------------------


def exposed_names() -> set[str]:
    """Sample names as Prometheus sees them (counters with _total, histograms with _bucket…)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
    }
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


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
        r'fileflow_ingestor_extractions_total\{outcome="failed"\}',
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
    for svc in APPS:
        for stage in parse_dockerfile(REPO / svc.dockerfile):
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
