"""Reddit in the world: users (t2) with profile subreddits, submissions and crossposts (t3)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.generate import DAY, account_basics, clean_name, day_times, media_embed
from hhs_platform.sandbox.model import ORIGINAL, QUOTE, Account, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row
from hhs_platform.sandbox.reddit import create_subapp
from hhs_platform.sandbox.text import agency_domain, compose_post

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
#: A submission id near the start of November 2026 and how fast Reddit hands them out
#: (``qxzsno`` in November 2021, ``1kq...`` in 2025: about 15 new submissions a second).
_T3_ANCHOR_TS = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
_T3_ANCHOR_ID = int("1q00000", 36)
_T3_PER_SECOND = 15


def base36(n: int) -> str:
    """Reddit's id alphabet: lowercase base 36."""
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


def username_of(handle: str) -> str:
    """The user name of ``u/name``, ``/user/name``, ``name`` or a profile URL."""
    text = handle.strip()
    if text.startswith(("http://", "https://")):
        text = urlsplit(text).path
    parts = [p for p in text.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0].lower() in ("u", "user"):
        return parts[1]
    return parts[-1].lstrip("@") if parts else text


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one Reddit user from a registry row (its ``t2_`` id from ``platform_id`` if given)."""
    handle = str(row["handle"])
    agency, agency_name, rng, _ = account_basics(row, seed)
    name = clean_name(agency_name)
    username = username_of(handle)
    pid = (row.get("platform_id") or "").strip()
    user_id = pid.removeprefix("t2_").lower()
    if not user_id or any(c not in _B36 for c in user_id):
        user_id = base36(rng.randint(36**7, 36**8 - 1))
    created = datetime(2012, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 4000 * 86400))
    return Account(
        platform="reddit",
        registry_handle=handle,
        handle=username.lower(),
        account_id=f"t2_{user_id}",
        agency=agency,
        agency_name=agency_name,
        display_name=name[:100],
        description=f"Official Reddit account of the {name}. Health news, AMAs and resources.",
        domain=agency_domain(agency, None),
        created_at=created.replace(microsecond=0),
        # the profile subreddit's subscribers: modest audiences on Reddit
        followers0=int(rng.lognormvariate(math.log(3_000), 1.0)) + 50,
        growth_per_day=rng.uniform(0.0, 0.002),
        username=username,
        avatar_cid=ids.blob_cid(seed, "reddit", handle, "avatar"),
        banner_cid=ids.blob_cid(seed, "reddit", handle, "banner"),
    )


def _new_id(ts: float, rng: random.Random, used: set[str]) -> str:
    n = _T3_ANCHOR_ID + int((ts - _T3_ANCHOR_TS) * _T3_PER_SECOND) + rng.randrange(_T3_PER_SECOND)
    while base36(n) in used:  # another account's submission in the same instant
        n += 1
    rid = base36(n)
    used.add(rid)
    return rid


def title_of(text: str) -> str:
    """A submission title: the post's first sentence, without hashtags, at most 300 characters."""
    first = text.split("\n", 1)[0].split(". ", 1)[0].split(" Learn more:", 1)[0]
    words = [w for w in first.split() if not w.startswith("#")]
    return " ".join(words).rstrip(".")[:300] or "Update"


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Every user's submissions (self, link, image, gallery, video) and crossposts, oldest first.

    A crosspost is a submission of its own (title, votes, comments) pointing at an earlier one
    (``quote_of``); the parent's ``num_crossposts`` counts it (``refs["reposts"]``). Submissions
    sit on whole seconds (``created_utc`` is an epoch float with ``.0``).
    """
    plan: list[tuple[float, str, Account]] = []
    for acc in accounts:
        stream = (seed, "reddit", acc.registry_handle, "timeline")
        daily = ids.stable_rng(*stream).uniform(0.3, 1.5) * rate
        for ts in day_times(stream, start, days, daily, whole_seconds=True):
            kind = QUOTE if ids.unit(*stream, ts, "kind") < 0.15 else ORIGINAL
            plan.append((ts, kind, acc))
    plan.sort(key=lambda p: (p[0], p[2].handle))
    used: set[str] = set()
    pool: list[Post] = []
    out: list[Post | Repost] = []
    for ts, kind, acc in plan:
        rng = ids.stable_rng(seed, "reddit", acc.registry_handle, ts, "item")
        target: Post | None = None
        if kind == QUOTE:
            fresh = [p for p in pool[-200:] if p.kind == ORIGINAL and ts - p.ts < 7 * DAY]
            target = rng.choice(fresh) if fresh else None
            kind = QUOTE if target is not None else ORIGINAL
        text = compose_post(rng, acc.agency, acc.domain, ORIGINAL, ())
        post_id = "t3_" + _new_id(ts, rng, used)
        score = int(acc.followers0 * rng.uniform(0.003, 0.04) * rng.lognormvariate(0, 0.8))
        post = Post(
            platform="reddit",
            post_id=post_id,
            account_id=acc.account_id,
            created_at=datetime.fromtimestamp(ts, UTC),
            ts=ts,
            kind=kind,
            text="" if target is not None else text.text,
            title=title_of(target.title if target is not None else text.text),
            facets=() if target is not None else text.facets,
            embed=None if target is not None else media_embed(rng, seed, post_id, text.link),
            finals={
                "likes": score,
                "replies": int(score * rng.uniform(0.05, 0.6)),
                # crossposts by people outside the world; the world's own come through refs
                "reposts": int(score * rng.uniform(0.0, 0.02)),
            },
            tau=rng.uniform(3, 30) * 3600,
        )
        if target is not None:
            post.quote_of = target.post_id
            target.refs.setdefault("reposts", []).append(ts)
        pool.append(post)
        out.append(post)
    return out


PLATFORM = Platform(
    name="reddit",
    serves_posts_count=False,
    metrics=("likes", "reposts", "replies"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # accepted bearer tokens (empty: any non-empty token)
        "reddit_access_tokens": frozenset(),
        # 100 queries per minute per OAuth client averaged over 10 minutes: 1000 per 600 s
        "reddit_rate_limit": 1000,
        "reddit_rate_window": 600,
        # user names (any case) whose accounts are suspended: about shows only is_suspended
        "reddit_suspended_users": frozenset(),
    },
)
