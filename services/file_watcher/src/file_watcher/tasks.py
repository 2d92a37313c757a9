"""The watcher's timers and background work, owned in one place and stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Owned:
    """Timers and tasks started while the watcher runs (rescans after a burst, a new folder's
    second look), inside the watcher's task group. ``stop`` cancels every one of them."""

    def __init__(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        self._timers: dict[Any, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopped = False

    def later(self, delay_s: float, key: Any, action: Callable[[], object]) -> None:
        """Run ``action`` once after ``delay_s``; the same key asked again meanwhile is one."""
        if self.stopped or key in self._timers:
            return

        def run() -> None:
            self._timers.pop(key, None)
            if not self.stopped:
                action()

        self._timers[key] = asyncio.get_running_loop().call_later(delay_s, run)

    def again_later(self, delay_s: float, key: Any, action: Callable[[], object]) -> None:
        """Like ``later``, but asking again moves the time (a rescan trails its burst)."""
        pending = self._timers.pop(key, None)
        if pending is not None:
            pending.cancel()
        self.later(delay_s, key, action)

    def spawn(self, work: Coroutine[Any, Any, object], name: str) -> None:
        """Run ``work`` in the background; its failure is logged, never the watcher's end."""
        if self.stopped:
            work.close()
            return
        task = self._group.create_task(_guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        self.stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()


async def _guarded(work: Coroutine[Any, Any, object], name: str) -> None:
    try:
        await work
    except Exception as exc:  # background work must not end the watcher
        log.warning("background work failed", extra={"work": name, "reason": repr(exc)})
