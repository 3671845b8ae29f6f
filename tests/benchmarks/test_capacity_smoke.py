"""Smoke test of the capacity benchmark on a few simulated accounts: its figures match the lake."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import capacity  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402
from hhs_platform.registry.loader import load_registry  # noqa: E402


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[capacity.Measurement, Path]:
    registry = load_registry(platforms=["youtube", "x"])
    # One tier-1 and one tier-3 account per platform keep it to seconds.
    registry = pl.concat(
        registry.filter((pl.col("platform") == p) & (pl.col("tier") == t)).head(1)
        for p in ("youtube", "x")
        for t in (1, 3)
    )
    workdir = tmp_path_factory.mktemp("capacity")
    m = capacity.measure(registry, days=2, hours=2, seed=3, workdir=workdir, history_days=35)
    return m, workdir


@pytest.mark.slow
def test_requests_per_collection_are_the_bronze_counts(
    measured: tuple[capacity.Measurement, Path],
) -> None:
    m, workdir = measured
    bronze = Lake(str(workdir / "lake")).read("bronze/raw_responses")
    cols = capacity.per_collection(m)
    for platform in ("youtube", "x"):
        accounts = sum(m.accounts[platform].values())
        first = bronze.filter(
            (pl.col("run_id") == "history-000") & (pl.col("platform") == platform)
        )
        row = cols.filter((pl.col("platform") == platform) & (pl.col("mode") == "backfill"))
        assert row["requests"][0] == pytest.approx(first.height / accounts)
        body = first["body"].bin.size().sum()
        assert row["body_bytes"][0] == pytest.approx(body / accounts)
    # Every YouTube call the connector makes costs one unit; X counts none.
    yt = cols.filter(pl.col("platform") == "youtube")
    assert (yt["units"] == yt["requests"]).all()
    assert (cols.filter(pl.col("platform") == "x")["units"] == 0).all()


@pytest.mark.slow
def test_storage_and_quota_tables_follow_from_the_measurement(
    measured: tuple[capacity.Measurement, Path],
) -> None:
    m, _ = measured
    rates = capacity.storage_rates(m)
    bronze = rates.filter(pl.col("table") == "bronze/raw_responses").row(0, named=True)
    assert bronze["rows"] == m.before_maintain["bronze/raw_responses"].rows > 0
    # Maintenance rewrites files, never rows.
    assert {t: s.rows for t, s in m.after_maintain.items()} == {
        t: s.rows for t, s in m.before_maintain.items()
    }
    cols = capacity.per_collection(m)
    yearly = capacity.yearly_storage(m, rates, cols)
    shipped = yearly.filter(pl.col("variant") == capacity.SHIPPED)
    lookback = yearly.filter(pl.col("variant") == "30-day lookback, no re-polls")
    no_repoll = yearly.filter(pl.col("variant") == "full reads, no re-polls")
    # Tier 1 collects 24 times as often as tier 3: it stores more raw responses.
    assert no_repoll.filter(pl.col("tier") == 1)["bronze_mb"][0] > (
        no_repoll.filter(pl.col("tier") == 3)["bronze_mb"][0] * 20
    )
    # The shipped schedule is the lookback reads plus re-polls and twelve whole-feed reads.
    assert (shipped["bronze_mb"] > lookback["bronze_mb"]).all()
    assert (shipped["collections"] - lookback["collections"] >= 12).all()
    quota = capacity.quota_table(m, cols)
    yt = quota.filter((pl.col("platform") == "youtube") & (pl.col("tier") == 3)).row(0, named=True)
    full = cols.filter((pl.col("platform") == "youtube") & (pl.col("mode") == "full read"))
    assert yt["full_per_day"] == pytest.approx(full["units"][0])  # one collection a day
    assert yt["max_full"] == math.floor(10_000 / yt["full_per_day"])
    # Shipped tier 3: a daily lookback, the re-polls (costed as lookbacks), 12 full reads a year.
    look = cols.filter((pl.col("platform") == "youtube") & (pl.col("mode") == "30-day lookback"))
    expected = look["units"][0] * (1 + m.repolls["youtube"][3]) + full["units"][0] * 12 / 365
    assert yt["shipped_per_day"] == pytest.approx(expected)
    # The fix leaves fewer re-polls than the code before it selected.
    for platform, tiers in m.repolls.items():
        for tier, rate in tiers.items():
            assert rate < m.unfixed_repolls[platform][tier]


def test_repoll_simulation_counts_the_ages_by_hand() -> None:
    """One post at 10:10 on a tier-1 and on a tier-3 account, simulated for 33 days."""
    day0 = datetime(2026, 3, 3, tzinfo=UTC)
    at = day0 + timedelta(hours=10, minutes=10)
    posts = pl.DataFrame(
        {
            "platform": ["x", "x"],
            "account_id": ["a1", "a3"],
            "post_id": ["p1", "p3"],
            "created_at": [at, at],
            "post_type": ["post", "post"],
            "is_deleted": [False, False],
        },
        schema_overrides={"created_at": pl.Datetime("us", "UTC")},
    )
    accounts = pl.DataFrame({"platform": ["x", "x"], "account_id": ["a1", "a3"], "tier": [1, 3]})
    end = day0 + timedelta(days=33)

    def counted(fixed: bool) -> dict[int, float]:
        rates = capacity.simulate_repolls(posts, accounts, day0, day0, end, fixed=fixed)
        return {tier: round(rate * 33, 6) for tier, rate in rates["x"].items()}

    # Fixed: tier 3 learns of the post at the 04:45 read the next day; the 24 h age (10:10,
    # tolerance 2.4 h) is re-polled at 09:30; the 72 h, 7 d and 28 d ages are covered by the
    # daily read. Tier 1 is not re-polled: its hourly reads stand for every age (the 6 h age,
    # 16:10 with a 36 min tolerance, is the 16:00 read's).
    assert counted(fixed=True) == {1: 0.0, 3: 1.0}
    # Before the fix every age is re-polled at every hour of its window once the post is known:
    # tier 3: 24 h 4 times, 72 h 8, 7 d 18, 28 d 68; tier 1 also 1 h once and 6 h twice.
    assert counted(fixed=False) == {1: 101.0, 3: 98.0}
