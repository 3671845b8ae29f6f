"""Shared generation helpers: seeded posting instants, account basics, a microblog timeline."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.model import ORIGINAL, QUOTE, REPLY, REPOST, Account, Embed, Post, Repost
from hhs_platform.sandbox.text import compose_post

Row = dict[str, str | None]

DAY = 86400.0


def clean_name(agency_name: str) -> str:
    """The display form of an agency name: trailing parenthetical dropped, at most 64 chars."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", agency_name).strip()[:64] or agency_name[:64]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth's method is fine for the small daily rates used here)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def ms(ts: float) -> datetime:
    """The UTC instant of a unix timestamp, rounded to the millisecond."""
    return datetime.fromtimestamp(round(ts * 1000) / 1000, UTC)


def pick(rng: random.Random, items: Sequence[Post]) -> Post | None:
    """A random item, or None from an empty sequence."""
    return rng.choice(items) if items else None


def day_times(
    stream: tuple[object, ...], start: datetime, days: int, per_day: float, whole_seconds: bool
) -> list[float]:
    """Posting instants: a Poisson count per day, mostly in U.S. working hours (13-23 UTC).

    Each calendar day draws from its own stream, so a day's posts are the same whatever window
    the world covers (a world built tomorrow agrees with today's on the days both hold).
    """
    out: set[float] = set()
    for d in range(days):
        day = start + timedelta(days=d)
        rng = ids.stable_rng(*stream, day.date().isoformat())
        day0 = day.timestamp()
        for _ in range(poisson(rng, per_day)):
            hour = rng.uniform(13, 23) if rng.random() < 0.85 else rng.uniform(0, 24)
            ts = day0 + hour * 3600
            ts = float(int(ts)) if whole_seconds else round(ts * 1000) / 1000
            while ts in out:  # the author-feed cursor is a timestamp, so keep them unique
                ts += 1.0 if whole_seconds else 0.001
            out.add(ts)
    return sorted(out)


def account_basics(row: Row, seed: int) -> tuple[str, str, random.Random, datetime]:
    """Agency code, agency name, the account's own random stream and a 2023-24 creation time."""
    platform = str(row["platform"]).lower()
    handle = str(row["handle"])
    agency = str(row.get("agency") or "HHS")
    agency_name = str(row.get("agency_name") or agency)
    rng = ids.stable_rng(seed, platform, handle, "account")
    created = datetime(2023, 4, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 600 * 86400))
    return agency, agency_name, rng, created


#: ``(rng, seed, post_id, link) -> media or a link card``.
EmbedMaker = Callable[[random.Random, int, str, "str | None"], "Embed | None"]


def media_embed(rng: random.Random, seed: int, post_id: str, link: str | None) -> Embed | None:
    """Photos (about a fifth of posts), a video (one in twenty) or nothing."""
    roll = rng.random()
    if roll < 0.2:
        n = rng.choice((1, 1, 1, 2, 4))
        return Embed(
            "images",
            tuple(ids.blob_cid(seed, post_id, "img", i) for i in range(n)),
            tuple(rng.randint(80_000, 950_000) for _ in range(n)),
            rng.choice(((1200, 675), (1080, 1080), (1080, 1350))),
            alts=tuple(
                rng.choice(("Infographic with health tips", "Photo of a clinic", ""))
                for _ in range(n)
            ),
        )
    if roll < 0.25:
        return Embed(
            "video",
            (ids.blob_cid(seed, post_id, "video"),),
            (rng.randint(15_000, 180_000),),  # duration in ms
            rng.choice(((1920, 1080), (1080, 1920))),
        )
    return None


