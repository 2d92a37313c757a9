"""Queue names and backoff: delays grow 4x and cap, one retry queue per distinct delay."""

from __future__ import annotations

from fileflow_core.broker.topology import MAX_RETRY_DELAY_S, Topology
from fileflow_core.messages import MAX_PRIORITY


def test_retry_delays_grow_by_four() -> None:
    topology = Topology("q", max_attempts=5, retry_base_delay_s=0.5)
    assert [topology.retry_delay_s(a) for a in range(1, 5)] == [0.5, 2.0, 8.0, 32.0]


def test_retry_delays_cap() -> None:
    topology = Topology("q", max_attempts=50, retry_base_delay_s=1.0)
    delays = [topology.retry_delay_s(a) for a in range(1, 50)]
    assert delays == sorted(delays)
    assert max(delays) == MAX_RETRY_DELAY_S
    assert topology.retry_delay_s(49) == MAX_RETRY_DELAY_S


def test_queue_names() -> None:
    topology = Topology("fileflow.events", max_attempts=3, retry_base_delay_s=0.25)
    assert topology.dead_queue == "fileflow.events.dead"
    assert topology.retry_queue(1) == "fileflow.events.retry.250ms"
    assert topology.retry_queue(2) == "fileflow.events.retry.1000ms"


def test_retry_queues_one_per_retry() -> None:
    topology = Topology("q", max_attempts=3, retry_base_delay_s=1.0)
    assert topology.retry_queues == [("q.retry.1000ms", 1.0), ("q.retry.4000ms", 4.0)]


def test_retry_queues_dedupe_capped_delays() -> None:
    topology = Topology("q", max_attempts=20, retry_base_delay_s=1.0)
    queues = topology.retry_queues
    names = [name for name, _ in queues]
    assert len(names) == len(set(names))
    # 1, 4, 16, 64, 256, 1024 seconds, then the cap once.
    assert len(queues) == 7
    assert queues[-1] == ("q.retry.3600000ms", MAX_RETRY_DELAY_S)
    for attempt in range(1, 20):
        assert topology.retry_queue(attempt) in names


def test_single_attempt_has_no_retry_queue() -> None:
    assert Topology("q", max_attempts=1, retry_base_delay_s=1.0).retry_queues == []


def test_arguments_route_to_dead_and_back_to_work() -> None:
    topology = Topology("q", max_attempts=3, retry_base_delay_s=1.0)
    work = topology.work_arguments()
    assert work["x-dead-letter-routing-key"] == "q.dead"
    assert work["x-max-priority"] == MAX_PRIORITY
    retry = topology.retry_arguments(4.0)
    assert retry["x-message-ttl"] == 4000
    assert retry["x-dead-letter-routing-key"] == "q"
    assert retry["x-dead-letter-exchange"] == ""
