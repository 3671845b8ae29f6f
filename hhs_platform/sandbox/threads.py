"""The simulated Threads API (graph.threads.net/v1.0): profiles, threads, insights, discovery.

A user access token belongs to one profile (``threads_access_tokens`` maps tokens to user
names): ``/me`` is that profile, and only its own threads and insights can be read. Other public
profiles are reachable through ``profile_lookup`` and ``profile_posts`` (no ids, no counters per
post). Errors are Graph errors (``{"error": {"message", "type", "code", "fbtrace_id"}}``) with
Meta's HTTP statuses: 400 for request and OAuth errors, rate limits as codes 4 and 17.
"""

from __future__ import annotations

import base64
import bisect
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.model import QUOTE, REPLY, Account, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "threads"
VERSION = "v1.0"
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
#: The API refuses ``since`` before this instant (2023-07-05, when Threads opened).
EARLIEST_SINCE = 1688540400
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

PROFILE_FIELDS = (
    "id", "username", "name", "threads_profile_picture_url", "threads_biography", "is_verified",
    "recently_searched_keywords",
)  # fmt: skip
MEDIA_FIELDS = (
    "id", "media_product_type", "media_type", "media_url", "gif_url", "permalink", "owner",
    "username", "text", "timestamp", "shortcode", "thumbnail_url", "children", "is_quote_post",
    "quoted_post", "reposted_post", "alt_text", "link_attachment_url", "topic_tag", "has_replies",
    "is_reply", "is_reply_owned_by_me", "replied_to", "root_post", "hide_status",
    "reply_audience", "is_verified", "profile_picture_url",
)  # fmt: skip
MEDIA_METRICS = {
    "views": ("Views", "The number of times your post was viewed."),
    "likes": ("Likes", "The number of likes on your post."),
    "replies": ("Replies", "The number of replies on your post."),
    "reposts": ("Reposts", "The number of times your post was reposted."),
    "quotes": ("Quotes", "The number of times your post was quoted."),
    "shares": ("Shares", "The number of times your post was shared."),
}
USER_METRICS = {
    "views": "The number of times your profile was viewed.",
    "likes": "The number of likes on your posts.",
    "replies": "The number of replies on your posts.",
    "reposts": "The number of reposts of your posts.",
    "quotes": "The number of quotes of your posts.",
    "clicks": "The number of clicks on links in your posts.",
    "followers_count": "This is the total number of followers on Threads.",
}

#: The profile the request's access token belongs to (set by the auth middleware).
OWNER_KEY = web.RequestKey("threads_owner", Account)


# -- errors --------------------------------------------------------------------------------------


def _trace(*parts: object) -> str:
    return "A" + ids.etag("fbtrace", *parts)[:22]


def graph_error(
    status: int,
    message: str,
    code: int,
    *,
    kind: str = "THApiException",
    subcode: int | None = None,
    transient: bool | None = None,
) -> web.Response:
    """A Graph error body as Meta sends it."""
    err: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if transient is not None:
        err["is_transient"] = transient
    err["fbtrace_id"] = _trace(status, message, time.time_ns())
    return json_response({"error": err}, status)


def _bad_param(message: str) -> web.Response:
    return graph_error(400, f"(#100) {message}", 100)


def _no_object(object_id: str) -> web.Response:
    return graph_error(
        400,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
        100,
        subcode=33,
    )


def _error_for_status(status: int) -> web.Response:
    if status == 429:  # Meta has no 429: rate limits are error codes on a 400
        return graph_error(400, "(#4) Application request limit reached", 4, transient=True)
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")  # fmt: skip
    if status == 503:
        return graph_error(503, "Service temporarily unavailable", 2, transient=True)
    return graph_error(500, "An unknown error has occurred.", 1, transient=True)


# -- payload builders ----------------------------------------------------------------------------


def shortcode(media_id: str) -> str:
    """The Instagram-style shortcode of a media id (its number in URL-safe base 64)."""
    n, out = int(media_id), ""
    while n:
        n, r = divmod(n, 64)
        out = _B64[r] + out
    return out or "A"


def graph_time(dt: datetime) -> str:
    """Meta's timestamp format: ``2023-10-17T05:42:03+0000``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def plain_text(world: World, post: Post, at: datetime) -> str:
    """The post's text with every link written out in full (Threads does not shorten links)."""
    raw = world.text(post, at).encode()
    out, pos = [], 0
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        if f.byte_end > len(raw):
            break
        out.append(raw[pos : f.byte_start].decode())
        shown = raw[f.byte_start : f.byte_end].decode()
        out.append(f.value if f.kind == "link" else shown)
        pos = f.byte_end
    out.append(raw[pos:].decode())
    return "".join(out)


