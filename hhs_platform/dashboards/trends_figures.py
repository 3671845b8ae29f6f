"""Figures of the Trends page as pure functions over polars frames (no Panel, no I/O).

The page compares series over time: agencies (each with every agency below it, from
``gold/agency_metrics``), the platforms of one agency, or accounts (``gold/daily_account_metrics``
and ``gold/weekly_account_metrics``). Every function here takes frames shaped like those tables,
with the period column named ``period_start`` (see :func:`with_series`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

from hhs_platform.metrics import CANONICAL_METRICS, METRIC_SOURCES

#: The metrics the page can chart, in the order of the metric selector.
METRICS: tuple[str, ...] = (
    "followers",
    "followers_change",
    "engagement",
    "engagement_rate",
    "posts_published",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "views",
    "engagement_activity",
)
DEFAULT_METRIC = "followers"
#: Period granularities: ``gold/agency_metrics.period`` values.
GRANULARITIES: tuple[str, ...] = ("day", "week")
DEFAULT_GRANULARITY = "day"
#: What one series is: an agency roll-up, a platform of one agency, or an account.
LEVELS: dict[str, str] = {
    "agency": "Agencies",
    "platform": "Platforms of an agency",
    "account": "Accounts",
}
DEFAULT_LEVEL = "agency"
#: Series one chart compares at most (more lines are unreadable, and colours run out).
MAX_SERIES = 6
#: Series shown before the viewer picks any.
DEFAULT_SERIES = 4
#: Days of the default date range (the previous period of equal length precedes it).
DEFAULT_DAYS = 7
#: The ``platform`` value of ``gold/agency_metrics`` rows over every platform.
ALL_PLATFORMS = "all"
#: The agency at the top of the hierarchy, the default of the agency selectors.
TOP_AGENCY = "HHS"
#: Trending terms: days looked back and terms listed per kind.
TREND_DAYS = 7
TOP_TERMS = 10
#: The row of a roll-up breakdown for the accounts of the parent agency itself.
OWN_ACCOUNTS = "(own accounts)"

#: Metrics that are a level at the end of a period (not summed over periods).
STOCKS = frozenset({"followers"})
#: Metrics that are a ratio: period engagement over followers at the period's end.
RATES = frozenset({"engagement_rate"})
_ENGAGEMENT_PARTS = ("likes", "reposts", "replies", "quotes")
#: Canonical (collected) metrics each chartable metric is computed from.
SOURCES: dict[str, tuple[str, ...]] = {
    "followers": ("followers",),
    "followers_change": ("followers",),
    "engagement": _ENGAGEMENT_PARTS,
    "engagement_rate": (*_ENGAGEMENT_PARTS, "followers"),
    "posts_published": (),
    "likes": ("likes",),
    "reposts": ("reposts",),
    "replies": ("replies",),
    "quotes": ("quotes",),
    "views": ("views",),
    "engagement_activity": _ENGAGEMENT_PARTS,
}
#: Definitions of the metrics that are not canonical (computed in gold).
DERIVED_DEFINITIONS: dict[str, str] = {
    "followers_change": "Change in followers against the previous day with data.",
    "engagement": "Likes + reposts + replies + quotes of the posts published in the period.",
    "engagement_rate": "Engagement of the period's posts divided by followers at its end.",
    "posts_published": "Posts (not reposts) published in the period.",
    "engagement_activity": (
        "Interactions gained in the period by all posts, whenever they were published."
    ),
}

TIMELINE_COLUMNS: tuple[str, ...] = ("period_start", "series", "label", "value")
POP_COLUMNS: tuple[str, ...] = ("series", "label", "value", "previous", "change", "change_pct")
TRENDING_COLUMNS: tuple[str, ...] = ("rank", "term", "lift", "posts", "days", "best_day")
CHANGE_COLUMNS: tuple[str, ...] = ("date", "platform", "metric", "endpoint", "field", "kind")


#: Columns and types of :func:`trending`.
TRENDING_SCHEMA: dict[str, pl.DataType] = {
    "rank": pl.Int64(),
    "term": pl.Utf8(),
    "lift": pl.Float64(),
    "posts": pl.Int64(),
    "days": pl.Int64(),
    "best_day": pl.Date(),
}
#: Columns and types of :func:`leaderboard_positions`.
BOARD_SCHEMA: dict[str, pl.DataType] = {
    "period_start": pl.Date(),
    "series": pl.Utf8(),
    "label": pl.Utf8(),
    "board": pl.Utf8(),
    "value": pl.Float64(),
    "rank": pl.Int64(),
    "of": pl.Int64(),
}


# -- series ----------------------------------------------------------------------------------


def with_series(frame: pl.DataFrame, level: str) -> pl.DataFrame:
    """Add the ``series`` key and its display ``label`` for a level; name the period column.

    Args:
        frame: ``gold/agency_metrics`` rows (agency and platform levels), or
            ``gold/daily_account_metrics`` / ``gold/weekly_account_metrics`` rows (account
            level; their ``date`` / ``week`` column is renamed ``period_start``).
        level: One of :data:`LEVELS`.

    Returns:
        The frame with ``period_start``, ``series`` (agency, platform, or
        ``platform:account_id``) and ``label`` (agency, platform, or ``handle (platform)``).

    Raises:
        ValueError: An unknown level.
    """
    for name in ("date", "week"):
        if "period_start" not in frame.columns and name in frame.columns:
            frame = frame.rename({name: "period_start"})
    if level == "agency":
        return frame.with_columns(series=pl.col("agency"), label=pl.col("agency"))
    if level == "platform":
        return frame.with_columns(series=pl.col("platform"), label=pl.col("platform"))
    if level == "account":
        return frame.with_columns(
            series=pl.concat_str(pl.col("platform"), pl.lit(":"), pl.col("account_id")),
            label=pl.concat_str(
                pl.coalesce(pl.col("handle"), pl.col("account_id")),
                pl.lit(" ("),
                pl.col("platform"),
                pl.lit(")"),
            ),
        )
    raise ValueError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")


def series_options(frame: pl.DataFrame) -> dict[str, str]:
    """The series a picker offers: label -> series key, ordered by hierarchy level then label.

    Args:
        frame: Rows with ``series`` and ``label`` (see :func:`with_series`); ``level`` orders
            agencies top-down when present; with ``period_start``, a series takes its latest
            label.

    Returns:
        An ordered mapping; a label shared by two series gets the series key appended.
    """
    if frame.is_empty():
        return {}
    order = ["level", "label", "series"] if "level" in frame.columns else ["label", "series"]
    if "period_start" in frame.columns:  # a renamed account goes by its latest handle
        frame = frame.sort("period_start")
    pairs = frame.unique("series", keep="last", maintain_order=True).select(*order).sort(order)
    labels = pairs["label"].to_list()
    counts = {label: labels.count(label) for label in labels}
    return {
        (label if counts[label] == 1 else f"{label} [{series}]"): series
        for label, series in zip(labels, pairs["series"].to_list(), strict=True)
    }


def default_series(frame: pl.DataFrame, n: int = DEFAULT_SERIES) -> list[str]:
    """The series shown before the viewer picks: the top of the hierarchy, then the largest.

    Args:
        frame: Rows with ``period_start``, ``series`` and ``followers`` (and ``level`` for
            agencies: a lower level comes first, so HHS leads).
        n: How many series.

    Returns:
        Series keys ranked by level (when present), then followers at each series' last
        period with a follower figure (largest first, unknown last), then key.
    """
    if frame.is_empty():
        return []
    keys = ["series", "level"] if "level" in frame.columns else ["series"]
    ranked = (
        frame.sort("period_start")
        .group_by(keys)
        .agg(pl.col("followers").drop_nulls().last().alias("size"))
        .sort(
            [*keys[1:], "size", "series"],
            descending=[False] * (len(keys) - 1) + [True, False],
            nulls_last=True,
        )
    )
    return ranked["series"].head(n).to_list()


def too_many_series(selected: Sequence[str], limit: int = MAX_SERIES) -> str | None:
    """The message refusing a selection of more than ``limit`` series, or None when it fits."""
    if len(selected) <= limit:
        return None
    return (
        f"At most {limit} series can be compared at once; you picked {len(selected)}. "
        "Remove one before adding another."
    )


def timeline(
    frame: pl.DataFrame,
    metric: str,
    series: Sequence[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """One metric of the chosen series over time, in the order the series were chosen.

    Args:
        frame: Rows with ``period_start``, ``series``, ``label`` and the metric's column.
        metric: One of :data:`METRICS`.
        series: Series keys.
        start: First period start to keep (inclusive); None keeps from the first.
        end: Last period start to keep (inclusive); None keeps up to the last.

    Returns:
        Columns ``period_start``, ``series``, ``label``, ``value`` (rows where the metric is
        unknown, e.g. views on a platform without views, are kept with a null value).
    """
    _check_metric(metric)
    order = {key: i for i, key in enumerate(series)}
    rows = frame.filter(pl.col("series").is_in(list(series)))
    if start is not None:
        rows = rows.filter(pl.col("period_start") >= start)
    if end is not None:
        rows = rows.filter(pl.col("period_start") <= end)
    return (
        rows.select("period_start", "series", "label", pl.col(metric).alias("value"))
        .with_columns(_order=pl.col("series").replace_strict(order, return_dtype=pl.Int64))
        .sort("_order", "period_start")
        .drop("_order")
    )


# -- periods ---------------------------------------------------------------------------------
def monday(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def window(granularity: str, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last period start of a date range at a granularity.

    Days are themselves; a week is counted when any of its days is in the range (its Monday
    is the period start).
    """
    if granularity == "week":
        return monday(start), monday(end)
    return start, end


