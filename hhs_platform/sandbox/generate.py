"""Build the simulated accounts and their posts deterministically from registry rows and a seed."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.model import ORIGINAL, QUOTE, REPLY, REPOST, Account, Embed, Post, Repost
from hhs_platform.sandbox.text import agency_domain, compose_post, compose_video

Row = dict[str, str | None]

_UC_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
_DAY = 86400.0


def clean_name(agency_name: str) -> str:
    """The display form of an agency name: trailing parenthetical dropped, at most 64 chars."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", agency_name).strip()[:64] or agency_name[:64]


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method is fine for the small daily rates used here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _ms(ts: float) -> datetime:
    return datetime.fromtimestamp(round(ts * 1000) / 1000, UTC)


def _day_times(
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
        for _ in range(_poisson(rng, per_day)):
            hour = rng.uniform(13, 23) if rng.random() < 0.85 else rng.uniform(0, 24)
            ts = day0 + hour * 3600
            ts = float(int(ts)) if whole_seconds else round(ts * 1000) / 1000
            while ts in out:  # the author-feed cursor is a timestamp, so keep them unique
                ts += 1.0 if whole_seconds else 0.001
            out.add(ts)
    return sorted(out)


def make_account(row: Row, seed: int, taken_handles: set[str]) -> Account:
    """Build one account (Bluesky or YouTube) from a registry row."""
    platform = str(row["platform"]).lower()
    handle = str(row["handle"])
    agency = str(row.get("agency") or "HHS")
    agency_name = str(row.get("agency_name") or agency)
    rng = ids.stable_rng(seed, platform, handle, "account")
    name = clean_name(agency_name)
    domain = agency_domain(agency, handle if platform == "bluesky" else None)
    created = datetime(2023, 4, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 600 * 86400))
    if platform == "bluesky":
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


def _bluesky_embed(rng: random.Random, seed: int, uri: str, text_link: str | None) -> Embed | None:
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


def _pick(rng: random.Random, items: Sequence[Post]) -> Post | None:
    return rng.choice(items) if items else None


def bluesky_posts(
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
        for ts in _day_times(stream, start, days, per_day, whole_seconds=False):
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
            fresh = [p for p in others if ts - p.ts < 3 * _DAY]
            target = _pick(rng, fresh or others)
            if target is not None:
                rkey = ids.tid(_ms(ts), rng.randrange(1024))
                uri = f"at://{acc.account_id}/app.bsky.feed.repost/{rkey}"
                cid = ids.record_cid(uri, target.post_id)
                out.append(Repost(uri, cid, acc.account_id, target.post_id, _ms(ts), ts))
                target.refs.setdefault("reposts", []).append(ts)
                continue
            kind = ORIGINAL
        if kind == REPLY:
            own = [p for p in recent if p.account_id == acc.account_id][-20:]
            target = _pick(rng, own) if own and rng.random() < 0.6 else _pick(rng, others)
            if target is None:
                kind = ORIGINAL
        elif kind == QUOTE:
            target = _pick(rng, others)
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
        created = _ms(ts)
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
            embed=None if kind == QUOTE else _bluesky_embed(rng, seed, uri, text.link),
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


def _duration(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.2:
        return rng.randint(15, 59)  # Shorts
    if roll < 0.8:
        return rng.randint(60, 600)
    return rng.randint(1200, 5400)  # webinars and briefings


def youtube_videos(
    accounts: Sequence[Account], seed: int, start: datetime, days: int, rate: float
) -> list[Post]:
    """Generate every channel's uploads (about 2-4 a week each), oldest first."""
    out: list[Post] = []
    for acc in accounts:
        stream = (seed, "youtube", acc.registry_handle, "timeline")
        per_day = ids.stable_rng(*stream).uniform(2.0, 4.0) / 7 * rate
        for ts in _day_times(stream, start, days, per_day, whole_seconds=True):
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
                    tau=vr.uniform(1, 6) * _DAY,
                )
            )
    return out


# A new platform adds its generator here: (accounts, seed, start, days, rate) -> posts.
GENERATORS: dict[str, Callable[..., Sequence[Post | Repost]]] = {
    "bluesky": bluesky_posts,
    "youtube": youtube_videos,
}
