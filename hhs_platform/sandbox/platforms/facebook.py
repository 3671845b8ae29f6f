"""Facebook Pages in the world: pages with numeric ids, their posts and shares; the Graph API."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.facebook import create_subapp
from hhs_platform.sandbox.generate import account_basics, clean_name, microblog
from hhs_platform.sandbox.model import Account, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row
from hhs_platform.sandbox.text import agency_domain

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World


def story_id(created: datetime, rng: random.Random) -> str:
    """The part of a post id after ``<page id>_``: 17 digits that grow with time."""
    return str(10_150_000_000_000_000 + int(created.timestamp()) * 1000 + rng.randrange(1000))


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one Page from a registry row: a username (``CDC``, ``nih.gov``) or a page id."""
    handle = str(row["handle"]).strip().lstrip("@")
    agency, agency_name, rng, _ = account_basics(row, seed)
    name = clean_name(agency_name)
    pid = (row.get("platform_id") or "").strip()
    page_id = pid if pid.isdigit() else handle if handle.isdigit() else str(
        rng.randint(100_000_000_000, 999_999_999_999_999))  # fmt: skip
    created = datetime(2008, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 3000 * 86400))
    return Account(
        platform="facebook",
        registry_handle=str(row["handle"]),
        handle=handle.lower(),
        account_id=page_id,
        agency=agency,
        agency_name=agency_name,
        display_name=name[:75],
        description=f"Official Facebook page of the {name}. Comment policy: hhs.gov/web/policies",
        domain=agency_domain(agency, None),
        created_at=created.replace(microsecond=0),
        followers0=int(rng.lognormvariate(math.log(120_000), 1.1)) + 500,
        growth_per_day=rng.uniform(-0.0001, 0.0008),
        # A page registered by id has no username (Graph then leaves ``username`` out).
        username=None if handle.isdigit() else handle,
        avatar_cid=ids.blob_cid(seed, "facebook", handle, "picture"),
        banner_cid=ids.blob_cid(seed, "facebook", handle, "cover"),
    )


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Every page's posts and shares of other pages' posts (Pages do not reply or quote).

    Post ids are ``<page id>_<story id>`` as Graph serves them; a share is the sharing page's
    own post (its ``parent_id`` is the shared post).
    """
    items = microblog(
        "facebook",
        accounts,
        seed,
        start,
        days,
        rate,
        new_id=story_id,
        shares=(0.0, 0.0, 0.08),
        per_day=(0.4, 2.5),
        whole_seconds=True,
    )
    renamed: dict[str, str] = {}
    for item in items:
        if isinstance(item, Post):
            renamed[item.post_id] = item.post_id = f"{item.account_id}_{item.post_id}"
    for item in items:
        if isinstance(item, Repost):
            item.uri = f"{item.account_id}_{item.uri}"
            item.subject = renamed[item.subject]
    return items


def fan_count(world: World, account: Account, at: datetime) -> int:
    """The page's likes: a little below its followers (the two drift apart over the years)."""
    followers = world.followers(account, at)
    return int(followers * (0.82 + 0.15 * ids.unit(world.seed, account.account_id, "fans")))


PLATFORM = Platform(
    name="facebook",
    serves_posts_count=False,
    metrics=("likes", "reposts", "replies"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted access tokens (empty: any non-empty token)
        "facebook_access_tokens": frozenset(),
        # calls per token (X-App-Usage) and per page (X-Page-Usage) that make 100 % of the
        # rolling window; past it Graph answers (#4) and (#32)
        "facebook_app_call_budget": 20_000,
        "facebook_page_call_budget": 4_800,
        "facebook_usage_window": 3600,
    },
)
