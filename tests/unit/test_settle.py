"""Settler: one report per key once its observation stops changing for settle_s."""

from __future__ import annotations

from file_watcher.settle import Settler


def test_nothing_due_before_settle_time() -> None:
    settler: Settler[str, int] = Settler(settle_s=1.0)
    assert settler.note("a", 1, now=10.0)
    assert settler.due(10.5) == []
    assert settler.pending_keys() == ["a"]
    assert settler.due(11.0) == [("a", 1)]
    assert len(settler) == 0
    assert settler.due(100.0) == []


def test_burst_of_same_observation_coalesces() -> None:
    settler: Settler[str, int] = Settler(settle_s=1.0)
    assert settler.note("a", 7, now=0.0)
    assert not settler.note("a", 7, now=0.3)
    assert not settler.note("a", 7, now=0.9)
    # Repeating the same observation does not restart the clock.
    assert settler.due(1.0) == [("a", 7)]


def test_change_resets_the_clock() -> None:
    settler: Settler[str, int] = Settler(settle_s=1.0)
    settler.note("a", 1, now=0.0)
    assert settler.note("a", 2, now=0.8)
    assert settler.due(1.2) == []
    assert settler.due(1.8) == [("a", 2)]


def test_create_then_delete_gives_one_none() -> None:
    settler: Settler[str, int] = Settler(settle_s=0.5)
    settler.note("a", 1, now=0.0)
    settler.note("a", 2, now=0.1)
    settler.note("a", None, now=0.2)
    assert len(settler) == 1
    assert settler.due(1.0) == [("a", None)]


def test_keys_settle_independently() -> None:
    settler: Settler[str, int] = Settler(settle_s=1.0)
    settler.note("a", 1, now=0.0)
    settler.note("b", 1, now=0.5)
    assert settler.due(1.0) == [("a", 1)]
    assert settler.pending_keys() == ["b"]
    assert settler.due(1.5) == [("b", 1)]


def test_zero_settle_is_immediate() -> None:
    settler: Settler[str, int] = Settler(settle_s=0.0)
    settler.note("a", 1, now=3.0)
    assert settler.due(3.0) == [("a", 1)]


def test_noted_again_after_due_is_new() -> None:
    settler: Settler[str, int] = Settler(settle_s=1.0)
    settler.note("a", 1, now=0.0)
    assert settler.due(2.0) == [("a", 1)]
    assert settler.note("a", 1, now=2.0)
    assert settler.due(2.5) == []
    assert settler.due(3.0) == [("a", 1)]


def test_a_known_quiet_period_counts_towards_settling() -> None:
    settler: Settler[str, int] = Settler(settle_s=1.0)
    # Unchanged since 0.7 s before it was noted (its mtime says so): due 0.3 s later.
    settler.note("a", 1, now=10.0, unchanged_since=9.3)
    assert settler.due(10.2) == []
    assert settler.due(10.3) == [("a", 1)]
    # A claim from the future is no reason to wait longer than usual.
    settler.note("b", 1, now=20.0, unchanged_since=25.0)
    assert settler.due(21.0) == [("b", 1)]


def test_forget_drops_what_is_pending() -> None:
    settler: Settler[str, int] = Settler(1.0)
    settler.note("a", 1, now=0.0)
    settler.forget("a")
    settler.forget("never noted")
    assert "a" not in settler
    assert settler.due(now=5.0) == []
