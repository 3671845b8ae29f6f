"""Mastodon (and Truth Social, a Mastodon fork) in the world: accounts, statuses and reblogs."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.generate import account_basics, clean_name, microblog
from hhs_platform.sandbox.mastodon import create_subapp
from hhs_platform.sandbox.model import Account, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row, growing_following
from hhs_platform.sandbox.text import agency_domain

#: The instance an account without ``@domain`` in its registry handle lives on.
DEFAULT_INSTANCES = {"mastodon": "mastodon.social", "truthsocial": "truthsocial.com"}


def snowflake(created: datetime, rng: random.Random) -> str:
    """A Mastodon id: milliseconds since 1970 above 16 bits of sequence."""
    return str((round(created.timestamp() * 1000) << 16) | rng.randrange(1 << 16))


def make_account(platform: str, row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one account from a registry row: ``user``, ``@user`` or ``@user@instance``."""
    handle = str(row["handle"])
    agency, agency_name, rng, created = account_basics(row, seed)
    name = clean_name(agency_name)
    user, _, instance = handle.lstrip("@").partition("@")
    pid = row.get("platform_id") or ""
    created = created - timedelta(days=rng.randint(0, 600))
    return Account(
        platform=platform,
        registry_handle=handle,
        handle=user.lower(),
        account_id=pid if pid.isdigit() else snowflake(created, rng),
        agency=agency,
        agency_name=agency_name,
        display_name=name[:30],
        description=f"Official account of the {name}. Health news and updates.",
        domain=agency_domain(agency, None),
        created_at=created.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC),
        followers0=int(rng.lognormvariate(math.log(8_000), 1.0)) + 100,
        growth_per_day=rng.uniform(0.0002, 0.003),
        follows0=rng.randint(0, 300),
        follows_per_day=rng.uniform(0.0, 0.1),
        username=user,
        instance=(instance or DEFAULT_INSTANCES[platform]).lower(),
        avatar_cid=ids.blob_cid(seed, platform, handle, "avatar"),
        banner_cid=ids.blob_cid(seed, platform, handle, "banner"),
    )


def generate(
    platform: str,
    accounts: Sequence[Account],
    seed: int,
    start: datetime,
    days: int,
    rate: float,
) -> list[Post | Repost]:
    """Statuses, replies and reblogs (no quote posts: most instances do not have them yet)."""
    return microblog(
        platform, accounts, seed, start, days, rate, new_id=snowflake, shares=(0.10, 0.0, 0.15)
    )


def _platform(name: str) -> Platform:
    return Platform(
        name=name,
        metrics=("likes", "reposts", "replies", "quotes"),
        make_account=partial(make_account, name),
        generate=partial(generate, name),
        create_subapp=partial(create_subapp, platform=name),
        config={
            # requests per client IP per window (rack-attack's 300 / 5 min), window in seconds
            f"{name}_rate_limit": 300,
            f"{name}_rate_window": 300,
        },
        following=growing_following,
        reposts_in_posts_count=True,
        edit_window_s=7 * 86400.0,  # no limit on Mastodon; the world edits within a week
    )


MASTODON = _platform("mastodon")
TRUTHSOCIAL = _platform("truthsocial")
