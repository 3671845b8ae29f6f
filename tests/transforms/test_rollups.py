"""Weekly and agency rollups of the daily account figures, on hand-computed numbers."""

from __future__ import annotations

from datetime import date

import polars as pl

from hhs_platform.transforms.rollups import agency_metrics, agency_tree, weekly_account_metrics
from schemas import table_spec

ACCOUNTS = pl.DataFrame(
    {
        "platform": ["x", "x", "bluesky", "x"],
        "account_id": ["hhs", "cdc", "cdc-b", "nchs"],
        "agency": ["HHS", "CDC", "CDC", "CDC-NCHS"],
        "parent_agency": [None, "HHS", "HHS", "CDC"],
    }
)


def _day(d: date, platform: str, account: str, agency: str, parent: str | None, **v: int) -> dict:
    row = {
        "date": d,
        "platform": platform,
        "account_id": account,
        "handle": account,
        "agency": agency,
        "parent_agency": parent,
        "followers": v.get("followers"),
        "followers_change": v.get("change"),
        "following": None,
        "posts_count": None,
        "posts_published": v.get("posts", 0),
        "likes": v.get("likes", 0),
        "reposts": 0,
        "replies": 0,
        "quotes": 0,
        "views": v.get("views"),
        "engagement": v.get("likes", 0),
        "engagement_rate": None,
    }
    return row


MON, TUE, NEXT_MON = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 9)
DAILY = pl.DataFrame(
    [
        _day(MON, "x", "hhs", "HHS", None, followers=1000, change=10, posts=2, likes=50),
        _day(TUE, "x", "hhs", "HHS", None, followers=1010, change=10, posts=1, likes=5),
        _day(MON, "x", "cdc", "CDC", "HHS", followers=500, change=-5, posts=1, likes=20, views=7),
        _day(TUE, "bluesky", "cdc-b", "CDC", "HHS", followers=100, change=1, likes=3),
        _day(TUE, "x", "nchs", "CDC-NCHS", "CDC", followers=40, posts=4, likes=8),
        _day(NEXT_MON, "x", "hhs", "HHS", None, followers=1020, change=10),
    ],
    schema=table_spec("gold/daily_account_metrics").schema,
)


def test_agency_tree_walks_up_to_hhs() -> None:
    tree = agency_tree(ACCOUNTS)
    assert tree["CDC-NCHS"] == ["CDC-NCHS", "CDC", "HHS"]
    assert tree["HHS"] == ["HHS"]


def test_weeks_take_the_last_followers_and_sum_the_rest() -> None:
    weeks = weekly_account_metrics(DAILY)
    hhs = weeks.filter(account_id="hhs").sort("week")
    assert hhs["week"].to_list() == [MON, NEXT_MON]
    first = hhs.row(0, named=True)
    assert (first["followers"], first["followers_change"], first["posts_published"]) == (
        1010,
        20,
        3,
    )
    assert (first["likes"], first["days_observed"]) == (55, 2)
    assert first["engagement_rate"] == 55 / 1010


def test_agencies_include_everything_below_them() -> None:
    out = agency_metrics(DAILY, ACCOUNTS)

    def row(period: str, start: date, agency: str, platform: str) -> dict:
        return out.filter(period=period, period_start=start, agency=agency, platform=platform).row(
            0, named=True
        )

    # CDC on X, Tuesday: NCHS (below CDC) is observed; CDC's own account counts with Monday's
    # figure, carried, but is not an account observed that day
    tuesday = row("day", TUE, "CDC", "x")
    assert (tuesday["followers"], tuesday["accounts"]) == (500 + 40, 1)
    # HHS, all platforms, week of Monday: every account's followers at the week's end
    week = row("week", MON, "HHS", "all")
    assert week["followers"] == 1010 + 500 + 100 + 40
    assert week["accounts"] == 4
    assert week["posts_published"] == 2 + 1 + 1 + 4
    assert week["likes"] == 50 + 5 + 20 + 3 + 8
    assert week["views"] == 7
    assert week["level"] == 0
    # CDC's week on all platforms: CDC's own two accounts and NCHS, not HHS's
    cdc = row("week", MON, "CDC", "all")
    assert (cdc["followers"], cdc["accounts"], cdc["level"]) == (640, 3, 1)
    assert row("week", MON, "CDC-NCHS", "x")["level"] == 2
    # no views anywhere that day: null, not 0
    assert row("day", TUE, "HHS", "all")["views"] is None
    assert out.select("period", "period_start", "agency", "platform").is_unique().all()


def test_a_day_without_an_account_keeps_its_last_followers_in_the_total() -> None:
    """hhs is not observed on Wednesday (a failed collection, no posts); cdc has posts but no
    follower figure before Wednesday."""
    wed, thu = date(2026, 11, 4), date(2026, 11, 5)
    daily = pl.DataFrame(
        [
            _day(MON, "x", "hhs", "HHS", None, followers=1000, posts=1, likes=4),
            _day(TUE, "x", "hhs", "HHS", None, followers=1010),
            _day(thu, "x", "hhs", "HHS", None, followers=1030, likes=6),
            _day(MON, "x", "cdc", "CDC", "HHS", posts=1, likes=2),
            _day(wed, "x", "cdc", "CDC", "HHS", followers=500, likes=1),
        ],
        schema=table_spec("gold/daily_account_metrics").schema,
    )
    out = agency_metrics(daily, ACCOUNTS).filter(period="day", platform="x")

    def hhs(day: date) -> tuple[int | None, int, int]:
        r = out.filter(period_start=day, agency="HHS").row(0, named=True)
        return r["followers"], r["accounts"], r["likes"]

    assert hhs(MON) == (1000, 2, 6)
    assert hhs(TUE) == (1010, 1, 0)
    assert hhs(wed) == (1010 + 500, 1, 1)  # hhs carried from Tuesday, not counted as observed
    assert hhs(thu) == (1030 + 500, 1, 6)  # cdc carried from Wednesday
    cdc = out.filter(agency="CDC").sort("period_start")
    assert cdc["followers"].to_list() == [None, None, 500, 500]  # null before its first figure
