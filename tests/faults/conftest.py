"""Fault scenarios: the services run as subprocesses so they can be killed for real."""

from __future__ import annotations

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