def previous_window(granularity: str, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of equal length just before ``[start, end]``, as first and last period start.

    Args:
        granularity: ``day`` or ``week``.
        start: First day of the current range.
        end: Last day of the current range.

    Returns:
        For days, the same number of days ending the day before ``start``; for weeks, the same
        number of weeks ending the week before ``start``'s week.
    """
    lo, hi = window(granularity, start, end)
    length = (hi - lo).days + (7 if granularity == "week" else 1)
    return lo - dt.timedelta(days=length), lo - dt.timedelta(days=length) + (hi - lo)


def default_range(
    last: dt.date, first: dt.date, days: int = DEFAULT_DAYS
) -> tuple[dt.date, dt.date]:
    """The date range shown first: the last ``days`` days with data (never before ``first``)."""
    return max(first, last - dt.timedelta(days=days - 1)), last


def _aggregate(metric: str) -> list[pl.Expr]:
    last_followers = pl.col("followers").drop_nulls().last()
    if metric in STOCKS:
        return [pl.col(metric).drop_nulls().last().alias("value")]
    if metric in RATES:
        return [
            pl.when(last_followers > 0)
            .then(pl.col("engagement").sum() / last_followers)
            .otherwise(None)
            .cast(pl.Float64)
            .alias("value")
        ]
    return [
        pl.when(pl.col(metric).is_not_null().any())
        .then(pl.col(metric).sum())
        .otherwise(None)
        .alias("value")
    ]


def period_values(frame: pl.DataFrame, metric: str, lo: dt.date, hi: dt.date) -> pl.DataFrame:
    """Each series' value of a metric over the periods starting from ``lo`` to ``hi``.

    Followers are the last known figure; the engagement rate is the summed engagement over the
    followers at the end; every other metric is the sum (null when no period has a figure, as
    views on a platform without views).

    Args:
        frame: Rows with ``period_start``, ``series``, ``label`` and the metric's columns.
        metric: One of :data:`METRICS`.
        lo: First period start (inclusive).
        hi: Last period start (inclusive).

    Returns:
        Columns ``series``, ``label``, ``value``, one row per series with rows in the window.
    """
    _check_metric(metric)
    rows = frame.filter(pl.col("period_start").is_between(lo, hi)).sort("period_start")
    return rows.group_by("series").agg(pl.col("label").last(), *_aggregate(metric))


def period_over_period(
    frame: pl.DataFrame,
    metric: str,
    series: Sequence[str],
    granularity: str,
    start: dt.date,
    end: dt.date,
) -> pl.DataFrame:
    """This period against the previous period of equal length, per series.

    Args:
        frame: Rows with ``period_start``, ``series``, ``label`` and the metric's columns,
            at the granularity.
        metric: One of :data:`METRICS`.
        series: Series keys, in display order.
        granularity: ``day`` or ``week``.
        start: First day of the current range.
        end: Last day of the current range.

    Returns:
        Columns of :data:`POP_COLUMNS`: ``value`` (see :func:`period_values`), ``previous``,
        ``change`` (value - previous) and ``change_pct`` (change / previous; null when the
        previous value is unknown or zero), one row per series in ``series`` order.
    """
    chosen = frame.filter(pl.col("series").is_in(list(series)))
    now = period_values(chosen, metric, *window(granularity, start, end))
    before = period_values(chosen, metric, *previous_window(granularity, start, end))
    labels = chosen.select("series", "label").unique("series", keep="last")
    keys = pl.DataFrame({"series": list(series)}, schema={"series": pl.Utf8})
    out = (
        keys.join(labels, on="series", how="left")
        .join(now.select("series", "value"), on="series", how="left")
        .join(before.select("series", pl.col("value").alias("previous")), on="series", how="left")
        .with_columns(change=pl.col("value") - pl.col("previous"))
        .with_columns(
            change_pct=pl.when(pl.col("previous") != 0)
            .then(pl.col("change") / pl.col("previous"))
            .otherwise(None)
            .cast(pl.Float64)
        )
    )
    return out.select(POP_COLUMNS)


# -- hierarchy -------------------------------------------------------------------------------
def children_of(links: pl.DataFrame, parent: str) -> list[str]:
    """The agencies directly below ``parent``, sorted.

    Args:
        links: Rows with ``agency`` and ``parent_agency`` (e.g. ``silver/accounts``).
        parent: An agency code.
    """
    rows = links.filter((pl.col("parent_agency") == parent) & (pl.col("agency") != parent))
    return sorted(set(rows["agency"].drop_nulls().to_list()))


def rollup_breakdown(
    frame: pl.DataFrame,
    metric: str,
    parent: str,
    children: Iterable[str],
    lo: dt.date,
    hi: dt.date,
) -> pl.DataFrame:
    """How an agency's figure splits between the agencies directly below it and its own accounts.

    Args:
        frame: Agency rows (:func:`with_series` at the ``agency`` level) of one platform
            choice and granularity.
        metric: One of :data:`METRICS`.
        parent: The agency rolled up.
        children: The agencies directly below it.
        lo: First period start (inclusive).
        hi: Last period start (inclusive).

    Returns:
        Columns ``agency``, ``value`` and ``share`` (value / the parent's; null for the rate
        or a zero parent): the parent first, then the children largest first, then
        :data:`OWN_ACCOUNTS` (the parent minus its children) when the metric adds up.
    """
    values = period_values(
        frame.filter(pl.col("series").is_in([parent, *children])), metric, lo, hi
    ).select(pl.col("series").alias("agency"), "value")
    top = values.filter(pl.col("agency") == parent)
    below = values.filter(pl.col("agency") != parent).sort(
        ["value", "agency"], descending=[True, False], nulls_last=True
    )
    parts = [top, below]
    if metric not in RATES and top.height and below.height:
        total = top["value"][0]
        rest = None if total is None else total - (below["value"].sum() or 0)
        parts.append(pl.DataFrame({"agency": [OWN_ACCOUNTS], "value": [rest]}, schema=top.schema))
    out = pl.concat(parts)
    parent_value = top["value"][0] if top.height else None
    share = (
        pl.col("value") / parent_value
        if metric not in RATES and parent_value not in (None, 0)
        else pl.lit(None)
    )
    return out.with_columns(share=share.cast(pl.Float64))


# -- metric definitions ----------------------------------------------------------------------
def definition_changes(
    sources: pl.DataFrame, metric: str, platforms: Iterable[str] | None = None
) -> pl.DataFrame:
    """The dates a metric's definition moved: its native field changed, or a fallback fed it.

    Each run records, per platform and endpoint, the native fields that fed every canonical
    metric (``quality/metric_sources``). A run whose fields differ from the previous run's is a
    ``changed`` event; a run fed by a field the metric model calls ``fallback`` (or does not
    know: ``unknown``) is an event of that kind.

    Args:
        sources: ``quality/metric_sources`` rows.
        metric: One of :data:`METRICS` (derived metrics follow their canonical parts).
        platforms: Keep these platforms; None keeps all.

    Returns:
        Columns of :data:`CHANGE_COLUMNS`, one row per date, platform, metric, endpoint and
        kind, sorted by date; ``field`` lists the fields of the run (`` + ``-joined).
    """
    _check_metric(metric)
    schema = {
        "date": pl.Date,
        "platform": pl.Utf8,
        "metric": pl.Utf8,
        "endpoint": pl.Utf8,
        "field": pl.Utf8,
        "kind": pl.Utf8,
    }
    rows = sources.filter(pl.col("metric").is_in(list(SOURCES[metric])))
    if platforms is not None:
        rows = rows.filter(pl.col("platform").is_in(list(platforms)))
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    group = ["platform", "endpoint", "metric"]
    runs = (
        rows.group_by(*group, "run_id")
        .agg(
            pl.col("first_seen_at").min().alias("at"),
            pl.col("field").unique().sort().str.join(" + ").alias("field"),
            pl.col("status").filter(pl.col("status") != "current").first().alias("odd"),
        )
        .sort("at")
        .with_columns(before=pl.col("field").shift(1).over(group))
    )
    changed = runs.filter(pl.col("before").is_not_null() & (pl.col("field") != pl.col("before")))
    odd = runs.filter(pl.col("odd").is_not_null())
    events = pl.concat(
        [
            changed.with_columns(kind=pl.lit("changed")),
            odd.with_columns(kind=pl.col("odd")),
        ]
    ).with_columns(date=pl.col("at").dt.date())
    return (
        events.sort("at")
        .unique(["date", *group, "kind"], keep="first")
        .sort("date", "platform", "metric", "endpoint", "kind")
        .select([pl.col(c).cast(t) for c, t in schema.items()])
    )


def change_sentence(row: dict[str, object]) -> str:
    """A plain sentence for one :func:`definition_changes` row (the caller escapes it)."""
    where = f"{row['platform']} {row['metric']} ({row['endpoint']})"
    if row["kind"] == "changed":
        return f"{row['date']}: {where} now comes from {row['field']}."
    return f"{row['date']}: {where} came from a {row['kind']} field: {row['field']}."


def definition_notes(
    metric: str, platforms: Iterable[str], with_values: Iterable[str] | None = None
) -> list[str]:
    """What a reader must know about a metric on the platforms in view.

    Args:
        metric: One of :data:`METRICS`.
        platforms: Platforms in view.
        with_values: Platforms in view that have a figure for the metric (for views: where the
            platform gives them); None skips the coverage note.

    Returns:
        The metric's definition, the metric model's notes on its native fields for those
        platforms, and, when some platforms in view have no figure, which ones.
    """
    _check_metric(metric)
    shown = sorted(set(platforms))
    notes = [CANONICAL_METRICS.get(metric) or DERIVED_DEFINITIONS[metric]]
    for source in METRIC_SOURCES:
        if source.note and source.metric in SOURCES[metric] and source.platform in shown:
            notes.append(f"{source.platform} {source.metric} ({source.field}): {source.note}.")
    if with_values is not None:
        have = sorted(set(with_values) & set(shown))
        missing = [p for p in shown if p not in have]
        if missing:
            notes.append(
                f"{metric} is only counted where the platform gives it"
                f" ({', '.join(have) or 'none in view'}); there is none on"
                f" {', '.join(missing)}, so their part is missing, not zero."
            )
    return notes


# -- trending terms --------------------------------------------------------------------------
def trending(
    trends: pl.DataFrame,
    agency: str,
    kind: str,
    end: dt.date | None = None,
    days: int = TREND_DAYS,
    top: int = TOP_TERMS,
) -> pl.DataFrame:
    """An agency's top hashtags or topics over the last ``days`` days, by lift.

    Args:
        trends: ``gold/trends`` rows.
        agency: The agency (its figures include the agencies below it).
        kind: ``hashtag`` or ``topic``.
        end: Last day of the window; None means the latest date in ``trends``.
        days: Window length.
        top: Terms kept.

    Returns:
        Columns of :data:`TRENDING_COLUMNS`: per term its best ``lift`` in the window, the
        ``posts`` using it (summed over the days), the ``days`` it was used and the
        ``best_day`` (the day of that lift; the latest on ties); ranked by lift, then posts,
        then term.
    """
    schema = TRENDING_SCHEMA
    if trends.is_empty():
        return pl.DataFrame(schema=schema)
    last: dt.date = end if end is not None else trends["date"].max()  # type: ignore[assignment]
    first = last - dt.timedelta(days=days - 1)
    rows = trends.filter(
        (pl.col("agency") == agency)
        & (pl.col("kind") == kind)
        & pl.col("date").is_between(first, last)
    )
    out = (
        rows.sort(["lift", "posts", "date"], descending=True)
        .group_by("term", maintain_order=True)
        .agg(
            pl.col("lift").first(),
            pl.col("posts").sum(),
            pl.col("date").n_unique().cast(pl.Int64).alias("days"),
            pl.col("date").first().alias("best_day"),
        )
        .sort(["lift", "posts", "term"], descending=[True, True, False])
        .head(top)
        .with_row_index("rank", offset=1)
    )
    return out.select([pl.col(c).cast(t) for c, t in schema.items()])


def trend_window(trends: pl.DataFrame, days: int = TREND_DAYS) -> tuple[dt.date, dt.date] | None:
    """The first and last day :func:`trending` looks at by default (None without trends)."""
    if trends.is_empty():
        return None
    last: dt.date = trends["date"].max()  # type: ignore[assignment]
    return last - dt.timedelta(days=days - 1), last


# -- leaderboards ----------------------------------------------------------------------------
def leaderboard_positions(
    boards: pl.DataFrame, level: str, series: Sequence[str], platform: str = ALL_PLATFORMS
) -> pl.DataFrame:
    """The chosen series' ranks in the latest week of ``gold/leaderboards``.

    Args:
        boards: ``gold/leaderboards`` rows.
        level: ``agency`` (agencies on ``platform``) or ``account`` (series
            ``platform:account_id``); other levels have no board.
        series: Series keys.
        platform: For agencies: the platform choice (agency boards are over ``all``).

    Returns:
        Columns ``period_start``, ``series``, ``label``, ``board``, ``value``, ``rank`` and
        ``of`` (entries ranked on that board that week), in series then board order.
    """
    schema = BOARD_SCHEMA
    if boards.is_empty() or level not in ("agency", "account"):
        return pl.DataFrame(schema=schema)
    rows = boards.filter(pl.col("entity_type") == level)
    if level == "agency":
        rows = rows.filter(pl.col("platform") == platform).with_columns(series=pl.col("entity"))
    else:
        rows = rows.with_columns(
            series=pl.concat_str(pl.col("platform"), pl.lit(":"), pl.col("entity"))
        )
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    latest = rows["period_start"].max()
    week = rows.filter(pl.col("period_start") == latest).with_columns(
        of=pl.len().over("board", "platform").cast(pl.Int64)
    )
    order = {key: i for i, key in enumerate(series)}
    return (
        week.filter(pl.col("series").is_in(list(series)))
        .with_columns(_order=pl.col("series").replace_strict(order, return_dtype=pl.Int64))
        .sort("_order", "board")
        .select([pl.col(c).cast(t) for c, t in schema.items()])
    )


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


__all__ = [
    "ALL_PLATFORMS",
    "BOARD_SCHEMA",
    "CHANGE_COLUMNS",
    "DEFAULT_DAYS",
    "DEFAULT_GRANULARITY",
    "DEFAULT_LEVEL",
    "DEFAULT_METRIC",
    "DEFAULT_SERIES",
    "DERIVED_DEFINITIONS",
    "GRANULARITIES",
    "LEVELS",
    "MAX_SERIES",
    "METRICS",
    "OWN_ACCOUNTS",
    "POP_COLUMNS",
    "RATES",
    "SOURCES",
    "STOCKS",
    "TIMELINE_COLUMNS",
    "TOP_AGENCY",
    "TOP_TERMS",
    "TRENDING_COLUMNS",
    "TRENDING_SCHEMA",
    "TREND_DAYS",
    "change_sentence",
    "children_of",
    "default_range",
    "default_series",
    "definition_changes",
    "definition_notes",
    "leaderboard_positions",
    "monday",
    "period_over_period",
    "period_values",
    "previous_window",
    "rollup_breakdown",
    "series_options",
    "timeline",
    "too_many_series",
    "trend_window",
    "trending",
    "window",
]
