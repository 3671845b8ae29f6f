"""Flickr in the world: members (NSIDs, path aliases) and their photostreams; the REST API."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.flickr import create_subapp
from hhs_platform.sandbox.generate import account_basics, clean_name, day_times, poisson
from hhs_platform.sandbox.model import ORIGINAL, Account, Embed, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row
from hhs_platform.sandbox.text import TOPICS, agency_domain, agency_key, agency_topics

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

NSID_RE = re.compile(r"^\d+@N\d{2}$")
#: A photo id near the start of November 2026 and how fast Flickr hands them out (about 28 a
#: second: 50.0 billion in mid-2020, 53.3 billion in late 2023).
_PHOTO_ANCHOR_TS = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
_PHOTO_ANCHOR_ID = 55_900_000_000
_PHOTOS_PER_SECOND = 28

_TITLES = (
    "{agency} {topic} event",
    "{topic}: {agency} staff at work",
    "{agency} Director visit",
    "DSC_{n:04d}",
    "{agency} {topic} outreach",
    "Press conference on {topic}",
)


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one member from a registry row: a path alias (``hhsgov``) or an NSID handle.

    The NSID comes from ``platform_id`` or an NSID-shaped handle, else it is generated. Members
    registered by NSID have no path alias. ``username`` is the member's screen name (unique).
    """
    handle = str(row["handle"]).strip().rstrip("/")
    if "flickr.com/" in handle:
        handle = handle.split("flickr.com/", 1)[1].split("/")[1]
    agency, agency_name, rng, created = account_basics(row, seed)
    name = clean_name(agency_name)
    pid = (row.get("platform_id") or "").strip()
    nsid = (pid if NSID_RE.match(pid) else handle if NSID_RE.match(handle)
            else f"{rng.randint(10_000_000, 199_999_999)}@N0{rng.randint(2, 8)}")  # fmt: skip
    alias = None if NSID_RE.match(handle) else handle
    screen = base = agency_key(agency) if alias is None else alias
    n = 1
    while screen.lower() in taken_handles:
        n += 1
        screen = f"{base}{n}"
    taken_handles.add(screen.lower())
    return Account(
        platform="flickr",
        registry_handle=str(row["handle"]),
        handle=(alias or nsid).lower(),
        account_id=nsid,
        agency=agency,
        agency_name=agency_name,
        display_name=name,
        description=f"Official photostream of the {name}. Photos are in the public domain "
        f"unless noted.",
        domain=agency_domain(agency, None),
        created_at=(created - timedelta(days=rng.randint(1500, 4500))).replace(microsecond=0),
        # the audience size (Flickr serves no follower count; it scales views and faves)
        followers0=int(rng.lognormvariate(math.log(2_000), 0.9)) + 100,
        growth_per_day=rng.uniform(0.0, 0.001),
        username=screen,
        instance=alias or "",  # the path alias ("" when the member has none)
        avatar_cid=ids.blob_cid(seed, "flickr", handle, "buddyicon"),
    )


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Upload sessions (a handful of photos a second apart, sometimes a video), oldest first."""
    out: list[Post | Repost] = []
    used: set[int] = set()
    sessions: list[tuple[float, Account]] = []
    for acc in accounts:
        stream = (seed, "flickr", acc.registry_handle, "uploads")
        per_day = ids.stable_rng(*stream).uniform(0.15, 0.6) * rate
        sessions += [(ts, acc) for ts in day_times(stream, start, days, per_day, True)]
    sessions.sort(key=lambda s: (s[0], s[1].handle))
    for ts0, acc in sessions:
        rng = ids.stable_rng(seed, "flickr", acc.registry_handle, ts0, "session")
        topic = TOPICS[rng.choice(agency_topics(acc.agency))]
        title = rng.choice(_TITLES)
        for i in range(1 + poisson(rng, 3.0)):
            ts = ts0 + i
            n = _PHOTO_ANCHOR_ID + int((ts - _PHOTO_ANCHOR_TS) * _PHOTOS_PER_SECOND)
            n += rng.randrange(_PHOTOS_PER_SECOND)
            while n in used:
                n += 1
            used.add(n)
            photo_id = str(n)
            video = rng.random() < 0.05
            w, h = rng.choice(((6000, 4000), (4000, 6000), (5472, 3648), (1920, 1080)))
            if video:
                w, h = 1920, 1080
            views = int(acc.followers0 * rng.uniform(0.02, 0.4) * rng.lognormvariate(0, 0.8))
            faves = int(views * rng.uniform(0.0, 0.03))
            out.append(
                Post(
                    platform="flickr",
                    post_id=photo_id,
                    account_id=acc.account_id,
                    created_at=datetime.fromtimestamp(ts, UTC),
                    ts=ts,
                    kind=ORIGINAL,
                    text=rng.choice(topic.sentences) if rng.random() < 0.7 else "",
                    title=title.format(
                        agency=agency_key(acc.agency),
                        topic=topic.name.replace("_", " "),
                        n=rng.randint(1, 9999),
                    ),
                    tags=(
                        *(t.lower() for t in rng.sample(topic.tags, min(2, len(topic.tags)))),
                        agency_key(acc.agency).lower(),
                    ),
                    embed=Embed(
                        "video" if video else "images",
                        (ids.blob_cid(seed, photo_id),),
                        (rng.randint(20_000, 180_000) if video else rng.randint(2, 12) * 10**6,),
                        (w, h),
                    ),
                    duration_s=rng.randint(20, 180) if video else 0,
                    finals={
                        "views": views,
                        "likes": faves,
                        "replies": int(faves * rng.uniform(0.0, 0.15)),
                    },
                    tau=rng.uniform(12, 96) * 3600,
                )
            )
    return out


def no_followers(world: World, account: Account, at: datetime) -> int | None:
    """Flickr's public API has no follower count for a member."""
    return None


PLATFORM = Platform(
    name="flickr",
    metrics=("likes", "replies", "views"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted API keys (empty: any non-empty key)
        "flickr_api_keys": frozenset(),
        # the documented 3,600 queries per key per hour
        "flickr_rate_limit": 3600,
        "flickr_rate_window": 3600,
    },
    served_followers=no_followers,
)
