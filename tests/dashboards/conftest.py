"""A small gold table written to a real Delta lake in tmp_path, shared by the dashboard tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hhs_platform.lake import Lake
from schemas import table_spec

GOLD = "gold/daily_account_metrics"
FIRST_DAY = dt.date(2026, 3, 1)
DAYS = 10
SCRIPT_HANDLE = "<script>alert(1)</script>"
IMG_HANDLE = "<img src=x onerror=alert(2)>"

# (platform, account_id, handle, agency, followers on day 0, daily follower gain, daily engagement)
ACCOUNTS: list[tuple[str, str, str, str | None, int, int, int]] = [
    ("x", "cdc-x-1", "CDCgov", "CDC", 1_000_000, 1_000, 500),
    ("x", "cdc-x-2", "CDCemergency", "CDC", 234_567, 100, 50),
    ("bluesky", "cdc-bs-1", "cdc.gov", "CDC", 40_000, 250, 120),
    ("x", "fda-x-1", "US_FDA", "FDA", 700_000, -20, 300),
    ("youtube", "nih-yt-1", "NIHod", "NIH", 150_000, 30, 80),
    ("bluesky", "atsdr-bs-1", SCRIPT_HANDLE, "ATSDR", 5_000, 5, 7),
    ("bluesky", "atsdr-bs-2", IMG_HANDLE, "ATSDR", 10, 0, 1),
    ("mastodon", "orphan-1", "someone", None, 900, 1, 2),
]


def gold_rows(days: int = DAYS) -> list[dict[str, Any]]:
    """Rows of gold/daily_account_metrics, as plain dicts (the tests compute expectations on them)."""
    rows = []
    for day in range(days):
        date = FIRST_DAY + dt.timedelta(days=day)
        for platform, account_id, handle, agency, base, gain, eng in ACCOUNTS:
            posts = 1 + (day + len(account_id)) % 3
            likes, reposts, replies, quotes = eng * day, eng, day, 1
            rows.append(
                {
                    "date": date,
                    "platform": platform,
                    "account_id": account_id,
                    "handle": handle,
                    "agency": agency,
                    "parent_agency": None if agency in (None, "HHS") else "HHS",
                    "followers": base + gain * day,
                    "followers_change": None if day == 0 else gain,
                    "following": 10,
                    "posts_count": 1000 + day,
                    "posts_published": posts,
                    "likes": likes,
                    "reposts": reposts,
                    "replies": replies,
                    "quotes": quotes,
                    "views": None if platform != "youtube" else 10 * eng,
                    "engagement": likes + reposts + replies + quotes,
                    "engagement_rate": (likes + reposts + replies + quotes) / (base + gain * day),
                }
            )
    return rows


def gold_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The rows as a frame with exactly the table's schema."""
    return pl.DataFrame(rows, schema=table_spec(GOLD).schema)


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return gold_rows()


@pytest.fixture
def lake_uri(tmp_path: Path, rows: list[dict[str, Any]]) -> str:
    """A lake in tmp_path holding the gold rows."""
    uri = str(tmp_path / "lake")
    Lake(uri).write(GOLD, gold_frame(rows))
    return uri


@pytest.fixture
def lake(lake_uri: str) -> Lake:
    return Lake(lake_uri)
