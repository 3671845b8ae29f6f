"""The simulated Mastodon API (also Truth Social's): account lookup and statuses, Link paging."""

from __future__ import annotations

import html
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.formats import iso_ms
from hhs_platform.sandbox.model import REPLY, Account, Embed, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

DEFAULT_LIMIT, MAX_LIMIT = 20, 40
#: Query parameters the Link header carries over, as Mastodon's pagination_params does.
_CARRIED = ("limit", "only_media", "exclude_replies", "exclude_reblogs", "pinned", "tagged")


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return _error(429, "Too many requests")
    if status == 503:
        return _error(503, "Service Unavailable")
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")  # fmt: skip
    return _error(500, "We're sorry, but something went wrong on our end.")


def _flag(raw: str | None) -> bool:
    return (raw or "").lower() in ("1", "true", "t", "yes", "on")


# -- payload builders ----------------------------------------------------------------------------


def _media_base(acc: Account) -> str:
    return f"https://files.{acc.instance}"


def account_entity(world: World, acc: Account, at: datetime) -> dict[str, Any]:
    """An Account entity (what accounts/lookup returns and statuses embed)."""
    path = "/".join(acc.account_id[i : i + 3] for i in range(0, 18, 3))
    avatar = f"{_media_base(acc)}/accounts/avatars/{path}/original/{acc.avatar_cid[-16:]}.png"
    header = f"{_media_base(acc)}/accounts/headers/{path}/original/{acc.banner_cid[-16:]}.png"
    visible = world.visible_feed(acc, at)
    site = f"https://www.{acc.domain}"
    return {
        "id": acc.account_id,
        "username": acc.username,
        "acct": acc.username,
        "display_name": acc.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        "created_at": iso_ms(acc.created_at),
        "note": f"<p>{html.escape(acc.description)}</p>",
        "url": f"https://{acc.instance}/@{acc.username}",
        "uri": f"https://{acc.instance}/users/{acc.username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "avatar_description": "",
        "header": header,
        "header_static": header,
        "header_description": "",
        "followers_count": world.served_followers(acc, at),
        "following_count": world.following(acc, at),
        "statuses_count": world.posts_count(acc, at),
        "last_status_at": visible[-1].created_at.date().isoformat() if visible else None,
        "hide_collections": False,
        "show_media": True,
        "show_media_replies": True,
        "show_featured": True,
        "noindex": False,
        "feature_approval": {"automatic": [], "manual": [], "current_user": "denied"},
        "emojis": [],
        "roles": [],
        "fields": [
            {
                "name": "Website",
                "value": f'<a href="{site}" target="_blank" rel="nofollow noopener me" '
                f'translate="no"><span class="invisible">https://www.</span><span class="">'
                f'{acc.domain}</span><span class="invisible"></span></a>',
                "verified_at": iso_ms(acc.created_at),
            }
        ],
    }


def content_html(
    world: World, post: Post, acc: Account, at: datetime | None = None
) -> tuple[str, list[Any], list[Any]]:
    """The status's HTML ``content``, its ``mentions`` and its ``tags`` (as edited by ``at``)."""
    raw = (post.text if at is None else world.text(post, at)).encode()
    parts: list[str] = []
    mentions: list[dict[str, str]] = []
    tags: list[dict[str, str]] = []
    pos = 0
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        parts.append(html.escape(raw[pos : f.byte_start].decode(), quote=False))
        shown = raw[f.byte_start : f.byte_end].decode()
        if f.kind == "mention":
            who = world.account(post.platform, f.value)
            name = who.username if who else shown[1:]
            url = f"https://{who.instance if who else acc.instance}/@{name}"
            parts.append(f'<span class="h-card" translate="no"><a href="{url}" '
                         f'class="u-url mention">@<span>{name}</span></a></span>')  # fmt: skip
            mentions.append({"id": f.value, "username": str(name), "url": url, "acct": str(name)})
        elif f.kind == "tag":
            url = f"https://{acc.instance}/tags/{f.value.lower()}"
            parts.append(f'<a href="{url}" class="mention hashtag" rel="tag">'
                         f"#<span>{html.escape(f.value)}</span></a>")  # fmt: skip
            tags.append({"name": f.value.lower(), "url": url})
        else:
            parts.append(f'<a href="{html.escape(f.value)}" target="_blank" '
                         f'rel="nofollow noopener" translate="no">{html.escape(shown)}</a>')  # fmt: skip
        pos = f.byte_end
    parts.append(html.escape(raw[pos:].decode(), quote=False))
    text = "".join(parts)
    paragraphs = [p.replace("\n", "<br />") for p in text.split("\n\n")]
    return "".join(f"<p>{p}</p>" for p in paragraphs), mentions, tags


def _size(w: int, h: int) -> dict[str, Any]:
    return {"width": w, "height": h, "size": f"{w}x{h}", "aspect": w / h}


