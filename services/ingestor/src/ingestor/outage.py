"""While the document store cannot be reached, take no work: pause, probe, resume.

Attempts and the dead-letter queue are for faults of a file. A database that is down is an
outage of the service, however long it lasts (a maintenance window is often longer than any
retry budget), so the ingestor stops consuming, hands back what it holds without counting an
attempt, is not ready meanwhile, and resumes on its own once the database answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from fileflow_core import metrics
from fileflow_core.errors import TransientError
from fileflow_core.ports import EventConsumer
from fileflow_core.runtime import honour_cancel

log = logging.getLogger(__name__)

PROBE_FIRST_S = 0.5
PROBE_LONGEST_S = 5.0


class StoreOutage:
    """Owns the paused state of one consumer; ``report`` pauses, a probe task resumes."""

    def __init__(
        self,
        consumer: EventConsumer,
        ping: Callable[[], Awaitable[bool]],
        *,
        probe_first_s: float = PROBE_FIRST_S,
        probe_longest_s: float = PROBE_LONGEST_S,
    ) -> None:
        self._consumer = consumer
        self._ping = ping
        self._probe_first_s = probe_first_s
        self._probe_longest_s = probe_longest_s
        self._since: float | None = None
        self._reason = ""
        self._probe: asyncio.Task[None] | None = None
        self._pausing: asyncio.Lock = asyncio.Lock()
        self.pauses = 0

    @property
    def paused(self) -> bool:
        return self._since is not None

    def describe(self) -> str | None:
        """Why the ingestor takes no work now, for readiness; None when it does."""
        if self._since is None:
            return None
        return f"paused for {time.monotonic() - self._since:.0f}s: {self._reason}"

    async def report(self, reason: str) -> None:
        """The store failed to answer: stop consuming (once) until it answers again."""
        async with self._pausing:
            if self._since is not None:
                return
            self._since, self._reason = time.monotonic(), reason
            self.pauses += 1
            metrics.PAUSED.set(1)
            log.error(
                "document store unreachable: consumption paused, held messages handed back "
                "without spending attempts; resuming on its own when it answers",
                extra={"reason": reason},
            )
            await self._consumer.pause()
            self._probe = asyncio.create_task(self._wait_and_resume(), name="store-probe")

    async def _wait_and_resume(self) -> None:
        delay = self._probe_first_s
        while True:
            await asyncio.sleep(delay)
            if await self._ping():
                break
            delay = min(self._probe_longest_s, delay * 2)
        while True:
            try:
                await self._consumer.resume()
                break
            except TransientError as exc:
                honour_cancel()
                log.warning("cannot resume consuming yet", extra={"reason": str(exc)})
                await asyncio.sleep(self._probe_longest_s)
        assert self._since is not None
        log.info(
            "document store answers again: consuming",
            extra={"paused_s": round(time.monotonic() - self._since, 1)},
        )
        self._since = None
        metrics.PAUSED.set(0)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
