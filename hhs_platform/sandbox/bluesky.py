"""The simulated Bluesky AppView: getProfile and getAuthorFeed at their XRPC paths, rate-limited."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.formats import iso_ms
from hhs_platform.sandbox.model import QUOTE, REPLY, Account, Embed, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "bluesky"
_CDN = "https://cdn.bsky.app/img"
_FILTERS = (
    "posts_with_replies",
    "posts_no_replies",
    "posts_with_media",
    "posts_and_author_threads",
    "posts_with_video",
)


def _error(status: int, error: str, message: str) -> web.Response:
    return json_response({"error": error, "message": message}, status)


# -- payload builders ----------------------------------------------------------------------------


def _avatar(acc: Account) -> str:
    return f"{_CDN}/avatar/plain/{acc.account_id}/{acc.avatar_cid}@jpeg"


def author_view(acc: Account) -> dict[str, Any]:
    """A profileViewBasic, as embedded in posts and repost reasons (public, unauthenticated)."""
    return {
        "did": acc.account_id,
        "handle": acc.handle,
        "displayName": acc.display_name,
        "avatar": _avatar(acc),
        "associated": {"chat": {"allowIncoming": "none"}},
        "viewer": {"muted": False, "blockedBy": False},
        "labels": [],
        "createdAt": iso_ms(acc.created_at),
    }


def _pinned(world: World, acc: Account, at: datetime) -> Post | None:
    # Each account pins its first original post of the simulated window, once it exists.
    for p in acc.posts[:20]:
        if p.kind == "original":
            return p if world.is_visible(p, at) else None
    return None


def profile_view(world: World, acc: Account, at: datetime) -> dict[str, Any]:
    """A profileViewDetailed (app.bsky.actor.getProfile) at ``at``."""
    out: dict[str, Any] = {
        "did": acc.account_id,
        "handle": acc.handle,
        "displayName": acc.display_name,
        "avatar": _avatar(acc),
        "associated": {
            "lists": 0,
            "feedgens": 0,
            "starterPacks": 0,
            "labeler": False,
            "chat": {"allowIncoming": "none"},
        },
        "viewer": {"muted": False, "blockedBy": False},
        "labels": [],
        "createdAt": iso_ms(acc.created_at),
        "description": acc.description,
        "indexedAt": iso_ms(max(acc.created_at, world.start)),
        "banner": f"{_CDN}/banner/plain/{acc.account_id}/{acc.banner_cid}@jpeg",
        "followersCount": world.followers(acc, at),
        "followsCount": world.following(acc, at),
        "postsCount": world.posts_count(acc, at),
    }
    pin = _pinned(world, acc, at)
    if pin is not None:
        out["pinnedPost"] = {"cid": pin.cid, "uri": pin.post_id}
    return out


def _blob(cid: str, mime: str, size: int) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": size}


def _embed_record(world: World, post: Post) -> dict[str, Any] | None:
    if post.quote_of is not None:
        q = world.posts[post.quote_of]
        return {"$type": "app.bsky.embed.record", "record": {"cid": q.cid, "uri": q.post_id}}
    e = post.embed
    if e is None:
        return None
    if e.kind == "images":
        return {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": alt,
                    "aspectRatio": {"height": e.aspect[1], "width": e.aspect[0]},
                    "image": _blob(cid, "image/jpeg", size),
                }
                for cid, size, alt in zip(e.blobs, e.sizes, e.alts, strict=True)
            ],
        }
    if e.kind == "video":
        return {
            "$type": "app.bsky.embed.video",
            "aspectRatio": {"height": e.aspect[1], "width": e.aspect[0]},
            "video": _blob(e.blobs[0], "video/mp4", e.sizes[0]),
        }
    return {
        "$type": "app.bsky.embed.external",
        "external": {
            "description": e.description,
            "thumb": _blob(e.blobs[0], "image/jpeg", e.sizes[0]),
            "title": e.title,
            "uri": e.uri,
        },
    }


def record(world: World, post: Post) -> dict[str, Any]:
    """The app.bsky.feed.post record (keys in the sorted order the AppView returns)."""
    rec: dict[str, Any] = {"$type": "app.bsky.feed.post", "createdAt": iso_ms(post.created_at)}
    embed = _embed_record(world, post)
    if embed is not None:
        rec["embed"] = embed
    if post.facets:
        # Clients differ: some write the facet's own $type, some leave it out.
        typed = {"$type": "app.bsky.richtext.facet"} if ids.unit(post.cid) < 0.5 else {}
        rec["facets"] = [
            {
                **typed,
                "features": [_feature(f.kind, f.value)],
                "index": {"byteEnd": f.byte_end, "byteStart": f.byte_start},
            }
            for f in post.facets
        ]
    rec["langs"] = list(post.langs)
    if post.reply_parent and post.reply_root:
        parent, root = world.posts[post.reply_parent], world.posts[post.reply_root]
        rec["reply"] = {
            "parent": {"cid": parent.cid, "uri": parent.post_id},
            "root": {"cid": root.cid, "uri": root.post_id},
        }
    rec["text"] = post.text
    return rec


def _feature(kind: str, value: str) -> dict[str, str]:
    if kind == "mention":
        return {"$type": "app.bsky.richtext.facet#mention", "did": value}
    if kind == "link":
        return {"$type": "app.bsky.richtext.facet#link", "uri": value}
    return {"$type": "app.bsky.richtext.facet#tag", "tag": value}


def _media_view(did: str, e: Embed) -> dict[str, Any]:
    aspect = {"height": e.aspect[1], "width": e.aspect[0]}
    if e.kind == "images":
        return {
            "$type": "app.bsky.embed.images#view",
            "images": [
                {
                    "thumb": f"{_CDN}/feed_thumbnail/plain/{did}/{cid}@jpeg",
                    "fullsize": f"{_CDN}/feed_fullsize/plain/{did}/{cid}@jpeg",
                    "alt": alt,
                    "aspectRatio": aspect,
                }
                for cid, alt in zip(e.blobs, e.alts, strict=True)
            ],
        }
    if e.kind == "video":
        base = f"https://video.bsky.app/watch/{quote(did, safe='')}/{e.blobs[0]}"
        return {
            "$type": "app.bsky.embed.video#view",
            "cid": e.blobs[0],
            "playlist": f"{base}/playlist.m3u8",
            "thumbnail": f"{base}/thumbnail.jpg",
            "aspectRatio": aspect,
        }
    return {
        "$type": "app.bsky.embed.external#view",
        "external": {
            "uri": e.uri,
            "title": e.title,
            "description": e.description,
            "thumb": f"{_CDN}/feed_thumbnail/plain/{did}/{e.blobs[0]}@jpeg",
        },
    }


def _embed_view(world: World, post: Post, at: datetime, depth: int) -> dict[str, Any] | None:
    if post.quote_of is not None:
        q = world.posts[post.quote_of]
        view: dict[str, Any] = {
            "$type": "app.bsky.embed.record#viewRecord",
            "uri": q.post_id,
            "cid": q.cid,
            "author": author_view(world.account_by_id(q.account_id)),
            "value": record(world, q),
            "labels": [],
            "likeCount": world.counter(q, "likes", at),
            "replyCount": world.counter(q, "replies", at),
            "repostCount": world.counter(q, "reposts", at),
            "quoteCount": world.counter(q, "quotes", at),
            "indexedAt": _indexed_at(q),
        }
        # The AppView stops expanding quotes of quotes after one level.
        inner = _embed_view(world, q, at, depth + 1) if depth < 1 else None
        if inner is not None or depth < 1:
            view["embeds"] = [inner] if inner is not None else []
        return {"$type": "app.bsky.embed.record#view", "record": view}
    if post.embed is None:
        return None
    return _media_view(post.account_id, post.embed)


def _indexed_at(post: Post) -> str:
    return iso_ms(post.created_at + timedelta(milliseconds=post.indexed_delay_ms))


def post_view(world: World, post: Post, at: datetime, *, typed: bool = False) -> dict[str, Any]:
    """An app.bsky.feed.defs#postView with the counters served at ``at``."""
    out: dict[str, Any] = {"$type": "app.bsky.feed.defs#postView"} if typed else {}
    out.update(
        {
            "uri": post.post_id,
            "cid": post.cid,
            "author": author_view(world.account_by_id(post.account_id)),
            "record": record(world, post),
        }
    )
    embed = _embed_view(world, post, at, 0)
    if embed is not None:
        out["embed"] = embed
    out.update(
        {
            "bookmarkCount": world.counter(post, "bookmarks", at),
            "replyCount": world.counter(post, "replies", at),
            "repostCount": world.counter(post, "reposts", at),
            "likeCount": world.counter(post, "likes", at),
            "quoteCount": world.counter(post, "quotes", at),
            "indexedAt": _indexed_at(post),
            "viewer": {"threadMuted": False, "embeddingDisabled": False},
            "labels": [],
        }
    )
    return out


