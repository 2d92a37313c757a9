"""Outbox: per-path coalescing, lane order, and a hard bound."""

from __future__ import annotations

from datetime import UTC, datetime

from file_watcher.outbox import Outbox
from fileflow_core.messages import FileEvent, Operation

SEEN_AT = datetime(2024, 1, 1, tzinfo=UTC)


def up(path: str, size: int = 1) -> FileEvent:
    return FileEvent(root_id="lib", path=path, op=Operation.UPSERT, size=size, seen_at=SEEN_AT)


def rm(path: str) -> FileEvent:
    return FileEvent(root_id="lib", path=path, op=Operation.DELETE, priority=5, seen_at=SEEN_AT)


def test_newer_event_replaces_older_for_same_key() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("a", up("a", 1))
    outbox.put("a", up("a", 2))
    outbox.put("a", rm("a"))
    assert len(outbox) == 1
    assert outbox.coalesced == 2
    assert outbox.take(10) == [("a", rm("a"))]
    assert len(outbox) == 0
    assert "a" not in outbox


def test_lane_order_deletions_first_live_before_catch_up() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("scan-up", up("scan-up"), live=False)
    outbox.put("scan-rm", rm("scan-rm"), live=False)
    outbox.put("live-up", up("live-up"))
    outbox.put("live-rm", rm("live-rm"))
    assert [key for key, _ in outbox.take(10)] == ["live-rm", "live-up", "scan-rm", "scan-up"]


def test_take_respects_limit_and_fifo_within_lane() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    for name in ("a", "b", "c", "d"):
        outbox.put(name, up(name))
    assert [key for key, _ in outbox.take(3)] == ["a", "b", "c"]
    assert [key for key, _ in outbox.take(3)] == ["d"]
    assert outbox.take(3) == []


def test_catch_up_never_overrides_live() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("a", rm("a"))
    outbox.put("a", up("a", 5), live=False)
    outbox.put("b", up("b", 1))
    outbox.put("b", rm("b"), live=False)
    assert outbox.take(10) == [("a", rm("a")), ("b", up("b", 1))]
    assert outbox.coalesced == 0


def test_live_overrides_catch_up() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("a", up("a", 5), live=False)
    outbox.put("a", up("a", 6))
    assert outbox.coalesced == 1
    assert outbox.take(10) == [("a", up("a", 6))]


def test_catch_up_replaces_catch_up() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("a", up("a", 1), live=False)
    outbox.put("a", rm("a"), live=False)
    assert outbox.take(10) == [("a", rm("a"))]


def test_put_back_does_not_override_newer() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("a", up("a", 1))
    outbox.put("b", up("b", 1))
    taken = outbox.take(10)
    outbox.put("a", rm("a"))
    outbox.put_back(taken)
    remaining = dict(outbox.take(10))
    assert remaining == {"a": rm("a"), "b": up("b", 1)}


def test_put_back_returns_catch_up_items() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=100)
    outbox.put("a", up("a"), live=False)
    taken = outbox.take(10)
    outbox.put_back(taken)
    assert "a" in outbox
    assert outbox.take(10) == taken


def test_overflow_clears_and_flags() -> None:
    outbox: Outbox[str, FileEvent] = Outbox(max_items=3)
    for name in ("a", "b", "c"):
        outbox.put(name, up(name))
    assert not outbox.overflowed
    outbox.put("a", up("a", 9))  # coalesced, still within bound
    assert not outbox.overflowed
    assert len(outbox) == 3
    outbox.put("d", up("d"))
    assert outbox.overflowed
    assert len(outbox) == 0
    assert outbox.take(10) == []
