"""Queue names and arguments, defined once for publishers, consumers and operators."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fileflow_core.messages import MAX_PRIORITY

MAX_RETRY_DELAY_S = 3600.0
ATTEMPT_HEADER = "x-fileflow-attempt"
ERROR_HEADER = "x-fileflow-error"
RENEWED_HEADER = "x-fileflow-renewed"


def attempt_of(headers: Mapping[str, Any] | None) -> int:
    """The delivery attempt a message's headers record: 1 for a first delivery."""
    value = (headers or {}).get(ATTEMPT_HEADER, 1)
    return value if isinstance(value, int) and value >= 1 else 1


# A message for a root that is unavailable waits this long, attempts untouched, before it is
# looked at again (the root may be back: a share remounted, a volume attached).
HOLD_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class Topology:
    """The work queue, one delay queue per backoff step, a hold queue for work that waits on
    an outage, and the dead-letter queue."""

    work_queue: str
    max_attempts: int
    retry_base_delay_s: float
    hold_delay_s: float = HOLD_DELAY_S

    @property
    def dead_queue(self) -> str:
        return f"{self.work_queue}.dead"

    def retry_delay_s(self, attempt: int) -> float:
        """Backoff after failed ``attempt`` (1-based): base, 4x base, 16x base, ... capped."""
        return min(self.retry_base_delay_s * 4.0 ** (attempt - 1), MAX_RETRY_DELAY_S)

    def retry_queue(self, attempt: int) -> str:
        # The delay is in the name: a queue's TTL cannot change once declared, and a fixed TTL
        # per queue avoids the head-of-line blocking of per-message expiry.
        return f"{self.work_queue}.retry.{round(self.retry_delay_s(attempt) * 1000)}ms"

    @property
    def hold_queue(self) -> str:
        return f"{self.work_queue}.hold.{round(self.hold_delay_s * 1000)}ms"

    @property
    def retry_queues(self) -> list[tuple[str, float]]:
        seen: dict[str, float] = {}
        for attempt in range(1, self.max_attempts):
            seen.setdefault(self.retry_queue(attempt), self.retry_delay_s(attempt))
        return list(seen.items())

    def work_arguments(self) -> dict[str, Any]:
        return {
            "x-max-priority": MAX_PRIORITY,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_queue,
        }

    def retry_arguments(self, delay_s: float) -> dict[str, Any]:
        return {
            "x-message-ttl": round(delay_s * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.work_queue,
        }
