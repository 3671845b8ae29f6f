"""The Operations page's figures, as pure functions over polars frames (no Panel, no I/O)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from hhs_platform.connectors.graph import parse_usage_headers
from hhs_platform.http import parse_rate_limit
from hhs_platform.ops.slo import budget_burned
from hhs_platform.quality.audit import reason_class
from hhs_platform.ratelimit.quota import QUOTA_RULES, unit_cost

#: The "no filter" choice of the platform selector.
ALL = "All"
#: Window choices: label -> days ending at the latest day in the data (None = everything).
WINDOWS: dict[str, int | None] = {"7 days": 7, "14 days": 14, "30 days": 30, "All": None}
DEFAULT_WINDOW = "14 days"
#: Accounts the heatmap draws at most (the lowest scoring; its table lists every account).
HEATMAP_ACCOUNTS = 40
#: Scorecard scores the heatmap can colour by.
HEATMAP_METRICS: tuple[str, ...] = ("freshness", "completeness", "validity", "drift", "overall")
#: Scorecard columns of the per-account table (latest day), in order.
SCORE_COLUMNS: tuple[str, ...] = ("completeness", "freshness", "validity", "drift", "overall")

#: Columns each table is read with (nothing else is read).
FETCH_LOG_COLUMNS: tuple[str, ...] = (
    "run_id",
    "platform",
    "account_key",
    "status",
    "started_at",
    "finished_at",
)
SCORECARD_COLUMNS: tuple[str, ...] = (
    "date",
    "platform",
    "account_id",
    "account_key",
    "agency",
    *SCORE_COLUMNS,
    "flags",
    "rows_quarantined",
)
QUARANTINE_COLUMNS: tuple[str, ...] = (
    "table",
    "platform",
    "run_id",
    "rules",
    "row",
    "quarantined_at",
)
FLAG_COLUMNS: tuple[str, ...] = ("platform", "account_id", "rule", "severity", "observed_at")
RESPONSE_COLUMNS: tuple[str, ...] = ("platform", "endpoint", "fetched_at", "headers")
QUOTA_COLUMNS: tuple[str, ...] = ("platform", "fetched_at", "request_url")

#: Columns of :func:`run_summary`, in order.
RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "started_at",
    "finished_at",
    "duration_s",
    "platforms",
    "accounts",
    "complete",
    "partial",
    "failed",
    "success_rate",
    "meets_slo",
)
_CONTRACT_RULE = re.compile(r"^(\w+: \w+)")


def select_platform(frame: pl.DataFrame, platform: str | None) -> pl.DataFrame:
    """Rows of one platform; ``None`` or :data:`ALL` keeps every row."""
    if platform in (None, ALL):
        return frame
    return frame.filter(pl.col("platform") == platform)


def window_start(latest: dt.date | None, days: int | None) -> dt.date | None:
    """First day of a window of ``days`` days ending on ``latest`` (None: no lower bound)."""
    if latest is None or days is None:
        return None
    return latest - dt.timedelta(days=days - 1)


def in_window(frame: pl.DataFrame, column: str, start: dt.date | None) -> pl.DataFrame:
    """Rows whose ``column`` (a date, or a UTC datetime) falls on or after ``start``."""
    if start is None:
        return frame
    return frame.filter(_on_or_after(frame.schema[column], column, start))


def _on_or_after(dtype: pl.DataType, column: str, start: dt.date) -> pl.Expr:
    """``column`` on or after the day ``start``: compared with the day's first instant in the
    column's own time zone, rather than taking each row's date."""
    if dtype == pl.Date:
        return pl.col(column) >= start
    zone = getattr(dtype, "time_zone", None)
    midnight = dt.datetime.combine(start, dt.time(), ZoneInfo(zone) if zone else None)
    return pl.col(column) >= pl.lit(midnight).cast(dtype)


def in_runs_or_window(
    frame: pl.DataFrame, run_ids: Iterable[str], column: str, start: dt.date | None
) -> pl.DataFrame:
    """Rows written by one of ``run_ids``, or whose ``column`` falls in the window.

    Quarantine rows are stamped when written, which for a backfill or a replay is long after the
    run they belong to; the run decides first.
    """
    if start is None:
        return frame
    since = _on_or_after(frame.schema[column], column, start)
    return frame.filter(pl.col("run_id").is_in(list(run_ids)) | since)


def latest_day(*dates: dt.date | None) -> dt.date | None:
    """The latest of the dates that are known (None when none is)."""
    known = [d for d in dates if d is not None]
    return max(known) if known else None


# -- collection runs --------------------------------------------------------------------------
def run_summary(fetch_log: pl.DataFrame, slo: float) -> pl.DataFrame:
    """One row per collection run: accounts fetched, how they ended, success rate, timing.

    An account logged twice in one run (a resumed run) counts once, with its last outcome.

    Args:
        fetch_log: ``bronze/fetch_log`` rows (at least :data:`FETCH_LOG_COLUMNS`).
        slo: Target success rate (e.g. 0.995); ``meets_slo`` compares each run with it.

    Returns:
        :data:`RUN_COLUMNS`, newest run first. ``success_rate`` = (complete + partial) /
        accounts; ``duration_s`` from the first fetch's start to the last fetch's end.
    """
    last = (
        fetch_log.select("run_id", "account_key", "platform", "status", "started_at")
        .sort("started_at")
        .unique(["run_id", "account_key"], keep="last")
    )
    timing = fetch_log.group_by("run_id").agg(
        pl.col("started_at").min(), pl.col("finished_at").max()
    )
    counts = last.group_by("run_id").agg(
        pl.col("platform").n_unique().cast(pl.Int64).alias("platforms"),
        pl.len().cast(pl.Int64).alias("accounts"),
        *(
            (pl.col("status") == s).sum().cast(pl.Int64).alias(s)
            for s in ("complete", "partial", "failed")
        ),
    )
    return (
        counts.join(timing, on="run_id")
        .with_columns(
            duration_s=(pl.col("finished_at") - pl.col("started_at")).dt.total_milliseconds()
            / 1000.0,
            success_rate=(pl.col("complete") + pl.col("partial")) / pl.col("accounts"),
        )
        .with_columns(meets_slo=pl.col("success_rate") >= slo)
        .select(RUN_COLUMNS)
        .sort("started_at", "run_id", descending=True)
    )


@dataclass(frozen=True)
class ErrorBudget:
    """The SLO over a set of runs: fetches, failures, and the share of the error budget burned."""

    slo: float
    runs: int
    runs_meeting_slo: int
    fetches: int
    succeeded: int

    @property
    def failed(self) -> int:
        """Account fetches that failed."""
        return self.fetches - self.succeeded

    @property
    def success_rate(self) -> float | None:
        """Succeeded / fetches over every run (None without fetches)."""
        return self.succeeded / self.fetches if self.fetches else None

    @property
    def allowed_failures(self) -> float:
        """Failures the SLO allows over these fetches: (1 - slo) x fetches."""
        return (1.0 - self.slo) * self.fetches

    @property
    def burned(self) -> float | None:
        """Failed / allowed failures: 1.0 means the budget is spent (None when nothing allowed)."""
        return budget_burned(self.failed, self.fetches, self.slo)


def error_budget(runs: pl.DataFrame, slo: float) -> ErrorBudget:
    """The error budget over the runs of :func:`run_summary` (pooled over their fetches)."""
    if runs.is_empty():
        return ErrorBudget(slo=slo, runs=0, runs_meeting_slo=0, fetches=0, succeeded=0)
    return ErrorBudget(
        slo=slo,
        runs=runs.height,
        runs_meeting_slo=int(runs["meets_slo"].sum()),
        fetches=int(runs["accounts"].sum()),
        succeeded=int(runs["complete"].sum()) + int(runs["partial"].sum()),
    )


# -- freshness and coverage -------------------------------------------------------------------
def _check_heatmap_metric(metric: str) -> None:
    if metric not in HEATMAP_METRICS:
        raise ValueError(f"unknown heatmap metric {metric!r}; use one of {HEATMAP_METRICS}")


def heatmap_cells(scorecard: pl.DataFrame, metric: str) -> pl.DataFrame:
    """The heatmap's cells: one per account and day, coloured by a scorecard score.

    Args:
        scorecard: ``quality/scorecard`` rows.
        metric: One of :data:`HEATMAP_METRICS`.

    Returns:
        ``date`` (ISO text, the x axis), ``account_key``, ``platform`` and ``value`` (null
        where the score cannot be judged), in the scorecard's order. Not sorted: of the
        window "All" of the large benchmark lake (2.19 M cells) the sort took 0.2-0.3 s of
        every colour change, and only the drawn accounts' cells need an order
        (:func:`lowest_accounts`, which makes only theirs).
    """
    _check_heatmap_metric(metric)
    return scorecard.select(
        pl.col("date").cast(pl.String),
        "account_key",
        "platform",
        pl.col(metric).cast(pl.Float64).alias("value"),
    )


def account_means(scorecard: pl.DataFrame) -> pl.DataFrame:
    """Each account's mean of every heatmap score, which :func:`lowest_accounts` ranks by.

    Args:
        scorecard: ``quality/scorecard`` rows (a window's).

    Returns:
        ``account_key`` and one column per :data:`HEATMAP_METRICS` (null: never judged), one
        row per account. Computed once per window: of the window "All" of the large benchmark
        lake (2.19 M rows) the grouping took 120-135 ms, which a new colour then saves.
    """
    return scorecard.group_by("account_key").agg(
        pl.col(metric).cast(pl.Float64).mean() for metric in HEATMAP_METRICS
    )


def lowest_accounts(
    scorecard: pl.DataFrame, metric: str, n: int, means: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The heatmap's cells of the ``n`` accounts whose mean score is lowest (an account never
    judged counts as lowest): a heatmap of thousands of rows is unreadable and slow to draw.

    Args:
        scorecard: ``quality/scorecard`` rows.
        metric: One of :data:`HEATMAP_METRICS`.
        n: Accounts to keep.
        means: :func:`account_means` of ``scorecard``, if already computed.

    Returns:
        :func:`heatmap_cells` of the kept accounts, sorted by account and date.
    """
    _check_heatmap_metric(metric)
    means = account_means(scorecard) if means is None else means
    kept = means.sort(metric, "account_key", nulls_last=False).head(n)["account_key"]
    rows = scorecard.filter(pl.col("account_key").is_in(kept.implode()))
    return heatmap_cells(rows, metric).sort("account_key", "date", maintain_order=True)


def heatmap_table(cells: pl.DataFrame) -> pl.DataFrame:
    """The heatmap as a table (screen readers): one row per account, one column per day.

    Args:
        cells: :func:`heatmap_cells` output (every account's, not only the drawn ones).
    """
    if cells.is_empty():
        return pl.DataFrame(schema={"account_key": pl.String, "platform": pl.String})
    # Laid out with numpy: polars' pivot took 1.4-2.8 s for the 2.19 M cells of 3,000
    # accounts over two years (this: about 0.4 s), for the same table.
    accounts = cells.select("account_key", "platform").unique().sort("account_key", "platform")
    days = cells.select("date").unique().sort("date")
    placed = cells.join(
        accounts.with_row_index("_row"), on=["account_key", "platform"], nulls_equal=True
    ).join(days.with_row_index("_column"), on="date")
    rows, columns = placed["_row"].to_numpy(), placed["_column"].to_numpy()
    seen = np.zeros((accounts.height, days.height), dtype=bool)
    seen[rows, columns] = True
    if np.count_nonzero(seen) != placed.height:
        raise ValueError("heatmap cells repeat an account and day")
    known = placed["value"].is_not_null().to_numpy()
    grid = np.zeros(seen.shape)
    filled = np.zeros(seen.shape, dtype=bool)
    grid[rows[known], columns[known]] = placed["value"].to_numpy()[known]
    filled[rows[known], columns[known]] = True
    return accounts.with_columns(
        pl.Series(day, grid[:, j]).scatter(np.flatnonzero(~filled[:, j]), None)
        for j, day in enumerate(days["date"].to_list())
    )


def latest_scorecard(scorecard: pl.DataFrame) -> pl.DataFrame:
    """Each account's scorecard on its latest scored day, worst overall score first.

    Returns:
        ``account_key``, ``agency``, ``platform``, ``date``, the scores of
        :data:`SCORE_COLUMNS`, ``flags`` and ``account_id`` (nulls last in the sort).
    """
    return (
        scorecard.sort("date")
        .group_by("platform", "account_id", maintain_order=True)
        .agg(pl.all().last())
        .select("account_key", "agency", "platform", "date", *SCORE_COLUMNS, "flags", "account_id")
        .sort(["overall", "account_key"], nulls_last=True)
    )


def score_means(scorecard: pl.DataFrame) -> dict[str, float | None]:
    """The mean of each score (nulls left out) over the rows given."""
    return {
        name: (float(v) if (v := scorecard[name].mean()) is not None else None)  # type: ignore[arg-type]
        for name in SCORE_COLUMNS
    }


# -- quarantine and flags ---------------------------------------------------------------------
def rule_name(reason: str) -> str:
    """The rule of a quarantine reason, without the row-specific detail.

    ``"created_at: future_timestamp (2026-... is after ...)"`` -> ``"created_at: future_timestamp"``;
    a parse problem is named by its class (``truncated_body``, ``null_id``, ``parser_error``...).
    """
    cls = reason_class(reason)
    if cls != "contract":
        return cls
    match = _CONTRACT_RULE.match(reason)
    return match.group(1) if match else cls


def quarantine_by_rule(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Quarantined rows per rule, table and platform (a row failing two rules counts in both).

    Returns:
        ``rule``, ``table``, ``platform`` (``"unknown"`` when not recorded) and ``rows``, most
        rows first.
    """
    schema = {"rule": pl.String, "table": pl.String, "platform": pl.String, "rows": pl.Int64}
    if quarantine.is_empty():
        return pl.DataFrame(schema=schema)
    exploded = (
        quarantine.select("table", pl.col("platform").fill_null("unknown"), "rules")
        .with_row_index("_row")
        .explode("rules")
        .drop_nulls("rules")
    )
    # reasons repeat from row to row: each distinct one is named once
    names = {reason: rule_name(reason) for reason in exploded["rules"].unique().to_list()}
    exploded = (
        exploded.with_columns(
            rule=pl.col("rules").replace_strict(names, return_dtype=pl.String),
        )
        # One rejected row naming the same rule twice (two columns) counts once for the rule.
        .unique(["_row", "rule"])
    )
    return (
        exploded.group_by("rule", "table", "platform")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .sort(["rows", "rule", "table", "platform"], descending=[True, False, False, False])
        .select(list(schema))
    )


def quarantine_account_ids(quarantine: pl.DataFrame) -> pl.DataFrame:
    """``quarantine`` with ``account_id`` read from each rejected row's JSON (null if absent)."""
    return quarantine.with_columns(
        account_id=pl.col("row").str.json_path_match("$.account_id"),
    )


def flags_by_rule(flags: pl.DataFrame) -> pl.DataFrame:
    """``quality/flags`` rows per rule, severity and platform, most first."""
    schema = {"rule": pl.String, "severity": pl.String, "platform": pl.String, "flags": pl.Int64}
    if flags.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        flags.group_by("rule", "severity", "platform")
        .agg(pl.len().cast(pl.Int64).alias("flags"))
        .sort(["flags", "rule", "severity", "platform"], descending=[True, False, False, False])
        .select(list(schema))
    )


# -- rate limits and quotas -------------------------------------------------------------------
_HEADROOM_SCHEMA: dict[str, pl.DataType] = {
    "platform": pl.String(),
    "endpoint": pl.String(),
    "as_of": pl.Datetime("us", "UTC"),
    "limit": pl.Int64(),
    "remaining": pl.Int64(),
    "reset_at": pl.Datetime("us", "UTC"),
    "used_pct": pl.Float64(),
    "headroom": pl.Float64(),
}


def _headers(text: str | None) -> dict[str, str]:
    try:
        value = json.loads(text or "{}")
    except (json.JSONDecodeError, TypeError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _used(headers: Mapping[str, str]) -> int | None:
    for name, value in headers.items():
        if name.lower() in ("x-ratelimit-used", "x-rate-limit-used", "ratelimit-used"):
            try:
                return int(float(value))
            except ValueError:
                return None
    return None


def rate_limit_reading(
    headers: Mapping[str, str], fetched_at: dt.datetime
) -> dict[str, object] | None:
    """What one response's headers say of its rate-limit budget; None when they say nothing.

    Counted limits (``RateLimit-*``, ``x-rate-limit-*``, ``X-RateLimit-*``) give ``limit``,
    ``remaining``, ``reset_at`` and ``headroom`` = remaining / limit; Meta's usage headers give
    ``used_pct`` (the highest share used) and ``headroom`` = 1 - used_pct / 100.
    """
    now = fetched_at.timestamp()
    state = parse_rate_limit(headers, now=now)
    if state is not None:
        limit = state.limit
        remaining = state.remaining
        used = _used(headers)
        if limit is None and used is not None and remaining is not None:
            limit = used + remaining  # Reddit sends used and remaining, not the limit
        headroom = remaining / limit if limit and remaining is not None else None
        return {
            "limit": limit,
            "remaining": remaining,
            "reset_at": dt.datetime.fromtimestamp(state.reset_at, dt.UTC),
            "used_pct": (100.0 * (1 - headroom)) if headroom is not None else None,
            "headroom": headroom,
        }
    usage = parse_usage_headers(headers)
    if usage is not None:
        reset = now + usage.regain_s if usage.regain_s else None
        return {
            "limit": None,
            "remaining": None,
            "reset_at": dt.datetime.fromtimestamp(reset, dt.UTC) if reset else None,
            "used_pct": usage.max_pct,
            "headroom": max(0.0, 1.0 - usage.max_pct / 100.0),
        }
    return None


def rate_limit_headroom(responses: pl.DataFrame) -> pl.DataFrame:
    """Per platform, the rate-limit budget its latest response with rate-limit headers reported.

    Args:
        responses: ``bronze/raw_responses`` rows with ``platform``, ``endpoint``, ``fetched_at``
            and ``headers`` (JSON text).

    Returns:
        ``platform``, ``endpoint`` (whose budget it is), ``as_of`` (when it was reported),
        ``limit``, ``remaining``, ``reset_at``, ``used_pct`` and ``headroom`` (share left, 0-1),
        by platform. Platforms whose responses carry no such headers (YouTube) are absent.
    """
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    ordered = responses.sort("fetched_at", descending=True)
    for platform, endpoint, fetched_at, text in ordered.select(
        "platform", "endpoint", "fetched_at", "headers"
    ).iter_rows():
        if platform in seen:
            continue
        reading = rate_limit_reading(_headers(text), fetched_at)
        if reading is None:
            continue
        seen.add(platform)
        rows.append({"platform": platform, "endpoint": endpoint, "as_of": fetched_at, **reading})
    return pl.DataFrame(rows, schema=_HEADROOM_SCHEMA).sort("platform")


@dataclass(frozen=True)
class QuotaDay:
    """Units a platform's daily quota had spent on one quota day, by the calls archived."""

    platform: str
    day: dt.date | None
    calls: int
    units_used: int
    daily_units: int
    keys: int

    @property
    def units_left(self) -> int:
        """Units left that day over every key (never below 0)."""
        return max(self.daily_units * self.keys - self.units_used, 0)

    @property
    def used_share(self) -> float | None:
        """Units used / units available over every key (None without keys)."""
        total = self.daily_units * self.keys
        return self.units_used / total if total else None


def quota_day(
    calls: pl.DataFrame, platform: str = "youtube", keys: int = 1, day: dt.date | None = None
) -> QuotaDay:
    """Units the archived calls of a platform spent on one quota day (YouTube: Pacific day).

    Every archived API call is counted at its documented cost (``unit_cost``), failed ones too:
    the quota is charged when a call is made. Calls outside the API (YouTube's keyless RSS feed)
    cost nothing.

    Args:
        calls: ``bronze/raw_responses`` rows with ``platform``, ``fetched_at``, ``request_url``.
        platform: A platform of ``QUOTA_RULES``.
        keys: API keys configured (each has the daily units); at least 1 is assumed.
        day: Quota day to count; None means the day of the latest call.

    Returns:
        The day's calls and units; ``day`` is None when the platform has no calls.
    """
    rule = QUOTA_RULES[platform]
    zone = ZoneInfo(rule.timezone)
    mine = calls.filter(pl.col("platform") == platform)
    local = [
        (ts.astimezone(zone).date(), urlsplit(url).path)
        for ts, url in mine.select("fetched_at", "request_url").iter_rows()
    ]
    if day is None:
        day = max((d for d, _ in local), default=None)
    todays = [path for d, path in local if d == day and "/youtube/v3/" in path]
    return QuotaDay(
        platform=platform,
        day=day,
        calls=len(todays),
        units_used=sum(unit_cost(platform, path) for path in todays),
        daily_units=rule.daily_units,
        keys=max(keys, 1),
    )


def latest_partitions(partitions: Iterable[Mapping[str, str | None]]) -> dict[str, dt.date]:
    """The latest ``fetched_date`` partition of each platform (Delta partition values)."""
    out: dict[str, dt.date] = {}
    for part in partitions:
        platform, day = part.get("platform"), part.get("fetched_date")
        if not platform or not day:
            continue
        date = dt.date.fromisoformat(day)
        if platform not in out or date > out[platform]:
            out[platform] = date
    return out


__all__ = [
    "ALL",
    "DEFAULT_WINDOW",
    "FETCH_LOG_COLUMNS",
    "FLAG_COLUMNS",
    "HEATMAP_METRICS",
    "QUARANTINE_COLUMNS",
    "QUOTA_COLUMNS",
    "RESPONSE_COLUMNS",
    "RUN_COLUMNS",
    "SCORECARD_COLUMNS",
    "SCORE_COLUMNS",
    "WINDOWS",
    "ErrorBudget",
    "QuotaDay",
    "account_means",
    "error_budget",
    "flags_by_rule",
    "heatmap_cells",
    "heatmap_table",
    "in_runs_or_window",
    "in_window",
    "latest_day",
    "latest_partitions",
    "latest_scorecard",
    "lowest_accounts",
    "quarantine_account_ids",
    "quarantine_by_rule",
    "quota_day",
    "rate_limit_headroom",
    "rate_limit_reading",
    "rule_name",
    "run_summary",
    "score_means",
    "select_platform",
    "window_start",
]
