"""Queue names and arguments, defined once for publishers, consumers and operators."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fileflow_core.messages import MAX_PRIORITY, PRIORITY, Operation

QueueType = Literal["classic", "quorum"]

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

# Quorum queues (RabbitMQ 3.10) have no message priorities: messages of this priority and
# above (deletions) go to a queue of their own that every ingestor also consumes.
URGENT_PRIORITY = PRIORITY[Operation.DELETE]
# A quorum queue dead-letters a message returned this many times (its consumers died or lost
# their node each time): a message that kills every ingestor ends in the dead-letter queue
# instead of circling for ever. fileflow's own hand-backs republish a fresh copy, which starts
# at 0, so only crashes and lost connections count.
DELIVERY_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Topology:
    """The work queue, one delay queue per backoff step, a hold queue for work that waits on
    an outage, and the dead-letter queue."""

    work_queue: str
    max_attempts: int
    retry_base_delay_s: float
    hold_delay_s: float = HOLD_DELAY_S
    queue_type: QueueType = "classic"

    @property
    def quorum(self) -> bool:
        return self.queue_type == "quorum"

    @property
    def urgent_queue(self) -> str:
        """Quorum only: deletions, consumed beside the work queue so a backlog never delays
        them (a classic work queue orders them by priority instead)."""
        return f"{self.work_queue}.urgent"

    @property
    def consumed_queues(self) -> list[str]:
        """The queues an ingestor consumes, the urgent one first."""
        return [self.urgent_queue, self.work_queue] if self.quorum else [self.work_queue]

    def queue_for(self, priority: int) -> str:
        """Where a message of ``priority`` is published."""
        if self.quorum and priority >= URGENT_PRIORITY:
            return self.urgent_queue
        return self.work_queue

    @property
    def queues(self) -> list[str]:
        """Every queue of the topology, in the order they are declared."""
        names = [self.dead_queue, *(name for name, _ in self.retry_queues), self.hold_queue]
        return [*names, *reversed(self.consumed_queues)]

    def arguments(self, queue: str) -> dict[str, Any]:
        """The arguments ``queue`` (one of ``queues``) is declared with."""
        if queue == self.dead_queue:
            return self._typed({})
        if queue in self.consumed_queues:
            return self.work_arguments()
        delays = dict([*self.retry_queues, (self.hold_queue, self.hold_delay_s)])
        return self.retry_arguments(delays[queue])

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
        routing: dict[str, Any] = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_queue,
        }
        if self.quorum:
            return self._typed({**routing, "x-delivery-limit": DELIVERY_LIMIT})
        return {"x-max-priority": MAX_PRIORITY, **routing}

    def retry_arguments(self, delay_s: float) -> dict[str, Any]:
        return self._typed(
            {
                "x-message-ttl": round(delay_s * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.work_queue,
            }
        )

    def _typed(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not self.quorum:
            return arguments
        typed = {**arguments, "x-queue-type": "quorum"}
        if "x-dead-letter-exchange" in arguments:
            # A quorum queue dead-letters at most once by default: a message expiring from a
            # retry queue while a node dies could vanish. At-least-once needs reject-publish.
            typed |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
        return typed
