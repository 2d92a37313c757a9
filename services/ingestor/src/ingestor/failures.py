"""Settling an event whose file could not be stored: a later attempt, or the dead letters and
the file's row marked failed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from fileflow_core import metrics
from fileflow_core.errors import PermanentError, TransientError
from fileflow_core.messages import FileEvent
from fileflow_core.models import FileObservation
from fileflow_core.ports import Delivery, WriteStore
from ingestor.handle import Result

log = logging.getLogger("ingestor.consume")

_RETRIED = metrics.MESSAGES.labels(outcome="retried")
_DEAD_LETTERED = metrics.MESSAGES.labels(outcome="dead_lettered")
_FAILED = metrics.FILES_DONE.labels(result=Result.FAILED.value)
_FAILURES = {reason: metrics.FAILURES.labels(reason=reason) for reason in metrics.FAILURE_REASONS}


class FailedEvents:
    """Retries a failed event while attempts last; then dead-letters it and marks its file."""

    def __init__(
        self,
        store: WriteStore,
        clock: Callable[[], datetime],
        *,
        failure_record_timeout_s: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._failure_record_timeout_s = failure_record_timeout_s

    async def reject(self, event: FileEvent, delivery: Delivery, exc: PermanentError) -> str:
        log.error(
            "event dead-lettered",
            extra={
                "root": event.root_id,
                "path": event.path,
                "reason": str(exc),
                "attempt": delivery.attempt,
            },
        )
        await delivery.dead_letter(str(exc))
        _DEAD_LETTERED.inc()
        _FAILURES[exc.reason_label].inc()
        _FAILED.inc()
        # A row the API created as pending must not stay pending for ever.
        await self._record_failure(event, str(exc), delivery.attempt)
        return "dead_lettered"

    async def retry(self, event: FileEvent, delivery: Delivery, reason: str) -> str:
        log.warning(
            "attempt failed",
            extra={
                "root": event.root_id,
                "path": event.path,
                "attempt": delivery.attempt,
                "reason": reason,
            },
        )
        if await delivery.retry(reason):
            _RETRIED.inc()
            return "retried"
        final = f"gave up after {delivery.attempt} attempts: {reason}"
        log.error(
            "file failed",
            extra={
                "root": event.root_id,
                "path": event.path,
                "attempt": delivery.attempt,
                "reason": final,
            },
        )
        _DEAD_LETTERED.inc()
        _FAILURES["attempts_exhausted"].inc()
        _FAILED.inc()
        await self._record_failure(event, final, delivery.attempt)
        return "dead_lettered"

    async def _record_failure(self, event: FileEvent, reason: str, attempt: int) -> None:
        """Mark the file failed; the store may be what failed, so keep trying for a while."""
        observation = FileObservation(event.root_id, event.path, self._clock())
        try:
            async for try_ in AsyncRetrying(
                retry=retry_if_exception_type(TransientError),
                wait=wait_exponential(multiplier=0.5, max=10),
                stop=stop_after_delay(self._failure_record_timeout_s),
                reraise=True,
            ):
                with try_:
                    await self._store.record_failed(observation, reason, attempts=attempt)
        except TransientError as exc:
            log.error(
                "could not mark the file failed; its message is in the dead-letter queue",
                extra={"path": observation.path, "reason": str(exc)},
            )