def media_attachments(acc: Account, post: Post) -> list[dict[str, Any]]:
    """The status's MediaAttachment entities."""
    e: Embed | None = post.embed
    if e is None or e.kind not in ("images", "video"):
        return []
    out = []
    w, h = e.aspect
    small = (480, max(1, round(480 * h / w)))
    for i, blob in enumerate(e.blobs):
        mid = str(int(post.post_id) + i + 1)
        path = "/".join(mid[j : j + 3] for j in range(0, 18, 3))
        base = f"{_media_base(acc)}/media_attachments/files/{path}"
        item: dict[str, Any] = {
            "id": mid,
            "type": "image" if e.kind == "images" else "video",
            "url": f"{base}/original/{blob[-16:]}." + ("jpeg" if e.kind == "images" else "mp4"),
            "preview_url": f"{base}/small/{blob[-16:]}.jpeg",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
        }
        if e.kind == "images":
            item["meta"] = {"original": _size(w, h), "small": _size(*small),
                            "focus": {"x": 0.0, "y": 0.0}}  # fmt: skip
            item["description"] = e.alts[i] if i < len(e.alts) else None
        else:
            secs = e.sizes[0] / 1000
            item["meta"] = {
                "length": f"0:{int(secs) // 60:02d}:{int(secs) % 60:02d}.00",
                "duration": secs,
                "fps": 30,
                "size": f"{w}x{h}",
                "width": w,
                "height": h,
                "aspect": w / h,
                "audio_encode": "aac (LC) (mp4a / 0x6134706D)",
                "audio_bitrate": "44100 Hz",
                "audio_channels": "stereo",
                "original": {**_size(w, h), "frame_rate": "30/1", "duration": secs,
                             "bitrate": 1_500_000},
                "small": _size(*small),
            }  # fmt: skip
            item["description"] = None
        item["blurhash"] = "U" + ids.etag(blob)[:35]
        out.append(item)
    return out


def status(world: World, post: Post, at: datetime) -> dict[str, Any]:
    """A Status entity with the counters served at ``at``."""
    acc = world.account_by_id(post.account_id)
    content, mentions, tags = content_html(world, post, acc, at)
    edited = world.edited_at(post, at)
    parent = world.posts[post.reply_parent] if post.kind == REPLY and post.reply_parent else None
    return {
        "id": post.post_id,
        "created_at": iso_ms(post.created_at),
        "in_reply_to_id": parent.post_id if parent else None,
        "in_reply_to_account_id": parent.account_id if parent else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://{acc.instance}/users/{acc.username}/statuses/{post.post_id}",
        "url": f"https://{acc.instance}/@{acc.username}/{post.post_id}",
        "replies_count": world.counter(post, "replies", at),
        "reblogs_count": world.counter(post, "reposts", at),
        "favourites_count": world.counter(post, "likes", at),
        "quotes_count": world.counter(post, "quotes", at),
        "edited_at": iso_ms(edited) if edited is not None else None,
        "favourited": False,
        "reblogged": False,
        "muted": False,
        "bookmarked": False,
        "pinned": False,
        "content": content,
        "filtered": [],
        "reblog": None,
        "application": {"name": "Sprout Social", "website": "https://sproutsocial.com"},
        "account": account_entity(world, acc, at),
        "media_attachments": media_attachments(acc, post),
        "mentions": mentions,
        "tags": tags,
        "emojis": [],
        "tagged_collections": [],
        "quote": None,
        "card": None,
        "poll": None,
        "quote_approval": {"automatic": ["public"], "manual": [], "current_user": "automatic"},
    }


def reblog_status(world: World, entry: Repost, at: datetime) -> dict[str, Any]:
    """The wrapper status of a reblog: its own id and time, the original in ``reblog``."""
    acc = world.account_by_id(entry.account_id)
    uri = f"https://{acc.instance}/users/{acc.username}/statuses/{entry.uri}/activity"
    original = status(world, world.posts[entry.subject], at)
    return {
        **original,
        **{
            "id": entry.uri,
            "created_at": iso_ms(entry.created_at),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "uri": uri,
            "url": uri,
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "content": "",
            "reblog": original,
            "application": None,
            "account": account_entity(world, acc, at),
            "media_attachments": [],
            "mentions": [],
            "tags": [],
        },
    }


def _id(e: Post | Repost) -> int:
    return int(e.uri if isinstance(e, Repost) else e.post_id)


# -- handlers ------------------------------------------------------------------------------------