def _permalink(acc: Account, media_id: str) -> str:
    return f"https://www.threads.net/@{acc.username}/post/{shortcode(media_id)}"


def _cdn(blob: str, ext: str) -> str:
    return f"https://scontent.cdninstagram.com/v/t51.2885-15/{blob[-24:]}_n.{ext}"


def media_object(world: World, entry: Post | Repost, at: datetime) -> dict[str, Any]:
    """Every field of a Threads media object (absent fields are not sent, as Graph does)."""
    acc = world.account_by_id(entry.account_id)
    if isinstance(entry, Repost):
        return {
            "id": entry.uri,
            "media_product_type": "THREADS",
            "media_type": "REPOST_FACADE",
            "permalink": _permalink(acc, entry.uri),
            "owner": {"id": acc.account_id},
            "username": acc.username,
            "timestamp": graph_time(entry.created_at),
            "shortcode": shortcode(entry.uri),
            "is_quote_post": False,
            "reposted_post": {"id": entry.subject},
            "has_replies": False,
            "is_reply": False,
            "is_verified": True,
            "hide_status": "NOT_HUSHED",
        }
    out: dict[str, Any] = {
        "id": entry.post_id,
        "media_product_type": "THREADS",
        "media_type": "TEXT_POST",
        "permalink": _permalink(acc, entry.post_id),
        "owner": {"id": acc.account_id},
        "username": acc.username,
        "text": plain_text(world, entry, at),
        "timestamp": graph_time(entry.created_at),
        "shortcode": shortcode(entry.post_id),
        "is_quote_post": entry.kind == QUOTE,
        "has_replies": world.counter(entry, "replies", at) > 0,
        "is_reply": entry.kind == REPLY,
        "is_verified": True,
        "hide_status": "NOT_HUSHED",
        "reply_audience": "EVERYONE",
    }
    tag = next((f.value for f in entry.facets if f.kind == "tag"), None)
    if tag:
        out["topic_tag"] = tag
    link = next((f.value for f in entry.facets if f.kind == "link"), None)
    e = entry.embed
    if e is not None and e.kind == "images" and len(e.blobs) > 1:
        out["media_type"] = "CAROUSEL_ALBUM"
        out["children"] = {"data": [{"id": str(int(entry.post_id) + i + 1)}
                                    for i in range(len(e.blobs))]}  # fmt: skip
    elif e is not None and e.kind == "images":
        out["media_type"] = "IMAGE"
        out["media_url"] = _cdn(e.blobs[0], "jpg")
        if e.alts and e.alts[0]:
            out["alt_text"] = e.alts[0]
    elif e is not None and e.kind == "video":
        out["media_type"] = "VIDEO"
        out["media_url"] = _cdn(e.blobs[0], "mp4")
        out["thumbnail_url"] = _cdn(e.blobs[0], "jpg")
    elif link:
        out["link_attachment_url"] = link
    if entry.kind == QUOTE and entry.quote_of:
        out["quoted_post"] = {"id": entry.quote_of}
    if entry.kind == REPLY and entry.reply_parent:
        out["replied_to"] = {"id": entry.reply_parent}
        out["root_post"] = {"id": entry.reply_root or entry.reply_parent}
        out["is_reply_owned_by_me"] = True
    return out


def profile(world: World, acc: Account) -> dict[str, Any]:
    """Every field of the token owner's profile."""
    return {
        "id": acc.account_id,
        "username": acc.username,
        "name": acc.display_name,
        "threads_profile_picture_url": _cdn(acc.avatar_cid, "jpg"),
        "threads_biography": acc.description,
        "is_verified": True,
        "recently_searched_keywords": [],
    }


def _window_sum(world: World, acc: Account, metric: str, since: float, until: float) -> int:
    at = datetime.fromtimestamp(until, UTC)
    return sum(world.counter(p, metric, at) for p in world.visible_posts(acc, at) if p.ts >= since)


