"""X in the world: users with numeric ids, tweets, replies, quotes and retweets; the API v2."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.generate import account_basics, clean_name, microblog
from hhs_platform.sandbox.model import Account, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row, growing_following
from hhs_platform.sandbox.text import agency_domain
from hhs_platform.sandbox.x import create_subapp

#: Twitter's snowflake epoch (2010-11-04T01:42:54.657Z) in milliseconds.
_TWEPOCH_MS = 1_288_834_974_657


def snowflake(created: datetime, rng: random.Random) -> str:
    """A tweet id: milliseconds since the X epoch above 22 bits of worker and sequence."""
    millis = round(created.timestamp() * 1000) - _TWEPOCH_MS
    return str((millis << 22) | rng.randrange(1 << 22))


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one X user from a registry row (the numeric id from ``platform_id`` if given)."""
    handle = str(row["handle"])
    agency, agency_name, rng, _ = account_basics(row, seed)
    name = clean_name(agency_name)
    domain = agency_domain(agency, None)
    username = handle.lstrip("@")
    pid = row.get("platform_id") or ""
    created = datetime(2008, 6, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 2500 * 86400))
    return Account(
        platform="x",
        registry_handle=handle,
        handle=username.lower(),
        account_id=pid if pid.isdigit() else str(rng.randint(10_000_000, 3_000_000_000)),
        agency=agency,
        agency_name=agency_name,
        display_name=name[:50],
        description=f"Official account of the {name}. Follow for health news and updates.",
        domain=domain,
        created_at=created.replace(microsecond=0),
        followers0=int(rng.lognormvariate(math.log(150_000), 1.2)) + 1000,
        growth_per_day=rng.uniform(-0.0002, 0.001),
        follows0=rng.randint(50, 1500),
        follows_per_day=rng.uniform(0.0, 0.2),
        username=username,
        avatar_cid=ids.blob_cid(seed, "x", handle, "avatar"),
        banner_cid=ids.blob_cid(seed, "x", handle, "banner"),
    )


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Every user's tweets (on whole seconds, as X serves them), replies, quotes and retweets."""
    return microblog(
        "x",
        accounts,
        seed,
        start,
        days,
        rate,
        new_id=snowflake,
        shares=(0.12, 0.06, 0.15),
        per_day=(0.5, 3.0),
        whole_seconds=True,
    )


PLATFORM = Platform(
    name="x",
    metrics=("likes", "reposts", "replies", "quotes", "views"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted bearer tokens (empty: any non-empty token)
        "x_bearer_tokens": frozenset(),
        # requests per token per 15-minute window, by endpoint (app-auth limits)
        "x_rate_limits": {"users_by_username": 300, "users": 300, "users_tweets": 1500},
        "x_rate_window": 900,
    },
    following=growing_following,
    reposts_in_posts_count=True,
    edit_window_s=3600.0,  # X: edits within an hour of posting
)
