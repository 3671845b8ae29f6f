"""LinkedIn in the world: organization pages with numeric ids, posts and reshares (URN ids)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.generate import account_basics, clean_name, microblog
from hhs_platform.sandbox.linkedin import create_subapp
from hhs_platform.sandbox.model import Account, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row
from hhs_platform.sandbox.text import agency_domain


def post_urn(created: datetime, rng: random.Random) -> str:
    """A post URN: ``urn:li:share:`` (API and scheduler posts) or ``urn:li:ugcPost:`` (posts
    made in the page admin UI), over an id with the millisecond time above 22 bits."""
    kind = "ugcPost" if rng.random() < 0.3 else "share"
    return f"urn:li:{kind}:{(round(created.timestamp() * 1000) << 22) | rng.randrange(1 << 22)}"


def vanity_of(handle: str) -> str:
    """The vanity name in a registry handle: a bare name or a /company/ or /showcase/ URL."""
    text = handle.strip().rstrip("/")
    for marker in ("/company/", "/showcase/", "/school/"):
        if marker in text:
            return text.split(marker, 1)[1].split("/", 1)[0].split("?", 1)[0]
    return text.lstrip("@")


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one organization page from a registry row (its numeric id from ``platform_id``)."""
    handle = str(row["handle"])
    agency, agency_name, rng, _ = account_basics(row, seed)
    name = clean_name(agency_name)
    vanity = vanity_of(handle)
    pid = (row.get("platform_id") or "").strip().removeprefix("urn:li:organization:")
    created = datetime(2009, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 3000))
    return Account(
        platform="linkedin",
        registry_handle=handle,
        handle=vanity.lower(),
        account_id=pid if pid.isdigit() else str(rng.randint(10_000, 99_999_999)),
        agency=agency,
        agency_name=agency_name,
        display_name=name,
        description=f"The official LinkedIn page of the {name}. Careers, research and public "
        "health news.",
        domain=agency_domain(agency, None),
        created_at=created,
        followers0=int(rng.lognormvariate(math.log(60_000), 1.2)) + 800,
        growth_per_day=rng.uniform(0.0002, 0.002),
        username=vanity,
        avatar_cid=ids.blob_cid(seed, "linkedin", handle, "logo"),
        banner_cid=ids.blob_cid(seed, "linkedin", handle, "cover"),
    )


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Page posts and reshares of other pages' posts (pages do not reply or quote)."""
    return microblog(
        "linkedin",
        accounts,
        seed,
        start,
        days,
        rate,
        new_id=post_urn,
        shares=(0.0, 0.0, 0.10),
        per_day=(0.3, 1.5),
    )


PLATFORM = Platform(
    name="linkedin",
    serves_posts_count=False,
    metrics=("likes", "reposts", "replies", "views"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted member tokens, each an ADMINISTRATOR of every page (empty: any token)
        "linkedin_access_tokens": frozenset(),
        # calls per token per UTC day, by resource (the member-level daily throttles)
        "linkedin_daily_limits": {
            "organizations": 100_000,
            "networkSizes": 100_000,
            "posts": 100_000,
            "organizationalEntityShareStatistics": 100_000,
        },
        # how many monthly versions stay active (LinkedIn sunsets each after about a year)
        "linkedin_active_versions": 12,
    },
)
