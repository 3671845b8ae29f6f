"""Smoke test of the benchmark lake generator at tiny scale: every table valid, nothing timed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import dashboards, large_lake  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402
from schemas import CATALOGUE, table_spec  # noqa: E402

TINY = dataclasses.replace(
    large_lake.SCALES["small"], name="tiny", accounts=24, days=15, end=dt.date(2026, 3, 15)
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    cache = tmp_path_factory.mktemp("bench-cache")
    return large_lake.ensure_lake(TINY, cache)


def test_every_table_exists_and_validates_against_its_schema(
    tiny: tuple[Path, dict[str, object]],
) -> None:
    path, manifest = tiny
    lake = Lake(str(path), storage_options={})
    rows = manifest["rows"]
    assert isinstance(rows, dict)
    for name in CATALOGUE:
        frame = lake.read(name)
        assert frame.schema == table_spec(name).schema, name
        table_spec(name).model.validate(frame, lazy=True)  # raises with every failing check
        assert frame.height == rows.get(name, 0), name
    # no campaigns, no forecast history, and no custom table published by a user
    empty = {"silver/campaign_items", "gold/forecasts", "gold/forecast_backtest"}
    empty.add("gold/custom_tables")
    # the synthetic lake holds collected data, not the history of operating it (SLOs, alerts)
    empty |= {name for name in CATALOGUE if name.startswith("ops/")}
    assert {name for name in CATALOGUE if not rows.get(name)} <= empty


def test_figures_are_consistent_across_tables(tiny: tuple[Path, dict[str, object]]) -> None:
    path, _ = tiny
    lake = Lake(str(path), storage_options={})
    daily = lake.read("gold/daily_account_metrics")
    assert daily.height == TINY.accounts * TINY.days
    assert daily["date"].max() == TINY.end
    posts = lake.read("silver/posts", columns=["post_id", "post_type"])
    assert daily["posts_published"].sum() == posts.filter(pl.col("post_type") != "repost").height
    # Every post has its observations (fewer for the newest posts), and one curve point each.
    metrics = lake.read("silver/post_metrics", columns=["post_id"])
    assert set(metrics["post_id"].unique()) <= set(posts["post_id"])
    assert lake.read("gold/post_curves").height == metrics.height
    # The agency roll-up of HHS (every agency is below it) over all platforms is the grand total.
    hhs = lake.read(
        "gold/agency_metrics",
        where=(pl.col("agency") == "HHS")
        & (pl.col("platform") == "all")
        & (pl.col("period") == "day"),
    )
    assert hhs["engagement"].sum() == daily["engagement"].sum()
    assert hhs["accounts"].max() <= TINY.accounts


def test_the_lake_is_cached_by_its_parameters(
    tiny: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    path, manifest = tiny
    again, manifest_again = large_lake.ensure_lake(TINY, path.parent)
    assert again == path
    assert manifest_again == manifest  # read back, not generated again
    other = dataclasses.replace(TINY, seed=TINY.seed + 1)
    assert other.key() != TINY.key()
    stored = json.loads((path / large_lake.MANIFEST).read_text())
    assert stored["key"] == TINY.key()


def test_summary_ratios_and_percentiles() -> None:
    result = dashboards.PageResult(page="p", probe="x", first_cold_s=3.0)
    result.first_warm_s = [1.0, 3.0, 2.0]
    result.filter_ms = [100.0, 200.0, 300.0, 400.0, 500.0]
    summary = result.summary()
    assert summary["first_warm_median_s"] == 2.0
    assert summary["ratio_first_warm"] == 1.0
    assert summary["ratio_first_cold"] == 1.5
    assert summary["filter_p50_ms"] == 300.0
    assert summary["filter_p95_ms"] == pytest.approx(480.0)
    assert summary["ratio_filter_p95"] == 1.6
    assert dashboards.PageResult(page="q", probe="y").summary()["filter_p95_ms"] is None
