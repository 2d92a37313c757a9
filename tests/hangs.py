"""A watchdog for hangs that no timeout reaches.

pytest-timeout interrupts a test with a signal, which cannot reach code blocked inside C (an
event loop's ``close`` waiting on a connection a failed test left open held a run for ever).
Past a test's own timeout plus ``HANG_GRACE_S``, this ends the run with every thread's stack
on the terminal, and a failing test is named the moment it fails, in case no summary follows.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator

import pytest
from _pytest.faulthandler import fault_handler_stderr_fd_key

HANG_GRACE_S = 60.0


def _timeout_s(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        return float(marker.args[0] if marker.args else marker.kwargs["timeout"])
    return float(item.config.getini("timeout") or 0)


def _terminal_stderr(config: pytest.Config) -> int:
    # pytest's own duplicate of the terminal's stderr: fd 2 itself is captured during a test.
    return config.stash.get(fault_handler_stderr_fd_key, sys.__stderr__.fileno())


def _arm_hang_watchdog(item: pytest.Item) -> None:
    limit_s = _timeout_s(item)
    if limit_s > 0:
        faulthandler.dump_traceback_later(
            limit_s + HANG_GRACE_S, exit=True, file=_terminal_stderr(item.config)
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _arm_hang_watchdog(item)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    outcome = call.excinfo
    skipped = (pytest.skip.Exception, pytest.xfail.Exception)
    if call.when == "call" and outcome is not None and not outcome.errisinstance(skipped):
        # Said at once: should the teardown hang, the watchdog's exit leaves no summary.
        message = f"\n{item.nodeid} failed: {outcome.exconly().splitlines()[0][:300]}\n"
        os.write(_terminal_stderr(item.config), message.encode(errors="replace"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Armed again: pytest cancels the watchdog when it reports a failure, and a failed test's
    # teardown is where a connection it left open can hang.
    _arm_hang_watchdog(item)
    yield
