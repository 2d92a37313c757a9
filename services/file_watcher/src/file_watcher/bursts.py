"""Telling when a burst of notifications may have overflowed the OS event queue, and when to
rescan after it.

The watch library does not report an overflowed inotify queue (its events are simply lost), so a
root that receives many events at once gets a catch-up scan. The scan waits until the burst is
over: a scan in the middle of it walks the whole tree for files that are arriving anyway. A burst
that never ends still gets one at least every ``longest_wait_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OVERFLOW_HINT_EVENTS = 4096
BURST_WINDOW_S = 2.0
BURST_RESCAN_S = 2.0
BURST_RESCAN_LONGEST_WAIT_S = 30.0


@dataclass(slots=True)
class BurstWatch:
    """One root's recent notifications; all times are ``time.monotonic()``."""

    hint_events: int = OVERFLOW_HINT_EVENTS
    window_s: float = BURST_WINDOW_S
    quiet_s: float = BURST_RESCAN_S
    longest_wait_s: float = BURST_RESCAN_LONGEST_WAIT_S
    _window_started: float = 0.0
    _seen: int = 0
    _rescan_first_asked: float | None = field(default=None)

    def saw(self, events: int, now: float) -> bool:
        """Count ``events``; True once ``hint_events`` arrived within ``window_s``."""
        if self._seen == 0 or now - self._window_started > self.window_s:
            self._window_started, self._seen = now, 0
        self._seen += events
        return self._seen >= self.hint_events

    @property
    def window_events(self) -> int:
        """Events counted in the current window (``window_s``): the burst's rate."""
        return self._seen

    def rescan_delay(self, now: float) -> float:
        """After a burst seen at ``now``: how long until the rescan (re-asked after each
        burst, so the rescan trails the last one)."""
        if self._rescan_first_asked is None:
            self._rescan_first_asked = now
        return min(self.quiet_s, max(0.0, self._rescan_first_asked + self.longest_wait_s - now))

    def rescan_started(self) -> None:
        self._rescan_first_asked = None