def microblog(
    platform: str,
    accounts: Sequence[Account],
    seed: int,
    start: datetime,
    days: int,
    rate: float,
    *,
    new_id: Callable[[datetime, random.Random], str],
    shares: tuple[float, float, float] = (0.10, 0.08, 0.12),
    per_day: tuple[float, float] = (1.0, 4.0),
    whole_seconds: bool = False,
) -> list[Post | Repost]:
    """Originals, replies, quotes and reposts of every account on one platform, oldest first.

    Args:
        platform: the slug written on every post.
        accounts: the platform's accounts.
        seed: the world's seed.
        start: the first day of the window.
        days: days in the window.
        rate: multiplier on every account's posting rate.
        new_id: ``(created, rng) -> id`` for posts and reposts (time-ordered ids).
        shares: the share of replies, quotes and reposts among an account's items.
        per_day: the range of an account's items per day.
        whole_seconds: post instants on whole seconds (X) instead of milliseconds.

    Replies, quotes and reposts point at earlier posts of the same platform; reposts carry their
    own id (a retweet's tweet id, a reblog's status id) in ``Repost.uri``.
    """
    reply_share, quote_share, repost_share = shares
    plan: list[tuple[float, str, Account]] = []
    for acc in accounts:
        stream = (seed, platform, acc.registry_handle, "timeline")
        daily = ids.stable_rng(*stream).uniform(*per_day) * rate
        for ts in day_times(stream, start, days, daily, whole_seconds=whole_seconds):
            roll = ids.unit(*stream, ts, "kind")
            kind = (
                REPLY if roll < reply_share
                else QUOTE if roll < reply_share + quote_share
                else REPOST if roll < reply_share + quote_share + repost_share
                else ORIGINAL
            )  # fmt: skip
            plan.append((ts, kind, acc))
    plan.sort(key=lambda p: (p[0], p[2].handle))
    by_id = {a.account_id: a for a in accounts}
    mentions = {a.account_id: [(b.handle, b.account_id) for b in accounts if b is not a]
                for a in accounts}  # fmt: skip
    pool: list[Post] = []
    out: list[Post | Repost] = []
    for ts, kind, acc in plan:
        rng = ids.stable_rng(seed, platform, acc.registry_handle, ts, "item")
        created = ms(ts)
        recent = pool[-300:] if kind != ORIGINAL else []
        others = [p for p in recent if p.account_id != acc.account_id]
        target: Post | None = None
        if kind == REPOST:
            target = pick(rng, [p for p in others if ts - p.ts < 3 * DAY] or others)
            if target is not None:
                rid = new_id(created, rng)
                out.append(Repost(rid, "", acc.account_id, target.post_id, created, ts))
                target.refs.setdefault("reposts", []).append(ts)
                continue
            kind = ORIGINAL
        if kind == REPLY:
            own = [p for p in recent if p.account_id == acc.account_id][-20:]
            target = pick(rng, own) if own and rng.random() < 0.6 else pick(rng, others)
        elif kind == QUOTE:
            target = pick(rng, others)
        if target is None:
            kind = ORIGINAL
        quoted = by_id[target.account_id] if kind == QUOTE and target else None
        text = compose_post(
            rng,
            acc.agency,
            acc.domain,
            kind,
            [(quoted.handle, quoted.account_id)] if quoted else mentions[acc.account_id],
        )
        post_id = new_id(created, rng)
        likes = int(acc.followers0 * rng.uniform(0.001, 0.012) * rng.lognormvariate(0, 0.7))
        if kind == REPLY:
            likes //= 5
        post = Post(
            platform=platform,
            post_id=post_id,
            account_id=acc.account_id,
            created_at=created,
            ts=ts,
            kind=kind,
            text=text.text,
            facets=text.facets,
            embed=None if kind == QUOTE else media_embed(rng, seed, post_id, text.link),
            finals={
                "likes": likes,
                "reposts": int(likes * rng.uniform(0.08, 0.4)),
                "replies": int(likes * rng.uniform(0.01, 0.12)),
                "quotes": int(likes * rng.uniform(0.0, 0.05)),
                "bookmarks": int(likes * rng.uniform(0.0, 0.08)),
                "views": int(likes * rng.uniform(40, 160)),
            },
            tau=rng.uniform(4, 36) * 3600,
        )
        if kind == REPLY and target is not None:
            post.reply_parent = target.post_id
            post.reply_root = target.reply_root or target.post_id
            target.refs.setdefault("replies", []).append(ts)
        elif kind == QUOTE and target is not None:
            post.quote_of = target.post_id
            target.refs.setdefault("quotes", []).append(ts)
        pool.append(post)
        out.append(post)
    return out
