"""Highlights of a period over small hand-made tables in a real Delta lake, with exact values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from period_lake import END, NOW, SCRIPT, _ts, build_period_lake

from hhs_platform.lake import Lake
from hhs_platform.reports import highlights as hl


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_period_lake(tmp_path_factory.mktemp("highlights"))


# -- periods ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "days"), [("week", 7), ("month", 30), ("14d", 14), (" 3D ", 3), ("90", 90), (5, 5)]
)
def test_parse_period(text: str | int, days: int) -> None:
    assert hl.parse_period(text) == days


@pytest.mark.parametrize("text", ["fortnight", "0d", "-3d", "1w", ""])
def test_bad_period_says_what_is_accepted(text: str) -> None:
    with pytest.raises(hl.PeriodError, match=r"week|at least 1 day"):
        hl.parse_period(text)


def test_period_windows() -> None:
    p = hl.Period(7, END)
    assert (p.start, p.end) == (dt.date(2026, 3, 8), dt.date(2026, 3, 14))
    assert (p.previous_start, p.previous_end) == (dt.date(2026, 3, 1), dt.date(2026, 3, 7))
    assert (p.label, hl.Period(30, END).label, hl.Period(3, END).label) == (
        "week",
        "month",
        "3 days",
    )


def test_figure_change() -> None:
    assert hl.Figure("x", 110, 100).change == 10
    assert hl.Figure("x", 110, 100).change_pct == pytest.approx(10.0)
    assert hl.Figure("x", -15, -30).change_pct == pytest.approx(50.0)  # of |previous|
    assert hl.Figure("x", 5, 0).change_pct is None
    assert hl.Figure("x", 5, None).change is None


# -- headline figures ---------------------------------------------------------------------------
def test_headline_figures_of_the_week(lake: Lake) -> None:
    h = hl.load_highlights(lake, "week", now=NOW)
    assert h.period == hl.Period(7, END)
    # cdc1 1,130 + cdc2 565 + fda1 1,760 (its last row, day 12) + orph 100
    assert (h.followers.value, h.followers.previous) == (3555, 3570)
    assert (h.followers_change.value, h.followers_change.previous) == (-15, -30)
    assert h.growth_pct.value == pytest.approx(100 * -15 / 3570)
    assert h.growth_pct.previous == pytest.approx(100 * -30 / 3600)
    assert (h.engagement.value, h.engagement.previous) == (1070, 1071)
    assert h.engagement.change == -1
    assert (h.posts_published.value, h.posts_published.previous) == (27, 28)
    assert h.engagement_rate.value == pytest.approx(1070 / 3555)
    assert [f.name for f in h.figures()] == [
        "followers",
        "followers_change",
        "growth_pct",
        "engagement",
        "engagement_rate",
        "posts_published",
    ]
    assert h.headline() == (
        "3,555 followers on 2026-03-14; -15 in the week (-0.42%); 1,070 engagements on 27 posts."
    )


def test_agency_restriction_and_descendants(lake: Lake) -> None:
    accounts = lake.read("silver/accounts")
    cdc = hl.agencies_with_descendants(accounts, ["CDC"])
    assert cdc == {"CDC", "CDC-NCHS"}
    assert hl.agencies_with_descendants(accounts, ["HHS"]) == {"HHS", "CDC", "CDC-NCHS", "FDA"}
    h = hl.load_highlights(lake, "week", agencies=cdc, now=NOW)
    assert (h.followers.value, h.followers.previous) == (1695, 1590)
    assert (h.followers_change.value, h.engagement.value, h.posts_published.value) == (105, 770, 21)
    assert h.engagement.previous == 700 + 21
    assert h.agencies == ("CDC", "CDC-NCHS")
    assert h.top_posts["post_id"].to_list() == ["p2", "p1"]
    assert h.top_agencies["agency"].to_list() == ["CDC"]
    assert h.anomalies["sentence"].to_list() == ["jump", "quiet"]
    assert h.newest_observation == _ts(13, 20)
    assert h.freshness_hours == pytest.approx(4.0)


def test_unassigned_and_platform_filters(lake: Lake) -> None:
    orphans = hl.load_highlights(lake, "week", agencies=[hl.UNASSIGNED_AGENCY], now=NOW)
    assert (orphans.followers.value, orphans.top_posts["post_id"].to_list()) == (100, ["p7"])
    x = hl.load_highlights(lake, "week", platforms=["x"], now=NOW)
    assert (x.followers.value, x.followers_change.value, x.engagement.value) == (2890, -50, 1000)
    assert x.top_posts["post_id"].to_list() == ["p1", "p6"]
    assert x.top_agencies.select("agency", "engagement").rows() == [("CDC", 7)]


def test_end_date_defaults_to_the_latest_date_in_view(lake: Lake) -> None:
    fda = hl.load_highlights(lake, "week", agencies=["FDA"], now=NOW)
    assert fda.period == hl.Period(7, END - dt.timedelta(days=1))
    assert fda.followers.value == 1760
    earlier = hl.load_highlights(lake, "3d", end=dt.date(2026, 3, 5), now=NOW)
    # days 2..4 against days -1..1 (only 0 and 1 exist)
    assert earlier.engagement.value == 3 * 100 + (2 + 3 + 4) + 3 * 50
    assert earlier.engagement.previous == 2 * 100 + (0 + 1) + 2 * 50


# -- top posts, agencies, anomalies, freshness --------------------------------------------------
def test_top_posts(lake: Lake) -> None:
    h = hl.load_highlights(lake, "week", now=NOW, top_n=3)
    top = h.top_posts
    assert top.columns == hl.TOP_POST_COLUMNS
    # p2 70; p7 and p1 63 each (newest first); p3 repost, p4 deleted, p5 last week left out;
    # p1's 999 likes were observed after the period.
    assert top.select("rank", "post_id", "engagement").rows() == [
        (1, "p2", 70),
        (2, "p7", 63),
        (3, "p1", 63),
    ]
    p1 = top.row(2, named=True)
    assert (p1["handle"], p1["agency"], p1["platform"], p1["text"]) == (
        "CDCgov",
        "CDC",
        "x",
        SCRIPT,
    )
    assert (p1["likes"], p1["reposts"], p1["replies"], p1["quotes"]) == (50, 10, 2, 1)
    assert p1["url"] == "https://example.org/p1"
    assert top.row(0, named=True)["text"] == "Video title"  # the title when there is no text
    assert hl.load_highlights(lake, "week", now=NOW).top_posts["post_id"].to_list()[-1] == "p6"


def test_top_agencies(lake: Lake) -> None:
    top = hl.load_highlights(lake, "week", now=NOW).top_agencies
    assert top.columns == hl.TOP_AGENCY_COLUMNS
    # Level 1 is the shallowest level with more than one agency; HHS (level 0) is everything.
    assert top.select("rank", "agency", "level", "engagement", "previous_engagement").rows() == [
        (1, "CDC", 1, 420, 420),
        (2, "FDA", 1, 210, 280),
    ]
    cdc = top.row(0, named=True)
    assert (cdc["followers"], cdc["followers_change"], cdc["posts_published"]) == (6026, 14, 7)
    assert cdc["growth_pct"] == pytest.approx(100 * 14 / 6012)
    assert cdc["engagement_change_pct"] == 0.0
    assert top.row(1, named=True)["engagement_change_pct"] == pytest.approx(-25.0)


def test_anomalies_that_matter(lake: Lake) -> None:
    h = hl.load_highlights(lake, "week", now=NOW)
    # By confidence then |score|; the collection gap is left out, the posting gap ending in the
    # week is in, the drop of the week before is out.
    assert h.anomalies["sentence"].to_list() == [
        "@<img src=x onerror=alert(1)> spiked",
        "collapse",
        "jump",
        "quiet",
    ]
    assert h.anomalies.columns == hl.ANOMALY_OUT_COLUMNS
    two = hl.load_highlights(lake, "week", now=NOW, max_anomalies=2)
    assert two.anomalies["kind"].to_list() == ["engagement_spike", "engagement_collapse"]


def test_freshness(lake: Lake) -> None:
    h = hl.load_highlights(lake, "week", now=NOW)
    assert h.newest_observation == _ts(13, 22)
    assert h.freshness_hours == pytest.approx(2.0)


def test_reads_only_the_needed_columns_and_rows(lake: Lake) -> None:
    calls: list[tuple[str, list[str], int]] = []
    base = hl.lake_reader(lake)

    def reader(table: str, columns: Sequence[str], where: pl.Expr | None) -> pl.DataFrame:
        out = base(table, columns, where)
        calls.append((table, list(columns), out.height))
        return out

    hl.load_highlights(lake, "week", now=NOW, reader=reader)
    read = {t: (c, n) for t, c, n in calls}
    assert read["silver/posts"][1] == 6  # p1 p2 p3 p4 p6 p7: published in the week
    assert read["silver/post_metrics"][1] == 8  # observations from 03-08 to the end of 03-14
    assert read["gold/anomalies"][1] == 5  # overlapping the week (the gap is dropped later)
    assert "body" not in read["silver/posts"][0]
    assert read["gold/daily_account_metrics"][1] == 14 * 3 + 13 + 0  # both weeks


def test_scope_kept_in_memory_gives_the_same_highlights_from_shared_reads(lake: Lake) -> None:
    import dataclasses

    reads: dict[tuple[str, str], int] = {}
    base = hl.lake_reader(lake)

    def counting(table: str, columns: Sequence[str], where: pl.Expr | None) -> pl.DataFrame:
        key = (table, "" if where is None else where.meta.serialize(format="json"))
        reads[key] = reads.get(key, 0) + 1
        return base(table, columns, where)

    agencies = lake.read("silver/accounts")["agency"].drop_nulls().unique().sort().to_list()
    scopes = [
        (None, None),
        (agencies[:1], None),
        (None, ["x"]),
        (agencies[-1:], ["bluesky"]),
        ([hl.UNASSIGNED_AGENCY], None),
        (agencies, ["x", "bluesky"]),
    ]
    for period in ("week", "3d"):
        for chosen, platforms in scopes:
            kept = hl.load_highlights(
                lake, period, agencies=chosen, platforms=platforms, now=NOW,
                reader=counting, scope_in_memory=True,
            )  # fmt: skip
            read = hl.load_highlights(lake, period, agencies=chosen, platforms=platforms, now=NOW)
            for f in dataclasses.fields(read):
                a, b = getattr(kept, f.name), getattr(read, f.name)
                if isinstance(b, pl.DataFrame):
                    assert a.equals(b), (period, chosen, platforms, f.name)
                else:
                    assert a == b, (period, chosen, platforms, f.name)
    # no read names an agency or a platform: every selection of a period (and end) shares them
    assert len(reads) >= 8
    for table, where in reads:
        assert '"agency"' not in where and '"platform"' not in where, table
    assert reads[("silver/accounts", "")] == 2 * len(scopes)


def test_each_accounts_newest_observation_is_reduced_once_per_snapshots_frame(lake: Lake) -> None:
    keys = ["platform", "account_id"]
    snapshots = lake.read(hl.SNAPSHOTS, columns=list(hl.SNAPSHOT_COLUMNS))
    assert snapshots.select(keys).is_unique().all()  # one per account: older ones are added
    older = snapshots.with_columns(pl.col("last_observed_at") - dt.timedelta(days=1))
    every = pl.concat([older, snapshots, older])
    reduced = hl.newest_per_account(every)
    assert hl.newest_per_account(every) is reduced  # the same frame: not reduced again
    assert reduced.sort(keys).equals(snapshots.sort(keys))
    other = hl.newest_per_account(every.clone())  # another frame: reduced anew
    assert other is not reduced and other.sort(keys).equals(snapshots.sort(keys))

    # a caching reader hands every selection the same frame: the same newest observations
    cache: dict[tuple[str, str], pl.DataFrame] = {}
    base = hl.lake_reader(lake)

    def caching(table: str, columns: Sequence[str], where: pl.Expr | None) -> pl.DataFrame:
        key = (table, "" if where is None else where.meta.serialize(format="json"))
        if key not in cache:
            cache[key] = base(table, columns, where)
        return cache[key]

    accounts = lake.read("silver/accounts")
    cdc = hl.agencies_with_descendants(accounts, ["CDC"])
    seen = []
    for agencies, platforms in ((None, None), (cdc, None), (None, ["bluesky"]), (cdc, ["x"])):
        kept = hl.load_highlights(
            lake, "week", agencies=agencies, platforms=platforms, now=NOW,
            reader=caching, scope_in_memory=True,
        )  # fmt: skip
        in_view = accounts.filter(
            (pl.col("agency").is_in(sorted(agencies)) if agencies else pl.lit(True))
            & (pl.col("platform").is_in(platforms) if platforms else pl.lit(True))
        )
        newest = snapshots.join(in_view.select(keys), on=keys, how="semi")["last_observed_at"]
        assert kept.newest_observation == newest.max(), (agencies, platforms)
        plain = hl.load_highlights(lake, "week", agencies=agencies, platforms=platforms, now=NOW)
        assert kept.period == plain.period and kept.period is not None
        seen.append(kept.newest_observation)
    assert seen[:2] == [_ts(13, 22), _ts(13, 20)]  # every account's, CDC's
    # each agency's and platform's latest date, from the frame reduced once
    for agency in [*accounts["agency"].drop_nulls().unique().to_list(), hl.UNASSIGNED_AGENCY]:
        for platforms in (None, ["x"], ["bluesky"]):
            assert hl.latest_date(
                caching, [agency], platforms, scope_in_memory=True
            ) == hl.latest_date(base, [agency], platforms), (agency, platforms)


def test_empty_lake(tmp_path: Path) -> None:
    h = hl.load_highlights(Lake(str(tmp_path / "none")), "month", now=NOW)
    assert h.empty and h.period is None
    assert h.followers.value is None and h.top_posts.is_empty() and h.anomalies.is_empty()
    assert h.top_posts.columns == hl.TOP_POST_COLUMNS
    assert h.freshness_hours is None
    assert h.headline() == "No daily figures yet."


def test_daily_series(lake: Lake) -> None:
    series = hl.load_highlights(lake, "week", now=NOW).daily
    assert series["date"].to_list() == [END - dt.timedelta(days=6 - i) for i in range(7)]
    # day d: cdc1 100 + cdc2 d + fda1 50 (not on day 13); growth 10 + 5 - 20 (+0)
    assert series["engagement"].to_list() == [150 + d for d in range(7, 13)] + [113]
    assert series["followers_change"].to_list() == [-5] * 6 + [15]
    assert series["posts_published"].to_list() == [4] * 6 + [3]
    assert series["accounts"].to_list() == [4] * 6 + [3]
    gap = hl.load_highlights(lake, "3d", end=END + dt.timedelta(days=1), now=NOW).daily
    assert gap["engagement"].to_list() == [150 + 12, 113, None]  # no figures yet on day 14
