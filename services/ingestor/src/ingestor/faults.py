"""Fault injection for the fault suite only: with ``FILEFLOW_FAULT=crash-after-commit:N`` the
process dies abruptly at its Nth commit, before the ack. Unset (always, in production) it does
nothing."""

from __future__ import annotations

import functools
import os

EXIT_CODE = 75


@functools.cache
def _plan() -> tuple[str, int] | None:
    value = os.environ.get("FILEFLOW_FAULT", "")
    name, _, count = value.partition(":")
    return (name, int(count or 1)) if name else None


_reached: dict[str, int] = {}


def reach(point: str) -> None:
    plan = _plan()
    if plan is None or plan[0] != point:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] >= plan[1]:
        os._exit(EXIT_CODE)  # no cleanup, no ack: what a crash looks like
