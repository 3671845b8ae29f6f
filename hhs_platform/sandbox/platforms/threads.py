"""Threads in the world: profiles with numeric user ids, threads, quote posts and reposts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.generate import account_basics, clean_name, microblog
from hhs_platform.sandbox.model import Account, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row
from hhs_platform.sandbox.text import agency_domain
from hhs_platform.sandbox.threads import create_subapp

#: Instagram's id epoch (2011-08-24T21:07:01.721Z) in milliseconds; Threads media ids share it.
_IG_EPOCH_MS = 1_314_220_021_721


def media_id(created: datetime, rng: random.Random) -> str:
    """A Threads media id: milliseconds since the Instagram epoch above 23 bits of shard/sequence."""
    millis = round(created.timestamp() * 1000) - _IG_EPOCH_MS
    return str((millis << 23) | rng.randrange(1 << 23))


def username_of(handle: str) -> str:
    """The user name in ``@name``, ``name`` or a threads.net / threads.com profile URL."""
    text = handle.strip().rstrip("/")
    for host in ("threads.net/", "threads.com/"):
        if host in text:
            text = text.split(host, 1)[1].split("/", 1)[0]
    return text.lstrip("@")


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one Threads profile from a registry row (its numeric id from ``platform_id``)."""
    handle = str(row["handle"])
    agency, agency_name, rng, created = account_basics(row, seed)
    name = clean_name(agency_name)
    username = username_of(handle)
    pid = (row.get("platform_id") or "").strip()
    return Account(
        platform="threads",
        registry_handle=handle,
        handle=username.lower(),
        account_id=pid if pid.isdigit() else str(rng.randint(10**16, 4 * 10**16)),
        agency=agency,
        agency_name=agency_name,
        display_name=name[:30],
        description=f"Official Threads account of the {name}. Health news and updates.",
        domain=agency_domain(agency, None),
        # Threads opened in July 2023.
        created_at=max(created, datetime(2023, 7, 5, tzinfo=UTC)),
        followers0=int(rng.lognormvariate(math.log(40_000), 1.1)) + 500,
        growth_per_day=rng.uniform(0.0002, 0.003),
        username=username,
        avatar_cid=ids.blob_cid(seed, "threads", handle, "avatar"),
    )


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Threads, quote posts and reposts on whole seconds (as ``timestamp`` serves them).

    No replies: ``/{user-id}/threads`` lists a profile's threads only (its replies are under
    ``/{user-id}/replies``, which the collection does not read), so the truth holds what the
    threads edge serves.
    """
    return microblog(
        "threads",
        accounts,
        seed,
        start,
        days,
        rate,
        new_id=media_id,
        shares=(0.0, 0.08, 0.12),
        per_day=(0.5, 2.5),
        whole_seconds=True,
    )


PLATFORM = Platform(
    name="threads",
    serves_posts_count=False,
    metrics=("likes", "reposts", "replies", "quotes", "views"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # access token -> user name of the profile it belongs to; empty: a token is accepted
        # when it equals a user name (so a demo needs no table)
        "threads_access_tokens": {},
        # calls per token in a rolling window (Meta's 24-hour budget, scaled down)
        "threads_rate_limit": 4800,
        "threads_rate_window": 86400,
    },
)
