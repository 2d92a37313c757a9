"""Fault scenarios: the services run as subprocesses so they can be killed for real."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fileflow_core.broker.topology import Topology
from fileflow_core.settings import Settings
from tests.faults.invariant import Verdict, check
from tests.pipeline import Db
from tests.services import EXTRACTIONS


@pytest.fixture
def verify(settings: Settings, root_dir: Path):  # type: ignore[no-untyped-def]
    topology = Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)

    async def run(dead_letters: int = 0, *, reextraction_forced: bool = False) -> Verdict:
        verdict = await check(
            Db(settings.database_url),
            root_dir,
            "lib",
            settings.queue_name,
            [name for name, _ in topology.retry_queues],
        )
        print(
            f"\ninvariant: {verdict.files} files, lost {len(verdict.lost)}, duplicated "
            f"{len(verdict.duplicated)}, stale {len(verdict.stale)}, extra "
            f"{len(verdict.extra)}, queues {verdict.queues}"
        )
        assert verdict.holds, verdict
        assert verdict.queues[f"{settings.queue_name}.dead"] == dead_letters
        contents = await Db(settings.database_url).fetchval("SELECT count(*) FROM contents")
        extractions = EXTRACTIONS.get(settings.queue_name, 0.0)
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
        diagnosis = asyncio.run(_diagnose(settings, root_dir))
    except Exception as exc:  # a diagnosis must never hide the failure itself
        diagnosis = f"diagnosis failed: {exc!r}"
    report.sections.append(("where the files stand", diagnosis))


async def _diagnose(settings: Settings, root_dir: Path) -> str:
    topology = Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)
    db = Db(settings.database_url)
    verdict = await check(
        db, root_dir, "lib", settings.queue_name, [name for name, _ in topology.retry_queues]
    )
    rows = await db.fetch(
        "SELECT path, status, deleted, attempts, error FROM files"
        " WHERE status <> 'completed' OR deleted ORDER BY path LIMIT 20"
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
