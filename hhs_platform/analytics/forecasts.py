"""Forecasts of followers and engagement per account and agency, with back-tested intervals.

Two small, explainable models (docs/analytics.md):

* ``robust_trend`` (followers): a straight line whose slope is the median change between days a
  week apart over the last ``HHS_FORECAST_FIT_DAYS`` days, divided by 7 (a single jump or drop
  moves it little, weekly patterns cancel out), through the median of the last 7 observations
  brought to the same day along it;
* ``weekday_median`` (engagement): each weekday's median over the same days.

Intervals come from a rolling-origin back-test: the model is refitted at each of the last
``HHS_FORECAST_BACKTEST_ORIGINS`` days and its errors at each horizon are kept. Divided by the
usual error size at their horizon (the larger of their median absolute value and the model's
textbook spread), they are pooled; the pool's 10-90% and 2.5-97.5% quantiles times the size at h
give the 80% and 95% intervals at h. The same errors give MAE, MAPE and MASE against a naive
forecast (the last value; for engagement the same weekday's last value), stored in
gold/forecast_backtest with the intervals' coverage on the newer half of the origins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from hhs_platform.lake.store import Lake, WriteResult
from hhs_platform.settings import Settings, get_settings
from hhs_platform.spread import cluster_workers, spread
from hhs_platform.transforms.rollups import ALL_PLATFORMS, agency_tree
from schemas import table_spec

INTERVALS = (0.8, 0.95)
MODELS = {"followers": "robust_trend", "engagement": "weekday_median"}
#: From this many series on, a run inside a Dask task fits them on every worker of the cluster.
SPREAD_FROM = 500
#: The settings ``forecast_series`` reads.
_FIT_SETTINGS = ("forecast_fit_days", "forecast_horizon_days", "forecast_backtest_origins")
#: Back-test errors a horizon needs before its quantiles make an interval.
_MIN_ERRORS = 10
#: Observed days in the fit window a forecast needs (a week).
_MIN_POINTS = 7
#: 1.4826 x MAD estimates a standard deviation; a median's error is 1.2533 x a mean's.
_MAD, _EFF = 1.4826, 1.2533
_NORMAL = NormalDist()


@dataclass
class Forecast:
    """One series' forecast: yhat and bounds per horizon (1..H), and its back-test per horizon."""

    model: str
    origin: int
    yhat: np.ndarray
    bounds: dict[float, tuple[np.ndarray, np.ndarray]]
    backtest: list[dict[str, Any]] = field(default_factory=list)


