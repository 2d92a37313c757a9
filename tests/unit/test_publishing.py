"""Packing events into messages."""

from __future__ import annotations

import pytest

from fileflow_core.messages import FileEvent, Operation
from fileflow_core.publishing import message_batches


def _event(path: str, op: Operation = Operation.UPSERT) -> FileEvent:
    return FileEvent.observed("lib", path, op)


def test_batches_hold_one_priority_highest_first_in_order() -> None:
    events = [_event("u1"), _event("d1", Operation.DELETE), _event("u2"), _event("u3")]
    batches = message_batches(events, 2)
    assert [[e.path for e in batch] for batch in batches] == [["d1"], ["u1", "u2"], ["u3"]]


def test_one_event_a_message_when_batching_is_off() -> None:
    batches = message_batches([_event("a"), _event("b")], 1)
    assert [[e.path for e in batch] for batch in batches] == [["a"], ["b"]]


def test_nothing_to_send_is_no_message() -> None:
    assert message_batches([], 20) == []


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        message_batches([_event("a")], 0)
