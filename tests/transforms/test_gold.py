"""gold/daily_account_metrics from hand-made silver frames with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from hhs_platform.transforms.gold import daily_account_metrics
from schemas import table_spec

D1 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _frame(table: str, rows: list[dict]) -> pl.DataFrame:
    lineage = {"run_id": "r", "response_id": "x", "connector_version": "t/1"}
    return pl.DataFrame(
        [{**lineage, **r} for r in rows], schema=table_spec(table).schema, strict=False
    )


def test_daily_figures_known_answers() -> None:
    accounts = _frame(
        "silver/accounts",
        [
            {
                "platform": "bluesky",
                "account_id": "A",
                "handle": "cdc.gov",
                "account_key": "bluesky:cdc.gov",
                "agency": "CDC",
                "parent_agency": "HHS",
                "first_seen_at": D1,
                "last_seen_at": D1,
            }
        ],
    )
    snapshots = _frame(
        "silver/account_snapshots",
        [
            # 100 followers from day 1 09:00 to day 2 09:00, then 110 from day 2 15:00
            {
                "platform": "bluesky",
                "account_id": "A",
                "observed_at": D1,
                "last_observed_at": D1 + timedelta(days=1),
                "followers": 100,
                "following": 5,
                "posts_count": 10,
            },
            {
                "platform": "bluesky",
                "account_id": "A",
                "observed_at": D1 + timedelta(days=1, hours=6),
                "last_observed_at": D1 + timedelta(days=1, hours=6),
                "followers": 110,
                "following": 5,
                "posts_count": 12,
            },
        ],
    )
    posts = _frame(
        "silver/posts",
        [
            {
                "platform": "bluesky",
                "post_id": "p1",
                "account_id": "A",
                "created_at": D1,
                "post_type": "original",
            },
            {
                "platform": "bluesky",
                "post_id": "p2",
                "account_id": "A",
                "created_at": D1 + timedelta(hours=1),
                "post_type": "reply",
            },
            {
                "platform": "bluesky",
                "post_id": "r1",
                "account_id": "A",
                "created_at": D1,
                "post_type": "repost",
            },
            {
                "platform": "bluesky",
                "post_id": "p3",
                "account_id": "A",
                "created_at": D1 - timedelta(days=3),
                "post_type": "original",
            },
        ],
    )
    metrics = _frame(
        "silver/post_metrics",
        [
            {
                "platform": "bluesky",
                "post_id": "p1",
                "account_id": "A",
                "observed_at": D1,
                "last_observed_at": D1,
                "likes": 1,
                "reposts": 1,
                "replies": 0,
                "quotes": 0,
            },
            {
                "platform": "bluesky",
                "post_id": "p1",
                "account_id": "A",
                "observed_at": D1 + timedelta(days=1),
                "last_observed_at": D1 + timedelta(days=1),
                "likes": 10,
                "reposts": 2,
                "replies": 1,
                "quotes": 1,
            },
            {
                "platform": "bluesky",
                "post_id": "p2",
                "account_id": "A",
                "observed_at": D1,
                "last_observed_at": D1,
                "likes": 4,
                "reposts": 0,
                "replies": 0,
                "quotes": 0,
            },
            {
                "platform": "bluesky",
                "post_id": "p3",
                "account_id": "A",
                "observed_at": D1,
                "last_observed_at": D1,
                "likes": 7,
                "reposts": 0,
                "replies": 0,
                "quotes": 0,
            },
        ],
    )
    gold = daily_account_metrics(accounts, snapshots, posts, metrics).sort("date")
    assert gold["date"].to_list() == [date(2026, 10, 29), date(2026, 11, 1), date(2026, 11, 2)]
    d1 = gold.row(1, named=True)
    # latest counters of p1 (10, 2, 1, 1) + p2 (4, 0, 0, 0); the repost does not count
    assert (d1["posts_published"], d1["likes"], d1["reposts"], d1["replies"], d1["quotes"]) == (
        2,
        14,
        2,
        1,
        1,
    )
    assert d1["engagement"] == 18 and d1["followers"] == 100
    assert d1["engagement_rate"] == 18 / 100
    assert d1["views"] is None and d1["agency"] == "CDC"
    d2 = gold.row(2, named=True)
    assert d2["followers"] == 110 and d2["followers_change"] == 10 and d2["posts_published"] == 0
    old = gold.row(0, named=True)
    # no observation that day: followers unknown, rate uses the nearest observation (100)
    assert old["followers"] is None and old["likes"] == 7 and old["engagement_rate"] == 7 / 100


def test_activity_counts_what_posts_gained_each_day() -> None:
    """A new post counts from publication; an old post first seen today only sets a baseline."""
    from hhs_platform.transforms.gold import _daily_activity

    day = timedelta(days=1)
    posts = pl.DataFrame(
        {
            "platform": ["x", "x"],
            "post_id": ["new", "old"],
            "account_id": ["A", "A"],
            "created_at": [D1, D1 - 10 * day],
            "post_type": ["post", "post"],
        }
    )

    def obs(post: str, at: datetime, until: datetime, likes: int) -> dict:
        return {"platform": "x", "post_id": post, "observed_at": at, "last_observed_at": until,
                "likes": likes, "reposts": 1, "replies": 0, "quotes": None, "views": None}  # fmt: skip

    metrics = pl.DataFrame(
        [
            obs("new", D1 + timedelta(hours=2), D1 + timedelta(hours=3), 9),  # 10 on day 1
            obs("new", D1 + day, D1 + day, 14),  # 15 on day 2: +5
            obs("new", D1 + 3 * day, D1 + 3 * day, 14),  # day 4: +0 (day 3 not observed)
            obs("old", D1, D1 + day, 99),  # 100 on day 1 (baseline) and day 2 (+0)
            obs("old", D1 + day + timedelta(hours=5), D1 + day + timedelta(hours=5), 109),  # +10
        ]
    )
    got = dict(_daily_activity(posts, metrics).select("date", "engagement_activity").iter_rows())
    d = D1.date()
    assert got == {d: 10, d + day: 15, d + 3 * day: 0}
