"""Unusual days in the daily account figures, each with its size, baseline, confidence and sentence.

Six kinds, from ``gold/daily_account_metrics`` and ``bronze/fetch_log`` (docs/analytics.md):

* ``follower_jump`` / ``follower_drop``: the day's follower change is far from the account's usual
  change for that weekday (robust z of the change, per day since the previous observation);
* ``engagement_spike`` / ``engagement_collapse``: the engagement of the day's posts is far from the
  usual for that weekday (robust z on log(1 + engagement)), once the posts are a few days old;
* ``posting_gap``: consecutive days without a post when the account would usually have posted;
* ``collection_gap``: consecutive days without a successful fetch of the account.

Baselines are trailing: a day is judged only against the days before it, so an event found today
stays the same tomorrow and an incremental build (``since``) equals a full one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from hhs_platform.lake.store import Lake, WriteResult
from hhs_platform.settings import Settings, get_settings
from schemas import table_spec

#: How each platform is named in sentences.
PLATFORM_NAMES = {
    "bluesky": "Bluesky",
    "facebook": "Facebook",
    "flickr": "Flickr",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "mastodon": "Mastodon",
    "pinterest": "Pinterest",
    "reddit": "Reddit",
    "threads": "Threads",
    "truthsocial": "Truth Social",
    "x": "X",
    "youtube": "YouTube",
}
# English whatever the locale (calendar.month_name follows LC_TIME).
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: 1.4826 x MAD estimates the standard deviation of normal data.
_MAD = 1.4826
#: Engagement departures smaller than ~10% are never unusual, however quiet the account.
_MIN_LOG_SCALE = 0.1
#: Same-weekday values a seasonal baseline needs (else the all-days median is used).
_MIN_WEEKS = 3
_SERIES = ["platform", "account_id"]
_KEYS = ["platform", "account_id", "metric", "date", "kind"]
_GAPS = ("posting_gap", "collection_gap")


def detect_anomalies(
    daily: pl.DataFrame | pl.LazyFrame,
    fetch_log: pl.DataFrame | pl.LazyFrame | None = None,
    *,
    settings: Settings | None = None,
    since: date | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Find the anomalies of every account in ``gold/daily_account_metrics`` rows.

    Args:
        daily: rows of ``gold/daily_account_metrics`` (date, platform, account_id, handle, agency,
            followers, posts_published, engagement are used).
        fetch_log: ``bronze/fetch_log`` rows with an ``account_id`` column (and optionally
            ``handle``, ``agency``) for collection gaps; None: no collection gaps.
        settings: thresholds (``HHS_ANOMALY_*``); default the process settings.
        since: only events touching days from ``since`` minus ``HHS_ANOMALY_SETTLE_DAYS + 1``
            on (see :func:`recompute_from`); ``daily`` needs the trailing window before it.
        now: the ``detected_at`` of the events (default: now).

    Returns:
        ``gold/anomalies`` rows, sorted by key.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    spec = table_spec("gold/anomalies")
    frame = daily.collect() if isinstance(daily, pl.LazyFrame) else daily
    parts = []
    if frame.height:
        grid = _grid(frame)
        parts += [
            _followers(grid, settings),
            _engagement(grid, settings),
            _posting_gaps(grid, settings),
        ]
    if fetch_log is not None:
        log = fetch_log.collect() if isinstance(fetch_log, pl.LazyFrame) else fetch_log
        parts.append(_collection_gaps(log, frame, settings))
    parts = [p for p in parts if p.height]
    if not parts:
        return spec.empty()
    events = pl.concat(parts, how="diagonal_relaxed")
    if since is not None:
        cut = recompute_from(since, settings)
        events = events.filter((pl.col("date") >= cut) | (pl.col("end_date") >= cut))
    if events.is_empty():
        return spec.empty()
    sentences = [describe(r) for r in events.iter_rows(named=True)]
    out = events.with_columns(
        sentence=pl.Series(sentences, dtype=pl.Utf8),
        detected_at=pl.lit(now, pl.Datetime("us", "UTC")),
        confidence=pl.col("confidence").round(3),
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()]).sort(_KEYS)


def recompute_from(since: date, settings: Settings) -> date:
    """The first day an incremental build from ``since`` recomputes.

    New data on ``since`` also settles the engagement of the ``HHS_ANOMALY_SETTLE_DAYS`` days
    before it and completes the day before it (a posting gap's days), so those are redone too.
    """
    return since - timedelta(days=settings.anomaly_settle_days + 1)


def build_anomalies(
    lake: Lake,
    since: date | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> WriteResult:
    """Rebuild ``gold/anomalies`` (``since=None``) or only its events from ``since`` on.

    ``since`` is the first day whose figures in ``gold/daily_account_metrics`` or fetches in
    ``bronze/fetch_log`` are new or changed since the last build: the earlier of
    :func:`changed_since` and the run's first day. Only the trailing window before it is read,
    the events of earlier days are kept, and the result equals a full rebuild. An event keeps the
    ``detected_at`` of the build that first found it.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    daily = lake.scan("gold/daily_account_metrics")
    fetches = _fetch_log_with_ids(lake)
    cut = None
    if since is not None:
        cut = recompute_from(since, settings)
        start = _load_start(daily, fetches, cut, settings)
        daily = daily.filter(pl.col("date") >= start)
        fetches = fetches.filter(pl.col("started_at").dt.date() >= start)
    events = detect_anomalies(daily, fetches, settings=settings, since=since, now=now)
    old = lake.read("gold/anomalies")
    kept = old.head(0)
    if cut is not None:
        kept = old.filter((pl.col("date") < cut) & (pl.col("end_date") < cut))
    first_found = old.select(*_KEYS, pl.col("detected_at").alias("_first"))
    events = (
        events.join(first_found, on=_KEYS, how="left", nulls_equal=True)
        .with_columns(detected_at=pl.coalesce("_first", "detected_at"))
        .drop("_first")
    )
    return lake.overwrite("gold/anomalies", pl.concat([kept, events]).sort(_KEYS))


def changed_since(before: pl.DataFrame, after: pl.DataFrame) -> date | None:
    """The first day whose ``gold/daily_account_metrics`` rows differ between two reads.

    Read the table before and after ``build_gold``; pass the answer as ``since`` to
    :func:`build_anomalies` (None: nothing changed, no rebuild needed).
    """
    cols = [c for c in after.columns if c in before.columns]
    a, b = after.select(cols), before.select(cols)
    changed = pl.concat(
        [
            a.join(b, on=cols, how="anti", nulls_equal=True),
            b.join(a, on=cols, how="anti", nulls_equal=True),
        ]
    )
    return changed["date"].min() if changed.height else None  # type: ignore[return-value]


# -- sentences ----------------------------------------------------------------------------------


def describe(event: dict[str, Any]) -> str:
    """The event in plain language, e.g. "CDC followers on X fell 4.2% on 3 May, 6× the usual
    daily change"."""
    who = event.get("agency") or event.get("handle") or event["account_id"]
    where = PLATFORM_NAMES.get(event["platform"], event["platform"])
    day = _day(event["date"])
    kind = event["kind"]
    if kind in _GAPS:
        span = f"on {day}" if event["days"] == 1 else f"for {event['days']} days from {day}"
        if kind == "posting_gap":
            expected = event["baseline"]
            return (
                f"{who} posted nothing on {where} {span}, when about {expected:.0f} were expected"
            )
        reason = event.get("reason") or "not fetched"
        return f"{who} on {where} was not collected {span} ({reason})"
    metric = "followers" if kind.startswith("follower") else "engagement"
    verb = "rose" if kind in ("follower_jump", "engagement_spike") else "fell"
    pct = event.get("change_pct")
    size = f"by {abs(event['change']):,.0f}" if pct is None else _pct(abs(pct))
    times = max(1, round(abs(event["score"])))
    return f"{who} {metric} on {where} {verb} {size} on {day}, {times}× the usual daily change"


def _day(d: date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]}"


