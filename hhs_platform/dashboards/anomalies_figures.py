"""The Anomalies page's figures: event filters, ids, series windows and posts of a day (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import polars as pl

from hhs_platform.transforms.counters import latest_counters as reduce_counters
from schemas.tables import ANOMALY_KINDS

ANOMALIES = "gold/anomalies"
DAILY = "gold/daily_account_metrics"
POSTS = "silver/posts"
POST_METRICS = "silver/post_metrics"

#: The "no filter" choice of the selectors (the same as the executive page's).
ALL = "All"
#: Days of the account's series shown on either side of the selected event.
WINDOW_DAYS = 21
#: Every anomaly kind and metric the table may hold, in a stable order for the selectors.
KINDS: tuple[str, ...] = tuple(ANOMALY_KINDS)
METRICS: tuple[str, ...] = ("followers", "engagement", "posts_published", "collection")

#: Columns of gold/anomalies the page reads (all of them: the export is the table's rows).
EVENT_COLUMNS: tuple[str, ...] = (
    "platform",
    "account_id",
    "metric",
    "date",
    "kind",
    "end_date",
    "days",
    "agency",
    "handle",
    "value",
    "baseline",
    "change",
    "change_pct",
    "usual_change",
    "score",
    "confidence",
    "sentence",
    "detected_at",
)
#: Columns of the events table, in order (``event`` is the hidden id of the row).
TABLE_COLUMNS: tuple[str, ...] = (
    "date",
    "sentence",
    "kind",
    "agency",
    "handle",
    "platform",
    "metric",
    "value",
    "baseline",
    "change",
    "change_pct",
    "confidence",
    "days",
    "end_date",
    "event",
)

#: The gold/daily_account_metrics column drawn for an event of each metric. A collection gap has
#: no series of its own: the followers show the days without figures.
SERIES_COLUMN: dict[str, str] = {
    "followers": "followers",
    "engagement": "engagement",
    "posts_published": "posts_published",
    "collection": "followers",
}
#: Columns of the posts-of-the-day table, in order.
POST_COLUMNS: tuple[str, ...] = (
    "created_at",
    "post_type",
    "text",
    "url",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "engagement",
    "post_id",
)
#: The schema of :func:`series_window`'s frame.
SERIES_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "value": pl.Float64(),
    "in_event": pl.Boolean(),
    "expected": pl.Float64(),
}
#: The schema of :func:`day_posts`'s frame.
POSTS_SCHEMA: dict[str, pl.DataType] = {
    "created_at": pl.Datetime("us", "UTC"),
    "post_type": pl.Utf8(),
    "text": pl.Utf8(),
    "url": pl.Utf8(),
    **{c: pl.Int64() for c in ("likes", "reposts", "replies", "quotes", "engagement")},
    "post_id": pl.Utf8(),
}
_COUNTERS = ("likes", "reposts", "replies", "quotes")
_SAFE_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class EventKey:
    """The key of one gold/anomalies row; ``str()`` gives its shareable id.

    The id is ``<platform>:<account_id>:<metric>:<date>:<kind>``. Account ids may hold colons
    (Bluesky DIDs, ``did:plc:...``); the other parts never do, so parsing splits the platform off
    the front and the last three parts off the back.
    """

    platform: str
    account_id: str
    metric: str
    date: dt.date
    kind: str

    def __str__(self) -> str:
        return (
            f"{self.platform}:{self.account_id}:{self.metric}:{self.date.isoformat()}:{self.kind}"
        )

    @classmethod
    def parse(cls, text: str | None) -> EventKey | None:
        """The key an id stands for, or ``None`` when ``text`` is no well-formed id."""
        if not text:
            return None
        platform, sep, rest = text.partition(":")
        parts = rest.rsplit(":", 3)
        if not sep or len(parts) != 4 or not platform or not parts[0]:
            return None
        account_id, metric, day, kind = parts
        if metric not in METRICS or kind not in KINDS:
            return None
        try:
            date = dt.date.fromisoformat(day)
        except ValueError:
            return None
        return cls(platform, account_id, metric, date, kind)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> EventKey:
        """The key of an event row (a dict with the key columns)."""
        return cls(row["platform"], row["account_id"], row["metric"], row["date"], row["kind"])

    def matches(self) -> pl.Expr:
        """A filter expression keeping this event's row."""
        return (
            (pl.col("platform") == self.platform)
            & (pl.col("account_id") == self.account_id)
            & (pl.col("metric") == self.metric)
            & (pl.col("date") == pl.lit(self.date, dtype=pl.Date))
            & (pl.col("kind") == self.kind)
        )


