"""A small lake for the report tests: two weeks of hand-made gold and silver rows.

Every figure the highlights compute from it is worked out by hand in the tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from hhs_platform.lake import Lake

D0 = dt.date(2026, 3, 1)
END = D0 + dt.timedelta(days=13)  # 2026-03-14: the week is 03-08..03-14, the previous 03-01..03-07
NOW = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
SCRIPT = "<script>alert(1)</script> flu shots"


def _ts(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(hour, minute), dt.UTC)


ACCOUNTS = [
    # platform, account_id, handle, agency, parent
    ("x", "cdc1", "CDCgov", "CDC", "HHS"),
    ("bluesky", "cdc2", "nchs.bsky", "CDC-NCHS", "CDC"),
    ("x", "fda1", "US_FDA", "FDA", "HHS"),
    ("mastodon", "orph", "someone", None, None),
    ("x", "hhs1", "HHSgov", "HHS", None),  # no daily figures: only in the registry so far
]


def _daily() -> list[dict[str, Any]]:
    rows = []
    for d in range(14):
        date = D0 + dt.timedelta(days=d)
        first = d == 0
        rows.append(_day(date, "x", "cdc1", "CDC", 1000 + 10 * d, None if first else 10, 2, 100))
        rows.append(
            _day(date, "bluesky", "cdc2", "CDC-NCHS", 500 + 5 * d, None if first else 5, 1, d)
        )
        if d < 13:  # FDA was not collected on the last day
            rows.append(
                _day(date, "x", "fda1", "FDA", 2000 - 20 * d, None if first else -20, 1, 50)
            )
        rows.append(_day(date, "mastodon", "orph", None, 100, None if first else 0, 0, 0))
    return rows


def _day(
    date: dt.date,
    platform: str,
    account_id: str,
    agency: str | None,
    followers: int,
    change: int | None,
    posts: int,
    engagement: int,
) -> dict[str, Any]:
    return {
        "date": date,
        "platform": platform,
        "account_id": account_id,
        "agency": agency,
        "followers": followers,
        "followers_change": change,
        "posts_published": posts,
        "likes": engagement,
        "reposts": 0,
        "replies": 0,
        "quotes": 0,
        "engagement": engagement,
        "engagement_activity": 0,
    }


POSTS = [
    # post_id, platform, account, created, type, text, title, deleted
    ("p1", "x", "cdc1", _ts(9, 12), "original", SCRIPT, None, False),
    ("p2", "bluesky", "cdc2", _ts(12), "original", None, "Video title", False),
    ("p3", "x", "fda1", _ts(8), "repost", "a repost", None, False),
    ("p4", "x", "fda1", _ts(10), "original", "deleted later", None, True),
    ("p5", "x", "fda1", _ts(4), "original", "last week", None, False),
    ("p6", "x", "fda1", _ts(13, 23), "reply", "late reply", None, False),
    ("p7", "mastodon", "orph", _ts(11), "original", "toot", None, False),
]
METRICS = [
    # post_id, platform, observed_at, likes, reposts, replies, quotes
    ("p1", "x", _ts(9, 13), 5, 0, 0, 0),
    ("p1", "x", _ts(11), 50, 10, 2, 1),
    ("p1", "x", _ts(14, 6), 999, 0, 0, 0),  # after the period: not counted
    ("p2", "bluesky", _ts(12, 5), 40, 30, None, None),
    ("p3", "x", _ts(9), 500, 0, 0, 0),
    ("p4", "x", _ts(11), 400, 0, 0, 0),
    ("p5", "x", _ts(5), 300, 0, 0, 0),
    ("p5", "x", _ts(9), 301, 0, 0, 0),
    ("p6", "x", _ts(13, 23, 30), 20, 0, 0, 0),
    ("p7", "mastodon", _ts(12), 60, 3, 0, 0),
]


def _agency_metrics() -> list[dict[str, Any]]:
    rows = []
    for d in range(14):
        start = D0 + dt.timedelta(days=d)
        for agency, level, followers, change, engagement, platform in [
            ("HHS", 0, 10_000 + d, 1, 100, "all"),
            ("CDC", 1, 6000 + 2 * d, 2, 60, "all"),
            ("FDA", 1, 3000, 0, 30 if d >= 7 else 40, "all"),
            ("CDC-NCHS", 2, 1000, 0, 10, "all"),
            ("CDC", 1, 5000, 1, 1, "x"),
        ]:
            rows.append(
                {
                    "period": "day",
                    "period_start": start,
                    "agency": agency,
                    "level": level,
                    "platform": platform,
                    "accounts": 1,
                    "followers": followers,
                    "followers_change": change,
                    "posts_published": 1,
                    "engagement": engagement,
                }
            )
    # A week row must not be mixed with the days.
    rows.append({**rows[0], "period": "week", "period_start": END, "engagement": 10**9})
    return rows


ANOMALIES = [
    # platform, account, agency, handle, kind, metric, date, end_date, score, confidence, sentence
    ("x", "cdc1", "CDC", "CDCgov", "follower_jump", "followers", 8, 8, 8.0, 0.9, "jump"),
    ("x", "fda1", "FDA", "US_FDA", "engagement_collapse", "engagement", 11, 11, -12.0, 0.9, "collapse"),
    ("x", "fda1", "FDA", "US_FDA", "collection_gap", "collection", 9, 9, None, 1.0, "gap"),
    ("x", "cdc1", "CDC", "CDCgov", "posting_gap", "posts_published", 4, 7, -3.0, 0.5, "quiet"),
    ("x", "cdc1", "CDC", "CDCgov", "follower_drop", "followers", 2, 2, -9.0, 0.99, "earlier"),
    ("mastodon", "orph", None, "<img src=x onerror=alert(1)>", "engagement_spike", "engagement",
     10, 10, None, 0.95, "@<img src=x onerror=alert(1)> spiked"),
]  # fmt: skip


def build_period_lake(root: Path) -> Lake:
    """Write the tables into ``root/lake``."""
    lake = Lake(str(root / "lake"))
    lake.write("gold/daily_account_metrics", pl.DataFrame(_daily()))
    lake.write(
        "silver/accounts",
        pl.DataFrame(
            [
                {"platform": p, "account_id": a, "handle": h, "agency": ag, "parent_agency": up}
                for p, a, h, ag, up in ACCOUNTS
            ]
        ),
    )
    lake.write(
        "silver/posts",
        pl.DataFrame(
            [
                {
                    "platform": pf,
                    "post_id": pid,
                    "account_id": acc,
                    "created_at": created,
                    "post_type": kind,
                    "text": text,
                    "title": title,
                    "url": f"https://example.org/{pid}",
                    "is_deleted": deleted,
                }
                for pid, pf, acc, created, kind, text, title, deleted in POSTS
            ]
        ),
    )
    lake.write(
        "silver/post_metrics",
        pl.DataFrame(
            [
                {
                    "platform": pf,
                    "post_id": pid,
                    "account_id": "-",
                    "observed_at": at,
                    "last_observed_at": at,
                    "likes": lk,
                    "reposts": rp,
                    "replies": re,
                    "quotes": q,
                }
                for pid, pf, at, lk, rp, re, q in METRICS
            ],
            schema_overrides={"replies": pl.Int64, "quotes": pl.Int64},
        ),
    )
    lake.write("gold/agency_metrics", pl.DataFrame(_agency_metrics()))
    lake.write(
        "gold/anomalies",
        pl.DataFrame(
            [
                {
                    "platform": pf,
                    "account_id": acc,
                    "agency": ag,
                    "handle": h,
                    "kind": kind,
                    "metric": metric,
                    "date": D0 + dt.timedelta(days=d),
                    "end_date": D0 + dt.timedelta(days=e),
                    "days": e - d + 1,
                    "value": 1.0,
                    "score": score,
                    "confidence": conf,
                    "sentence": sentence,
                    "detected_at": NOW,
                }
                for pf, acc, ag, h, kind, metric, d, e, score, conf, sentence in ANOMALIES
            ],
            schema_overrides={"score": pl.Float64},
        ),
    )
    lake.write(
        "silver/account_snapshots",
        pl.DataFrame(
            [
                {"platform": "x", "account_id": "cdc1", "observed_at": _ts(0), "last_observed_at": _ts(13, 20)},
                {"platform": "x", "account_id": "fda1", "observed_at": _ts(0), "last_observed_at": _ts(12, 10)},
                {"platform": "mastodon", "account_id": "orph", "observed_at": _ts(0), "last_observed_at": _ts(13, 22)},
            ]
        ),
    )  # fmt: skip
    return lake