def feed_item(world: World, entry: Post | Repost, at: datetime) -> dict[str, Any]:
    """One FeedViewPost: a post, with reply context, or a repost with its ``reason``."""
    post = world.posts[entry.subject] if isinstance(entry, Repost) else entry
    item: dict[str, Any] = {"post": post_view(world, post, at)}
    if post.reply_parent and post.reply_root:
        root, parent = world.posts[post.reply_root], world.posts[post.reply_parent]
        item["reply"] = {
            "root": post_view(world, root, at, typed=True),
            "parent": post_view(world, parent, at, typed=True),
        }
    if isinstance(entry, Repost):
        item["reason"] = {
            "$type": "app.bsky.feed.defs#reasonRepost",
            "by": author_view(world.account_by_id(entry.account_id)),
            "uri": entry.uri,
            "cid": entry.cid,
            "indexedAt": iso_ms(entry.created_at),
        }
    return item


def _keep(world: World, acc: Account, entry: Post | Repost, filt: str) -> bool:
    if filt == "posts_with_replies":
        return True
    if isinstance(entry, Repost):
        return filt in ("posts_no_replies", "posts_and_author_threads")
    if filt == "posts_no_replies":
        return entry.kind != REPLY
    if filt == "posts_and_author_threads":
        root = world.posts[entry.reply_root] if entry.reply_root else None
        return entry.kind != REPLY or (root is not None and root.account_id == acc.account_id)
    kinds = ("video",) if filt == "posts_with_video" else ("images", "video")
    return entry.kind != QUOTE and entry.embed is not None and entry.embed.kind in kinds