def event_id_expr() -> pl.Expr:
    """The id of each row's event (see :class:`EventKey`) as an expression named ``event``."""
    return pl.concat_str(
        [
            pl.col("platform"),
            pl.col("account_id"),
            pl.col("metric"),
            pl.col("date").dt.strftime("%Y-%m-%d"),
            pl.col("kind"),
        ],
        separator=":",
    ).alias("event")


def filter_events(
    events: pl.DataFrame,
    *,
    agency: str | None = None,
    platform: str | None = None,
    kind: str | None = None,
    metric: str | None = None,
    min_confidence: float = 0.0,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """The events that pass the page's filters, newest first, with their ``event`` id.

    Args:
        events: Rows of gold/anomalies.
        agency: Keep this agency only (``None`` or :data:`ALL`: every agency).
        platform: Keep this platform only.
        kind: Keep this kind only.
        metric: Keep events of this metric only.
        min_confidence: Keep events at least this confident.
        start: Keep events that end on or after this day (a gap that began earlier but reaches
            into the range is kept).
        end: Keep events that begin on or before this day.

    Returns:
        The kept rows with an ``event`` column, sorted by date (newest first), then confidence
        (highest first), platform and account id.
    """
    exprs: list[pl.Expr] = []
    for column, value in (
        ("agency", agency),
        ("platform", platform),
        ("kind", kind),
        ("metric", metric),
    ):
        if value not in (None, ALL):
            exprs.append(pl.col(column) == value)
    if min_confidence > 0:
        exprs.append(pl.col("confidence") >= min_confidence)
    if start is not None:
        exprs.append(pl.col("end_date") >= pl.lit(start, dtype=pl.Date))
    if end is not None:
        exprs.append(pl.col("date") <= pl.lit(end, dtype=pl.Date))
    kept = events.filter(pl.all_horizontal(exprs)) if exprs else events
    return kept.with_columns(event_id_expr()).sort(
        ["date", "confidence", "platform", "account_id", "metric", "kind"],
        descending=[True, True, False, False, False, False],
    )


def find_event(events: pl.DataFrame, key: EventKey | None) -> dict[str, Any] | None:
    """The row of one event as a dict, or ``None`` when ``key`` is not among ``events``."""
    if key is None or events.is_empty():
        return None
    found = events.filter(key.matches())
    return found.row(0, named=True) if found.height else None


def expected_per_day(event: Mapping[str, Any]) -> float | None:
    """What the event's series was expected to show on each of its days (the baseline).

    Follower and engagement events have a baseline for their one day. A posting gap's baseline
    is the posts expected over the whole gap, so a day expected its share of it. A collection gap
    counts fetches, which the drawn series does not show: no line.

    Args:
        event: A gold/anomalies row.

    Returns:
        The expected value per event day, or ``None`` when the event has no comparable baseline.
    """
    baseline = event.get("baseline")
    if baseline is None or event["metric"] == "collection":
        return None
    if event["kind"] == "posting_gap":
        return float(baseline) / max(1, int(event["days"]))
    return float(baseline)


def window(event: Mapping[str, Any], days: int = WINDOW_DAYS) -> tuple[dt.date, dt.date]:
    """The first and last day of the series shown around an event (``days`` each side)."""
    return (
        event["date"] - dt.timedelta(days=days),
        event["end_date"] + dt.timedelta(days=days),
    )


def series_window(
    daily: pl.DataFrame, event: Mapping[str, Any], days: int = WINDOW_DAYS
) -> pl.DataFrame:
    """The event's account series around it, one row per calendar day.

    Args:
        daily: gold/daily_account_metrics rows (at least date, platform, account_id and the
            event's :data:`SERIES_COLUMN`); other accounts and days are ignored.
        event: The gold/anomalies row.
        days: Days shown before the event's first and after its last day.

    Returns:
        Columns ``date``, ``value`` (the series; null on days without a figure),
        ``in_event`` (the day is one of the event's) and ``expected`` (see
        :func:`expected_per_day`; on event days only). Every calendar day of the window from the
        account's first to its last day with a row in it, in date order; empty without rows.
    """
    column = SERIES_COLUMN[event["metric"]]
    first, last = window(event, days)
    rows = daily.filter(
        (pl.col("platform") == event["platform"])
        & (pl.col("account_id") == event["account_id"])
        & pl.col("date").is_between(pl.lit(first, dtype=pl.Date), pl.lit(last, dtype=pl.Date))
    ).select("date", pl.col(column).cast(pl.Float64).alias("value"))
    schema = SERIES_SCHEMA
    # The event's own days are drawn even when the account has no rows on them (a collection
    # gap has none), so the window spans them and the rows.
    span = pl.concat(
        [rows.select("date"), pl.DataFrame({"date": [event["date"], event["end_date"]]})]
    )
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    lo, hi = span["date"].min(), span["date"].max()
    calendar = pl.DataFrame({"date": pl.date_range(lo, hi, "1d", eager=True)})  # type: ignore[arg-type]
    in_event = pl.col("date").is_between(
        pl.lit(event["date"], dtype=pl.Date), pl.lit(event["end_date"], dtype=pl.Date)
    )
    expected = expected_per_day(event)
    return (
        calendar.join(rows, on="date", how="left")
        .with_columns(in_event=in_event)
        .with_columns(
            expected=pl.when(pl.col("in_event"))
            .then(pl.lit(expected, dtype=pl.Float64))
            .otherwise(None)
        )
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
        .sort("date")
    )


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else ``None`` (never a link)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        return None
    if any(c in url for c in ('"', "'", "<", ">", " ", "\\", "`")):
        return None
    return url


def latest_counters(metrics: pl.DataFrame) -> pl.DataFrame:
    """Each post's latest counters from silver/post_metrics rows (the last ``observed_at``)."""
    return reduce_counters(metrics.lazy(), _COUNTERS).drop("engagement").collect()


def day_posts(posts: pl.DataFrame, metrics: pl.DataFrame, event: Mapping[str, Any]) -> pl.DataFrame:
    """The account's posts created on the event's days (UTC), with their latest counters.

    Args:
        posts: silver/posts rows (at least platform, post_id, account_id, created_at, post_type,
            text, url); other accounts and days are ignored.
        metrics: silver/post_metrics rows of those posts (platform, post_id, observed_at and the
            counters).
        event: The gold/anomalies row (its platform, account_id, date and end_date).

    Returns:
        The columns of :data:`POST_COLUMNS`: ``url`` only when it is a safe http(s) link,
        counters null when never observed, ``engagement`` = likes + reposts + replies + quotes
        (unknown counters count as 0, as in gold). Sorted by engagement, highest first, then
        by creation time.
    """
    day = pl.col("created_at").dt.date()
    mine = posts.filter(
        (pl.col("platform") == event["platform"])
        & (pl.col("account_id") == event["account_id"])
        & day.is_between(
            pl.lit(event["date"], dtype=pl.Date), pl.lit(event["end_date"], dtype=pl.Date)
        )
    )
    counters = latest_counters(metrics)
    return (
        mine.join(counters, on=["platform", "post_id"], how="left")
        .with_columns(
            pl.col("url").map_elements(safe_url, return_dtype=pl.Utf8),
            *[pl.col(c).cast(pl.Int64) for c in _COUNTERS],
        )
        .with_columns(
            engagement=pl.sum_horizontal(pl.col(c).fill_null(0) for c in _COUNTERS).cast(pl.Int64)
        )
        .sort(["engagement", "created_at", "post_id"], descending=[True, False, False])
        .select(POST_COLUMNS)
        .cast(POSTS_SCHEMA)  # type: ignore[arg-type]
    )


def options(events: pl.DataFrame, column: str) -> list[str]:
    """The selector options of a column: :data:`ALL`, then its distinct non-null values."""
    values = events[column].drop_nulls().unique().sort().to_list() if events.height else []
    return [ALL, *values]


__all__ = [
    "ALL",
    "ANOMALIES",
    "DAILY",
    "EVENT_COLUMNS",
    "KINDS",
    "METRICS",
    "POSTS",
    "POSTS_SCHEMA",
    "POST_COLUMNS",
    "POST_METRICS",
    "SERIES_COLUMN",
    "SERIES_SCHEMA",
    "TABLE_COLUMNS",
    "WINDOW_DAYS",
    "EventKey",
    "day_posts",
    "event_id_expr",
    "expected_per_day",
    "filter_events",
    "find_event",
    "latest_counters",
    "options",
    "safe_url",
    "series_window",
    "window",
]
