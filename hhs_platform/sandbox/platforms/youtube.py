"""YouTube in the world: channels (UC ids, legacy usernames) and their uploads; the Data API v3."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.formats import round_3_significant
from hhs_platform.sandbox.generate import DAY, account_basics, clean_name, day_times
from hhs_platform.sandbox.model import ORIGINAL, Account, Post
from hhs_platform.sandbox.platforms.base import Platform, Row
from hhs_platform.sandbox.text import agency_domain, compose_video
from hhs_platform.sandbox.youtube import create_subapp

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

_UC_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one channel from a registry row: a UC id (handle or platform_id) or a legacy username.

    Channels without a UC id get one, and a unique custom URL handle (``taken_handles``).
    """
    handle = str(row["handle"])
    agency, agency_name, rng, _ = account_basics(row, seed)
    name = clean_name(agency_name)
    domain = agency_domain(agency, None)
    pid = row.get("platform_id") or ""
    is_uc = bool(_UC_ID.match(pid)) or bool(_UC_ID.match(handle))
    channel_id = pid if _UC_ID.match(pid) else handle if _UC_ID.match(handle) else ""
    username = None if is_uc else handle
    base = (username or re.sub(r"[^a-z0-9]", "", agency.lower()) or "channel").lower()
    custom, n = base, 1
    while custom in taken_handles:
        n += 1
        custom = f"{base}{n}"
    taken_handles.add(custom)
    created = datetime(2006, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 3300 * 86400))
    return Account(
        platform="youtube",
        registry_handle=handle,
        handle=custom,
        account_id=channel_id or ids.youtube_channel_id(rng),
        agency=agency,
        agency_name=agency_name,
        display_name=name,
        description=f"The official YouTube channel of the {name}. Videos on health, science "
        f"and the programs we run.\n\nComment policy: https://www.hhs.gov/web/social-media/",
        domain=domain,
        created_at=created,
        followers0=int(rng.lognormvariate(math.log(40_000), 1.3)) + 200,
        growth_per_day=rng.uniform(0.0003, 0.003),
        hidden_followers=rng.random() < 0.08,
        username=username,
        avatar_cid=ids.blob_cid(seed, handle, "avatar"),
        banner_cid=ids.blob_cid(seed, handle, "banner"),
    )


def _duration(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.2:
        return rng.randint(15, 59)  # Shorts
    if roll < 0.8:
        return rng.randint(60, 600)
    return rng.randint(1200, 5400)  # webinars and briefings


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post]:
    """Generate every channel's uploads (about 2-4 a week each), oldest first."""
    out: list[Post] = []
    for acc in accounts:
        stream = (seed, "youtube", acc.registry_handle, "timeline")
        per_day = ids.stable_rng(*stream).uniform(2.0, 4.0) / 7 * rate
        for ts in day_times(stream, start, days, per_day, whole_seconds=True):
            vr = ids.stable_rng(seed, "youtube", acc.registry_handle, ts, "item")
            vid = ids.youtube_video_id(vr)
            text = compose_video(vr, acc.agency, acc.domain, acc.display_name, acc.handle)
            views = int(acc.followers0 * vr.uniform(0.005, 0.15) * vr.lognormvariate(0, 0.8))
            out.append(
                Post(
                    platform="youtube",
                    post_id=vid,
                    account_id=acc.account_id,
                    created_at=datetime.fromtimestamp(ts, UTC),
                    ts=ts,
                    kind=ORIGINAL,
                    text=text.description,
                    title=text.title,
                    tags=text.tags,
                    duration_s=_duration(vr),
                    definition="hd" if vr.random() < 0.9 else "sd",
                    caption=vr.random() < 0.8,
                    category_id=vr.choice(("27", "25", "28", "22")),
                    finals={
                        "views": views,
                        "likes": int(views * vr.uniform(0.005, 0.04)),
                        "replies": int(views * vr.uniform(0.0, 0.004)),
                    },
                    tau=vr.uniform(1, 6) * DAY,
                )
            )
    return out


def served_followers(world: World, account: Account, at: datetime) -> int | None:
    """subscriberCount: 3 significant figures, or nothing when the channel hides it."""
    if account.hidden_followers:
        return None
    return round_3_significant(world.followers(account, at))


PLATFORM = Platform(
    name="youtube",
    metrics=("likes", "replies", "views"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted keys (empty: any non-empty key); units per key per Pacific day (simulated clock)
        "youtube_api_keys": frozenset(),
        "youtube_daily_quota": 10_000,
    },
    served_followers=served_followers,
    edit_window_s=7 * 86400.0,  # descriptions can be edited any time; the world edits in a week
)
