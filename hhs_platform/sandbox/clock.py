"""The simulated clock: frozen at an instant for tests, or running from real time for the demo."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

DEFAULT_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"SimClock needs an aware datetime, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


class SimClock:
    """The sandbox's notion of "now".

    A frozen clock only moves when told (``set``/``advance``); a running clock follows real time
    from its start, shifted by whatever ``set``/``advance`` added. ``epoch`` is the instant the
    world is built around (history before it, future posts after it) and never changes.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = True) -> None:
        """Create a clock.

        Args:
            start: the first "now"; default the fixed ``DEFAULT_EPOCH`` when frozen, the real
                UTC time when running.
            frozen: True to stand still until told otherwise.
        """
        self.frozen = frozen
        if start is None:
            start = DEFAULT_EPOCH if frozen else datetime.now(UTC)
        start = _utc(start)
        # A running world is centred on the start's midnight so that two servers started the same
        # day with the same seed serve the same posts.
        self.epoch = start if frozen else start.replace(hour=0, minute=0, second=0, microsecond=0)
        self._lock = threading.Lock()
        self._sim_anchor = start
        self._real_anchor = datetime.now(UTC)

    @classmethod
    def running(cls, start: datetime | None = None) -> SimClock:
        """A clock that follows real time (from ``start`` if given)."""
        return cls(start, frozen=False)

    def now(self) -> datetime:
        """The current simulated instant (UTC)."""
        with self._lock:
            if self.frozen:
                return self._sim_anchor
            return self._sim_anchor + (datetime.now(UTC) - self._real_anchor)

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (aware datetime); returns the new now."""
        instant = _utc(instant)
        with self._lock:
            self._sim_anchor = instant
            self._real_anchor = datetime.now(UTC)
        return instant

    def advance(self, delta: timedelta) -> datetime:
        """Move forward (or back, if negative) by ``delta``; returns the new now."""
        return self.set(self.now() + delta)

    def __repr__(self) -> str:
        mode = "frozen" if self.frozen else "running"
        return f"SimClock({mode}, now={self.now().isoformat()}, epoch={self.epoch.isoformat()})"