def forecast_series(
    values: np.ndarray, first_weekday: int, metric: str, settings: Settings
) -> Forecast | None:
    """Forecast one daily series ``HHS_FORECAST_HORIZON_DAYS`` past its last observed day.

    Args:
        values: one value per consecutive day, NaN where unobserved.
        first_weekday: weekday of ``values[0]`` (Monday = 0).
        metric: ``followers`` (trend) or ``engagement`` (weekday medians).
        settings: horizon, fit window and back-test origins (``HHS_FORECAST_*``).

    Returns:
        The forecast from the last observed day, or None with too little history.
    """
    y = np.asarray(values, dtype=float)
    seen = np.flatnonzero(~np.isnan(y))
    if seen.size == 0:
        return None
    origin = int(seen[-1])
    horizon, fit = settings.forecast_horizon_days, settings.forecast_fit_days
    dows = (np.arange(y.size + horizon) + first_weekday) % 7
    model = MODELS[metric]
    final = _fit(y, origin, fit, model, dows)
    if final is None:
        return None
    steps = np.arange(1, horizon + 1)
    yhat = final(origin + steps)

    # Rolling-origin back-test: the model refitted at each origin, its errors at every horizon.
    naive_at = _naive_index(y, dows, model)
    tests: list[np.ndarray] = []  # rows of origin, h, error, actual, naive error
    for o in range(max(0, origin - settings.forecast_backtest_origins), origin):
        fitted = _fit(y, o, fit, model, dows)
        if fitted is None:
            continue
        ahead = steps[o + steps <= origin]
        targets = o + ahead
        naive = naive_at(o, targets)
        keep = ~np.isnan(y[targets]) & (naive >= 0)
        ahead, targets = ahead[keep], targets[keep]
        actual = y[targets]
        tests.append(
            np.column_stack(
                [
                    np.full(targets.size, o),
                    ahead,
                    actual - fitted(targets),
                    actual,
                    actual - y[naive[keep]],
                ]
            )
        )
    table = np.concatenate(tests) if tests else np.empty((0, 5))

    spread = _spread(y, origin, fit, model, final, horizon)
    widths = _interval_widths(table[:, 1], table[:, 2], spread)
    bounds = {
        level: (np.maximum(yhat + lo, 0.0), np.maximum(yhat + hi, 0.0))
        for level, (lo, hi) in widths.items()
    }
    # Coverage of the same method, honestly: calibrated on the older half of the origins and
    # checked on the errors of the newer half.
    coverage: dict[float, np.ndarray] = {}
    if table.size:
        split = np.median(np.unique(table[:, 0]))
        old, new = table[table[:, 0] < split], table[table[:, 0] >= split]
        calibrated = _interval_widths(old[:, 1], old[:, 2], spread)
        for level, (lo, hi) in calibrated.items():
            h = new[:, 1].astype(int) - 1
            inside = (new[:, 2] >= lo[h]) & (new[:, 2] <= hi[h])
            coverage[level] = np.asarray(
                [
                    inside[h == i].mean() if (h == i).sum() >= _MIN_ERRORS // 2 else np.nan
                    for i in range(horizon)
                ]
            )
    backtest = []
    for h in steps:
        rows = table[table[:, 1] == h]
        if rows.size:
            score = _scores(int(h), rows[:, 2], rows[:, 3], rows[:, 4])
            for level in INTERVALS:
                value = coverage[level][h - 1] if level in coverage else np.nan
                score[f"coverage_{round(level * 100)}"] = None if np.isnan(value) else float(value)
            backtest.append(score)
    return Forecast(model, origin, np.maximum(yhat, 0.0), bounds, backtest)


