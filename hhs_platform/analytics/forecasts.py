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
    table = _backtest(y, origin, fit, horizon, settings.forecast_backtest_origins, model, dows)

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
        h = new[:, 1].astype(int) - 1
        levels = list(calibrated)
        inside = [
            ((new[:, 2] >= lo[h]) & (new[:, 2] <= hi[h])).astype(float)
            for lo, hi in calibrated.values()
        ]
        for level, checked in zip(levels, _by_horizon(new[:, 1], horizon, *inside), strict=True):
            enough = (~np.isnan(checked)).sum(axis=1) >= _MIN_ERRORS // 2
            coverage[level] = np.where(enough, _row_means(checked), np.nan)
    backtest = _scores(table, horizon)
    for score in backtest:
        for level in INTERVALS:
            value = coverage[level][score["horizon_days"] - 1] if level in coverage else np.nan
            score[f"coverage_{round(level * 100)}"] = None if np.isnan(value) else float(value)
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
    (errors_at,) = _by_horizon(hs, horizon, errors)
    enough = (~np.isnan(errors_at)).sum(axis=1) >= _MIN_ERRORS
    observed = np.where(enough, _row_medians(np.abs(errors_at)), np.nan)
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
    probabilities = [p for level in INTERVALS for p in ((1 - level) / 2, (1 + level) / 2)]
    quantiles = np.quantile(pooled, probabilities)
    for k, level in enumerate(INTERVALS):
        out[level] = (quantiles[2 * k] * size, quantiles[2 * k + 1] * size)
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
    """The median of a non-empty 1-D array without NaN, taken as :func:`_row_medians` takes it
    (without ``np.median``'s overhead: a build takes thousands of medians of a few dozen values)."""
    return float(_row_medians(values[None, :])[0])


def _backtest(
    y: np.ndarray, origin: int, fit: int, horizon: int, origins: int, model: str, dows: np.ndarray
) -> np.ndarray:
    """The back-test's rows (origin, h, error, actual, naive error): the model refitted at each
    of the ``origins`` days before ``origin`` and its errors at every horizon up to ``origin``.

    The same fits as :func:`_fit` at each origin, all origins at once: the fit windows are the
    rows of one (origins x fit) matrix, and every median is a row median of it.
    """
    first = max(0, origin - origins)
    at = np.arange(first, origin)
    if at.size == 0:
        return np.empty((0, 5))
    # Row k: the fit window of origin at[k], days at[k] - fit + 1 .. at[k] (NaN before day 0).
    padded = np.concatenate([np.full(fit, np.nan), y[: origin + 1]])
    window = np.lib.stride_tricks.sliding_window_view(padded, fit)[at + 1]
    days = at[:, None] + np.arange(1 - fit, 1)
    seen = ~np.isnan(window)
    ok = seen.sum(axis=1) >= _MIN_POINTS
    steps = np.arange(1, horizon + 1)
    targets = at[:, None] + steps
    if model == "robust_trend":
        weekly = window[:, 7:] - window[:, :-7]
        ok &= (~np.isnan(weekly)).sum(axis=1) >= 3
        slope = _row_medians(weekly) / 7
        # the last 7 observed days of each window
        last7 = seen & (np.cumsum(seen[:, ::-1], axis=1)[:, ::-1] <= 7)
        level = np.where(last7, window - slope[:, None] * days, np.nan)
        intercept = _row_medians(level)
        fitted = intercept[:, None] + slope[:, None] * targets.astype(float)
    else:
        overall = _row_medians(window)
        medians = np.empty((at.size, 7))
        dow = dows[np.maximum(days, 0)]
        for d in range(7):
            same = _row_medians(np.where(seen & (dow == d), window, np.nan))
            medians[:, d] = np.where(np.isnan(same), overall, same)
        fitted = np.take_along_axis(medians, dows[targets], axis=1)
    naive = _naive_indexes(y, dows, model, at, targets)
    inside = targets <= origin
    actual = y[np.minimum(targets, origin)]
    keep = ok[:, None] & inside & ~np.isnan(actual) & (naive >= 0)
    return np.column_stack(
        [
            np.broadcast_to(at[:, None], keep.shape)[keep],
            np.broadcast_to(steps, keep.shape)[keep],
            (actual - fitted)[keep],
            actual[keep],
            (actual - y[naive])[keep],
        ]
    ).astype(float)


