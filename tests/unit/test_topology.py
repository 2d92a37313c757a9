"""Queue names and backoff: delays grow 4x and cap, one retry queue per distinct delay."""

from __future__ import annotations

from fileflow_core.broker.topology import DELIVERY_LIMIT, MAX_RETRY_DELAY_S, Topology
from fileflow_core.messages import MAX_PRIORITY, PRIORITY, Operation


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


def test_classic_declares_what_it_always_did() -> None:
    topology = Topology("q", max_attempts=3, retry_base_delay_s=1.0)
    assert topology.queues == ["q.dead", "q.retry.1000ms", "q.retry.4000ms", "q.hold.30000ms", "q"]
    assert topology.consumed_queues == ["q"]
    assert topology.queue_for(PRIORITY[Operation.DELETE]) == "q"
    assert topology.arguments("q.dead") == {}
    assert all("x-queue-type" not in topology.arguments(name) for name in topology.queues)


def test_quorum_sends_deletions_to_an_urgent_queue_consumed_first() -> None:
    topology = Topology("q", max_attempts=3, retry_base_delay_s=1.0, queue_type="quorum")
    assert topology.consumed_queues == ["q.urgent", "q"]
    assert topology.queue_for(PRIORITY[Operation.DELETE]) == "q.urgent"
    assert topology.queue_for(PRIORITY[Operation.UPSERT]) == "q"
    assert topology.queues[-2:] == ["q", "q.urgent"]


def test_quorum_arguments_keep_retries_and_dead_letters() -> None:
    topology = Topology("q", max_attempts=3, retry_base_delay_s=1.0, queue_type="quorum")
    for name in topology.queues:
        arguments = topology.arguments(name)
        assert arguments["x-queue-type"] == "quorum"
        assert "x-max-priority" not in arguments  # quorum queues refuse it
        if "x-dead-letter-exchange" in arguments:
            # at-least-once dead-lettering is refused without reject-publish
            assert arguments["x-dead-letter-strategy"] == "at-least-once"
            assert arguments["x-overflow"] == "reject-publish"
    for work in ("q", "q.urgent"):
        assert topology.arguments(work)["x-dead-letter-routing-key"] == "q.dead"
        assert topology.arguments(work)["x-delivery-limit"] == DELIVERY_LIMIT
    retry = topology.arguments("q.retry.4000ms")
    assert retry["x-message-ttl"] == 4000
    assert retry["x-dead-letter-routing-key"] == "q"
    assert topology.arguments("q.hold.30000ms")["x-message-ttl"] == 30000
    assert topology.arguments("q.dead") == {"x-queue-type": "quorum"}