def _pct(p: float) -> str:
    if p >= 100:
        return f"{p:.0f}%"
    if round(p, 1) >= 0.1:
        return f"{p:.1f}%"
    return f"{p:.2g}%"


# -- the calendar grid ----------------------------------------------------------------------------


def _grid(daily: pl.DataFrame) -> pl.DataFrame:
    """Every calendar day of every account from its first to its last row, with its figures."""
    info = (
        daily.sort("date")
        .group_by(_SERIES)
        .agg(
            pl.col("date").min().alias("_first"),
            pl.col("date").max().alias("last"),
            pl.col("handle").drop_nulls().last(),
            pl.col("agency").drop_nulls().last(),
        )
    )
    days = info.select(
        *_SERIES,
        "last",
        "handle",
        "agency",
        pl.date_ranges("_first", "last").alias("date"),
    ).explode("date")
    figures = daily.select(*_SERIES, "date", "followers", "posts_published", "engagement")
    return (
        days.join(figures, on=[*_SERIES, "date"], how="left")
        .with_columns(dow=pl.col("date").dt.weekday())
        .sort([*_SERIES, "date"])
    )


def _baseline(x: pl.Expr, settings: Settings) -> tuple[pl.Expr, pl.Expr]:
    """Trailing robust baseline of ``x`` (a grid column, null where unobserved), excluding the day.

    Returns (baseline, history). The baseline is the median over the window of the same weekday
    (with at least 3 values), else of the same kind of day, working day or weekend (at least 3;
    sparse weekend posting rarely fills the first), else of every day (``min_history`` values).
    history is the number of values in the window.
    """
    window = settings.anomaly_window_days
    weeks = window // 7
    prior = x.shift(1)
    weekday = prior.rolling_median(weeks, min_samples=_MIN_WEEKS).over([*_SERIES, "dow"])
    kind = (
        pl.when(pl.col("dow") >= 6)
        .then(prior.rolling_median(2 * weeks, min_samples=_MIN_WEEKS))
        .otherwise(prior.rolling_median(5 * weeks, min_samples=_MIN_WEEKS))
        .over([*_SERIES, pl.col("dow") >= 6])
    )
    flat = prior.rolling_median(window, min_samples=settings.anomaly_min_history).over(_SERIES)
    history = prior.is_not_null().cast(pl.Int64).rolling_sum(window, min_samples=1).over(_SERIES)
    return pl.coalesce(weekday, kind, flat), history