def profile_lookup_body(world: World, acc: Account, at: datetime) -> dict[str, Any]:
    """A public profile as ``profile_lookup`` serves it (counters over the last 7 days)."""
    until = at.timestamp()
    since = until - 7 * 86400
    return {
        "username": acc.username,
        "name": acc.display_name,
        "profile_picture_url": _cdn(acc.avatar_cid, "jpg"),
        "biography": acc.description,
        "is_verified": True,
        "follower_count": world.served_followers(acc, at),
        **{f"{m}_count": _window_sum(world, acc, m, since, until)
           for m in ("likes", "quotes", "replies", "reposts", "views")},
    }  # fmt: skip


# -- request helpers -----------------------------------------------------------------------------


def _fields(request: web.Request, allowed: tuple[str, ...], node: str) -> list[str] | web.Response:
    raw = request.query.get("fields", "id")
    names = [f.strip() for f in raw.split(",") if f.strip()] or ["id"]
    for name in names:
        base = name.split("{", 1)[0]
        if base not in allowed:
            return _bad_param(f"Tried accessing nonexisting field ({base}) on node type ({node})")
    return [n.split("{", 1)[0] for n in names]


def _pick(full: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    out = {"id": full["id"]} if "id" in full else {}
    out.update({k: full[k] for k in fields if k in full})
    return out


def _instant(raw: str) -> float | None:
    if raw.lstrip("-").isdigit():
        return float(raw)
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _cursor(entry: Post | Repost) -> str:
    key = f"{entry.ts:.3f}:{_id(entry)}".encode()
    return "QVFI" + base64.urlsafe_b64encode(key).decode().rstrip("=")


def _parse_cursor(raw: str) -> tuple[float, str] | None:
    if not raw.startswith("QVFI"):
        return None
    try:
        text = base64.urlsafe_b64decode(raw[4:] + "=" * (-len(raw[4:]) % 4)).decode()
        ts, _, mid = text.partition(":")
        return float(ts), mid
    except (ValueError, UnicodeDecodeError):
        return None


def _id(e: Post | Repost) -> str:
    return e.uri if isinstance(e, Repost) else e.post_id


def _owner(request: web.Request) -> Account:
    return request[OWNER_KEY]


def _node(request: web.Request) -> Account | web.Response:
    """The user node of the path: ``me`` or the token owner's id (nobody else's)."""
    owner = _owner(request)
    node = request.match_info["node"]
    if node in ("me", owner.account_id):
        return owner
    return _no_object(node)


def _feed_page(
    request: web.Request, entries: Sequence[Post | Repost], fields: list[str]
) -> web.Response:
    """Newest first, cursor-paged, filtered by since/until, as the Graph edges page."""
    ctx, q = context(request), request.query
    raw_limit = q.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit():
        return _bad_param("Param limit must be a number")
    limit = min(max(int(raw_limit), 1), MAX_LIMIT)
    bounds: dict[str, float] = {}
    for name in ("since", "until"):
        if name in q:
            value = _instant(q[name])
            if value is None:
                return _bad_param(f"Param {name} must be a unix timestamp or a date")
            bounds[name] = value
    if "since" in bounds and bounds["since"] < EARLIEST_SINCE:
        return _bad_param(f"Param since must be greater than or equal to {EARLIEST_SINCE}")
    newest = sorted(entries, key=lambda e: (e.ts, _id(e)), reverse=True)
    if "since" in bounds:
        newest = [e for e in newest if e.ts >= bounds["since"]]
    if "until" in bounds:
        newest = [e for e in newest if e.ts <= bounds["until"]]
    keys = [(-e.ts, _id(e)) for e in newest]  # ascending, for bisect
    if "after" in q or "before" in q:
        name = "after" if "after" in q else "before"
        cur = _parse_cursor(q[name])
        if cur is None:
            return _bad_param(f"Param {name} is not a valid cursor")
        pos = bisect.bisect_right(keys, (-cur[0], cur[1])) if name == "after" else None
        if pos is not None:
            page, start = newest[pos : pos + limit], pos
        else:
            end = bisect.bisect_left(keys, (-cur[0], cur[1]))
            start = max(0, end - limit)
            page = newest[start:end]
    else:
        page, start = newest[:limit], 0
    now = ctx.clock.now()
    body: dict[str, Any] = {"data": [_pick(media_object(ctx.world, e, now), fields) for e in page]}
    if page:
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(page[0]), "after": _cursor(page[-1])}
        }
        base = {k: v for k, v in q.items() if k not in ("after", "before")}
        if start + len(page) < len(newest):
            paging["next"] = str(request.url.with_query({**base, "after": _cursor(page[-1])}))
        if start > 0:
            paging["previous"] = str(request.url.with_query({**base, "before": _cursor(page[0])}))
        body["paging"] = paging
    return json_response(body)


