"""The shipped alert rules: valid, firing as their tests say, on metrics the services export."""

from __future__ import annotations

import re
import subprocess

import pytest
from prometheus_client import generate_latest

from fileflow_core import metrics
from tests.support import REPO, promtool

RULES = REPO / "docker/prometheus"


def run_promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        cwd=RULES,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def exported_names() -> set[str]:
    metrics.watcher_root("any")
    return metrics.registered_names(metrics.WATCHER) | metrics.registered_names(metrics.INGESTOR)


def test_rules_are_valid() -> None:
    checked = run_promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout


def test_rules_fire_as_their_unit_tests_say() -> None:
    tested = run_promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_failure_an_operator_must_act_on_has_an_alert() -> None:
    text = (RULES / "alerts.yml").read_text()
    for alert in (
        "FileflowServiceDown",
        "FileflowRootUnavailable",
        "FileflowDeadLettersGrowing",
        "FileflowWorkBehind",
        "FileflowNoConsumers",
        "FileflowExtractionWorkersDying",
    ):
        assert f"alert: {alert}" in text
    config = (RULES / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in config


@pytest.mark.parametrize(
    "path", ["docker/prometheus/alerts.yml", "docker/prometheus/alerts.test.yml"]
)
def test_rules_use_only_metrics_the_services_export(path: str) -> None:
    used = set(re.findall(r"\bfileflow_[a-z_]+", (REPO / path).read_text()))
    assert used
    unknown = used - exported_names()
    assert not unknown, f"{path} uses metrics no service exports: {sorted(unknown)}"


@pytest.mark.parametrize(
    "registry", [metrics.WATCHER, metrics.INGESTOR], ids=["watcher", "ingestor"]
)
def test_each_registry_passes_promtool_check_metrics(registry: object) -> None:
    metrics.watcher_root("any")
    checked = run_promtool("check", "metrics", stdin=generate_latest(registry))  # type: ignore[arg-type]
    assert checked.returncode == 0, checked.stdout + checked.stderr