def _row_medians(values: np.ndarray) -> np.ndarray:
    """The median of each row's non-NaN values (NaN for a row without any), as :func:`_median`
    takes them: the middle value, or the mean of the two middle ones."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    ordered = np.sort(values, axis=1)  # NaN sort last
    n = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(values.shape[0])
    hi = ordered[rows, np.minimum(n // 2, values.shape[1] - 1)]
    lo = ordered[rows, np.maximum((n - 1) // 2, 0)]
    return np.where(n > 0, np.where(n % 2 == 1, hi, (lo + hi) / 2), np.nan)


def _naive_indexes(
    y: np.ndarray, dows: np.ndarray, model: str, at: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Indexes of the naive forecasts of ``targets`` (one row per origin of ``at``) made at that
    origin (-1: none): the last value known at the origin, or for engagement the last value
    known of each target's weekday."""
    index = np.arange(y.size)
    seen = ~np.isnan(y)
    if model != "weekday_median":
        last = np.maximum.accumulate(np.where(seen, index, -1))
        return np.broadcast_to(last[at][:, None], targets.shape)
    by_day = np.stack(
        [
            np.maximum.accumulate(np.where(seen & (dows[: y.size] == d), index, -1))
            for d in range(7)
        ],
        axis=1,
    )
    return by_day[at[:, None], dows[targets]]


def _scores(table: np.ndarray, horizon: int) -> list[dict[str, Any]]:
    """MAE, MAPE, naive MAE and MASE of the back-test errors at each horizon that has some."""
    hs = table[:, 1]
    errors, actual, naive = _by_horizon(hs, horizon, table[:, 2], table[:, 3], table[:, 4])
    errors, naive = np.abs(errors), np.abs(naive)
    counts = (~np.isnan(errors)).sum(axis=1)
    mae, naive_mae = _row_means(errors), _row_means(naive)
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = _row_means(np.where(actual != 0, errors / np.abs(actual), np.nan)) * 100
    rows = []
    for i in np.flatnonzero(counts):
        rows.append(
            {
                "horizon_days": int(i + 1),
                "origins": int(counts[i]),
                "mae": float(mae[i]),
                "mape": None if np.isnan(mape[i]) else float(mape[i]),
                "naive_mae": float(naive_mae[i]),
                "mase": float(mae[i] / naive_mae[i]) if naive_mae[i] > 0 else None,
            }
        )
    return rows


def _by_horizon(hs: np.ndarray, horizon: int, *columns: np.ndarray) -> list[np.ndarray]:
    """Each column's values of each horizon 1..``horizon`` (``hs``) as the rows of one matrix,
    in their order, padded with NaN."""
    h = hs.astype(int) - 1
    order = np.argsort(h, kind="stable")
    counts = np.bincount(h, minlength=horizon)
    starts = np.cumsum(counts) - counts
    rows, slots = h[order], np.arange(h.size) - starts[h[order]]
    out = []
    for values in columns:
        matrix = np.full((horizon, int(counts.max(initial=0))), np.nan)
        matrix[rows, slots] = values[order]
        out.append(matrix)
    return out


def _row_means(values: np.ndarray) -> np.ndarray:
    """The mean of each row's non-NaN values (NaN for a row without any)."""
    n = (~np.isnan(values)).sum(axis=1)
    total = np.nansum(values, axis=1)
    return np.divide(total, n, out=np.full(n.shape, np.nan), where=n > 0)


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
    columns: dict[str, list[Any]] = {name: [] for name in table_spec("gold/forecasts").schema}
    tests: list[dict[str, Any]] = []
    for meta, metric, start, values in series:
        result = forecast_series(values, start.weekday(), metric, settings)
        if result is None:
            continue
        origin = start + timedelta(days=result.origin)
        common = {**meta, "metric": metric, "model": result.model, "fitted_at": now}
        # one row per horizon and interval level, the levels inner
        levels = list(result.bounds)
        steps = np.repeat(np.arange(1, result.yhat.size + 1), len(levels))
        yhat = np.repeat(result.yhat, len(levels))
        lower = np.column_stack([result.bounds[level][0] for level in levels]).ravel()
        upper = np.column_stack([result.bounds[level][1] for level in levels]).ravel()
        for name, value in common.items():
            columns[name].extend([value] * steps.size)
        columns["origin"].extend([origin] * steps.size)
        columns["date"].append(np.datetime64(origin, "D") + steps)
        columns["horizon_days"].append(steps)
        columns["interval"].append(np.tile(np.asarray(levels, dtype=float), result.yhat.size))
        columns["yhat"].append(yhat)
        columns["lower"].append(np.minimum(lower, yhat))
        columns["upper"].append(np.maximum(upper, yhat))
        tests.extend({**common, **b} for b in result.backtest)
    spec = table_spec("gold/forecasts")
    if columns["yhat"]:
        data = {
            name: np.concatenate(values) if isinstance(values[0], np.ndarray) else values
            for name, values in columns.items()
        }
        forecasts = pl.DataFrame(data).select(
            pl.col(name).cast(dtype) for name, dtype in spec.schema.items()
        )
    else:
        forecasts = spec.empty()
    spec = table_spec("gold/forecast_backtest")
    return forecasts, pl.DataFrame(tests, schema=spec.schema) if tests else spec.empty()


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