def _scale(resid: pl.Expr, settings: Settings) -> pl.Expr:
    """1.4826 x the median absolute residual over the window before the day: the usual size of a
    departure from the baseline (null until ``min_history`` residuals exist)."""
    mad = (
        resid.abs()
        .shift(1)
        .rolling_median(settings.anomaly_window_days, min_samples=settings.anomaly_min_history)
        .over(_SERIES)
    )
    return mad * _MAD


def _confidence(strength: pl.Expr, history: pl.Expr, settings: Settings) -> pl.Expr:
    """evidence x support: evidence = 1 - 0.5 / strength² (0.5 at the threshold, → 1 far past it);
    support = 0.5 + 0.5 x min(1, history / (3 x min_history)) (a short history halves it)."""
    evidence = 1 - 0.5 / strength.clip(lower_bound=1.0) ** 2
    support = 0.5 + 0.5 * (history / (3 * settings.anomaly_min_history)).clip(upper_bound=1.0)
    return evidence * support


def _info() -> list[str]:
    return [*_SERIES, "handle", "agency"]


# -- followers ------------------------------------------------------------------------------------


def _followers(grid: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    f = pl.col("followers")
    seen = pl.when(f.is_not_null())
    steps = grid.with_columns(
        _prev=f.shift(1).forward_fill().over(_SERIES),
        _k=(pl.col("date") - seen.then(pl.col("date")).shift(1).forward_fill().over(_SERIES))
        .dt.total_days()
        .cast(pl.Float64),
        # The figure's resolution: YouTube serves 3 significant figures, so its changes come in
        # steps of 10^n and a single step is no event. Null on days without a figure (days with
        # posts only), which must not lower the step to 1.
        _tz=seen.then(pl.sum_horizontal((f % 10**n == 0).cast(pl.Int64) for n in range(1, 7))),
    ).with_columns(
        _change=(f - pl.col("_prev")).cast(pl.Float64),
        _step=pl.lit(10.0).pow(
            pl.col("_tz").rolling_min(settings.anomaly_window_days, min_samples=1).over(_SERIES)
        ),
    )
    # Only day-to-day changes feed the baseline; one spanning k days (a collection gap between
    # observations) is judged against the sum of its days' baselines and sqrt(k) x the scale.
    one_day = pl.when(pl.col("_k") == 1).then(pl.col("_change"))
    base, history = _baseline(one_day, settings)
    steps = steps.with_columns(_base=base, _hist=history).with_columns(
        _cum=pl.col("_base").fill_null(0.0).cum_sum().over(_SERIES)
    )
    steps = steps.with_columns(
        _expected=pl.when(pl.col("_base").is_not_null()).then(
            pl.col("_cum") - seen.then(pl.col("_cum")).shift(1).forward_fill().over(_SERIES)
        )
    ).with_columns(_resid=(pl.col("_change") - pl.col("_expected")) / pl.col("_k").sqrt())
    mad = _scale(pl.col("_resid"), settings)
    scale = pl.when(mad.is_not_null()).then(pl.max_horizontal(mad, pl.col("_step"), pl.lit(1.0)))
    scored = steps.with_columns(_scale=scale).with_columns(
        score=pl.col("_resid") / pl.col("_scale")
    )
    z = settings.anomaly_z_threshold
    big = (pl.col("_change") - pl.col("_expected")).abs() >= settings.anomaly_min_follower_change
    ok = pl.col("score").is_not_null() & (pl.col("_hist") >= settings.anomaly_min_history) & big
    found = scored.filter(
        ok
        & (
            ((pl.col("score") >= z) & (pl.col("_change") > 0))
            | ((pl.col("score") <= -z) & (pl.col("_change") < 0))
        )
    )
    return found.select(
        *_info(),
        pl.lit("followers").alias("metric"),
        "date",
        pl.when(pl.col("score") > 0)
        .then(pl.lit("follower_jump"))
        .otherwise(pl.lit("follower_drop"))
        .alias("kind"),
        pl.col("date").alias("end_date"),
        pl.lit(1, pl.Int64).alias("days"),
        f.cast(pl.Float64).alias("value"),
        (pl.col("_prev") + pl.col("_expected")).alias("baseline"),
        pl.col("_change").alias("change"),
        pl.when(pl.col("_prev") > 0)
        .then(100 * pl.col("_change") / pl.col("_prev"))
        .alias("change_pct"),
        pl.col("_scale").alias("usual_change"),
        "score",
        _confidence(pl.col("score").abs() / z, pl.col("_hist"), settings).alias("confidence"),
    )


# -- engagement -----------------------------------------------------------------------------------


def _engagement(grid: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    # Judged per post, so that a day with more posts than usual is no spike by itself (fewer
    # posts show up as a posting gap); reported for the day's posts together.
    settled = pl.col("date") <= pl.col("last") - pl.duration(days=settings.anomaly_settle_days)
    posts = pl.col("posts_published").cast(pl.Float64)
    scored = grid.with_columns(
        _y=pl.when(settled & (posts > 0)).then(
            (pl.col("engagement").cast(pl.Float64) / posts).log1p()
        )
    )
    base, history = _baseline(pl.col("_y"), settings)
    scored = scored.with_columns(_base=base, _hist=history).with_columns(
        _resid=pl.col("_y") - pl.col("_base")
    )
    mad = _scale(pl.col("_resid"), settings)
    scale = pl.when(mad.is_not_null()).then(pl.max_horizontal(mad, pl.lit(_MIN_LOG_SCALE)))
    scored = scored.with_columns(_scale=scale).with_columns(
        score=pl.col("_resid") / pl.col("_scale"),
        _usual=posts * (pl.col("_base").exp() - 1),
    )
    z = settings.anomaly_z_threshold
    value = pl.col("engagement").cast(pl.Float64)
    big = (value - pl.col("_usual")).abs() >= settings.anomaly_min_engagement_change
    ok = pl.col("score").is_not_null() & (pl.col("_hist") >= settings.anomaly_min_history) & big
    found = scored.filter(ok & (pl.col("score").abs() >= z))
    return found.select(
        *_info(),
        pl.lit("engagement").alias("metric"),
        "date",
        pl.when(pl.col("score") > 0)
        .then(pl.lit("engagement_spike"))
        .otherwise(pl.lit("engagement_collapse"))
        .alias("kind"),
        pl.col("date").alias("end_date"),
        pl.lit(1, pl.Int64).alias("days"),
        value.alias("value"),
        pl.col("_usual").alias("baseline"),
        (value - pl.col("_usual")).alias("change"),
        pl.when(pl.col("_usual") > 0)
        .then(100 * (value - pl.col("_usual")) / pl.col("_usual"))
        .alias("change_pct"),
        (posts * ((pl.col("_base") + pl.col("_scale")).exp() - pl.col("_base").exp())).alias(
            "usual_change"
        ),
        "score",
        _confidence(pl.col("score").abs() / z, pl.col("_hist"), settings).alias("confidence"),
    )


# -- posting gaps ---------------------------------------------------------------------------------


def _posting_gaps(grid: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    # The last day of an account's data was collected part-way through: it never counts.
    complete = pl.col("date") < pl.col("last")
    posts = pl.when(complete).then(pl.col("posts_published").fill_null(0).cast(pl.Float64))
    window = settings.anomaly_window_days
    prior = pl.col("_posts").shift(1)
    # A day's expected posts: its weekday's mean over the window's weeks (at least 3 of them).
    rate = prior.rolling_mean(window // 7, min_samples=_MIN_WEEKS).over([*_SERIES, "dow"])
    history = prior.is_not_null().cast(pl.Int64).rolling_sum(window, min_samples=1).over(_SERIES)
    zero = (pl.col("_posts") == 0).fill_null(False)
    runs = (
        grid.with_columns(_posts=posts)
        .with_columns(_rate=rate, _hist=history, _zero=zero)
        .with_columns(
            _run=(pl.col("_zero") != pl.col("_zero").shift(1))
            .fill_null(True)
            .cum_sum()
            .over(_SERIES)
        )
        .filter("_zero")
        .group_by([*_SERIES, "_run"])
        .agg(
            pl.col("handle", "agency").first(),
            pl.col("date").min().alias("date"),
            pl.col("date").max().alias("end_date"),
            pl.len().cast(pl.Int64).alias("days"),
            pl.col("_rate").sum().alias("_expected"),
            pl.col("_rate").first().is_not_null().alias("_known"),
            pl.col("_hist").first().alias("_hist"),
        )
    )
    expected = pl.col("_expected")
    found = runs.filter(
        pl.col("_known")
        & (pl.col("days") >= settings.anomaly_gap_min_days)
        & (expected >= settings.anomaly_gap_min_expected_posts)
    )
    return found.select(
        *_info(),
        pl.lit("posts_published").alias("metric"),
        "date",
        pl.lit("posting_gap").alias("kind"),
        "end_date",
        "days",
        pl.lit(0.0).alias("value"),
        expected.alias("baseline"),
        (-expected).alias("change"),
        pl.lit(-100.0).alias("change_pct"),
        (expected / pl.col("days")).alias("usual_change"),
        (-expected.sqrt()).alias("score"),
        _confidence(
            expected / settings.anomaly_gap_min_expected_posts, pl.col("_hist"), settings
        ).alias("confidence"),
    )


# -- collection gaps ------------------------------------------------------------------------------


def _collection_gaps(log: pl.DataFrame, daily: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Days from an account's first fetch to the log's last day without a successful fetch."""
    if log.is_empty() or "account_id" not in log.columns:
        return pl.DataFrame()
    log = log.filter(pl.col("account_id").is_not_null()).with_columns(
        day=pl.col("started_at").dt.date(),
        ok=pl.col("status").is_in(["complete", "partial"]),
    )
    if log.is_empty():
        return pl.DataFrame()
    last_day = log["day"].max()
    per_day = (
        log.sort("started_at")
        .group_by([*_SERIES, "day"])
        .agg(
            pl.col("ok").any(),
            pl.col("error_type").filter(~pl.col("ok")).drop_nulls().last().alias("error_type")
            if "error_type" in log.columns
            else pl.lit(None, pl.Utf8).alias("error_type"),
        )
    )
    info = _account_info(log, daily)
    days = (
        log.group_by(_SERIES)
        .agg(pl.col("day").min().alias("_first"))
        .select(*_SERIES, pl.date_ranges("_first", pl.lit(last_day)).alias("day"))
        .explode("day")
        .join(per_day, on=[*_SERIES, "day"], how="left")
        .with_columns(_gap=~pl.col("ok").fill_null(False))
        .sort([*_SERIES, "day"])
        .with_columns(
            _run=(pl.col("_gap") != pl.col("_gap").shift(1)).fill_null(True).cum_sum().over(_SERIES)
        )
    )
    runs = (
        days.filter("_gap")
        .group_by([*_SERIES, "_run"])
        .agg(
            pl.col("day").min().alias("date"),
            pl.col("day").max().alias("end_date"),
            pl.len().cast(pl.Int64).alias("days"),
            pl.col("error_type").drop_nulls().last().alias("_error"),
            pl.col("ok").is_not_null().any().alias("_tried"),
        )
        .filter(pl.col("days") >= settings.anomaly_collection_gap_min_days)
        .join(info, on=_SERIES, how="left")
    )
    n = pl.col("days").cast(pl.Float64)
    return runs.select(
        *_info(),
        pl.lit("collection").alias("metric"),
        "date",
        pl.lit("collection_gap").alias("kind"),
        "end_date",
        "days",
        pl.lit(0.0).alias("value"),
        n.alias("baseline"),
        (-n).alias("change"),
        pl.lit(-100.0).alias("change_pct"),
        pl.lit(None, pl.Float64).alias("usual_change"),
        pl.lit(None, pl.Float64).alias("score"),
        pl.lit(1.0).alias("confidence"),
        pl.when(pl.col("_tried"))
        .then(pl.lit("fetch failed: ") + pl.col("_error").fill_null("unknown error"))
        .otherwise(pl.lit("not fetched"))
        .alias("reason"),
    )


def _account_info(log: pl.DataFrame, daily: pl.DataFrame) -> pl.DataFrame:
    """handle and agency per account: from the daily figures, else from the fetch log."""
    parts = []
    if daily.height:
        parts.append(
            daily.sort("date").group_by(_SERIES).agg(pl.col("handle", "agency").drop_nulls().last())
        )
    cols = [c for c in ("handle", "agency") if c in log.columns]
    if cols:
        parts.append(log.sort("started_at").group_by(_SERIES).agg(pl.col(cols).drop_nulls().last()))
    if not parts:
        return (
            log.select(_SERIES)
            .unique()
            .with_columns(handle=pl.lit(None, pl.Utf8), agency=pl.lit(None, pl.Utf8))
        )
    return pl.concat(parts, how="diagonal_relaxed").unique(
        _SERIES, keep="first", maintain_order=True
    )


# -- lake plumbing --------------------------------------------------------------------------------


def _fetch_log_with_ids(lake: Lake) -> pl.LazyFrame:
    """bronze/fetch_log with the account_id, handle and agency of its registry key."""
    accounts = lake.scan("silver/accounts").select(
        "platform", "account_key", "account_id", "handle", "agency"
    )
    return lake.scan("bronze/fetch_log").join(
        accounts.unique(["platform", "account_key"]), on=["platform", "account_key"], how="inner"
    )


def _load_start(daily: pl.LazyFrame, fetches: pl.LazyFrame, cut: date, settings: Settings) -> date:
    """The first day an incremental build must read: twice the window (a baseline, and the
    residuals its scale is taken from) before the earliest day whose run is still open at ``cut``
    (the last observation, post or successful fetch of each account before it, or the first
    attempt of an account never fetched)."""
    before = daily.filter(pl.col("date") < cut)
    tried = fetches.filter(pl.col("started_at").dt.date() < cut).with_columns(
        date=pl.col("started_at").dt.date()
    )
    fetched = tried.filter(pl.col("status").is_in(["complete", "partial"]))
    lasts = [
        before.filter(pl.col("followers").is_not_null())
        .group_by(_SERIES)
        .agg(pl.col("date").max()),
        before.filter(pl.col("posts_published") > 0).group_by(_SERIES).agg(pl.col("date").max()),
        fetched.group_by(_SERIES).agg(pl.col("date").max()),
        # never fetched successfully: its collection gap runs from its first attempt
        tried.join(fetched, on=_SERIES, how="anti").group_by(_SERIES).agg(pl.col("date").min()),
    ]
    earliest = [v for lf in lasts if (v := lf.select(pl.col("date").min()).collect().item())]
    first = min([cut, *earliest])
    return first - timedelta(days=2 * settings.anomaly_window_days + 7)


__all__ = [
    "PLATFORM_NAMES",
    "build_anomalies",
    "changed_since",
    "describe",
    "detect_anomalies",
    "recompute_from",
]
