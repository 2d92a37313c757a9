"""The broker's queues as gauges, read by the ingestor itself with passive declares, so the
numbers exist on any broker (no management or Prometheus plugin needed)."""

from __future__ import annotations

import asyncio
import logging
import math

from fileflow_core import metrics
from fileflow_core.broker.topology import Topology
from fileflow_core.errors import TransientError
from fileflow_core.ports import Broker
from fileflow_core.runtime import honour_cancel

log = logging.getLogger(__name__)

QUEUE_POLL_S = 10.0


def depths_by_kind(topology: Topology, depths: dict[str, int]) -> dict[str, int]:
    """Per-queue depths summed into the gauge's kinds: work (the urgent queue of a quorum
    topology included), retry (every backoff step), hold and dead."""
    kinds = dict.fromkeys(metrics.QUEUES, 0)
    retry = {name for name, _ in topology.retry_queues}
    for name, depth in depths.items():
        if name in topology.consumed_queues:
            kinds["work"] += depth
        elif name == topology.dead_queue:
            kinds["dead"] += depth
        elif name == topology.hold_queue:
            kinds["hold"] += depth
        elif name in retry:
            kinds["retry"] += depth
    return kinds


async def read_queues(broker: Broker, topology: Topology) -> None:
    """Set the queue gauges once; when the broker cannot answer they read NaN, not a stale
    number an alert could trust."""
    try:
        depths = depths_by_kind(topology, await broker.queue_depths())
        consumers = await broker.work_consumers()
    except TransientError as exc:
        log.debug("queue gauges not read", extra={"reason": str(exc)})
        for kind in metrics.QUEUES:
            metrics.QUEUE_MESSAGES.labels(queue=kind).set(math.nan)
        metrics.QUEUE_CONSUMERS.set(math.nan)
        return
    for kind, depth in depths.items():
        metrics.QUEUE_MESSAGES.labels(queue=kind).set(depth)
    metrics.QUEUE_CONSUMERS.set(consumers)


async def poll_queues(broker: Broker, topology: Topology, interval_s: float = QUEUE_POLL_S) -> None:
    """``read_queues`` every ``interval_s`` until cancelled."""
    while True:
        await read_queues(broker, topology)
        honour_cancel()  # read_queues takes a swallowed cancel for a broker that cannot answer
        await asyncio.sleep(interval_s)