# -- handlers ------------------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    """GET /v1.0/me and /v1.0/{user-id}: the token owner's profile."""
    acc = _node(request)
    if isinstance(acc, web.Response):
        return await media(request)
    fields = _fields(request, PROFILE_FIELDS, "ThreadsUser")
    if isinstance(fields, web.Response):
        return fields
    return json_response(_pick(profile(context(request).world, acc), fields))


async def media(request: web.Request) -> web.Response:
    """GET /v1.0/{media-id}: one of the token owner's threads."""
    ctx = context(request)
    mid = request.match_info["node"]
    entry = _own_entry(request, mid)
    if entry is None:
        return _no_object(mid)
    fields = _fields(request, MEDIA_FIELDS, "ThreadsMedia")
    if isinstance(fields, web.Response):
        return fields
    return json_response(_pick(media_object(ctx.world, entry, ctx.clock.now()), fields))


def _own_entry(request: web.Request, mid: str) -> Post | Repost | None:
    ctx = context(request)
    world, now = ctx.world, ctx.clock.now()
    owner = _owner(request)
    post = world.posts.get(mid)
    if post is not None and post.account_id == owner.account_id and world.is_visible(post, now):
        return post
    repost = world.reposts.get(mid)
    if (
        repost is not None
        and repost.account_id == owner.account_id
        and repost.ts <= now.timestamp()
    ):
        return repost
    return None


async def threads(request: web.Request) -> web.Response:
    """GET /v1.0/{user-id}/threads: the profile's threads, quotes and reposts, newest first."""
    acc = _node(request)
    if isinstance(acc, web.Response):
        return acc
    fields = _fields(request, MEDIA_FIELDS, "ThreadsMedia")
    if isinstance(fields, web.Response):
        return fields
    ctx = context(request)
    entries = [e for e in ctx.world.visible_feed(acc, ctx.clock.now())
               if isinstance(e, Repost) or e.kind != REPLY]  # fmt: skip
    return _feed_page(request, entries, fields)


def _metrics(request: web.Request, allowed: Mapping[str, Any]) -> list[str] | web.Response:
    raw = request.query.get("metric", "")
    names = [m.strip() for m in raw.split(",") if m.strip()]
    if not names:
        return _bad_param("The parameter metric is required")
    for i, name in enumerate(names):
        if name not in allowed:
            return _bad_param(
                f"metric[{i}] must be one of the following values: {', '.join(allowed)}"
            )
    return names


async def user_insights(request: web.Request) -> web.Response:
    """GET /v1.0/{user-id}/threads_insights: followers_count and totals over since/until."""
    acc = _node(request)
    if isinstance(acc, web.Response):
        return acc
    names = _metrics(request, USER_METRICS)
    if isinstance(names, web.Response):
        return names
    ctx = context(request)
    world, now = ctx.world, ctx.clock.now()
    until = _instant(request.query.get("until", "")) or now.timestamp()
    since = _instant(request.query.get("since", "")) or until - 2 * 86400
    data = []
    for name in names:
        entry: dict[str, Any] = {"name": name, "period": "day", "title": name,
                                 "description": USER_METRICS[name]}  # fmt: skip
        if name == "followers_count":
            entry["total_value"] = {"value": world.served_followers(acc, now)}
        elif name == "views":
            days = []
            day = datetime.fromtimestamp(since, UTC).replace(hour=7, minute=0, second=0)
            while day.timestamp() <= until:
                prev = _window_sum(world, acc, "views", 0, (day - timedelta(days=1)).timestamp())
                total = _window_sum(world, acc, "views", 0, day.timestamp())
                days.append({"value": total - prev, "end_time": graph_time(day)})
                day += timedelta(days=1)
            entry["values"] = days
        elif name == "clicks":
            entry["link_total_values"] = []
        else:
            total = _window_sum(world, acc, name, since, until)
            entry["total_value"] = {"value": total}
        entry["id"] = f"{acc.account_id}/insights/{name}/day"
        data.append(entry)
    return json_response({"data": data})


