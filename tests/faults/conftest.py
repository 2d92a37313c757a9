"""Fault scenarios: the services run as subprocesses so they can be killed for real.

Everything here is bounded, so a failing scenario reports its failure and the suite ends:
services are stopped with a deadline and then killed (``tests.services``), servers a scenario
stopped are started again after it, and the diagnosis of a failure has a time limit.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fileflow_core.broker.topology import Topology
from fileflow_core.settings import Settings
from tests.faults.invariant import Verdict, check
from tests.pipeline import Db
from tests.services import EXTRACTIONS, stop_leftover_services

SERVICES_UP = Path(__file__).resolve().parents[2] / "scripts" / "services-up.sh"
SERVICES_UP_TIMEOUT_S = 180
DIAGNOSIS_TIMEOUT_S = 30


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The standard event loop on the test side (the services under test run uvloop in their
    own processes): uvloop's ``close`` waits for every open transport, so one connection a
    failing scenario left open held the whole run past any timeout."""
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
def no_leftover_services() -> None:
    """Services an interrupted earlier run left behind would compete with this run's."""
    stopped = stop_leftover_services()
    if stopped:
        print(f"\nstopped {len(stopped)} service process(es) left by an interrupted run")


@pytest.fixture(autouse=True)
def servers_restarted_after() -> Iterator[None]:
    """A scenario that stops a server and then fails must not leave it down for the next."""
    yield
    subprocess.run(
        ["bash", str(SERVICES_UP)], check=True, capture_output=True, timeout=SERVICES_UP_TIMEOUT_S
    )


@pytest.fixture
def verify(settings: Settings, root_dir: Path):  # type: ignore[no-untyped-def]
    """The invariant, for the test's pipeline or for another one it set up (``of``, ``root``)."""

    async def run(
        dead_letters: int = 0,
        *,
        reextraction_forced: bool = False,
        of: Settings | None = None,
        root: Path | None = None,
    ) -> Verdict:
        checked = of or settings
        topology = Topology(
            checked.queue_name,
            checked.max_attempts,
            checked.retry_base_delay_s,
            checked.hold_delay_s,
        )
        verdict = await check(
            Db(checked.database_url),
            root or root_dir,
            "lib",
            checked.queue_name,
            [*(name for name, _ in topology.retry_queues), topology.hold_queue],
        )
        print(
            f"\ninvariant: {verdict.files} files, lost {len(verdict.lost)}, duplicated "
            f"{len(verdict.duplicated)}, stale {len(verdict.stale)}, extra "
            f"{len(verdict.extra)}, queues {verdict.queues}"
        )
        assert verdict.holds, verdict
        assert verdict.queues[f"{checked.queue_name}.dead"] == dead_letters
        contents = await Db(checked.database_url).fetchval("SELECT count(*) FROM contents")
        extractions = EXTRACTIONS.get(checked.queue_name, 0.0)
        print(f"extractions by cleanly stopped ingestors: {extractions:.0f}, contents: {contents}")
        if not reextraction_forced:
            assert extractions <= contents, "a content was extracted twice"
        return verdict

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """When a scenario fails, say where every file stands before its database is dropped: a
    failure that does not reproduce must still explain itself."""
    outcome = yield
    report = outcome.get_result()
    settings = getattr(item, "funcargs", {}).get("settings")
    root_dir = getattr(item, "funcargs", {}).get("root_dir")
    if call.when != "call" or not report.failed or settings is None or root_dir is None:
        return
    try:
        diagnosis = asyncio.run(
            asyncio.wait_for(_diagnose(settings, root_dir), DIAGNOSIS_TIMEOUT_S)
        )
    except Exception as exc:  # a diagnosis must never hide the failure itself
        diagnosis = f"diagnosis failed: {exc!r}"
    report.sections.append(("where the files stand", diagnosis))


async def _diagnose(settings: Settings, root_dir: Path) -> str:
    topology = Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)
    db = Db(settings.database_url)
    verdict = await check(
        db,
        root_dir,
        "lib",
        settings.queue_name,
        [*(name for name, _ in topology.retry_queues), topology.hold_queue],
    )
    rows = await db.fetch(
        "SELECT path, status, attempts, error FROM files"
        " WHERE status <> 'completed' ORDER BY path LIMIT 20"
    )
    return "\n".join(
        [
            f"lost {verdict.lost[:20]}",
            f"stale {verdict.stale[:20]}, duplicated {verdict.duplicated[:20]}",
            f"queues {verdict.queues}",
            "rows not completed:",
            *(f"  {dict(row)}" for row in rows),
        ]
    )
