"""The message contract: round trip, and a decoder that rejects anything but a v1 event, a v3
event (a path that is not UTF-8, as bytes) or a v2 batch of them, a batch's invalid entries one
by one."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fileflow_core.errors import MessageDecodeError, PermanentError
from fileflow_core.messages import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_MESSAGE_BYTES,
    PRIORITY,
    BatchEntry,
    FileEvent,
    Operation,
    decode_event,
    decode_message,
    encode_event,
    encode_events,
)


def _body(**changes: Any) -> bytes:
    data: dict[str, Any] = {
        "schema_version": 1,
        "root_id": "lib",
        "path": "docs/report.pdf",
        "op": "upsert",
    }
    data.update(changes)
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


def test_round_trip_keeps_every_field() -> None:
    event = FileEvent(
        root_id="photos-2024",
        path="a/b/ç é.jpg",
        op=Operation.DELETE,
        size=123,
        mtime_ns=1_700_000_000_123_456_789,
        inode=42,
        seen_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        priority=5,
        reprocess=True,
    )
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert decoded.mtime_ns == 1_700_000_000_123_456_789


def test_observed_sets_priority_deletions_first() -> None:
    delete = FileEvent.observed("lib", "x.txt", Operation.DELETE)
    upsert = FileEvent.observed("lib", "x.txt", Operation.UPSERT, size=3)
    assert delete.priority == PRIORITY[Operation.DELETE]
    assert upsert.priority == PRIORITY[Operation.UPSERT]
    assert delete.priority > upsert.priority
    assert decode_event(encode_event(upsert)).size == 3


def test_minimal_body_decodes_with_defaults() -> None:
    event = decode_event(_body())
    assert event.root_id == "lib"
    assert event.path == "docs/report.pdf"
    assert event.op is Operation.UPSERT
    assert event.size is None
    assert event.reprocess is False
    assert event.seen_at.tzinfo is not None


def test_decode_error_is_permanent() -> None:
    assert issubclass(MessageDecodeError, PermanentError)


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b"\xff\xfe", b'{"a": 1,}'])
def test_rejects_non_json(body: bytes) -> None:
    with pytest.raises(MessageDecodeError, match="not JSON"):
        decode_event(body)


@pytest.mark.parametrize("body", [b"[]", b"1", b'"text"', b"null", b"true", b"[{}]"])
def test_rejects_non_object(body: bytes) -> None:
    with pytest.raises(MessageDecodeError, match="expected an object"):
        decode_event(body)


@pytest.mark.parametrize("version", [..., None, 0, 4, "1", "2", "3", [1], {"v": 1}])
def test_rejects_wrong_or_missing_schema_version(version: Any) -> None:
    with pytest.raises(MessageDecodeError, match="schema_version"):
        decode_event(_body(schema_version=version))


def test_rejects_boolean_schema_version() -> None:
    with pytest.raises(MessageDecodeError, match="schema_version"):
        decode_event(_body(schema_version=True))


def test_rejects_unknown_fields() -> None:
    with pytest.raises(MessageDecodeError, match="surprise"):
        decode_event(_body(surprise=True))


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "a/../../b", "..", "/etc/passwd", "a//b", "a/", "./a", "a/./b", "a\x00b", ""],
)
def test_rejects_unsafe_paths(path: str) -> None:
    with pytest.raises(MessageDecodeError, match="path"):
        decode_event(_body(path=path))


def test_constructor_rejects_unsafe_path_too() -> None:
    with pytest.raises(ValueError, match=r"\.\."):
        FileEvent(root_id="lib", path="a/../b", op=Operation.UPSERT)


@pytest.mark.parametrize("field", ["root_id", "path", "op"])
def test_rejects_missing_required_field(field: str) -> None:
    with pytest.raises(MessageDecodeError, match=field):
        decode_event(_body(**{field: ...}))


@pytest.mark.parametrize("root_id", ["", "-lib", "a/b", "a b", "x" * 65])
def test_rejects_bad_root_id(root_id: str) -> None:
    with pytest.raises(MessageDecodeError, match="root_id"):
        decode_event(_body(root_id=root_id))


@pytest.mark.parametrize("op", ["create", "UPSERT", "", None, 1])
def test_rejects_bad_op(op: Any) -> None:
    with pytest.raises(MessageDecodeError, match="op"):
        decode_event(_body(op=op))


@pytest.mark.parametrize("field", ["size", "mtime_ns", "inode"])
def test_rejects_negative_numbers(field: str) -> None:
    with pytest.raises(MessageDecodeError, match=field):
        decode_event(_body(**{field: -1}))


@pytest.mark.parametrize("priority", [-1, 10])
def test_rejects_priority_out_of_range(priority: int) -> None:
    with pytest.raises(MessageDecodeError, match="priority"):
        decode_event(_body(priority=priority))


def test_rejects_oversize_body() -> None:
    body = _body(path="a" * 10) + b" " * (MAX_MESSAGE_BYTES + 1)
    with pytest.raises(MessageDecodeError, match="over"):
        decode_event(body)


def test_accepts_body_at_size_limit() -> None:
    body = _body()
    padded = body + b" " * (MAX_MESSAGE_BYTES - len(body))
    assert len(padded) == MAX_MESSAGE_BYTES
    assert decode_event(padded).path == "docs/report.pdf"


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "schema_version": st.sampled_from([1, 1, 1, 2, 3, "1", None, True, 1.0]),
        "root_id": st.sampled_from(["lib", "", "-x", "a b"]) | st.text(max_size=70),
        "path": st.sampled_from(["a", "a/b", "../a", "/a", "a//b", ""]) | st.text(max_size=30),
        "op": st.sampled_from(["upsert", "delete", "move"]) | _json_leaf,
        "size": st.integers() | _json_leaf,
        "mtime_ns": st.integers() | _json_leaf,
        "inode": st.integers(min_value=-(2**63), max_value=2**64 - 1) | _json_leaf,
        "seen_at": st.sampled_from(["2024-01-01T00:00:00Z", "yesterday", ""]) | _json_leaf,
        "priority": st.integers(min_value=-3, max_value=12) | _json_leaf,
        "reprocess": _json_leaf,
        "path_bytes": st.sampled_from(["YQ==", "Y2Fm6S50eHQ=", "!!", ""]) | _json_leaf,
        "extra": _json,
    },
)


def _decodes_or_rejects(body: bytes) -> None:
    try:
        event = decode_event(body)
    except MessageDecodeError:
        return
    assert isinstance(event, FileEvent)
    assert decode_event(encode_event(event)) == event


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_arbitrary_bytes(body: bytes) -> None:
    _decodes_or_rejects(body)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_fuzz_arbitrary_json(value: Any) -> None:
    try:
        body = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return
    _decodes_or_rejects(body)


@settings(max_examples=300, deadline=None)
@given(_event_like)
def test_fuzz_event_like_objects(value: dict[str, Any]) -> None:
    try:
        body = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return  # integers beyond 64 bits cannot be encoded by orjson
    _decodes_or_rejects(body)


def _events(count: int) -> list[FileEvent]:
    return [
        FileEvent.observed("lib", f"d/f{i}.txt", Operation.UPSERT, size=i, mtime_ns=i, inode=i)
        for i in range(count)
    ]


def test_batch_round_trip_and_each_entry_alone() -> None:
    events = _events(3)
    body = encode_events(events)
    assert orjson.loads(body)["schema_version"] == 2
    entries = decode_message(body)
    assert isinstance(entries, list)
    assert [entry.event for entry in entries] == events
    # Each entry republished alone (a retry, a dead letter) is a v1 message of that event.
    assert [decode_event(entry.body()) for entry in entries] == events


def test_one_event_is_sent_as_v1_for_any_ingestor() -> None:
    (event,) = _events(1)
    assert decode_event(encode_events([event])) == event


def test_decode_event_refuses_a_batch_saying_so() -> None:
    with pytest.raises(MessageDecodeError, match="batch"):
        decode_event(encode_events(_events(2)))


def test_invalid_batch_entries_fail_alone() -> None:
    good = [event.model_dump(mode="json") for event in _events(2)]
    outside = {**good[0], "path": "../etc/passwd"}
    body = orjson.dumps(
        {"schema_version": 2, "events": [good[0], outside, "not an event", good[1], {}]}
    )
    entries = decode_message(body)
    assert isinstance(entries, list)
    assert [entry.event is not None for entry in entries] == [True, False, False, True, False]
    assert [entry.event.path for entry in entries if entry.event] == ["d/f0.txt", "d/f1.txt"]
    assert "path" in str(entries[1].error)
    assert "expected an object" in str(entries[2].error)
    assert "schema_version" in str(entries[4].error)
    # The invalid entry is dead-lettered as it came, for a human to read.
    assert orjson.loads(entries[1].body()) == outside


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({"schema_version": 2}, "'events' must be a list"),
        ({"schema_version": 2, "events": []}, "'events' must be a list"),
        ({"schema_version": 2, "events": {"a": 1}}, "'events' must be a list"),
        ({"schema_version": 2, "events": [{}] * (MAX_BATCH_EVENTS + 1)}, "must be a list"),
        ({"schema_version": 2, "events": [{}], "extra": 1}, "unexpected fields extra"),
    ],
)
def test_rejects_a_malformed_batch_envelope(envelope: dict[str, Any], reason: str) -> None:
    with pytest.raises(MessageDecodeError, match=reason):
        decode_message(orjson.dumps(envelope))


def test_rejects_oversize_batch_before_parsing() -> None:
    with pytest.raises(MessageDecodeError, match=f"over {MAX_BATCH_BYTES}"):
        decode_message(b"{" + b" " * MAX_BATCH_BYTES + b"}")


def test_rejects_oversize_v1_event_inside_the_batch_limit() -> None:
    body = _body() + b" " * MAX_MESSAGE_BYTES
    with pytest.raises(MessageDecodeError, match=f"over {MAX_MESSAGE_BYTES}"):
        decode_message(body)


@settings(max_examples=200, deadline=None)
@given(st.lists(_event_like, min_size=1, max_size=5))
def test_fuzz_batch_entries_decode_or_fail_alone(entries: list[dict[str, Any]]) -> None:
    try:
        body = orjson.dumps({"schema_version": 2, "events": entries})
    except (orjson.JSONEncodeError, TypeError):
        return  # integers beyond 64 bits cannot be encoded by orjson
    decoded = decode_message(body)
    assert isinstance(decoded, list) and len(decoded) == len(entries)
    # As JSON carries them (no infinities).
    sent = orjson.loads(body)["events"]
    for entry, raw in zip(decoded, sent, strict=True):
        assert isinstance(entry, BatchEntry)
        assert (entry.event is None) != (entry.error is None)
        if entry.event is not None:
            assert decode_event(entry.body()) == entry.event
        else:
            assert orjson.loads(entry.body()) == raw


# --- v3: a path that is not UTF-8 travels as its bytes --------------------------------------

LATIN1 = b"caf\xe9/r\xe9sum\xe9.txt".decode("utf-8", "surrogateescape")
SHIFT_JIS = "日本".encode("shift_jis").decode("utf-8", "surrogateescape") + "/memo.txt"
INVALID = b"bad-\xff\xfe-\xc3(.bin".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("path", [LATIN1, SHIFT_JIS, INVALID])
def test_a_path_that_is_not_utf8_round_trips_byte_for_byte(path: str) -> None:
    event = FileEvent.observed("lib", path, Operation.UPSERT, size=3)
    body = encode_event(event)
    wire = orjson.loads(body)
    assert wire["schema_version"] == 3
    assert base64.b64decode(wire["path_bytes"]) == path.encode("utf-8", "surrogateescape")
    assert "\\x" in wire["path"]  # its readable form escapes the bytes
    decoded = decode_event(body)
    assert decoded == event
    assert decoded.path.encode("utf-8", "surrogateescape") == path.encode(
        "utf-8", "surrogateescape"
    )


def test_a_text_path_stays_v1_for_ingestors_that_read_only_v1() -> None:
    body = encode_event(FileEvent.observed("lib", "ünïcode/ok.txt", Operation.DELETE))
    assert orjson.loads(body)["schema_version"] == 1


def test_a_batch_carries_v1_and_v3_events_each_decoded_alone() -> None:
    events = [
        FileEvent.observed("lib", LATIN1, Operation.UPSERT),
        FileEvent.observed("lib", "plain.txt", Operation.UPSERT),
    ]
    decoded = decode_message(encode_events(events))
    assert isinstance(decoded, list)
    assert [entry.event for entry in decoded] == events
    assert decode_event(decoded[0].body()) == events[0]


def test_v3_refuses_a_readable_form_that_names_another_path() -> None:
    body = encode_event(FileEvent.observed("lib", LATIN1, Operation.UPSERT))
    wire = orjson.loads(body)
    wire["path"] = "other.txt"
    with pytest.raises(MessageDecodeError, match="different paths"):
        decode_event(orjson.dumps(wire))


@pytest.mark.parametrize("raw", ["!!not base64", 5, None])
def test_v3_refuses_path_bytes_that_are_not_base64(raw: Any) -> None:
    wire = orjson.loads(encode_event(FileEvent.observed("lib", LATIN1, Operation.UPSERT)))
    wire["path_bytes"] = raw
    with pytest.raises(MessageDecodeError):
        decode_event(orjson.dumps(wire))


def test_v3_refuses_unsafe_bytes() -> None:
    wire = orjson.loads(encode_event(FileEvent.observed("lib", LATIN1, Operation.UPSERT)))
    wire.update(path="../\\xff", path_bytes=base64.b64encode(b"../\xff").decode())
    with pytest.raises(MessageDecodeError, match="'\\.\\.'"):
        decode_event(orjson.dumps(wire))


def test_a_long_path_far_past_path_max_is_carried() -> None:
    path = "/".join(["d" * 200] * 60)  # 12 KB
    assert (
        decode_event(encode_event(FileEvent.observed("lib", path, Operation.UPSERT))).path == path
    )
