"""A simulated clock for worlds that the real collector reads.

The collector stamps every observation with the real time, so a world frozen at a fixed date
drifts away from its observations as the calendar moves: from 2026-12-01 every post of a world
frozen at 2026-11-01 was too old for the engagement curves (28 days and a tenth), and from
2027-03-23 too old for the forecasts' history. A world frozen at midnight (UTC) a few days ago
keeps its posts older than their observations (the quality rules quarantine a post published
after it was fetched) and young enough for every gold table, and it is the same world all day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hhs_platform.sandbox import SimClock


def days_ago(days: int) -> SimClock:
    """A frozen clock at today's midnight (UTC) less ``days``: a test that moves its world on
    by N days needs more than N."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return SimClock(midnight - timedelta(days=days), frozen=True)
