"""Backfill: collect the posts published in a past window of days that a late run missed.

What the platforms let us recover, and what they do not:

- Posts published in ``[FROM, TO]``: yes. Feeds are newest-first, so the connectors page back
  until ``FROM`` (the ``since`` they already understand); posts newer than ``TO`` that the pages
  carried are archived in bronze (it keeps every response as received) but not written to silver.
- Those posts' counters: only their *current* values, observed now (a real observation, kept).
- Account figures of past days (followers, following, post count): no. Every API serves only
  the current value, so a backfill writes no account snapshot rather than invent one.

Gold and analytics pick up the new posts by the flow's usual incremental rebuild (the accounts
whose silver changed are recomputed; anomalies from the first changed day on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from hhs_platform.errors import ConfigurationError
from hhs_platform.transforms.normalize import SilverBatch


@dataclass(frozen=True)
class BackfillWindow:
    """The UTC instants ``[start, end)`` of a backfill of the days ``first`` .. ``last``."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """Midnight UTC opening ``first``: the ``since`` the connectors page back to."""
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Midnight UTC closing ``last`` (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)


def backfill_window(
    first: date | str | None, last: date | str | None, today: date | None = None
) -> BackfillWindow | None:
    """Check a backfill's days and return its window (None when no backfill is asked for).

    Args:
        first: first UTC day whose posts to collect (ISO date or date).
        last: last UTC day, included.
        today: the current UTC day (default: the clock).

    Raises:
        ConfigurationError: only one end given, a date that is not ISO, ``first`` after ``last``,
            or a day in the future.
    """
    if first is None and last is None:
        return None
    if first is None or last is None:
        raise ConfigurationError(
            "a backfill needs both days: hhs collect --backfill FROM TO (ISO dates, e.g. "
            "--backfill 2026-01-01 2026-01-07)"
        )
    d1, d2 = _day(first), _day(last)
    today = today or datetime.now(UTC).date()
    if d1 > d2:
        raise ConfigurationError(f"backfill FROM {d1} is after TO {d2}: give the earlier day first")
    if d2 > today:
        raise ConfigurationError(
            f"backfill TO {d2} is in the future (today is {today} UTC): nothing was published "
            "then yet; end the backfill today at the latest"
        )
    return BackfillWindow(d1, d2)


def _day(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigurationError(
            f"backfill day {value!r} is not an ISO date such as 2026-01-31"
        ) from None


def clip_to_window(silver: SilverBatch, window: BackfillWindow) -> SilverBatch:
    """Keep the posts published inside the window (and their counters); drop account snapshots.

    ``silver/accounts`` (who the account is) stays: it is not a figure of a past day.
    """
    tables = dict(silver.tables)
    if "silver/posts" in tables:
        posts = tables["silver/posts"]
        inside = pl.col("created_at").is_between(window.start, window.end, closed="left")
        kept = posts.filter(inside)
        tables["silver/posts"] = kept
        if "silver/post_metrics" in tables:
            keys = kept.select("platform", "post_id").unique()
            tables["silver/post_metrics"] = tables["silver/post_metrics"].join(
                keys, on=["platform", "post_id"], how="semi"
            )
    if "silver/account_snapshots" in tables:
        tables["silver/account_snapshots"] = tables["silver/account_snapshots"].clear()
    # a window is never a whole feed: no post missing from it may be called deleted
    return replace(silver, tables=tables, complete_feeds=set())