async def lookup(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/lookup?acct=user[@instance]."""
    ctx = context(request)
    platform = request.app[PLATFORM_KEY]
    acct = request.query.get("acct", "").strip().lstrip("@")
    if not acct:
        return _error(400, "Missing parameter acct")  # rails' ParameterMissing → 400
    user, _, instance = acct.partition("@")
    acc = ctx.world.account(platform, user, "handle")
    if acc is None or (instance and instance.lower() != acc.instance):
        return _error(404, "Record not found")
    return json_response(account_entity(ctx.world, acc, ctx.clock.now()))


async def account(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id."""
    ctx = context(request)
    acc = ctx.world.account(request.app[PLATFORM_KEY], request.match_info["id"])
    if acc is None:
        return _error(404, "Record not found")
    return json_response(account_entity(ctx.world, acc, ctx.clock.now()))


def _int_param(q: Any, name: str) -> int | None:
    raw = q.get(name)
    return int(raw) if raw is not None and raw.isdigit() else None


async def statuses(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/statuses: newest first, paged by ids through the Link header."""
    ctx = context(request)
    world, q = ctx.world, request.query
    acc = world.account(request.app[PLATFORM_KEY], request.match_info["id"])
    if acc is None:
        return _error(404, "Record not found")
    raw_limit = q.get("limit", "")
    limit = min(int(raw_limit), MAX_LIMIT) if raw_limit.isdigit() and int(raw_limit) else None
    limit = limit or DEFAULT_LIMIT
    now = world.now()
    entries: list[Post | Repost] = list(world.visible_feed(acc, now))
    if _flag(q.get("exclude_reblogs")) or _flag(q.get("only_media")):
        entries = [e for e in entries if isinstance(e, Post)]
    if _flag(q.get("exclude_replies")):
        # Mastodon keeps an account's replies to itself (threads).
        entries = [e for e in entries if not (isinstance(e, Post) and e.kind == REPLY and
                   world.posts[e.reply_parent or ""].account_id != acc.account_id)]  # fmt: skip
    if _flag(q.get("only_media")):
        entries = [e for e in entries if isinstance(e, Post) and media_attachments(acc, e)]
    if _flag(q.get("pinned")):
        entries = []
    max_id, since_id, min_id = (_int_param(q, n) for n in ("max_id", "since_id", "min_id"))
    if max_id is not None:
        entries = [e for e in entries if _id(e) < max_id]
    if since_id is not None:
        entries = [e for e in entries if _id(e) > since_id]
    # min_id: the ``limit`` items just after it, still served newest first
    newer = [e for e in entries if _id(e) > min_id] if min_id is not None else None
    page = newer[:limit][::-1] if newer is not None else entries[::-1][:limit]
    body = [reblog_status(world, e, now) if isinstance(e, Repost) else status(world, e, now)
            for e in page]  # fmt: skip
    headers: dict[str, str] = {}
    if page:
        base = request.url.with_query(None)
        carried = {k: q[k] for k in _CARRIED if k in q}
        links = []
        if len(page) == limit:  # as Mastodon: a next link only after a full page
            links.append(
                f'<{base.with_query({**carried, "max_id": str(_id(page[-1]))})}>; rel="next"'
            )
        links.append(f'<{base.with_query({**carried, "min_id": str(_id(page[0]))})}>; rel="prev"')
        headers["Link"] = ", ".join(links)
    return json_response(body, headers=headers)


async def not_found_route(request: web.Request) -> web.Response:
    """Any other path."""
    return _error(404, "Not Found")


# -- middlewares and app -------------------------------------------------------------------------


def _reset_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rate_limit_middleware(
    ctx: SandboxContext, platform: str, state: dict[str, list[float]]
) -> Middleware:
    limit = int(getattr(ctx.config, f"{platform}_rate_limit"))
    window = int(getattr(ctx.config, f"{platform}_rate_window"))

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # rack-attack counts per token, else per IP, in windows aligned to the period.
        who = request.headers.get("Authorization") or request.remote or "unknown"
        now = time.time()
        start = math.floor(now / window) * window
        win = state.get(who)
        if win is None or win[0] != start:
            win = state[who] = [start, 0.0]
        win[1] += 1
        if win[1] > limit:
            ctx.stats.rate_limited[platform] += 1
            response: web.StreamResponse = _error_for_status(429)
        else:
            response = await handler(request)
            if response.status == 429:
                ctx.stats.rate_limited[platform] += 1
        remaining = 0 if response.status == 429 else max(0, limit - int(win[1]))
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = _reset_iso(start + window)
        return response

    return middleware


PLATFORM_KEY = web.AppKey("mastodon_platform", str)


def create_subapp(ctx: SandboxContext, platform: str = "mastodon") -> web.Application:
    """The Mastodon sub-application for ``platform`` (mastodon, truthsocial), at ``/<platform>``."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(platform, request.path.rsplit("/", 1)[-1])] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(platform, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            _rate_limit_middleware(ctx, platform, {}),
            fault_middleware(
                platform, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
        ]
    )
    app[PLATFORM_KEY] = platform
    app.router.add_get("/api/v1/accounts/lookup", lookup)
    app.router.add_get("/api/v1/accounts/{id}/statuses", statuses)
    app.router.add_get("/api/v1/accounts/{id}", account)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
