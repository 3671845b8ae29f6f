"""Trends and leaderboards on hand-computed numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from hhs_platform.transforms.trends import leaderboards, trends
from schemas import table_spec

ACCOUNTS = pl.DataFrame(
    {
        "platform": ["x", "bluesky", "x"],
        "account_id": ["cdc", "cdc-b", "fda"],
        "agency": ["CDC", "CDC", "FDA"],
        "parent_agency": ["HHS", "HHS", "HHS"],
    }
)
D = datetime(2026, 11, 10, 15, tzinfo=UTC)


def _post(pid: str, platform: str, account: str, days_ago: int, tags: list[str]) -> dict:
    return {
        "platform": platform,
        "post_id": pid,
        "account_id": account,
        "created_at": D - timedelta(days=days_ago),
        "hashtags": tags,
        "is_deleted": False,
    }


def test_hashtag_lift_against_the_previous_week() -> None:
    posts = pl.DataFrame(
        [
            # #flu: 7 posts by CDC in the week before, 3 on the day (on two platforms)
            *[_post(f"old{i}", "x", "cdc", 1 + i, ["Flu"]) for i in range(7)],
            _post("a", "x", "cdc", 0, ["#flu", "vaccines"]),
            _post("b", "x", "cdc", 0, ["flu"]),
            _post("c", "bluesky", "cdc-b", 0, ["FLU"]),
            # #recall: new, one FDA post
            _post("d", "x", "fda", 0, ["recall"]),
            _post("e", "x", "fda", 0, []),
        ]
    )
    out = trends(posts, ACCOUNTS)
    day = out.filter(date=D.date())
    flu = day.filter(agency="CDC", term="flu").row(0, named=True)
    assert (flu["posts"], flu["platforms"], flu["baseline"]) == (3, 2, 1.0)
    assert flu["lift"] == (3 + 1) / (1 + 1)
    recall = day.filter(agency="FDA", term="recall").row(0, named=True)
    assert (recall["posts"], recall["baseline"], recall["lift"]) == (1, 0.0, 2.0)
    # HHS sees everything below it: flu 3, vaccines 1, recall 1; ranked by lift then posts
    hhs = day.filter(agency="HHS").sort("rank")
    # all three lift 2.0 ((3+1)/(1+1) and (1+1)/(0+1)): more posts ranks higher, ties share
    assert dict(zip(hhs["term"], hhs["rank"], strict=True)) == {
        "flu": 1,
        "vaccines": 2,
        "recall": 2,
    }
    assert dict(zip(hhs["term"], hhs["posts"], strict=True)) == {
        "flu": 3,
        "vaccines": 1,
        "recall": 1,
    }
    assert hhs.filter(term="vaccines")["rank"].item() == hhs.filter(term="recall")["rank"].item()
    assert (
        out.filter(date=D.date() - timedelta(days=1), agency="CDC")["baseline"].item() == 6 / 7
    )  # old1..old6 in the 7 days before


def test_leaderboards_rank_growth_and_engagement_rate() -> None:
    week = date(2026, 11, 9)
    weekly = pl.DataFrame(
        [
            {"week": week, "platform": "x", "account_id": "cdc", "handle": "CDCgov", "agency": "CDC",
             "followers": 1100, "followers_change": 100, "engagement_rate": 0.01},
            {"week": week, "platform": "x", "account_id": "fda", "handle": "US_FDA", "agency": "FDA",
             "followers": 2040, "followers_change": 40, "engagement_rate": 0.05},
        ]
    )  # fmt: skip
    curves = table_spec("gold/post_curves").empty()
    agencies = table_spec("gold/agency_metrics").empty()
    board = leaderboards(weekly, agencies, curves)
    growth = board.filter(board="growth").sort("rank")
    assert growth["entity"].to_list() == ["cdc", "fda"]
    assert growth["value"].to_list() == [0.1, 0.02]
    rate = board.filter(board="engagement_rate").sort("rank")
    assert rate["label"].to_list() == ["US_FDA", "CDCgov"]
    assert board.filter(board="overperformance").is_empty()  # no curves: no board, not zeros
