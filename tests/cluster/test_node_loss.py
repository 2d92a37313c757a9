"""A node of the RabbitMQ cluster killed mid-import: first the one holding the quorum queue's
leader, then one an ingestor is connected to (each restarted before the next kill, so a
majority of the three always stands). Nothing is lost, nothing is stored twice, the queues
drain and the dead-letter queue stays empty; the seconds until ingestion resumed are printed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from math import nan as NAN
from pathlib import Path

import aiohttp
import pytest

from fileflow_core.broker.topology import Topology
from fileflow_core.settings import Settings
from tests.cluster.nodes import Node, connections_on, queue_leader, restart
from tests.faults.invariant import check, queue_depths
from tests.pipeline import Db
from tests.services import Service, service, service_env
from tests.support import wait_until

pytestmark = pytest.mark.integration

FILES = int(os.environ.get("FILEFLOW_CLUSTER_FILES", "20000"))
# Files written a second: the import lasts long enough for both kills to land inside it.
RATE = int(os.environ.get("FILEFLOW_CLUSTER_RATE", "500"))
PER_FOLDER = 1000
# The kernel closes a killed node's sockets at once: by then its clients know.
NOTICE_S = 0.5
RESUME_TIMEOUT_S = 120
DRAIN_TIMEOUT_S = 900


async def write_files(root: Path, count: int, rate: int) -> None:
    started = time.monotonic()
    for i in range(count):
        folder = root / f"d{i // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            folder.mkdir()
        (folder / f"f{i:06d}.txt").write_text(f"file {i} of the cluster import\n")
        if i % 50 == 49:
            await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))


async def consumed(ingestors: list[Service]) -> list[float]:
    """Messages each ingestor has received so far (NaN for one that does not answer)."""
    counts = []
    for ingestor in ingestors:
        try:
            metrics = await ingestor.metrics()
        except (aiohttp.ClientError, TimeoutError):
            metrics = {}
        counts.append(metrics.get("fileflow_ingestor_messages_total{outcome=consumed}", NAN))
    return counts


def moved(log: Path) -> bool:
    """Whether the service of ``log`` lost its node and went to the next (its own line)."""
    return "RabbitMQ connection lost; trying" in log.read_text()


async def kill_and_measure(node: Node, services: list[Service], ingestors: list[Service]) -> float:
    """SIGKILL ``node``; seconds until every service is ready again and every ingestor receives
    deliveries again."""
    killed = time.monotonic()
    await asyncio.to_thread(node.kill)
    await asyncio.sleep(NOTICE_S)

    async def all_ready() -> bool:
        return all(await asyncio.gather(*(s.ready() for s in services)))

    await wait_until(all_ready, bool, timeout_s=RESUME_TIMEOUT_S, interval_s=0.1, what="ready")
    before = await consumed(ingestors)
    await wait_until(
        lambda: consumed(ingestors),
        lambda now: all(n > b for n, b in zip(now, before, strict=True)),
        timeout_s=RESUME_TIMEOUT_S,
        interval_s=0.1,
        what="deliveries again",
    )
    return time.monotonic() - killed


@pytest.mark.timeout(DRAIN_TIMEOUT_S + 600)
async def test_nodes_killed_mid_import_lose_nothing(
    cluster: list[Node], settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    topology = Topology(settings.queue_name, settings.max_attempts, 0.2, queue_type="quorum")
    urls = [node.url for node in cluster]

    def env(first: int) -> dict[str, str]:
        # Each process starts on another node; a lost node sends it to the next in its list.
        nodes = ",".join(urls[first:] + urls[:first])
        return service_env(
            settings, root_dir, FILEFLOW_QUEUE_TYPE="quorum", FILEFLOW_AMQP_URL=nodes
        )

    db = Db(settings.database_url)

    async def completed() -> int:
        return int(await db.fetchval("SELECT count(*) FROM files WHERE status = 'completed'"))

    kills: list[tuple[str, float]] = []
    async with contextlib.AsyncExitStack() as stack:
        ingestors = [
            await stack.enter_async_context(
                service("ingest", env(i), log=tmp_path / f"ingestor{i}.log")
            )
            for i in range(3)
        ]
        watcher = await stack.enter_async_context(
            service("watch", env(1), log=tmp_path / "watcher.log")
        )
        services = [*ingestors, watcher]
        writing = asyncio.create_task(write_files(root_dir, FILES, RATE))
        started = time.monotonic()
        try:
            await wait_until(completed, lambda n: n >= FILES * 0.15, timeout_s=RESUME_TIMEOUT_S)
            leader = await asyncio.to_thread(queue_leader, cluster, settings.queue_name)
            seconds = await kill_and_measure(leader, services, ingestors)
            kills.append((f"{leader.nodename} (the queue's leader)", seconds))
            assert moved(tmp_path / f"ingestor{cluster.index(leader)}.log")
            await asyncio.to_thread(restart, leader)

            await wait_until(completed, lambda n: n >= FILES * 0.5, timeout_s=DRAIN_TIMEOUT_S)
            # Ingestor i started on node i and never lost it unless that node was the leader.
            target = cluster[(cluster.index(leader) + 2) % 3]
            assert await asyncio.to_thread(connections_on, target) > 0
            seconds = await kill_and_measure(target, services, ingestors)
            kills.append((f"{target.nodename} (an ingestor's node)", seconds))
            assert moved(tmp_path / f"ingestor{cluster.index(target)}.log")
            await asyncio.to_thread(restart, target)
            await writing
        finally:
            writing.cancel()
        await wait_until(completed, lambda n: n >= FILES, timeout_s=DRAIN_TIMEOUT_S)
        elapsed = time.monotonic() - started
        await wait_until(
            lambda: queue_depths(settings.queue_name, topology.queues, url=urls[0]),
            lambda depths: not any(depths.values()),
            timeout_s=RESUME_TIMEOUT_S,
            what="every queue drained",
        )

    queues = [q for q in topology.queues if q not in (topology.work_queue, topology.dead_queue)]
    verdict = await check(db, root_dir, "lib", settings.queue_name, queues, url=urls[0])
    print(f"\ncluster: {FILES} files at up to {RATE}/s imported in {elapsed:.1f}s by 3 ingestors")
    for what, seconds in kills:
        print(
            f"killed {what}: ingestion resumed after {seconds:.1f}s; "
            f"lost {len(verdict.lost)}, duplicated {len(verdict.duplicated)}"
        )
    print(f"queues at the end: {verdict.queues}")
    assert verdict.holds, verdict
    assert verdict.queues[topology.dead_queue] == 0
    assert verdict.files == FILES
