"""How a publisher packs events into messages."""

from __future__ import annotations

from collections.abc import Iterable

from fileflow_core.messages import FileEvent


def message_batches(events: Iterable[FileEvent], batch_events: int) -> list[list[FileEvent]]:
    """Group ``events`` into messages of at most ``batch_events``, one priority per message
    (a message has one priority in the queue), the highest priority first and the order kept
    within each priority."""
    if batch_events < 1:
        raise ValueError("batch_events must be at least 1")
    by_priority: dict[int, list[FileEvent]] = {}
    for event in events:
        by_priority.setdefault(event.priority, []).append(event)
    return [
        same[start : start + batch_events]
        for _, same in sorted(by_priority.items(), reverse=True)
        for start in range(0, len(same), batch_events)
    ]
