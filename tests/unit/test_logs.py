"""The JSON log lines: one object each, no terminal colour codes, context fields added."""

from __future__ import annotations

import logging

import orjson

from fileflow_core.logs import JsonFormatter, logging_context


def formatted(**extra: object) -> dict[str, object]:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Started %s", ("x",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    parsed = orjson.loads(JsonFormatter().format(record))
    assert isinstance(parsed, dict)
    return parsed


def test_uvicorns_colour_copy_of_the_message_is_left_out() -> None:
    entry = formatted(color_message="Started \x1b[36m%s\x1b[0m")
    assert entry["msg"] == "Started x"
    assert "color_message" not in entry
    assert "\x1b" not in orjson.dumps(entry).decode()


def test_a_logging_context_adds_its_fields_and_ends_with_its_block() -> None:
    with logging_context(root="lib", path="a/b.pdf"):
        inside = formatted()
        with logging_context(attempt=2):
            nested = formatted()
    after = formatted()
    assert inside["root"] == "lib" and inside["path"] == "a/b.pdf"
    assert nested["attempt"] == 2 and nested["path"] == "a/b.pdf"
    assert "path" not in after


def test_a_record_field_wins_over_the_context() -> None:
    with logging_context(path="context.txt"):
        entry = formatted(path="record.txt")
    assert entry["path"] == "record.txt"
