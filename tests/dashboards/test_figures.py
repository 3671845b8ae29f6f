"""The read API and the dashboards' figures over a real Delta table in tmp_path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dashboard_lakes import FIRST_DAY, GOLD, SCRIPT_HANDLE, gold_frame

from hhs_platform.dashboards import figures as fig
from hhs_platform.lake import Lake, reads
from schemas import table_spec

LAST_DAY = FIRST_DAY + dt.timedelta(days=9)


def _sum(rows: list[dict[str, Any]], column: str, **where: Any) -> int:
    return sum(
        r[column] or 0
        for r in rows
        if all((r[k] in v) if isinstance(v, set) else r[k] == v for k, v in where.items())
    )


# -- reads ------------------------------------------------------------------------------------
def test_daily_account_metrics_filters_and_columns(lake: Lake, rows: list[dict[str, Any]]) -> None:
    df = reads.daily_account_metrics(
        lake,
        agencies=["CDC"],
        platforms="x",
        since=FIRST_DAY + dt.timedelta(days=2),
        until=FIRST_DAY + dt.timedelta(days=3),
        columns=["date", "handle", "followers"],
    )
    assert df.columns == ["date", "handle", "followers"]
    expected = sorted(
        (r["date"], r["handle"], r["followers"])
        for r in rows
        if r["agency"] == "CDC"
        and r["platform"] == "x"
        and FIRST_DAY + dt.timedelta(days=2) <= r["date"] <= FIRST_DAY + dt.timedelta(days=3)
    )
    assert sorted(df.iter_rows()) == expected
    assert df.height == 4


def test_daily_account_metrics_reads_the_whole_table_with_its_schema(
    lake: Lake, rows: list[dict[str, Any]]
) -> None:
    df = reads.daily_account_metrics(lake)
    assert df.schema == table_spec(GOLD).schema
    assert df.height == len(rows)


def test_missing_gold_reads_empty_with_schema(tmp_path: Path) -> None:
    df = reads.daily_account_metrics(Lake(str(tmp_path / "empty")))
    assert df.is_empty()
    assert df.schema == table_spec(GOLD).schema
    assert reads.agency_platform_daily(Lake(str(tmp_path / "empty"))).is_empty()
    assert reads.dimensions(Lake(str(tmp_path / "empty"))) == {"agencies": [], "platforms": []}


def test_unknown_column_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(KeyError, match="no column"):
        reads.daily_account_metrics(lake, columns=["date", "fans"])


def test_lake_defaults_to_settings(
    lake_uri: str, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, Any]]
) -> None:
    from hhs_platform.settings import get_settings

    monkeypatch.setenv("HHS_LAKE_URI", lake_uri)
    get_settings.cache_clear()
    try:
        assert reads.daily_account_metrics(columns=["date"]).height == len(rows)
    finally:
        get_settings.cache_clear()


def test_agency_platform_daily_sums_accounts(lake: Lake, rows: list[dict[str, Any]]) -> None:
    df = reads.agency_platform_daily(lake, agencies="CDC", platforms="x", until=FIRST_DAY)
    assert df.height == 1
    row = df.row(0, named=True)
    # Day 0: CDCgov 1,000,000 + CDCemergency 234,567 followers.
    assert row["followers"] == 1_234_567
    assert row["accounts"] == 2
    assert row["followers_change"] is None  # no account has a change on its first day
    engagement = _sum(rows, "engagement", agency="CDC", platform="x", date=FIRST_DAY)
    assert row["engagement"] == engagement
    assert row["engagement_rate"] == pytest.approx(engagement / 1_234_567)
    assert row["views"] is None  # x has no views: null, not 0

    full = reads.agency_platform_daily(lake)
    for r in full.iter_rows(named=True):
        agency = None if r["agency"] == reads.UNASSIGNED_AGENCY else r["agency"]
        key = {"agency": agency, "platform": r["platform"], "date": r["date"]}
        assert r["followers"] == _sum(rows, "followers", **key)
        assert r["engagement"] == _sum(rows, "engagement", **key)
        assert r["posts_published"] == _sum(rows, "posts_published", **key)
    assert set(full["agency"]) == {"CDC", "FDA", "NIH", "ATSDR", reads.UNASSIGNED_AGENCY}
    assert full.columns == list(reads.AGENCY_PLATFORM_DAILY_COLUMNS)


def test_unassigned_agency_filter(lake: Lake) -> None:
    df = reads.daily_account_metrics(lake, agencies=[reads.UNASSIGNED_AGENCY])
    assert set(df["handle"]) == {"someone"}


def test_dimensions(lake: Lake) -> None:
    assert reads.dimensions(lake) == {
        "agencies": ["(unassigned)", "ATSDR", "CDC", "FDA", "NIH"],
        "platforms": ["bluesky", "mastodon", "x", "youtube"],
    }


# -- figures ----------------------------------------------------------------------------------
def test_headline_matches_hand_computed_sums(lake: Lake, rows: list[dict[str, Any]]) -> None:
    rollup = reads.agency_platform_daily(lake)
    top = fig.headline(rollup, 7)
    start = LAST_DAY - dt.timedelta(days=6)
    period = {start + dt.timedelta(days=i) for i in range(7)}
    assert (top.latest_date, top.period_start) == (LAST_DAY, start)
    assert top.followers == _sum(rows, "followers", date=LAST_DAY)
    assert top.followers_change == _sum(rows, "followers_change", date=period)
    assert top.engagement == _sum(rows, "engagement", date=period)
    assert top.posts_published == _sum(rows, "posts_published", date=period)
    # The net change over the period is the followers' growth since the day before it.
    before = start - dt.timedelta(days=1)
    assert top.followers_change == top.followers - _sum(rows, "followers", date=before)

    everything = fig.headline(rollup, None)
    assert everything.period_start == FIRST_DAY
    assert fig.headline(rollup, 90).period_start == FIRST_DAY  # clipped to the data
    assert everything.engagement == _sum(rows, "engagement")

    cdc = fig.headline(fig.select(rollup, agency="CDC"), 7)
    assert cdc.followers == _sum(rows, "followers", date=LAST_DAY, agency="CDC")
    fda_x = fig.headline(fig.select(rollup, agency="FDA", platform="x"), 7)
    assert fda_x.followers == _sum(rows, "followers", date=LAST_DAY, agency="FDA")
    assert fda_x.followers_change == -20 * 7


def test_headline_of_an_empty_selection() -> None:
    top = fig.headline(reads.roll_up_agency_platform(gold_frame([])), 30)
    assert top.latest_date is None
    assert (top.followers, top.engagement, top.engagement_rate) == (0, 0, None)


def test_latest_by_pair_adds_up_to_the_headline(lake: Lake, rows: list[dict[str, Any]]) -> None:
    rollup = reads.agency_platform_daily(lake)
    pairs = fig.latest_by(rollup, ["agency", "platform"], 7)
    top = fig.headline(rollup, 7)
    assert pairs.height == 6
    assert pairs["followers"].sum() == top.followers
    assert pairs["engagement"].sum() == top.engagement
    assert pairs["followers"].to_list() == sorted(pairs["followers"].to_list(), reverse=True)
    first = pairs.row(0, named=True)
    assert (first["agency"], first["platform"], first["date"]) == ("CDC", "x", LAST_DAY)
    assert first["followers"] == 1_000_000 + 9_000 + 234_567 + 900

    daily = reads.daily_account_metrics(lake)
    accounts = fig.latest_by(daily, ["platform", "account_id"], 7, carry=("handle",))
    assert SCRIPT_HANDLE in accounts["handle"].to_list()
    assert accounts.filter(pl.col("account_id") == "fda-x-1")["followers_change"].item() == -140


def test_chart_series_keeps_the_largest_lines(lake: Lake) -> None:
    rollup = reads.agency_platform_daily(lake)
    data, total = fig.chart_series(rollup, None, max_series=2)
    assert total == 6
    assert sorted(set(data["series"])) == ["CDC · x", "FDA · x"]
    assert len(data) == 2 * 10
    assert list(data.columns) == ["date", "series", "followers", "engagement"]


def test_formatting() -> None:
    assert fig.format_count(1_234_567) == "1,234,567"
    assert fig.format_count(None) == "—"
    assert fig.format_count(float("nan")) == "—"
    assert fig.format_change(1234) == "+1,234"
    assert fig.format_change(-56) == "-56"
    assert fig.format_change(0) == "0"


def test_rollup_of_accounts_without_followers_is_null() -> None:
    base = gold_frame([])
    frame = pl.concat(
        [
            base,
            pl.DataFrame(
                {
                    "date": [FIRST_DAY, FIRST_DAY],
                    "platform": ["x", "x"],
                    "account_id": ["a", "b"],
                    "agency": ["IHS", "IHS"],
                    "followers": [None, None],
                    "engagement": [3, 4],
                },
                schema_overrides={"followers": pl.Int64},
            ),
        ],
        how="diagonal_relaxed",
    )
    row = reads.roll_up_agency_platform(frame).row(0, named=True)
    assert row["followers"] is None
    assert row["engagement"] == 7
    assert row["engagement_rate"] is None
    assert row["accounts"] == 2
