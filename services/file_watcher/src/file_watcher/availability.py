"""Which roots can be watched now, said once when one goes and once when it comes back."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from file_watcher.roots import WatchedRoot
from fileflow_core import metrics

log = logging.getLogger(__name__)


class Availability:
    def __init__(self, roots: Iterable[WatchedRoot]) -> None:
        self._roots = list(roots)
        self._down: dict[str, str] = {}  # root id -> why, while it is

    def check(self, root: WatchedRoot) -> str | None:
        """Why the root cannot testify about its files now, or None; changes are reported."""
        reason = root.unavailable_reason()
        if reason is None:
            self.report_available(root)
        else:
            self.report_unavailable(root, reason)
        return reason

    def report_unavailable(self, root: WatchedRoot, reason: str) -> None:
        if root.id not in self._down:
            metrics.ROOT_PRESENT.labels(root=root.id).set(0)
            log.error(
                "root unavailable; its files are NOT marked deleted. fileflow waits for it and "
                "catches up when it is back",
                extra={"root": root.id, "path": str(root.path), "reason": reason},
            )
        self._down[root.id] = reason

    def report_available(self, root: WatchedRoot) -> None:
        if self._down.pop(root.id, None) is not None:
            metrics.ROOT_PRESENT.labels(root=root.id).set(1)
            log.info("root available again; catching up", extra={"root": root.id})

    def unavailable(self) -> dict[str, str]:
        """Why each root that cannot be watched now cannot (looked at now), for readiness."""
        for root in self._roots:
            self.check(root)
        return dict(self._down)
