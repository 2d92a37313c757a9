"""Structured JSON logs (orjson), one object per line on stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from fileflow_core.paths import display_path

# uvicorn's ``color_message`` repeats the message with ANSI colour codes.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
# Fields every line logged in this context carries (the file an extraction worker parses).
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("fileflow_log_context", default=None)


@contextlib.contextmanager
def logging_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block (this task or thread only)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_CONTEXT.get() or {})
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=repr).decode()
        except orjson.JSONEncodeError:
            # A file name that is not UTF-8 (held with surrogates): logged in its escaped form.
            return orjson.dumps(_escaped(entry), default=repr).decode()


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return display_path(value)
    if isinstance(value, dict):
        return {str(_escaped(k)): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_escaped(v) for v in value]
    return value


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library warnings (a parser's, a driver's) become log lines too, not plain stderr text.
    logging.captureWarnings(True)
    for noisy in ("aiormq", "aio_pika", "asyncio", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
