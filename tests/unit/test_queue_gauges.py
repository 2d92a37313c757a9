"""The queue gauges' polling ends when cancelled, even if the broker client turns the cancel
into one of its own errors (the ingestor's shutdown waits for this task)."""

from __future__ import annotations

import asyncio
import math

from fileflow_core import metrics
from fileflow_core.broker.topology import Topology
from fileflow_core.errors import TransientError
from ingestor.queue_gauges import depths_by_kind, poll_queues

TOPOLOGY = Topology("q", 3, 0.2)


class SwallowingBroker:
    """A broker whose read is in flight when the cancel comes, and whose client reports the
    cancel as a connection error, as aiormq can."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.swallowed = False

    async def queue_depths(self) -> dict[str, int]:
        self.reading.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed = True  # once: a failing run must still end
            raise TransientError("cannot read queue depths: channel closed") from None
        return {}

    async def work_consumers(self) -> int:
        return 0


async def test_a_cancel_the_client_swallowed_still_ends_the_polling() -> None:
    broker = SwallowingBroker()
    task = asyncio.create_task(poll_queues(broker, TOPOLOGY, interval_s=0.01))  # type: ignore[arg-type]
    await asyncio.wait_for(broker.reading.wait(), 1)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    assert task in done and task.cancelled()
    assert math.isnan(metrics.QUEUE_CONSUMERS._value.get())


def test_depths_are_summed_by_kind() -> None:
    depths = {"q": 5, "q.dead": 2, TOPOLOGY.hold_queue: 1, TOPOLOGY.retry_queue(1): 3}
    kinds = depths_by_kind(TOPOLOGY, depths)
    assert (kinds["work"], kinds["dead"], kinds["hold"], kinds["retry"]) == (5, 2, 1, 3)
