"""Smoke test of the capacity benchmark on a few simulated accounts: its figures match the lake."""

from __future__ import annotations

import math
import sys
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
    m = capacity.measure(registry, days=2, hours=2, seed=3, workdir=workdir, history_days=10)
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
    shipped = yearly.filter(pl.col("variant") == "shipped: full reads + re-polls")
    no_repoll = yearly.filter(pl.col("variant") == "full reads, no re-polls")
    # Tier 1 collects 24 times as often as tier 3: it stores more raw responses.
    assert no_repoll.filter(pl.col("tier") == 1)["bronze_mb"][0] > (
        no_repoll.filter(pl.col("tier") == 3)["bronze_mb"][0] * 20
    )
    assert (shipped["bronze_mb"] >= no_repoll["bronze_mb"]).all()
    quota = capacity.quota_table(m, cols)
    yt = quota.filter((pl.col("platform") == "youtube") & (pl.col("tier") == 3)).row(0, named=True)
    full = cols.filter((pl.col("platform") == "youtube") & (pl.col("mode") == "full read"))
    assert yt["full_per_day"] == pytest.approx(full["units"][0])  # one collection a day
    assert yt["max_full"] == math.floor(10_000 / yt["full_per_day"])