# -- handlers ------------------------------------------------------------------------------------


def _actor(request: web.Request, ctx: SandboxContext) -> Account | web.Response:
    actor = request.query.get("actor", "").strip()
    if not actor:
        return _error(400, "InvalidRequest", 'Error: Params must have the property "actor"')
    by = "id" if actor.startswith("did:") else "handle"
    acc = ctx.world.account(PLATFORM, actor, by)
    return acc if acc is not None else _error(400, "InvalidRequest", "Profile not found")


async def get_profile(request: web.Request) -> web.Response:
    """GET /xrpc/app.bsky.actor.getProfile."""
    ctx = context(request)
    acc = _actor(request, ctx)
    if isinstance(acc, web.Response):
        return acc
    return json_response(profile_view(ctx.world, acc, ctx.clock.now()))


async def get_author_feed(request: web.Request) -> web.Response:
    """GET /xrpc/app.bsky.feed.getAuthorFeed: newest first, cursor = last item's sort time."""
    ctx = context(request)
    raw_limit = request.query.get("limit", "50")
    try:
        limit = int(raw_limit)
    except ValueError:
        return _error(400, "InvalidRequest", "Error: limit must be an integer")
    if limit < 1:
        return _error(400, "InvalidRequest", "Error: limit can not be less than 1")
    if limit > 100:
        return _error(400, "InvalidRequest", "Error: limit can not be greater than 100")
    filt = request.query.get("filter", "posts_with_replies")
    if filt not in _FILTERS:
        return _error(400, "InvalidRequest", f"Error: filter must be one of {', '.join(_FILTERS)}")
    acc = _actor(request, ctx)
    if isinstance(acc, web.Response):
        return acc
    before: float | None = None
    if "cursor" in request.query:
        try:
            before = datetime.fromisoformat(request.query["cursor"]).timestamp()
        except ValueError:
            return _error(400, "InvalidRequest", "Malformed cursor")
    now = ctx.clock.now()
    world = ctx.world
    entries = [e for e in world.visible_feed(acc, now) if _keep(world, acc, e, filt)]
    if before is not None:
        entries = [e for e in entries if e.ts < before]
    page = entries[::-1][:limit]
    items = [feed_item(world, e, now) for e in page]
    if before is None and request.query.get("includePins", "false") == "true":
        pin = _pinned(world, acc, now)
        if pin is not None:
            pinned = feed_item(world, pin, now)
            pinned["reason"] = {"$type": "app.bsky.feed.defs#reasonPin"}
            items.insert(0, pinned)
    out: dict[str, Any] = {"feed": items}
    if len(entries) > limit:
        out["cursor"] = iso_ms(page[-1].created_at)
    return json_response(out)


async def not_implemented(request: web.Request) -> web.Response:
    """Any other XRPC method."""
    return _error(501, "MethodNotImplemented", "Method Not Implemented")


# -- middlewares and app -------------------------------------------------------------------------


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return _error(429, "RateLimitExceeded", "Rate Limit Exceeded")
    if status == 500:
        return _error(500, "InternalServerError", "Internal Server Error")
    text = {502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Error")
    return web.Response(status=status, text=f"{status} {text}")


def _rate_limit_middleware(ctx: SandboxContext, state: dict[str, list[float]]) -> Middleware:
    limit, window = ctx.config.bluesky_rate_limit, ctx.config.bluesky_rate_window

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        ip = request.remote or "unknown"
        now = time.time()
        win = state.get(ip)
        if win is None or now >= win[0] + window:
            win = state[ip] = [now, 0.0]
        win[1] += 1
        remaining = max(0, limit - int(win[1]))
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(int(win[0] + window)),
            "RateLimit-Policy": f"{limit};w={window}",
        }
        if win[1] > limit:
            ctx.stats.rate_limited[PLATFORM] += 1
            response: web.StreamResponse = _error_for_status(429)
        else:
            response = await handler(request)
            if response.status == 429:
                # An injected 429 stands for one of Bluesky's short burst limits: its headers
                # describe that window (reset in a second or two), not the 5-minute one.
                headers = {
                    "RateLimit-Limit": "10",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(now) + 2),
                    "RateLimit-Policy": "10;w=1",
                }
                ctx.stats.rate_limited[PLATFORM] += 1
        for k, v in headers.items():
            response.headers[k] = v
        return response

    return middleware


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The Bluesky sub-application, mounted at ``/bluesky`` by the server."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(PLATFORM, request.path.rsplit("/", 1)[-1])] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            _rate_limit_middleware(ctx, {}),
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
        ]
    )
    app.router.add_get("/xrpc/app.bsky.actor.getProfile", get_profile)
    app.router.add_get("/xrpc/app.bsky.feed.getAuthorFeed", get_author_feed)
    app.router.add_route("*", "/xrpc/{method}", not_implemented)
    return app
