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
from datetime import UTC, date, datetime
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
    fits = _fit_many([(values, first_weekday)], MODELS[metric], settings)
    if fits.index.size == 0:
        return None
    bounds = {level: (lo[0], hi[0]) for level, (lo, hi) in fits.bounds.items()}
    backtest = []
    for h in np.flatnonzero(fits.scores["origins"][0]):
        row: dict[str, Any] = {"horizon_days": int(h + 1)}
        for name, values_at in fits.scores.items():
            value = float(values_at[0, h])
            row[name] = int(value) if name == "origins" else None if np.isnan(value) else value
        backtest.append(row)
    return Forecast(fits.model, int(fits.origin[0]), fits.yhat[0], bounds, backtest)


@dataclass
class _Fits:
    """The forecasts of those of some series that have one: row r is series ``index[r]``.

    ``yhat``, each level's ``bounds`` and each ``scores`` column (the back-test figures of
    ``gold/forecast_backtest``, NaN where undefined; ``origins`` 0 where a horizon has no
    back-test error) are (series x horizon) matrices.
    """

    model: str
    index: np.ndarray
    origin: np.ndarray
    yhat: np.ndarray
    bounds: dict[float, tuple[np.ndarray, np.ndarray]]
    scores: dict[str, np.ndarray]

    @staticmethod
    def concat(model: str, parts: list[tuple[np.ndarray, _Fits]]) -> _Fits:
        """The fits of several chunks, each with the indexes of its series, in series order."""
        parts = [(at, f) for at, f in parts if f.index.size]
        if not parts:
            empty = np.empty(0, dtype=int)
            return _Fits(model, empty, empty, np.empty((0, 0)), {}, {})
        fits = [f for _, f in parts]
        index = np.concatenate([at[f.index] for at, f in parts])
        order = np.argsort(index)

        def joined(arrays: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(arrays)[order]

        return _Fits(
            model,
            index[order],
            joined([f.origin for f in fits]),
            joined([f.yhat for f in fits]),
            {
                level: (
                    joined([f.bounds[level][0] for f in fits]),
                    joined([f.bounds[level][1] for f in fits]),
                )
                for level in INTERVALS
            },
            {name: joined([f.scores[name] for f in fits]) for name in fits[0].scores},
        )


#: Series fitted together in one set of matrices (bounds the memory: about 10 MB a matrix).
_CHUNK = 512


def _fit_many(series: list[tuple[np.ndarray, int]], model: str, settings: Settings) -> _Fits:
    """The forecasts of many series (values, first weekday) of one model, fitted together:
    each series' fits are rows of shared matrices, ``_CHUNK`` series of similar length at a
    time (a chunk's matrices are as wide as its longest series' back-test needs)."""
    by_length = np.argsort([len(values) for values, _ in series], kind="stable")
    parts = []
    for i in range(0, len(series), _CHUNK):
        at = by_length[i : i + _CHUNK]
        parts.append((at, _forecast_chunk([series[j] for j in at], model, settings)))
    return _Fits.concat(model, parts)


def _forecast_chunk(series: list[tuple[np.ndarray, int]], model: str, settings: Settings) -> _Fits:
    """The forecasts of some series of one model.

    Each series is right-aligned in one matrix so that its last observed day (its origin) is the
    last column; the fit windows of the back-test's origins and of the origin itself are then
    the same columns for every series, and each median of a fit (weekly changes, the level, a
    weekday's values, the residuals) is a row median.
    """
    horizon, fit = settings.forecast_horizon_days, settings.forecast_fit_days
    ys = [np.asarray(values, dtype=float) for values, _ in series]
    last = np.array([seen[-1] if (seen := np.flatnonzero(~np.isnan(y))).size else -1 for y in ys])
    live = np.flatnonzero(last >= 0)
    if live.size == 0:
        return _Fits.concat(model, [])
    n, origin = live.size, last[live]
    # back-test origins before the first day have no data: the chunk's longest series decides
    origins = min(settings.forecast_backtest_origins, int(origin.max()))
    # Column j of row s is day origin[s] - (width - 1) + j; days before the first are NaN.
    width = int(origin.max()) + 1 + fit + origins
    y = np.full((n, width), np.nan)
    for row, i in enumerate(live):
        y[row, width - 1 - origin[row] :] = ys[i][: origin[row] + 1]
    day0 = origin - (width - 1)  # the day of column 0, per row
    weekday = np.array([series[i][1] for i in live])
    dow = (day0[:, None] + np.arange(width) + weekday[:, None]) % 7
    seen_all = ~np.isnan(y)

    # The fits at the back-test's origins (k < origins) and at the origin (k = origins).
    k_count = origins + 1
    cols = width - k_count + np.arange(k_count)  # the origins' columns
    windows = np.lib.stride_tricks.sliding_window_view(y, fit, axis=1)[:, cols - fit + 1]
    flat = windows.reshape(n * k_count, fit)
    seen = ~np.isnan(flat)
    ok = seen.sum(axis=1) >= _MIN_POINTS
    steps = np.arange(1, horizon + 1)
    # absolute days of each window's columns and of each fit's targets
    window_days = (day0[:, None] + cols)[:, :, None] + np.arange(1 - fit, 1)
    target_days = (day0[:, None] + cols)[:, :, None] + steps
    if model == "robust_trend":
        weekly = flat[:, 7:] - flat[:, :-7]
        ok &= (~np.isnan(weekly)).sum(axis=1) >= 3
        slope = _row_medians(weekly) / 7
        last7 = seen & (np.cumsum(seen[:, ::-1], axis=1)[:, ::-1] <= 7)
        # the line's days are counted from the series' origin, so that the fit does not depend
        # on how much older history the series carries
        since = origin[:, None, None]
        days = (window_days - since).reshape(n * k_count, fit).astype(float)
        intercept = _row_medians(np.where(last7, flat - slope[:, None] * days, np.nan))
        slope, intercept = slope.reshape(n, k_count), intercept.reshape(n, k_count)

        def predict(days: np.ndarray, ks: slice = slice(None)) -> np.ndarray:
            return intercept[:, ks, None] + slope[:, ks, None] * (days - since).astype(float)

    else:
        window_dow = np.lib.stride_tricks.sliding_window_view(dow, fit, axis=1)[:, cols - fit + 1]
        flat_dow = window_dow.reshape(n * k_count, fit)
        overall = _row_medians(flat)
        # A weekday's days in a window are every 7th column from one of its first 7.
        by_day = np.empty((n * k_count, 7))
        every = np.arange(n * k_count)
        for first in range(7):
            same = _row_medians(flat[:, first::7])
            by_day[every, flat_dow[:, first]] = np.where(np.isnan(same), overall, same)
        medians = by_day.reshape(n, k_count, 7)

        def predict(days: np.ndarray, ks: slice = slice(None)) -> np.ndarray:
            at = (days + weekday[:, None, None]) % 7
            return np.take_along_axis(medians[:, ks], at, axis=2)

    ok = ok.reshape(n, k_count)
    fitted = predict(target_days)  # (n, k_count, horizon)

    # Back-test errors (n, origins, horizon), NaN where none: each target up to the origin.
    inside = (np.arange(origins)[:, None] + steps) <= origins
    target_cols = np.minimum(cols[:origins, None] + steps, width - 1)
    actual = y[:, target_cols]
    naive = _naive_columns(seen_all, dow, model, cols[:origins], target_cols)
    keep = ok[:, :origins, None] & inside & ~np.isnan(actual) & (naive >= 0)
    rows = np.arange(n)[:, None, None]
    errors = np.where(keep, actual - fitted[:, :origins], np.nan)
    naive_errors = np.where(keep, actual - y[rows, np.maximum(naive, 0)], np.nan)
    actual = np.where(keep, actual, np.nan)

    # The final fit: forecast and textbook spread.
    yhat = fitted[:, origins]
    final = windows[:, origins]
    final_fit = predict(window_days[:, origins:], slice(origins, None))[:, 0]
    spread = _spread(final, final - final_fit, model, horizon)

    widths = _interval_widths(errors, spread)
    scores = _scores(errors, actual, naive_errors)
    for level, shares in _coverage(errors, spread).items():
        scores[f"coverage_{round(level * 100)}"] = shares
    fitted_rows = np.flatnonzero(ok[:, origins])
    return _Fits(
        model,
        live[fitted_rows],
        origin[fitted_rows],
        np.maximum(yhat[fitted_rows], 0.0),
        {
            level: (
                np.maximum(yhat[fitted_rows] + lo[fitted_rows], 0.0),
                np.maximum(yhat[fitted_rows] + hi[fitted_rows], 0.0),
            )
            for level, (lo, hi) in widths.items()
        },
        {name: values[fitted_rows] for name, values in scores.items()},
    )


def _spread(window: np.ndarray, residuals: np.ndarray, model: str, horizon: int) -> np.ndarray:
    """The textbook standard deviation of the forecast error at horizons 1..``horizon``, per
    row of final fit ``window``s (and their ``residuals``; NaN where unobserved).

    noise: 1.4826 x MAD of the fit's residuals. robust_trend: noise, plus the level's error (a
    median of 7 days: 1.2533 x noise / sqrt 7), plus the slope's (a median of n weekly changes:
    1.2533 x their scale / (7 sqrt n)) times the days from the level's middle (h + 3).
    weekday_median: noise and the error of a median of the fit's weeks.
    """
    count = (~np.isnan(window)).sum(axis=1)
    noise = _MAD * _mad(residuals)
    steps = np.arange(1, horizon + 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # rows without a fit: NaN
        if model == "robust_trend":
            weekly = window[:, 7:] - window[:, :-7]
            weekly_sd = _MAD * _mad(weekly)
            slope_sd = _EFF * weekly_sd / (7 * np.sqrt((~np.isnan(weekly)).sum(axis=1)))
            level_sd = _EFF * noise / np.sqrt(np.minimum(7, count))
            return np.sqrt(
                (noise**2 + level_sd**2)[:, None] + (slope_sd[:, None] * (steps + 3)) ** 2
            )
        weeks = np.maximum(1.0, count / 7)
        return np.repeat((noise * np.sqrt(1 + _EFF**2 / weeks))[:, None], horizon, axis=1)


def _mad(values: np.ndarray) -> np.ndarray:
    """Each row's median absolute deviation from its median (NaN ignored)."""
    return _row_medians(np.abs(values - _row_medians(values)[:, None]))


def _naive_columns(
    seen: np.ndarray, dow: np.ndarray, model: str, cols: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Per row, the columns of the naive forecasts of ``targets`` (one row per origin column of
    ``cols``) made at that origin (-1: none): the last value known at the origin, or for
    engagement the last value known of each target's weekday."""
    index = np.arange(seen.shape[1])
    if model != "weekday_median":
        last = np.maximum.accumulate(np.where(seen, index, -1), axis=1)[:, cols]
        return np.broadcast_to(last[:, :, None], (seen.shape[0], *targets.shape))
    by_weekday = np.stack(
        [
            np.maximum.accumulate(np.where(seen & (dow == d), index, -1), axis=1)[:, cols]
            for d in range(7)
        ],
        axis=2,
    )  # (rows, origins, weekday)
    return np.take_along_axis(by_weekday, dow[:, targets], axis=2)


def _interval_widths(
    errors: np.ndarray, spread: np.ndarray
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """(lower, upper) offsets from the forecast per series, horizon and interval level, from
    back-test ``errors`` (series x origins x horizons, NaN where none).

    The usual error size at horizon h is the larger of the median absolute back-test error at h
    (given ``_MIN_ERRORS`` of them, and never below a shorter horizon's) and the textbook
    ``spread`` (as a median absolute error: x 0.6745): one series' back-test errors come from
    overlapping fits and understate the spread far ahead, the textbook spread knows nothing of
    jumps or a wandering level. Back-test errors divided by their horizon's size are pooled over
    the horizons; their quantiles times the size make the interval. Without back-test errors,
    normal quantiles of the textbook spread.
    """
    n, origins, horizon = errors.shape
    textbook = spread * _NORMAL.inv_cdf(0.75)
    counts = (~np.isnan(errors)).sum(axis=1)
    by_horizon = np.abs(errors).transpose(0, 2, 1).reshape(n * horizon, origins)
    observed = np.where(counts >= _MIN_ERRORS, _row_medians(by_horizon).reshape(n, horizon), np.nan)
    measured = np.fmax.accumulate(observed, axis=1)  # NaN (too few) carries the shorter horizon's
    normal = ~(np.fmax.reduce(observed, axis=1) > 0)  # no usable back-test errors
    usable = ~np.isnan(measured) & (measured > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.where(usable[:, None, :], errors / measured[:, None, :], np.nan)
    probabilities = [p for level in INTERVALS for p in ((1 - level) / 2, (1 + level) / 2)]
    quantiles = _row_quantiles(pooled.reshape(n, origins * horizon), probabilities)
    size = np.fmax(measured, textbook)
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for k, level in enumerate(INTERVALS):
        z = _NORMAL.inv_cdf((1 + level) / 2)
        lower = np.where(normal[:, None], -z * spread, quantiles[:, 2 * k, None] * size)
        upper = np.where(normal[:, None], z * spread, quantiles[:, 2 * k + 1, None] * size)
        out[level] = (lower, upper)
    return out


def _coverage(errors: np.ndarray, spread: np.ndarray) -> dict[float, np.ndarray]:
    """Per series and horizon, the share of back-test errors of the newer half of the origins
    inside the intervals calibrated on the older half (NaN with fewer than ``_MIN_ERRORS`` / 2)."""
    origins = errors.shape[1]
    used = ~np.isnan(errors).all(axis=2)  # origins with errors
    split = _row_medians(np.where(used, np.arange(origins), np.nan))
    old = np.arange(origins) < split[:, None]
    calibrated = _interval_widths(np.where(old[:, :, None], errors, np.nan), spread)
    new = np.where(old[:, :, None], np.nan, errors)
    counted = ~np.isnan(new)
    out = {}
    for level, (lo, hi) in calibrated.items():
        inside = (new >= lo[:, None, :]) & (new <= hi[:, None, :])
        share = inside.sum(axis=1) / np.maximum(counted.sum(axis=1), 1)
        out[level] = np.where(counted.sum(axis=1) >= _MIN_ERRORS // 2, share, np.nan)
    return out


def _scores(errors: np.ndarray, actual: np.ndarray, naive: np.ndarray) -> dict[str, np.ndarray]:
    """Per series and horizon (series x origins x horizons in): the number of back-test errors,
    MAE, MAPE, the naive forecast's MAE and MASE (NaN where undefined)."""
    kept = ~np.isnan(errors)  # errors, actual values and naive errors share their gaps
    counts = kept.sum(axis=1)
    errors = np.abs(np.where(kept, errors, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        mae = _means(errors, counts)
        naive_mae = _means(np.abs(np.where(kept, naive, 0.0)), counts)
        nonzero = kept & (actual != 0)
        shares = np.where(nonzero, errors / np.abs(actual), 0.0)
        mape = _means(shares, nonzero.sum(axis=1)) * 100
        mase = np.where(naive_mae > 0, mae / naive_mae, np.nan)
    return {"origins": counts, "mae": mae, "mape": mape, "naive_mae": naive_mae, "mase": mase}


def _means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean over axis 1 of ``values`` (0 where there is none) of ``counts`` values each
    (NaN where none)."""
    total = values.sum(axis=1)
    return np.divide(total, counts, out=np.full(counts.shape, np.nan), where=counts > 0)


def _row_medians(values: np.ndarray) -> np.ndarray:
    """The median of each row's non-NaN values (NaN for a row without any): the middle value,
    or the mean of the two middle ones."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    ordered = np.sort(values, axis=1)  # NaN sort last
    n = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(values.shape[0])
    hi = ordered[rows, np.minimum(n // 2, values.shape[1] - 1)]
    lo = ordered[rows, np.maximum((n - 1) // 2, 0)]
    return np.where(n > 0, np.where(n % 2 == 1, hi, (lo + hi) / 2), np.nan)


def _row_quantiles(values: np.ndarray, probabilities: list[float]) -> np.ndarray:
    """Each row's quantiles of its non-NaN values (rows x probabilities; NaN for a row without
    any), interpolated linearly as ``np.quantile`` does by default."""
    out = np.full((values.shape[0], len(probabilities)), np.nan)
    if values.shape[1] == 0:
        return out
    ordered = np.sort(values, axis=1)  # NaN sort last
    n = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(values.shape[0])
    for j, p in enumerate(probabilities):
        at = p * np.maximum(n - 1, 0)
        below = np.floor(at).astype(int)
        above = np.minimum(below + 1, np.maximum(n - 1, 0))
        a, b, t = ordered[rows, below], ordered[rows, above], at - below
        # numpy's lerp, exact at both ends
        value = np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)
        out[:, j] = np.where(n > 0, value, np.nan)
    return out


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
    """The forecast and back-test rows of some series (unsorted), built column by column."""
    forecasts, tests = [], []
    for metric, model in MODELS.items():
        which = [i for i, one in enumerate(series) if one[1] == metric]
        fits = _fit_many([(series[i][3], series[i][2].weekday()) for i in which], model, settings)
        if fits.index.size == 0:
            continue
        fitted = [series[which[i]] for i in fits.index]
        meta = pl.DataFrame(
            [{**one[0], "metric": metric, "model": model, "fitted_at": now} for one in fitted],
            infer_schema_length=None,
        ).with_columns(
            origin=pl.Series([one[2] for one in fitted], dtype=pl.Date)
            + pl.duration(days=pl.lit(pl.Series(fits.origin)))
        )
        # one row per horizon and interval level, the levels inner
        horizon, levels = fits.yhat.shape[1], list(fits.bounds)
        per_series = horizon * len(levels)
        steps = np.tile(np.repeat(np.arange(1, horizon + 1), len(levels)), len(fitted))
        yhat = np.repeat(fits.yhat.ravel(), len(levels))
        lower = np.stack([fits.bounds[level][0] for level in levels], axis=2).ravel()
        upper = np.stack([fits.bounds[level][1] for level in levels], axis=2).ravel()
        forecasts.append(
            meta.select(
                pl.all().gather(np.repeat(np.arange(len(fitted)), per_series))
            ).with_columns(
                date=pl.col("origin") + pl.duration(days=pl.lit(pl.Series(steps))),
                horizon_days=pl.Series(steps),
                interval=pl.Series(np.tile(np.asarray(levels, float), horizon * len(fitted))),
                yhat=pl.Series(yhat),
                lower=pl.Series(np.minimum(lower, yhat)),
                upper=pl.Series(np.maximum(upper, yhat)),
            )
        )
        # one back-test row per horizon with errors
        rows, hs = np.nonzero(fits.scores["origins"])
        tests.append(
            meta.drop("origin")
            .select(pl.all().gather(rows))
            .with_columns(
                horizon_days=pl.Series(hs + 1),
                **{
                    name: pl.Series(values[rows, hs]).fill_nan(None)
                    for name, values in fits.scores.items()
                },
            )
        )
    out = []
    for name, frames in (("gold/forecasts", forecasts), ("gold/forecast_backtest", tests)):
        spec = table_spec(name)
        frame = pl.concat(frames, how="diagonal_relaxed") if frames else spec.empty()
        out.append(frame.select(pl.col(c).cast(t) for c, t in spec.schema.items()))
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


#: Days of history kept past what the fits and the back-test read (the naive forecasts' last
#: known value may lie before the earliest fit window).
_HISTORY_MARGIN_DAYS = 28


def history_days(settings: Settings) -> int:
    """Days of each series a forecast reads, up to its entity's last day (an account's followers:
    up to its last figure, plus the settling days): the back-test's origins, their fit windows,
    the settling engagement and ``_HISTORY_MARGIN_DAYS``."""
    return (
        settings.forecast_fit_days
        + settings.forecast_backtest_origins
        + settings.anomaly_settle_days
        + _HISTORY_MARGIN_DAYS
    )


def _series(
    daily: pl.DataFrame, settings: Settings, history: int | None = None
) -> list[tuple[dict[str, Any], str, date, np.ndarray]]:
    """(identity, metric, first day, daily values) of every account and agency series, each
    over its entity's last ``history`` days (default :func:`history_days`).

    Followers: the observed figures (gaps stay NaN); agencies sum their accounts' latest figure
    (carried over days without an observation). Engagement: every day up to
    ``HHS_ANOMALY_SETTLE_DAYS`` before the account's last data (younger posts are still growing),
    0 on days without posts.
    """
    if daily.is_empty():
        return []
    keys = ["platform", "account_id"]
    span = history or history_days(settings)
    # from the account's last data, or its last followers figure when that is older: the
    # followers series ends there (the settling days are kept in step with the engagement's)
    last_followers = pl.col("date").filter(pl.col("followers").is_not_null()).max()
    end = pl.min_horizontal(
        pl.col("date").max(), last_followers + pl.duration(days=settings.anomaly_settle_days)
    )
    start = end.over(keys) - pl.duration(days=span - 1)
    names = daily.group_by(keys).agg(
        pl.col("handle", "agency", "parent_agency").sort_by("date").drop_nulls().last()
    )
    before = daily.filter(pl.col("date") < start)
    daily = daily.filter(pl.col("date") >= start)
    # an agency's followers carry each account's last figure from before its window
    seeds = (
        before.filter(pl.col("followers").is_not_null())
        .group_by(keys)
        .agg(pl.col("followers").sort_by("date").last().alias("_seed"))
    )
    bounds = daily.group_by(keys).agg(
        pl.col("date").min().alias("_first"),
        pl.col("date").max().alias("_last"),
    )
    bounds = bounds.join(names, on=keys)
    grid = (
        bounds.select(*keys, "_last", pl.date_ranges("_first", "_last").alias("date"))
        .explode("date")
        .join(
            daily.select(*keys, "date", "followers", "engagement"), on=[*keys, "date"], how="left"
        )
        .join(bounds.select(*keys, "handle", "agency"), on=keys)
        .join(seeds, on=keys, how="left")
        .sort([*keys, "date"])
        .with_columns(
            _carried=pl.col("followers").forward_fill().over(keys).fill_null(pl.col("_seed")),
            engagement=pl.when(
                pl.col("date") <= pl.col("_last") - pl.duration(days=settings.anomaly_settle_days)
            ).then(pl.col("engagement").fill_null(0)),
        )
    )
    out: list[tuple[dict[str, Any], str, date, np.ndarray]] = []
    out += _split(grid, keys, {"entity": "account_id", "handle": "handle", "agency": "agency"})
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
        summed = by_agency.group_by([*group, "date"]).agg(
            pl.col("_carried").sum().alias("followers"),
            pl.when(pl.col("engagement").is_not_null().all())
            .then(pl.col("engagement").sum())
            .alias("engagement"),
        )
        # every day of the group's last ``span`` days (from its first), days without rows empty
        last = pl.col("date").max()
        days = (
            summed.group_by(group)
            .agg(
                pl.date_ranges(
                    pl.max_horizontal(pl.col("date").min(), last - pl.duration(days=span - 1)),
                    last,
                )
                .first()
                .alias("date")
            )
            .explode("date")
        )
        rows = days.join(summed, on=[*group, "date"], how="left")
        if not per_platform:
            rows = rows.with_columns(platform=pl.lit(ALL_PLATFORMS))
        rows = rows.with_columns(account_id=pl.lit("*"), handle=pl.lit(None, pl.Utf8))
        out += _split(
            rows.sort([*group, "date"]),
            group,
            {"entity": "rollup", "handle": "handle", "agency": "rollup"},
            level="agency",
        )
    return out


def _split(
    rows: pl.DataFrame, keys: list[str], names: dict[str, str], level: str = "account"
) -> list[tuple[dict[str, Any], str, date, np.ndarray]]:
    """One (identity, metric, first day, values) per group of ``keys`` and metric of ``rows``
    (sorted by the keys and date, one row per day): the columns read once, then sliced."""
    if rows.is_empty():
        return []
    starts = (
        rows.with_row_index("_at")
        .group_by(keys, maintain_order=True)
        .agg(pl.col("_at").first(), pl.len())
    )
    first = rows.gather(starts["_at"])
    values = {m: _trim(rows[m].cast(pl.Float64).to_numpy()) for m in ("followers", "engagement")}
    out = []
    for i, (at, length) in enumerate(zip(starts["_at"], starts["len"], strict=True)):
        meta = {
            "level": level,
            "platform": first["platform"][i],
            "entity": first[names["entity"]][i],
            "account_id": first["account_id"][i],
            "handle": first[names["handle"]][i],
            "agency": first[names["agency"]][i],
        }
        for metric in ("followers", "engagement"):
            out.append((meta, metric, first["date"][i], values[metric][at : at + length]))
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
    "history_days",
]
