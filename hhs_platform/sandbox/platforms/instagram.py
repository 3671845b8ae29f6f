"""Instagram in the world: business accounts and their media; Graph ``business_discovery``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.generate import account_basics, clean_name, day_times
from hhs_platform.sandbox.instagram import create_subapp
from hhs_platform.sandbox.model import ORIGINAL, Account, Embed, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row, growing_following
from hhs_platform.sandbox.text import agency_domain, compose_post

#: Share of media whose owner hides the like count (``like_count`` is then left out).
HIDDEN_LIKES_SHARE = 0.12


def likes_hidden(post_id: str) -> bool:
    """Whether the owner hid this media's like count (Graph omits ``like_count``, not 0)."""
    return ids.unit("instagram", post_id, "hide_like_count") < HIDDEN_LIKES_SHARE


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one business account from a registry row (usernames are lower case on Instagram)."""
    handle = str(row["handle"]).strip().lstrip("@")
    agency, agency_name, rng, created = account_basics(row, seed)
    name = clean_name(agency_name)
    pid = (row.get("platform_id") or "").strip()
    return Account(
        platform="instagram",
        registry_handle=str(row["handle"]),
        handle=handle.lower(),
        account_id=pid if pid.isdigit() else str(17_841_400_000_000_000 + rng.randrange(10**11)),
        agency=agency,
        agency_name=agency_name,
        display_name=name[:64],
        description=f"Official Instagram of the {name}. Privacy: hhs.gov/privacy",
        domain=agency_domain(agency, None),
        created_at=(created - timedelta(days=rng.randint(1000, 3000))).replace(microsecond=0),
        followers0=int(rng.lognormvariate(math.log(60_000), 1.0)) + 300,
        growth_per_day=rng.uniform(0.0, 0.0012),
        follows0=rng.randint(20, 600),
        follows_per_day=rng.uniform(0.0, 0.05),
        username=handle.lower(),
        avatar_cid=ids.blob_cid(seed, "instagram", handle, "avatar"),
    )


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Every account's media: images, reels and carousels (2-8 children), oldest first."""
    out: list[Post | Repost] = []
    used: set[str] = set()
    mentions = {a.account_id: [(b.handle, b.account_id) for b in accounts if b is not a]
                for a in accounts}  # fmt: skip
    for acc in accounts:
        stream = (seed, "instagram", acc.registry_handle, "media")
        per_day = ids.stable_rng(*stream).uniform(0.3, 1.5) * rate
        for ts in day_times(stream, start, days, per_day, True):
            rng = ids.stable_rng(seed, "instagram", acc.registry_handle, ts, "item")
            media_id = str(17_900_000_000_000_000 + int(ts) * 1000 + rng.randrange(1000))
            while media_id in used:
                media_id = str(int(media_id) + 1)
            used.add(media_id)
            text = compose_post(rng, acc.agency, acc.domain, ORIGINAL, mentions[acc.account_id])
            roll = rng.random()
            if roll < 0.25:
                embed = Embed("video", (ids.blob_cid(seed, media_id, "reel"),),
                              (rng.randint(8_000, 90_000),), (1080, 1920))  # fmt: skip
            else:
                n = rng.randint(2, 8) if roll < 0.45 else 1
                embed = Embed("images", tuple(ids.blob_cid(seed, media_id, i) for i in range(n)),
                              tuple(rng.randint(90_000, 900_000) for _ in range(n)),
                              rng.choice(((1080, 1080), (1080, 1350))))  # fmt: skip
            likes = int(acc.followers0 * rng.uniform(0.002, 0.03) * rng.lognormvariate(0, 0.6))
            out.append(
                Post(
                    platform="instagram",
                    post_id=media_id,
                    account_id=acc.account_id,
                    created_at=datetime.fromtimestamp(ts, UTC),
                    ts=ts,
                    kind=ORIGINAL,
                    text=text.text if rng.random() < 0.95 else "",
                    facets=text.facets,
                    embed=embed,
                    finals={"likes": likes, "replies": int(likes * rng.uniform(0.005, 0.06))},
                    tau=rng.uniform(6, 48) * 3600,
                )
            )
    out.sort(key=lambda p: (p.ts, p.account_id))
    return out


PLATFORM = Platform(
    name="instagram",
    hidden_metric=lambda post_id, metric: metric == "likes" and likes_hidden(post_id),
    metrics=("likes", "replies"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted access tokens (empty: any non-empty token)
        "instagram_access_tokens": frozenset(),
        # the IG business accounts allowed to ask business_discovery (empty: any numeric id)
        "instagram_business_account_ids": frozenset(),
        # calls per token (X-App-Usage) and per asking account (X-Business-Use-Case-Usage)
        # that make 100 % of the rolling window; past the second, Graph answers (#80002)
        "instagram_app_call_budget": 20_000,
        "instagram_buc_call_budget": 4_800,
        "instagram_usage_window": 3600,
    },
    following=growing_following,
)
