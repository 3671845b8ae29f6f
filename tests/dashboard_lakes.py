"""Lakes for the dashboard tests: a small hand-written gold table, and a lake built by the real
pipeline from the simulated platforms collected day by day. The fixtures over them are in the
conftests (``world_lake`` in tests/conftest.py); tests import names from here (a module named
conftest is ambiguous)."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import polars as pl

from hhs_platform.lake import Lake
from hhs_platform.sandbox import World
from hhs_platform.sandbox.faults import FaultProfile
from hhs_platform.sandbox.history import collect_history
from hhs_platform.sandbox.world import Planted
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


HHS = "U.S. Department of Health and Human Services"
#: (agency, agency name, parent, platform, handle)
WORLD_ACCOUNTS: list[tuple[str, str, str | None, str, str]] = [
    ("HHS", HHS, None, "bluesky", "hhs.gov"),
    ("HHS", HHS, None, "mastodon", "hhs"),
    ("CDC", "Centers for Disease Control and Prevention", "HHS", "bluesky", "cdc.gov"),
    ("CDC", "Centers for Disease Control and Prevention", "HHS", "mastodon", "cdc"),
    ("CDC", "Centers for Disease Control and Prevention", "HHS", "youtube", "CDCstreamingHealth"),
    ("NIH", "National Institutes of Health", "HHS", "bluesky", "nih.gov"),
    ("NIH", "National Institutes of Health", "HHS", "youtube", "NIHOD"),
    ("FDA", "Food and Drug Administration", "HHS", "bluesky", "fda.gov"),
]
WORLD_REGISTRY = pl.DataFrame(
    [
        {
            "agency": agency,
            "agency_name": name,
            "parent_agency": parent,
            "platform": platform,
            "handle": handle,
            "platform_id": None,
            "url": f"https://example.org/{platform}/{handle}",
            "tier": 1 if agency in ("HHS", "CDC") else 2,
            "verified": False,
            "source": "test",
        }
        for agency, name, parent, platform, handle in WORLD_ACCOUNTS
    ],
    schema_overrides={"parent_agency": pl.Utf8, "platform_id": pl.Utf8},
)
WORLD_DAYS = 14
WORLD_PLANTED = [
    Planted("engagement_spike", "bluesky", "cdc.gov", dt.date(2026, 10, 20), 60),
    Planted("follower_drop", "mastodon", "cdc", dt.date(2026, 11, 10), 0.05),
    Planted("follower_jump", "bluesky", "hhs.gov", dt.date(2026, 11, 11), 0.04),
]
#: Post texts that must render as text everywhere (two posts of cdc.gov carry them).
XSS_TEXTS = (
    "<script>alert(1)</script> vaccine clinic #xsscheck",
    "<img src=x onerror=alert(2)> flu shots #xsscheck",
)
#: mastodon:hhs is not collected on these days (a collection gap).
WORLD_OUTAGE = {dt.date(2026, 11, 5), dt.date(2026, 11, 6)}


def build_world_lake(root: Path) -> str:
    """Collect the world day by day into ``root/lake`` (see ``collect_history``); its URI."""
    from hhs_platform.settings import Settings

    world = World(
        WORLD_REGISTRY,
        seed=11,
        platforms=("bluesky", "mastodon", "youtube"),
        planted=WORLD_PLANTED,
        history_days=45,
        deletion_rate=0.02,
    )
    cdc = next(a for a in world.accounts if a.registry_handle == "cdc.gov")
    recent = sorted((p for p in cdc.posts if not p.facets), key=lambda p: p.ts)[-5:-3]
    for post, text in zip(recent, XSS_TEXTS, strict=True):
        post.text = text

    def collected(at: dt.datetime) -> pl.DataFrame:
        if at.date() in WORLD_OUTAGE:
            return WORLD_REGISTRY.filter(
                ~((pl.col("platform") == "mastodon") & (pl.col("handle") == "hhs"))
            )
        return WORLD_REGISTRY

    lake = Lake(str(root / "lake"))
    history = collect_history(
        world,
        lake,
        Lake(str(root / "scratch")),
        days=WORLD_DAYS,
        registry=WORLD_REGISTRY,
        collected=collected,
        settings=Settings(_env_file=None, anomaly_min_history=5),  # type: ignore[call-arg]
        # Some listing pages carry broken copies of items: quarantine has rows by rule.
        faults=FaultProfile(malformed=0.15, seed=3),
    )
    assert not history.errors, history.errors
    return lake.uri


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
