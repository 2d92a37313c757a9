"""The tree shows the flow, and stays in small pieces: checked, so it stays so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for folder in ("libs", "services", "src")
    for path in sorted((REPO / folder).rglob("*.py"))
    if ".venv" not in path.parts
]
ADAPTERS = ("store/postgres/", "store/sqlite/", "broker/rabbitmq/", "broker/memory/", "cache/")
MAX_MODULE_LINES = 400
MAX_ADAPTER_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_modules_and_functions_stay_small(path: Path) -> None:
    text = path.read_text()
    lines = text.count("\n")
    limit = (
        MAX_ADAPTER_MODULE_LINES
        if any(part in path.as_posix() for part in ADAPTERS)
        else MAX_MODULE_LINES
    )
    assert lines <= limit, f"{_name(path)} has {lines} lines, over {limit}: split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, (
                f"{_name(path)}:{node.lineno} {node.name} has {length} lines, "
                f"over {MAX_FUNCTION_LINES}"
            )


def test_the_watcher_reads_as_its_flow() -> None:
    steps = REPO / "services" / "file_watcher" / "src" / "file_watcher"
    for step in ("watch", "observe", "settle", "decide", "publish", "catchup", "service"):
        assert (steps / f"{step}.py").is_file(), f"the watcher's step {step!r} is a module"


def test_the_settling_rule_is_pure() -> None:
    tree = ast.parse(
        (REPO / "services" / "file_watcher" / "src" / "file_watcher" / "settle.py").read_text()
    )
    imported = {
        name.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for name in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {
        "asyncio",
        "os",
        "pathlib",
        "time",
        "watchfiles",
        "stat",
        "fileflow_core",
    }
