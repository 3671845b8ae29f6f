"""Forecasts: intervals that cover held-out days near their nominal rate, and a rolling-origin
back-test whose errors are computed right and stored in the lake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from hhs_platform.analytics import build_forecasts, forecast_series
from hhs_platform.analytics.forecasts import (
    _CHUNK,
    MODELS,
    _fit_many,
    _forecast_part,
    _series,
    history_days,
)
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings
from schemas import table_spec
from schemas.tables import ForecastBacktest, Forecasts

if TYPE_CHECKING:
    from distributed import Client

NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = date(2026, 1, 5)  # a Monday


def _settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_intervals_cover_held_out_days_near_nominal() -> None:
    rng = np.random.default_rng(11)
    settings = _settings()
    horizon = settings.forecast_horizon_days
    covered: dict[float, list[float]] = {0.8: [], 0.95: []}
    errors, naive, far = [], [], []
    for _ in range(120):
        slope, noise = rng.uniform(1, 20), rng.uniform(5, 30)
        truth = 10_000 + slope * np.arange(150)
        y = truth + rng.normal(0, noise, 150)
        seen = y.copy()
        seen[120:] = np.nan  # held out
        result = forecast_series(seen, 0, "followers", settings)
        assert result is not None and result.origin == 119
        held = y[120 : 120 + horizon]
        for level, (lower, upper) in result.bounds.items():
            assert (lower <= result.yhat).all() and (result.yhat <= upper).all()
            covered[level].append(float(np.mean((held >= lower) & (held <= upper))))
        low80, high80 = result.bounds[0.8]
        low95, high95 = result.bounds[0.95]
        assert (low95 <= low80).all() and (high80 <= high95).all()
        errors.append(np.abs(held - result.yhat).mean() / noise)
        naive.append(np.abs(held - y[119]).mean() / noise)
        far.append(abs(result.yhat[-1] - truth[119 + horizon]) / noise)
    coverage = {level: float(np.mean(v)) for level, v in covered.items()}
    print(
        f"\nheld-out coverage: 80% interval {coverage[0.8]:.3f}, 95% interval {coverage[0.95]:.3f}"
    )
    print(
        f"mean absolute error / noise: {np.mean(errors):.2f} (naive last value {np.mean(naive):.2f})"
    )
    assert abs(coverage[0.8] - 0.8) <= 0.05, coverage
    assert abs(coverage[0.95] - 0.95) <= 0.03, coverage
    assert np.mean(errors) < np.mean(naive) / 2
    assert np.mean(far) < 2  # the trend is found: 28 days out, within two noise widths on average


def _daily() -> pl.DataFrame:
    """Three accounts over 150 days: an exactly linear one (with an exact weekly engagement
    pattern), a noisy one, and one of a sub-agency (CDC-NCHS under CDC under HHS)."""
    rng = np.random.default_rng(5)
    rows = []
    pattern = [700, 600, 500, 400, 300, 200, 100]
    accounts = [
        ("bluesky", "did:exact", "exact.gov", "HHS", None),
        ("x", "222", "noisy", "CDC", "HHS"),
        ("x", "333", "nchs", "CDC-NCHS", "CDC"),
    ]
    for platform, account_id, handle, agency, parent in accounts:
        for i in range(150):
            exact = account_id == "did:exact"
            followers = 1_000 + 10 * i if exact else 50_000 + 25 * i + rng.normal(0, 40)
            engagement = pattern[i % 7] if exact else int(rng.lognormal(6, 0.4))
            rows.append(
                {
                    "date": START + timedelta(days=i),
                    "platform": platform,
                    "account_id": account_id,
                    "handle": handle,
                    "agency": agency,
                    "parent_agency": parent,
                    "followers": round(followers),
                    "posts_published": 2,
                    "likes": engagement,
                    "reposts": 0,
                    "replies": 0,
                    "quotes": 0,
                    "engagement": engagement,
                }
            )
    spec = table_spec("gold/daily_account_metrics")
    df = pl.DataFrame(rows, infer_schema_length=None)
    df = df.with_columns(pl.lit(None).alias(c) for c in spec.schema if c not in df.columns)
    return df.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def test_backtest_errors_are_computed_and_stored(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    daily = _daily()
    lake.overwrite("gold/daily_account_metrics", daily)
    settings = _settings()
    build_forecasts(lake, settings=settings, now=NOW)
    forecasts = Forecasts.validate(lake.read("gold/forecasts"))
    backtest = ForecastBacktest.validate(lake.read("gold/forecast_backtest"))
    horizon = settings.forecast_horizon_days
    last = daily["date"].max()
    assert isinstance(last, date)

    # 28 days ahead, two intervals, per account and metric; agencies roll up their sub-agencies
    accounts = forecasts.filter(level="account")
    assert accounts.group_by("entity", "metric").len()["len"].to_list() == [2 * horizon] * 6
    agencies = forecasts.filter(level="agency")
    assert (agencies["account_id"] == "*").all()
    assert set(agencies.select("entity", "platform").unique().iter_rows()) == {
        ("HHS", "bluesky"), ("HHS", "x"), ("HHS", "all"), ("CDC", "x"), ("CDC", "all"),
        ("CDC-NCHS", "x"), ("CDC-NCHS", "all"),
    }  # fmt: skip
    hhs = agencies.filter(entity="HHS", platform="all", metric="followers", horizon_days=1)
    parts = accounts.filter(metric="followers", horizon_days=1, interval=0.8)["yhat"].sum()
    assert abs(hhs["yhat"][0] - parts) < 0.01 * parts  # the agency's series is its accounts' sum
    assert (forecasts["lower"] <= forecasts["yhat"]).all()
    assert (forecasts["yhat"] <= forecasts["upper"]).all()

    # the exact account: forecast exactly, back-test errors all zero
    exact = accounts.filter(entity="did:exact", interval=0.95).sort("metric", "horizon_days")
    followers = exact.filter(metric="followers")
    assert followers["origin"].unique().to_list() == [last]
    assert followers["date"].to_list() == [last + timedelta(days=h) for h in range(1, 29)]
    assert followers["yhat"].to_list() == [1_000.0 + 10 * (149 + h) for h in range(1, 29)]
    assert (followers["upper"] - followers["lower"]).max() < 1e-6
    pattern = [700, 600, 500, 400, 300, 200, 100]
    # engagement is forecast from the last settled day (posts still growing after it)
    engagement = exact.filter(metric="engagement")
    origin = engagement["origin"][0]
    assert origin == last - timedelta(days=settings.anomaly_settle_days)
    expected = [float(pattern[((origin - START).days + h) % 7]) for h in range(1, 29)]
    assert engagement["yhat"].to_list() == expected
    scored = backtest.filter(entity="did:exact").sort("metric", "horizon_days")
    assert scored["mae"].max() == 0
    assert scored.filter(metric="followers")["naive_mae"].to_list() == [
        10.0 * h for h in range(1, 29)
    ]
    assert scored.filter(metric="followers")["mase"].max() == 0
    assert scored.filter(metric="engagement")["mase"].null_count() == horizon  # naive exact too

    # the noisy account: the stored one-day-ahead error equals refitting at every origin by hand
    noisy = daily.filter(account_id="222").sort("date")["followers"].cast(pl.Float64).to_numpy()
    stored = backtest.filter(entity="222", metric="followers", horizon_days=1).row(0, named=True)
    errs, naive, actual = [], [], []
    for o in range(149 - settings.forecast_backtest_origins, 149):
        result = forecast_series(noisy[: o + 1], START.weekday(), "followers", settings)
        if result is not None:
            errs.append(abs(noisy[o + 1] - result.yhat[0]))
            naive.append(abs(noisy[o + 1] - noisy[o]))
            actual.append(noisy[o + 1])
    assert stored["origins"] == len(errs) == settings.forecast_backtest_origins
    assert np.isclose(stored["mae"], np.mean(errs))
    assert np.isclose(stored["naive_mae"], np.mean(naive))
    assert np.isclose(stored["mase"], np.mean(errs) / np.mean(naive))
    assert np.isclose(stored["mape"], np.mean(np.array(errs) / actual) * 100)
    trend = backtest.filter(entity="222", metric="followers")
    print(
        "\nback-test of the noisy account's followers: MASE "
        + ", ".join(
            f"h={r['horizon_days']}: {r['mase']:.2f}"
            for r in trend.iter_rows(named=True)
            if r["horizon_days"] in (1, 7, 14, 28)
        )
    )
    assert trend["mase"].max() < 1  # the trend beats the last value at every horizon
    assert trend.filter(horizon_days=28)["coverage_95"][0] is not None


def _refit(y: np.ndarray, o: int, fit: int, model: str, dows: np.ndarray) -> Any:
    """The model of docs/analytics.md fitted by hand on the ``fit`` days up to day ``o``: a
    function of the day, or None with too little data."""
    start = max(0, o - fit + 1)
    days = [i for i in range(start, o + 1) if not np.isnan(y[i])]
    if len(days) < 7:
        return None
    if model == "robust_trend":
        weekly = [y[i + 7] - y[i] for i in range(start, o - 6) if i in days and i + 7 in days]
        if len(weekly) < 3:
            return None
        slope = float(np.median(weekly)) / 7
        intercept = float(np.median([y[i] - slope * i for i in days[-7:]]))
        return lambda t: intercept + slope * t
    overall = float(np.median([y[i] for i in days]))
    medians = {}
    for d in range(7):
        same = [y[i] for i in days if dows[i] == d]
        medians[d] = float(np.median(same)) if same else overall
    return lambda t: medians[dows[t]]


def test_fits_of_all_series_and_origins_at_once_equal_refitting_each_by_hand() -> None:
    """Every series and back-test origin is a row of shared matrices; each forecast and each
    back-test figure must equal refitting the model at that origin alone, on series with gaps,
    ties, zeros and short histories."""
    rng = np.random.default_rng(23)
    settings = _settings()
    fit, horizon = settings.forecast_fit_days, settings.forecast_horizon_days
    origins = settings.forecast_backtest_origins
    checked = {"forecasts": 0, "errors": 0}
    for case in range(40):
        n = int(rng.integers(10, 160))
        metric = ("followers", "engagement")[case % 2]
        y = 5_000 + rng.uniform(0, 30) * np.arange(n) + rng.normal(0, 40, n)
        if case % 3 == 0:
            y = rng.integers(0, 4, n).astype(float)  # many ties and zeros
        y[rng.random(n) < (0.0, 0.2, 0.6)[case % 3]] = np.nan
        model, weekday = MODELS[metric], case % 7
        dows = (np.arange(n + horizon) + weekday) % 7
        result = forecast_series(y, weekday, metric, settings)
        seen = np.flatnonzero(~np.isnan(y))
        final = _refit(y, int(seen[-1]), fit, model, dows) if seen.size else None
        if final is None:
            assert result is None
            continue
        origin = int(seen[-1])
        assert result is not None and result.origin == origin
        expected_yhat = [max(final(origin + h), 0.0) for h in range(1, horizon + 1)]
        np.testing.assert_allclose(result.yhat, expected_yhat, rtol=0, atol=1e-9)
        checked["forecasts"] += 1
        # the back-test by hand: each origin's errors, and the naive forecast's
        errors: dict[int, list[tuple[float, float, float]]] = {}
        for o in range(max(0, origin - origins), origin):
            fitted = _refit(y, o, fit, model, dows)
            if fitted is None:
                continue
            known = [i for i in range(o + 1) if not np.isnan(y[i])]
            last = {"robust_trend": known[-1]} | {dows[i]: i for i in known}
            for h in range(1, horizon + 1):
                t = o + h
                naive = last.get(model if model == "robust_trend" else dows[t])
                if t > origin or np.isnan(y[t]) or naive is None:
                    continue
                errors.setdefault(h, []).append((y[t] - fitted(t), y[t], y[t] - y[naive]))
        scores = {row["horizon_days"]: row for row in result.backtest}
        assert set(scores) == set(errors)
        for h, rows in errors.items():
            error, actual, naive = (np.array(column) for column in zip(*rows, strict=True))
            score = scores[h]
            assert score["origins"] == len(rows)
            assert np.isclose(score["mae"], np.abs(error).mean(), rtol=1e-12, atol=1e-9)
            assert np.isclose(score["naive_mae"], np.abs(naive).mean(), rtol=1e-12, atol=1e-9)
            nonzero = actual != 0
            if nonzero.any():
                mape = (np.abs(error[nonzero]) / np.abs(actual[nonzero])).mean() * 100
                assert np.isclose(score["mape"], mape, rtol=1e-12, atol=1e-9)
            else:
                assert score["mape"] is None
            checked["errors"] += len(rows)
    print(f"\nchecked by hand: {checked}")
    assert checked["forecasts"] >= 20 and checked["errors"] > 10_000


def test_series_fitted_together_equal_each_fitted_alone() -> None:
    """The series share matrices in chunks of ``_CHUNK`` (right-aligned on their last observed
    day): a batch crossing a chunk's end, of series of very different lengths, gives each
    series what fitting it alone gives."""
    rng = np.random.default_rng(29)
    settings = _settings()
    series = []
    for case in range(_CHUNK + 40):
        n = int(rng.integers(1, 400 if case % 50 else 2_000))
        y = rng.uniform(100, 10_000) + rng.uniform(-5, 30) * np.arange(n) + rng.normal(0, 30, n)
        y[rng.random(n) < rng.uniform(0, 0.7)] = np.nan
        series.append((y, case % 7))
    for metric, model in MODELS.items():
        fits = _fit_many(series, model, settings)
        assert 0 < fits.index.size < len(series)  # some series are too short to forecast
        alone = {i: forecast_series(y, w, metric, settings) for i, (y, w) in enumerate(series)}
        assert {i for i, r in alone.items() if r is not None} == set(fits.index.tolist())
        for row, i in enumerate(fits.index):
            one = alone[i]
            assert one is not None and one.origin == fits.origin[row]
            np.testing.assert_allclose(one.yhat, fits.yhat[row], rtol=1e-12)
            for level, (lower, upper) in one.bounds.items():
                np.testing.assert_allclose(lower, fits.bounds[level][0][row], rtol=1e-12)
                np.testing.assert_allclose(upper, fits.bounds[level][1][row], rtol=1e-12)
            for score in one.backtest:
                h = score["horizon_days"] - 1
                for name, value in score.items():
                    if name != "horizon_days":
                        stored = fits.scores[name][row, h]
                        assert (value is None and np.isnan(stored)) or value == stored, name


def _forecast_spread(lake: Lake, settings: Settings) -> int:
    return build_forecasts(lake, settings=settings, now=NOW, spread_from=1).rows_in


def _long_daily(days: int, rng: np.random.Generator) -> pl.DataFrame:
    """Accounts of a three-level agency tree over ``days`` days, whose last days differ: a
    live one, one dormant for 300 days, one whose followers went unreported for 100 days from
    before its window to inside it, one whose followers stopped being reported 70 days before
    its last data, a new one, and one with days missing at random."""
    end = START + timedelta(days=days - 1)
    accounts = [  # platform, id, agency, parent, first day, last day, followers not reported
        ("x", "live", "CDC", "HHS", 0, days, ()),
        ("x", "dormant", "CDC", "HHS", 0, days - 300, ()),
        ("x", "unreported", "CDC-NCHS", "CDC", 0, days, range(days - 160, days - 60)),
        ("x", "new", "CDC-NCHS", "CDC", days - 60, days, ()),
        ("x", "stopped", "CDC-NCHS", "CDC", 0, days, range(days - 70, days)),
        ("bluesky", "gappy", "HHS", None, 0, days - 2, ()),
    ]
    rows = []
    for platform, account_id, agency, parent, first, last, unreported in accounts:
        level, slope = rng.uniform(1_000, 90_000), rng.uniform(-5, 40)
        for i in range(first, last):
            if account_id == "gappy" and rng.random() < 0.1:
                continue
            followers = None if i in unreported else round(level + slope * i + rng.normal(0, 30))
            engagement = int(rng.lognormal(5, 0.5)) if rng.random() < 0.8 else 0
            rows.append(
                {
                    "date": START + timedelta(days=i),
                    "platform": platform,
                    "account_id": account_id,
                    "handle": account_id,
                    "agency": agency,
                    "parent_agency": parent,
                    "followers": followers,
                    "engagement": engagement,
                }
            )
    spec = table_spec("gold/daily_account_metrics")
    df = pl.DataFrame(rows, infer_schema_length=None)
    df = df.with_columns(pl.lit(None).alias(c) for c in spec.schema if c not in df.columns)
    assert df["date"].max() == end
    return df.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def test_forecasts_from_each_series_last_days_equal_those_from_the_whole_history() -> None:
    """A forecast reads each series' last ``history_days`` days: over two years of accounts
    that end on different days (dormant, new, with gaps, with followers unreported before the
    window), every forecast and back-test row equals the one fitted on the whole history."""
    settings = _settings()
    daily = _long_daily(730, np.random.default_rng(41))
    bounded, whole = _series(daily, settings), _series(daily, settings, history=10**6)
    span = history_days(settings)
    lengths = {(meta["entity"], metric): len(values) for meta, metric, _, values in bounded}
    assert lengths["live", "followers"] == lengths["HHS", "followers"] == span
    assert lengths["stopped", "followers"] == span + 70 - settings.anomaly_settle_days
    assert max(len(values) for *_, values in whole) == 730
    assert len(bounded) == len(whole) == 2 * (6 + 7)  # accounts and agency rollups, two metrics
    for got, expected in zip(
        _forecast_part(bounded, settings=settings, now=NOW),
        _forecast_part(whole, settings=settings, now=NOW),
        strict=True,
    ):
        keys = ["level", "platform", "entity", "metric", "horizon_days"]
        keys += ["interval"] if "interval" in got.columns else []
        assert got.height > 0
        assert got.sort(keys).equals(expected.sort(keys))
    # the dormant account is forecast from its own last day, 300 days back, and the followers
    # that stopped from their last figure
    forecasts = _forecast_part(bounded, settings=settings, now=NOW)[0]
    for entity, origin in (("dormant", 729 - 300), ("stopped", 729 - 70)):
        rows = forecasts.filter(entity=entity, metric="followers")
        assert rows["origin"].unique().to_list() == [START + timedelta(days=origin)]


def test_forecasts_fitted_over_a_cluster_equal_one_process(
    tmp_path: Path, two_workers: Client
) -> None:
    """Inside a Dask task the series are fitted in shares on every worker: the same rows, with
    the fit settings given (only those travel to the workers)."""
    from distributed import get_task_stream

    here, there = Lake(str(tmp_path / "here")), Lake(str(tmp_path / "there"))
    for lake in (here, there):
        lake.overwrite("gold/daily_account_metrics", _daily())
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        forecast_horizon_days=14,
        forecast_backtest_origins=30,
    )
    build_forecasts(here, settings=settings, now=NOW)
    with get_task_stream(two_workers) as stream:
        rows = two_workers.submit(_forecast_spread, there, settings, pure=False).result()
    assert sum(str(t["key"]).startswith("_forecast_part") for t in stream.data) == 2
    for table in ("gold/forecasts", "gold/forecast_backtest"):
        a, b = here.read(table), there.read(table)
        assert a.height > 0 and a.equals(b), table
    assert rows == here.read("gold/forecasts").height
    assert there.read("gold/forecasts")["horizon_days"].max() == 14