async def media_insights(request: web.Request) -> web.Response:
    """GET /v1.0/{media-id}/insights: lifetime counters of one of the owner's threads."""
    ctx = context(request)
    mid = request.match_info["node"]
    entry = _own_entry(request, mid)
    if entry is None:
        return _no_object(mid)
    names = _metrics(request, MEDIA_METRICS)
    if isinstance(names, web.Response):
        return names
    if isinstance(entry, Repost):
        return json_response({"data": []})  # a repost facade has no insights of its own
    now = ctx.clock.now()
    data = []
    for name in names:
        title, description = MEDIA_METRICS[name]
        value = ctx.world.counter(entry, name, now) if name != "shares" else 0
        data.append({"name": name, "period": "lifetime", "values": [{"value": value}],
                     "title": title, "description": description,
                     "id": f"{mid}/insights/{name}/lifetime"})  # fmt: skip
    return json_response({"data": data})


def _public_profile(request: web.Request) -> Account | web.Response:
    username = request.query.get("username", "").strip().lstrip("@")
    if not username:
        return _bad_param("The parameter username is required")
    acc = context(request).world.account(PLATFORM, username, "handle")
    if acc is None:
        return graph_error(
            400, f"The requested user '{username}' does not exist.", 100, subcode=2207013
        )
    return acc


async def profile_lookup(request: web.Request) -> web.Response:
    """GET /v1.0/profile_lookup?username=: a public profile (no id)."""
    acc = _public_profile(request)
    if isinstance(acc, web.Response):
        return acc
    ctx = context(request)
    return json_response(profile_lookup_body(ctx.world, acc, ctx.clock.now()))


async def profile_posts(request: web.Request) -> web.Response:
    """GET /v1.0/profile_posts?username=: a public profile's threads (no counters)."""
    acc = _public_profile(request)
    if isinstance(acc, web.Response):
        return acc
    public = tuple(f for f in MEDIA_FIELDS if f not in ("owner", "is_reply_owned_by_me"))
    fields = _fields(request, public, "ThreadsMedia")
    if isinstance(fields, web.Response):
        return fields
    ctx = context(request)
    entries = [e for e in ctx.world.visible_feed(acc, ctx.clock.now())
               if isinstance(e, Post) and e.kind != REPLY]  # fmt: skip
    return _feed_page(request, entries, fields)


async def not_found_route(request: web.Request) -> web.Response:
    """Any other path or edge."""
    return graph_error(400, "Unsupported get request.", 100, subcode=33)


# -- middlewares and app -------------------------------------------------------------------------


def _token(request: web.Request) -> str:
    token = request.query.get("access_token", "")
    auth = request.headers.get("Authorization", "")
    if not token and auth.lower().startswith(("bearer ", "oauth ")):
        token = auth.split(None, 1)[1].strip()
    return token


def _auth_middleware(ctx: SandboxContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = _token(request)
        if not token:
            return graph_error(400, "An access token is required to request this resource.",
                               104, kind="OAuthException")  # fmt: skip
        table: Mapping[str, str] = ctx.config.threads_access_tokens
        username = table.get(token) if table else token
        acc = ctx.world.account(PLATFORM, username, "handle") if username else None
        if acc is None:
            return graph_error(400, "Invalid OAuth access token - Cannot parse access token",
                               190, kind="OAuthException")  # fmt: skip
        request[OWNER_KEY] = acc
        return await handler(request)

    return middleware


def _rate_limit_middleware(ctx: SandboxContext, state: dict[str, list[float]]) -> Middleware:
    limit = int(ctx.config.threads_rate_limit)
    window = float(ctx.config.threads_rate_window)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # A rolling budget per user token: calls in the last ``window`` seconds.
        calls = state.setdefault(_token(request), [])
        now = time.time()
        while calls and calls[0] <= now - window:
            calls.pop(0)
        if len(calls) >= limit:
            ctx.stats.rate_limited[PLATFORM] += 1
            return graph_error(400, "(#17) User request limit reached", 17, transient=True)
        calls.append(now)
        return await handler(request)

    return middleware


def _endpoint(path: str) -> str:
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    return tail if not tail.isdigit() else "node"


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The Threads sub-application, mounted at ``/threads`` (paths as on graph.threads.net)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(PLATFORM, _endpoint(request.path))] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            _auth_middleware(ctx),
            _rate_limit_middleware(ctx, {}),
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
        ]
    )
    v = f"/{VERSION}"
    app.router.add_get(f"{v}/profile_lookup", profile_lookup)
    app.router.add_get(f"{v}/profile_posts", profile_posts)
    app.router.add_get(f"{v}/{{node}}/threads", threads)
    app.router.add_get(f"{v}/{{node}}/threads_insights", user_insights)
    app.router.add_get(f"{v}/{{node}}/insights", media_insights)
    app.router.add_get(f"{v}/{{node}}", me)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
