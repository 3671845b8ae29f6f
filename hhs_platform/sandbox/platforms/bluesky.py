"""Bluesky in the world: accounts with DIDs, posts, replies, quotes and reposts; the AppView API."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.bluesky import create_subapp
from hhs_platform.sandbox.generate import DAY, account_basics, clean_name, day_times, ms, pick
from hhs_platform.sandbox.model import ORIGINAL, QUOTE, REPLY, REPOST, Account, Embed, Post, Repost
from hhs_platform.sandbox.platforms.base import Platform, Row, growing_following
from hhs_platform.sandbox.text import agency_domain, compose_post


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one Bluesky account from a registry row (the DID from ``platform_id`` if it is one)."""
    handle = str(row["handle"])
    agency, agency_name, rng, created = account_basics(row, seed)
    name = clean_name(agency_name)
    domain = agency_domain(agency, handle)
    pid = row.get("platform_id") or ""
    return Account(
        platform="bluesky",
        registry_handle=handle,
        handle=handle.lower().lstrip("@"),
        account_id=pid if pid.startswith("did:") else ids.did_plc(rng),
        agency=agency,
        agency_name=agency_name,
        display_name=name,
        description=f"Official account of the {name}. Follow for news and health updates.\n"
        f"https://www.{domain}",
        domain=domain,
        created_at=created.replace(microsecond=rng.randint(0, 999) * 1000),
        followers0=int(rng.lognormvariate(math.log(25_000), 1.0)) + 500,
        growth_per_day=rng.uniform(0.0005, 0.004),
        follows0=rng.randint(3, 250),
        follows_per_day=rng.uniform(0.0, 0.3),
        avatar_cid=ids.blob_cid(seed, handle, "avatar"),
        banner_cid=ids.blob_cid(seed, handle, "banner"),
    )


def _embed(rng: random.Random, seed: int, uri: str, text_link: str | None) -> Embed | None:
    roll = rng.random()
    if text_link and roll < 0.45:
        return Embed(
            "external",
            (ids.blob_cid(seed, uri, "thumb"),),
            (rng.randint(40_000, 400_000),),
            (1200, 630),
            uri=text_link,
            title=text_link.split("/")[2].removeprefix("www.").upper() + " | Health information",
            description="Official information and resources from the U.S. government.",
        )
    if roll < 0.25:
        n = rng.choice((1, 1, 1, 2, 4))
        return Embed(
            "images",
            tuple(ids.blob_cid(seed, uri, "img", i) for i in range(n)),
            tuple(rng.randint(80_000, 950_000) for _ in range(n)),
            rng.choice(((1200, 675), (1080, 1080), (1080, 1350))),
            alts=tuple(
                rng.choice(("Infographic with health tips", "Photo of a clinic", ""))
                for _ in range(n)
            ),
        )
    if roll < 0.31:
        return Embed(
            "video",
            (ids.blob_cid(seed, uri, "video"),),
            (rng.randint(1_000_000, 40_000_000),),
            rng.choice(((1920, 1080), (1080, 1920))),
        )
    return None


def generate(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post | Repost]:
    """Generate every Bluesky account's originals, replies, quotes and reposts, oldest first.

    Replies, quotes and reposts point at posts created earlier, so the whole world is
    generated in one time-ordered pass; each item's choices come from its own seeded stream.
    """
    plan: list[tuple[float, str, Account]] = []
    for acc in accounts:
        stream = (seed, "bluesky", acc.registry_handle, "timeline")
        per_day = ids.stable_rng(*stream).uniform(1.0, 4.0) * rate
        for ts in day_times(stream, start, days, per_day, whole_seconds=False):
            roll = ids.unit(*stream, ts, "kind")
            kind = REPLY if roll < 0.10 else QUOTE if roll < 0.18 else REPOST if roll < 0.30 else ""
            plan.append((ts, kind or ORIGINAL, acc))
    plan.sort(key=lambda p: (p[0], p[2].handle))
    by_did = {a.account_id: a for a in accounts}
    mentions = [(a.handle, a.account_id) for a in accounts]
    pool: list[Post] = []
    out: list[Post | Repost] = []
    for ts, kind, acc in plan:
        rng = ids.stable_rng(seed, "bluesky", acc.registry_handle, ts, "item")
        recent = pool[-300:]
        others = [p for p in recent if p.account_id != acc.account_id]
        target: Post | None = None
        if kind == REPOST:
            fresh = [p for p in others if ts - p.ts < 3 * DAY]
            target = pick(rng, fresh or others)
            if target is not None:
                rkey = ids.tid(ms(ts), rng.randrange(1024))
                uri = f"at://{acc.account_id}/app.bsky.feed.repost/{rkey}"
                cid = ids.record_cid(uri, target.post_id)
                out.append(Repost(uri, cid, acc.account_id, target.post_id, ms(ts), ts))
                target.refs.setdefault("reposts", []).append(ts)
                continue
            kind = ORIGINAL
        if kind == REPLY:
            own = [p for p in recent if p.account_id == acc.account_id][-20:]
            target = pick(rng, own) if own and rng.random() < 0.6 else pick(rng, others)
            if target is None:
                kind = ORIGINAL
        elif kind == QUOTE:
            target = pick(rng, others)
            if target is None:
                kind = ORIGINAL
        others_m = [m for m in mentions if m[1] != acc.account_id]
        quoted_author = by_did[target.account_id] if kind == QUOTE and target else None
        text = compose_post(
            rng,
            acc.agency,
            acc.domain,
            kind,
            [(quoted_author.handle, quoted_author.account_id)] if quoted_author else others_m,
        )
        created = ms(ts)
        rkey = ids.tid(created, rng.randrange(1024))
        uri = f"at://{acc.account_id}/app.bsky.feed.post/{rkey}"
        likes = int(acc.followers0 * rng.uniform(0.001, 0.012) * rng.lognormvariate(0, 0.7))
        if kind == REPLY:
            likes //= 5
        post = Post(
            platform="bluesky",
            post_id=uri,
            account_id=acc.account_id,
            created_at=created,
            ts=ts,
            kind=kind,
            text=text.text,
            cid=ids.record_cid(uri, text.text),
            facets=text.facets,
            embed=None if kind == QUOTE else _embed(rng, seed, uri, text.link),
            indexed_delay_ms=rng.randint(150, 2500),
            finals={
                "likes": likes,
                "reposts": int(likes * rng.uniform(0.08, 0.4)),
                "replies": int(likes * rng.uniform(0.01, 0.12)),
                "quotes": int(likes * rng.uniform(0.0, 0.05)),
                "bookmarks": int(likes * rng.uniform(0.0, 0.08)),
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


PLATFORM = Platform(
    name="bluesky",
    metrics=("likes", "reposts", "replies", "quotes"),
    make_account=make_account,
    generate=generate,
    create_subapp=create_subapp,
    config={
        # requests per client IP per window (the AppView's 3000 / 5 min), window in real seconds
        "bluesky_rate_limit": 3000,
        "bluesky_rate_window": 300,
    },
    following=growing_following,
)
