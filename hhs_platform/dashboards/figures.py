"""The figures the dashboards show, as pure functions over polars frames (no Panel, no I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import polars as pl

#: The period choices of the dashboards: label -> days (None = everything in gold).
PERIODS: dict[str, int | None] = {"7 days": 7, "30 days": 30, "90 days": 90, "All": None}
DEFAULT_PERIOD = "30 days"
#: The "no filter" choice of the agency and platform selectors.
ALL = "All"
#: Lines per chart beyond which the smaller series are left out (a legend of 100 is unreadable).
MAX_SERIES = 12

#: Columns of ``gold/daily_account_metrics`` the executive page reads.
EXECUTIVE_COLUMNS: tuple[str, ...] = (
    "date",
    "platform",
    "account_id",
    "handle",
    "agency",
    "followers",
    "followers_change",
    "posts_published",
    "engagement",
)


@dataclass(frozen=True)
class Headline:
    """The headline figures of a selection: followers at the latest date, flows over the period."""

    latest_date: dt.date | None
    period_start: dt.date | None
    followers: int
    followers_change: int
    engagement: int
    posts_published: int

    @property
    def engagement_rate(self) -> float | None:
        """Period engagement per follower at the latest date (None without followers)."""
        return self.engagement / self.followers if self.followers else None


def format_count(value: int | float | None) -> str:
    """A count with thousands separators (``1,234,567``); an em dash when unknown."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{round(value):,}"


def format_change(value: int | float | None) -> str:
    """A signed count with thousands separators (``+1,234``, ``-56``, ``0``)."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    rounded = round(value)
    return f"{rounded:+,}" if rounded else "0"


def select(
    frame: pl.DataFrame, *, agency: str | None = None, platform: str | None = None
) -> pl.DataFrame:
    """Rows of one agency and/or platform; ``None`` or :data:`ALL` keeps every value."""
    if agency not in (None, ALL):
        frame = frame.filter(pl.col("agency") == agency)
    if platform not in (None, ALL):
        frame = frame.filter(pl.col("platform") == platform)
    return frame


def period_window(frame: pl.DataFrame, days: int | None) -> tuple[dt.date | None, dt.date | None]:
    """The first and last date of a period of ``days`` days ending at the frame's latest date.

    Args:
        frame: Rows with a ``date`` column.
        days: Length of the period; ``None`` means from the earliest date in the frame.

    Returns:
        ``(start, end)`` (both inclusive; the start is never before the frame's first date), or
        ``(None, None)`` for an empty frame.
    """
    if frame.is_empty():
        return None, None
    end: dt.date = frame["date"].max()  # type: ignore[assignment]
    first: dt.date = frame["date"].min()  # type: ignore[assignment]
    if days is None:
        return first, end
    return max(first, end - dt.timedelta(days=days - 1)), end


def _in_period(frame: pl.DataFrame, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    if start is None or end is None:
        return frame.clear()
    return frame.filter(pl.col("date").is_between(start, end))


def _total(frame: pl.DataFrame, column: str) -> int:
    return int(frame[column].sum() or 0) if not frame.is_empty() else 0


def headline(frame: pl.DataFrame, days: int | None) -> Headline:
    """The headline figures of a selection.

    Args:
        frame: Daily rows (per account or per agency × platform) of the selection.
        days: Period length (see :func:`period_window`).

    Returns:
        Followers summed over the rows of the latest date; followers change, engagement and
        posts published summed over the period's rows.
    """
    start, end = period_window(frame, days)
    period = _in_period(frame, start, end)
    latest = period.filter(pl.col("date") == end) if end is not None else period
    return Headline(
        latest_date=end,
        period_start=start,
        followers=_total(latest, "followers"),
        followers_change=_total(period, "followers_change"),
        engagement=_total(period, "engagement"),
        posts_published=_total(period, "posts_published"),
    )


def latest_by(
    frame: pl.DataFrame, keys: list[str], days: int | None, carry: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Per group: followers at the group's latest date, and flows summed over the period.

    The period is the selection's (see :func:`period_window`), so the groups' figures add up to
    :func:`headline` when every group has rows on the latest date.

    Args:
        frame: Daily rows with ``keys``, ``date``, ``followers``, ``followers_change``,
            ``engagement`` and ``posts_published``.
        keys: Columns that define a group (e.g. ``["agency", "platform"]``).
        days: Period length.
        carry: Further columns to take from each group's latest row (e.g. ``("handle",)``).

    Returns:
        One row per group: keys, carried columns, ``date`` (the group's latest), ``followers``,
        ``followers_change``, ``engagement``, ``posts_published`` and ``engagement_rate``
        (period engagement / latest followers), sorted by followers, largest first.
    """
    start, end = period_window(frame, days)
    period = _in_period(frame, start, end)
    last = period.sort("date").group_by(keys, maintain_order=True).agg(pl.all().last())
    flows = period.group_by(keys).agg(
        pl.col("followers_change").sum(),
        pl.col("engagement").sum(),
        pl.col("posts_published").sum(),
    )
    return (
        last.select(*keys, *carry, "date", "followers")
        .join(flows, on=keys, how="left", nulls_equal=True)
        .with_columns(
            pl.when(pl.col("followers") > 0)
            .then(pl.col("engagement") / pl.col("followers"))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("engagement_rate")
        )
        .sort(["followers", *keys], descending=[True] + [False] * len(keys), nulls_last=True)
    )


def chart_series(
    frame: pl.DataFrame, days: int | None, max_series: int = MAX_SERIES
) -> tuple[pd.DataFrame, int]:
    """Daily agency × platform lines for the charts, as pandas (hvPlot plots pandas).

    Args:
        frame: Daily agency × platform rows of the selection (see ``agency_platform_daily``).
        days: Period length.
        max_series: Keep the lines with the most followers at the latest date, up to this many.

    Returns:
        ``(data, total)``: columns ``date``, ``series`` ("AGENCY · platform"), ``followers`` and
        ``engagement`` of the kept lines, and how many lines the selection has in all.
    """
    start, end = period_window(frame, days)
    period = _in_period(frame, start, end).with_columns(
        pl.concat_str(pl.col("agency"), pl.lit(" · "), pl.col("platform")).alias("series")
    )
    ranked = latest_by(period, ["series"], None)
    kept = ranked.head(max_series)["series"].to_list()
    data = (
        period.filter(pl.col("series").is_in(kept))
        .select("date", "series", "followers", "engagement")
        .sort("series", "date")
    )
    return data.to_pandas(), ranked.height


__all__ = [
    "ALL",
    "DEFAULT_PERIOD",
    "EXECUTIVE_COLUMNS",
    "MAX_SERIES",
    "PERIODS",
    "Headline",
    "chart_series",
    "format_change",
    "format_count",
    "headline",
    "latest_by",
    "period_window",
    "select",
]