def _interval_widths(
    hs: np.ndarray, errors: np.ndarray, spread: np.ndarray
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """(lower, upper) offsets from the forecast per horizon and interval level.

    The usual error size at horizon h is the larger of the median absolute back-test error at h
    (given ``_MIN_ERRORS`` of them, and never below a shorter horizon's) and the textbook
    ``spread`` (as a median absolute error: x 0.6745): one series' back-test errors come from
    overlapping fits and understate the spread far ahead, the textbook spread knows nothing of
    jumps or a wandering level. Back-test errors divided by their horizon's size are pooled over
    the horizons; their quantiles times the size make the interval. Without back-test errors,
    normal quantiles of the textbook spread.
    """
    horizon = spread.size
    textbook = spread * _NORMAL.inv_cdf(0.75)
    observed = np.full(horizon, np.nan)
    for h in range(1, horizon + 1):
        e = errors[hs == h]
        if e.size >= _MIN_ERRORS:
            observed[h - 1] = _median(np.abs(e))
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    if np.isnan(observed).all() or not np.nanmax(observed) > 0:
        for level in INTERVALS:
            z = _NORMAL.inv_cdf((1 + level) / 2)
            out[level] = (-z * spread, z * spread)
        return out
    measured = np.fmax.accumulate(observed)  # NaN (too few errors) carries the shorter horizon's
    at = hs.astype(int) - 1
    keep = ~np.isnan(measured[at]) & (measured[at] > 0)
    pooled = errors[keep] / measured[at[keep]]
    size = np.fmax(measured, textbook)
    for level in INTERVALS:
        lo, hi = np.quantile(pooled, [(1 - level) / 2, (1 + level) / 2])
        out[level] = (lo * size, hi * size)
    return out


def _spread(
    y: np.ndarray, origin: int, fit: int, model: str, predict: Any, horizon: int
) -> np.ndarray:
    """The textbook standard deviation of the forecast error at horizons 1..``horizon``.

    noise: 1.4826 x MAD of the fit's residuals. robust_trend: noise, plus the level's error (a
    median of 7 days: 1.2533 x noise / sqrt 7), plus the slope's (a median of n weekly changes:
    1.2533 x their scale / (7 sqrt n)) times the days from the level's middle (h + 3).
    weekday_median: noise and the error of a median of the fit's weeks.
    """
    start = max(0, origin - fit + 1)
    t = np.arange(start, origin + 1)
    t = t[~np.isnan(y[t])]
    residuals = y[t] - predict(t)
    noise = _MAD * _median(np.abs(residuals - _median(residuals)))
    steps = np.arange(1, horizon + 1)
    if model == "robust_trend":
        window = y[start : origin + 1]
        weekly = window[7:] - window[:-7]
        weekly = weekly[~np.isnan(weekly)]
        weekly_sd = _MAD * _median(np.abs(weekly - _median(weekly)))
        slope_sd = _EFF * weekly_sd / (7 * np.sqrt(weekly.size))
        level_sd = _EFF * noise / np.sqrt(min(7, t.size))
        return np.sqrt(noise**2 + level_sd**2 + (slope_sd * (steps + 3)) ** 2)
    weeks = max(1.0, t.size / 7)
    return np.full(horizon, noise * np.sqrt(1 + _EFF**2 / weeks))


def _fit(y: np.ndarray, origin: int, fit: int, model: str, dows: np.ndarray) -> Any:
    """The model fitted on the ``fit`` days up to ``origin``: a function of day index, or None."""
    start = max(0, origin - fit + 1)
    t = np.arange(start, origin + 1)
    v = y[start : origin + 1]
    keep = ~np.isnan(v)
    t, v = t[keep], v[keep]
    if t.size < _MIN_POINTS:
        return None
    if model == "robust_trend":
        # Differences a week apart: a jump or drop spoils a quarter of them at most, and the
        # weekly pattern of growth cancels out.
        window = y[start : origin + 1]
        weekly = window[7:] - window[:-7]
        weekly = weekly[~np.isnan(weekly)]
        if weekly.size < 3:
            return None
        slope = _median(weekly) / 7
        intercept = _median(v[-7:] - slope * t[-7:])
        return lambda days: intercept + slope * np.asarray(days, dtype=float)
    overall = _median(v)
    medians = np.full(7, overall)
    for d in range(7):
        same = v[dows[t] == d]
        if same.size:
            medians[d] = _median(same)
    return lambda days: medians[dows[np.asarray(days)]]


def _median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D array without NaN, without its overhead: the back-test
    fits each series at every origin, some 10^5 medians of a few dozen values a build."""
    ordered = np.sort(values)
    mid = ordered.size // 2
    return float(ordered[mid] if ordered.size % 2 else (ordered[mid - 1] + ordered[mid]) / 2)


def _naive_index(y: np.ndarray, dows: np.ndarray, model: str) -> Any:
    """``(origin, targets) -> indexes`` of the naive forecasts of ``targets`` made at ``origin``
    (-1: none): the last value known at the origin, or for engagement the last value known of
    each target's weekday."""
    last = np.full(y.size, -1)
    by_day = np.full((y.size, 7), -1)
    seen, seen_day = -1, np.full(7, -1)
    for i in range(y.size):
        if not np.isnan(y[i]):
            seen = i
            seen_day[dows[i]] = i
        last[i], by_day[i] = seen, seen_day
    if model == "weekday_median":
        return lambda o, targets: by_day[o, dows[targets]]
    return lambda o, targets: np.full(targets.size, last[o])


def _scores(h: int, e: np.ndarray, a: np.ndarray, n: np.ndarray) -> dict[str, Any]:
    """MAE, MAPE, naive MAE and MASE of the back-test errors ``e`` at one horizon."""
    mae, naive_mae = float(np.mean(np.abs(e))), float(np.mean(np.abs(n)))
    nonzero = a != 0
    row: dict[str, Any] = {
        "horizon_days": h,
        "origins": int(e.size),
        "mae": mae,
        "mape": float(np.mean(np.abs(e[nonzero] / a[nonzero])) * 100) if nonzero.any() else None,
        "naive_mae": naive_mae,
        "mase": mae / naive_mae if naive_mae > 0 else None,
    }
    return row


# -- series from the lake -------------------------------------------------------------------------


def forecast_frames(
    daily: pl.DataFrame,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    spread_from: int = SPREAD_FROM,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``gold/forecasts`` and ``gold/forecast_backtest`` rows from ``gold/daily_account_metrics``.

    Account rows have ``level = account`` (entity = account_id); agency rows ``level = agency``,
    ``account_id = '*'`` (entity = agency, with every agency below it, per platform and ``all``).
    Inside a Dask task, ``spread_from`` series or more are fitted on every worker of the
    cluster, in equal shares (each series is fitted on its own).
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    series = _series(daily, settings)
    workers = cluster_workers()
    if workers < 2 or len(series) < spread_from:
        parts = [_forecast_part(series, settings=settings, now=now)]
    else:
        # only the settings the fits read travel to the other workers, no credentials
        shared = Settings.model_construct(**{k: getattr(settings, k) for k in _FIT_SETTINGS})
        fit = partial(_forecast_part, settings=shared, now=now)
        size = -(-len(series) // workers)
        parts = spread(fit, [series[i : i + size] for i in range(0, len(series), size)])
    out = []
    for k, name in enumerate(("gold/forecasts", "gold/forecast_backtest")):
        spec = table_spec(name)
        frame = pl.concat([part[k] for part in parts])
        out.append(frame.sort(list(spec.keys)))
    return out[0], out[1]


def _forecast_part(
    series: list[tuple[dict[str, Any], str, date, np.ndarray]], *, settings: Settings, now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The forecast and back-test rows of some series (unsorted)."""
    rows: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    for meta, metric, start, values in series:
        result = forecast_series(values, start.weekday(), metric, settings)
        if result is None:
            continue
        origin = start + timedelta(days=result.origin)
        common = {**meta, "metric": metric, "model": result.model, "fitted_at": now}
        for i, yhat in enumerate(result.yhat):
            for level, (lower, upper) in result.bounds.items():
                rows.append(
                    {
                        **common,
                        "origin": origin,
                        "date": origin + timedelta(days=i + 1),
                        "horizon_days": i + 1,
                        "interval": level,
                        "yhat": float(yhat),
                        "lower": float(min(lower[i], yhat)),
                        "upper": float(max(upper[i], yhat)),
                    }
                )
        tests.extend({**common, **b} for b in result.backtest)
    out = []
    for name, data in (("gold/forecasts", rows), ("gold/forecast_backtest", tests)):
        spec = table_spec(name)
        out.append(pl.DataFrame(data, schema=spec.schema) if data else spec.empty())
    return out[0], out[1]


def build_forecasts(
    lake: Lake,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    spread_from: int = SPREAD_FROM,
) -> WriteResult:
    """Rebuild ``gold/forecasts`` and ``gold/forecast_backtest`` from the daily figures.

    Returns the write of ``gold/forecasts`` (the back-test is written just before it).
    ``spread_from``: see :func:`forecast_frames`.
    """
    forecasts, backtest = forecast_frames(
        lake.read("gold/daily_account_metrics"),
        settings=settings,
        now=now,
        spread_from=spread_from,
    )
    lake.overwrite("gold/forecast_backtest", backtest)
    return lake.overwrite("gold/forecasts", forecasts)


def _series(
    daily: pl.DataFrame, settings: Settings
) -> list[tuple[dict[str, Any], str, date, np.ndarray]]:
    """(identity, metric, first day, daily values) of every account and agency series.

    Followers: the observed figures (gaps stay NaN); agencies sum their accounts' latest figure
    (carried over days without an observation). Engagement: every day up to
    ``HHS_ANOMALY_SETTLE_DAYS`` before the account's last data (younger posts are still growing),
    0 on days without posts.
    """
    if daily.is_empty():
        return []
    keys = ["platform", "account_id"]
    bounds = daily.group_by(keys).agg(
        pl.col("date").min().alias("_first"),
        pl.col("date").max().alias("_last"),
        pl.col("handle", "agency", "parent_agency").sort_by("date").drop_nulls().last(),
    )
    grid = (
        bounds.select(*keys, "_last", pl.date_ranges("_first", "_last").alias("date"))
        .explode("date")
        .join(
            daily.select(*keys, "date", "followers", "engagement"), on=[*keys, "date"], how="left"
        )
        .join(bounds.select(*keys, "handle", "agency"), on=keys)
        .sort([*keys, "date"])
        .with_columns(
            _carried=pl.col("followers").forward_fill().over(keys),
            engagement=pl.when(
                pl.col("date") <= pl.col("_last") - pl.duration(days=settings.anomaly_settle_days)
            ).then(pl.col("engagement").fill_null(0)),
        )
    )
    out: list[tuple[dict[str, Any], str, date, np.ndarray]] = []
    for (platform, account_id), rows in grid.group_by(keys, maintain_order=True):
        first = rows["handle"][0], rows["agency"][0]
        meta = {
            "level": "account",
            "platform": platform,
            "entity": account_id,
            "account_id": account_id,
            "handle": first[0],
            "agency": first[1],
        }
        start = rows["date"][0]
        for metric in ("followers", "engagement"):
            values = rows[metric].cast(pl.Float64).to_numpy()
            out.append((meta, metric, start, _trim(values)))
    # Agencies: each account counts for its agency and every agency above it.
    chains = agency_tree(bounds.select("agency", "parent_agency"))
    links = pl.DataFrame(
        [(a, up) for a, chain in chains.items() for up in chain],
        schema={"agency": pl.Utf8, "rollup": pl.Utf8},
        orient="row",
    )
    by_agency = grid.join(links, on="agency")
    for per_platform in (True, False):
        group = ["rollup", "platform"] if per_platform else ["rollup"]
        summed = (
            by_agency.group_by([*group, "date"])
            .agg(
                pl.col("_carried").sum().alias("followers"),
                pl.when(pl.col("engagement").is_not_null().all())
                .then(pl.col("engagement").sum())
                .alias("engagement"),
            )
            .sort([*group, "date"])
        )
        for key, rows in summed.group_by(group, maintain_order=True):
            agency = str(key[0])
            platform = str(key[1]) if per_platform else ALL_PLATFORMS
            meta = {
                "level": "agency",
                "platform": platform,
                "entity": agency,
                "account_id": "*",
                "handle": None,
                "agency": agency,
            }
            days = rows.select(pl.date_range(pl.col("date").min(), pl.col("date").max()))
            rows = days.join(rows, on="date", how="left")
            start = rows["date"][0]
            for metric in ("followers", "engagement"):
                values = rows[metric].cast(pl.Float64).to_numpy()
                out.append((meta, metric, start, _trim(values)))
    return out


def _trim(values: np.ndarray) -> np.ndarray:
    """The series with nulls as NaN (polars gives NaN already for float nulls via to_numpy)."""
    return np.where(np.isfinite(values), values, np.nan)


__all__ = [
    "INTERVALS",
    "MODELS",
    "Forecast",
    "build_forecasts",
    "forecast_frames",
    "forecast_series",
]
