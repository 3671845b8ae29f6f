"""The simulated YouTube Data API v3: channels, playlistItems and videos, keys and daily quota."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.formats import iso_duration, iso_s, page_token, parse_page_token
from hhs_platform.sandbox.model import Account, Post

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "youtube"
_PACIFIC = ZoneInfo("America/Los_Angeles")
_PARTS = {
    "channels": {"id", "snippet", "contentDetails", "statistics", "brandingSettings"},
    "playlistItems": {"id", "snippet", "contentDetails", "status"},
    "videos": {"id", "snippet", "contentDetails", "statistics", "status"},
}
_QUOTA_MESSAGE = (
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)


def _respond(payload: Any, status: int = 200) -> web.Response:
    # Google pretty-prints and escapes < and > inside strings; the parsed value is unchanged.
    body = json.dumps(payload, ensure_ascii=False, indent=2)
    body = body.replace("<", "\\u003c").replace(">", "\\u003e")
    return web.Response(
        body=body.encode(), status=status, content_type="application/json", charset="utf-8"
    )


def error_body(
    code: int, message: str, reason: str, domain: str = "global", **extra: str
) -> dict[str, Any]:
    """The ``{"error": {...}}`` body of a Google API error (``extra``: location, status...)."""
    status = extra.pop("status", None)
    err: dict[str, Any] = {"message": message, "domain": domain, "reason": reason, **extra}
    body: dict[str, Any] = {"code": code, "message": message, "errors": [err]}
    if status:
        body["status"] = status
    return {"error": body}


def _error(
    code: int, message: str, reason: str, domain: str = "global", **extra: str
) -> web.Response:
    return _respond(error_body(code, message, reason, domain, **extra), code)


def _quota_exceeded() -> web.Response:
    # Field order as in the recorded body (errors first).
    err = {"domain": "youtube.quota", "reason": "quotaExceeded", "message": _QUOTA_MESSAGE}
    return _respond({"error": {"errors": [err], "code": 403, "message": _QUOTA_MESSAGE}}, 403)


def _key_invalid() -> web.Response:
    err = {"domain": "usageLimits", "reason": "keyInvalid", "message": "Bad Request"}
    return _respond({"error": {"errors": [err], "code": 400, "message": "Bad Request"}}, 400)


# -- payload builders ----------------------------------------------------------------------------


def _with_etag(kind: str, item_id: str, body: dict[str, Any]) -> dict[str, Any]:
    tag = ids.etag(kind, item_id, json.dumps(body, sort_keys=True))
    return {"kind": kind, "etag": tag, "id": item_id, **body}


def _channel_thumbs(acc: Account) -> dict[str, Any]:
    base = f"https://yt3.ggpht.com/{acc.avatar_cid[-40:]}"
    return {
        name: {"url": f"{base}=s{px}-c-k-c0x00ffffff-no-rj", "width": px, "height": px}
        for name, px in (("default", 88), ("medium", 240), ("high", 800))
    }


def uploads_playlist(acc: Account) -> str:
    """The uploads playlist of a channel: ``UU`` + the channel id without ``UC``."""
    return "UU" + acc.account_id[2:]


def channel_item(world: World, acc: Account, parts: set[str], at: datetime) -> dict[str, Any]:
    """A youtube#channel resource with the requested parts."""
    body: dict[str, Any] = {}
    if "snippet" in parts:
        body["snippet"] = {
            "title": acc.display_name,
            "description": acc.description,
            "customUrl": "@" + acc.handle,
            "publishedAt": iso_s(acc.created_at),
            "thumbnails": _channel_thumbs(acc),
            "localized": {"title": acc.display_name, "description": acc.description},
            "country": "US",
        }
    if "contentDetails" in parts:
        body["contentDetails"] = {
            "relatedPlaylists": {"likes": "", "uploads": uploads_playlist(acc)}
        }
    if "statistics" in parts:
        stats: dict[str, Any] = {"viewCount": str(world.channel_views(acc, at))}
        served = world.served_followers(acc, at)
        if served is not None:
            stats["subscriberCount"] = str(served)
        stats["hiddenSubscriberCount"] = acc.hidden_followers
        stats["videoCount"] = str(world.posts_count(acc, at))
        body["statistics"] = stats
    if "brandingSettings" in parts:
        channel: dict[str, Any] = {
            "title": acc.display_name,
            "description": acc.description,
            "keywords": f'"{acc.agency}" health "public health" HHS',
        }
        visible = world.visible_posts(acc, at)
        if visible:
            channel["unsubscribedTrailer"] = visible[0].post_id
        channel["country"] = "US"
        body["brandingSettings"] = {
            "channel": channel,
            "image": {"bannerExternalUrl": f"https://yt3.ggpht.com/{acc.banner_cid[-48:]}"},
        }
    return _with_etag("youtube#channel", acc.account_id, body)


def _video_thumbs(video_id: str) -> dict[str, Any]:
    sizes = (
        ("default", "default", 120, 90),
        ("medium", "mqdefault", 320, 180),
        ("high", "hqdefault", 480, 360),
        ("standard", "sddefault", 640, 480),
        ("maxres", "maxresdefault", 1280, 720),
    )
    return {
        name: {"url": f"https://i.ytimg.com/vi/{video_id}/{file}.jpg", "width": w, "height": h}
        for name, file, w, h in sizes
    }


def playlist_item(
    acc: Account, video: Post, position: int, parts: set[str], description: str | None = None
) -> dict[str, Any]:
    """A youtube#playlistItem of the uploads playlist (``description``: the edited one)."""
    playlist = uploads_playlist(acc)
    body: dict[str, Any] = {}
    if "snippet" in parts:
        body["snippet"] = {
            "publishedAt": iso_s(video.created_at),
            "channelId": acc.account_id,
            "title": video.title,
            "description": video.text if description is None else description,
            "thumbnails": _video_thumbs(video.post_id),
            "channelTitle": acc.display_name,
            "playlistId": playlist,
            "position": position,
            "resourceId": {"kind": "youtube#video", "videoId": video.post_id},
            "videoOwnerChannelTitle": acc.display_name,
            "videoOwnerChannelId": acc.account_id,
        }
    if "contentDetails" in parts:
        body["contentDetails"] = {
            "videoId": video.post_id,
            "videoPublishedAt": iso_s(video.created_at),
        }
    if "status" in parts:
        body["status"] = {"privacyStatus": "public"}
    suffix = ids.etag(playlist, video.post_id).encode().hex().upper()[:16]
    item_id = base64.b64encode(f"{playlist}.{suffix}".encode()).decode()
    return _with_etag("youtube#playlistItem", item_id, body)


def video_item(world: World, video: Post, parts: set[str], at: datetime) -> dict[str, Any]:
    """A youtube#video resource; statistics counts are strings, as the API serves them."""
    acc = world.account_by_id(video.account_id)
    description = world.text(video, at)
    body: dict[str, Any] = {}
    if "snippet" in parts:
        body["snippet"] = {
            "publishedAt": iso_s(video.created_at),
            "channelId": acc.account_id,
            "title": video.title,
            "description": description,
            "thumbnails": _video_thumbs(video.post_id),
            "channelTitle": acc.display_name,
            "tags": list(video.tags),
            "categoryId": video.category_id,
            "liveBroadcastContent": "none",
            "defaultLanguage": "en",
            "localized": {"title": video.title, "description": description},
            "defaultAudioLanguage": "en",
        }
    if "contentDetails" in parts:
        body["contentDetails"] = {
            "duration": iso_duration(video.duration_s),
            "dimension": "2d",
            "definition": video.definition,
            "caption": "true" if video.caption else "false",
            "licensedContent": False,
            "contentRating": {},
            "projection": "rectangular",
        }
    if "status" in parts:
        body["status"] = {
            "uploadStatus": "processed",
            "privacyStatus": "public",
            "license": "youtube",
            "embeddable": True,
            "publicStatsViewable": True,
            "madeForKids": False,
        }
    if "statistics" in parts:
        body["statistics"] = {
            "viewCount": str(world.counter(video, "views", at)),
            "likeCount": str(world.counter(video, "likes", at)),
            "favoriteCount": "0",
            "commentCount": str(world.counter(video, "replies", at)),
        }
    return _with_etag("youtube#video", video.post_id, body)


def _list(
    kind: str,
    items: list[dict[str, Any]],
    per_page: int,
    total: int | None = None,
    tokens: dict[str, str] | None = None,
    omit_empty: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "etag": ids.etag(kind, *(i["etag"] for i in items))}
    out.update(tokens or {})
    out["pageInfo"] = {
        "totalResults": len(items) if total is None else total,
        "resultsPerPage": per_page,
    }
    # channels.list leaves "items" out when nothing matched; the other lists send [].
    if items or not omit_empty:
        out["items"] = items
    return out


# -- handlers ------------------------------------------------------------------------------------


def _parts(request: web.Request, endpoint: str) -> set[str] | web.Response:
    raw = request.query.get("part", "")
    if not raw:
        return _error(
            400, "Required parameter: part", "required", location="part", locationType="parameter"
        )
    parts = {p.strip() for p in raw.split(",") if p.strip()}
    for p in sorted(parts):
        if p not in _PARTS[endpoint]:
            return _error(
                400,
                f"'{p}'",
                "unknownPart",
                "youtube.part",
                location="part",
                locationType="parameter",
            )
    return parts


def _max_results(request: web.Request, default: int = 5) -> int | web.Response:
    raw = request.query.get("maxResults", str(default))
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if not 0 <= n <= 50:
        return _error(
            400,
            f"Invalid value '{raw}'. Values must be within the range: [0, 50]",
            "invalidParameter",
            "youtube.parameter",
            location="maxResults",
            locationType="parameter",
        )
    return n


async def channels(request: web.Request) -> web.Response:
    """GET /youtube/v3/channels by id, forUsername or forHandle."""
    ctx = context(request)
    parts = _parts(request, "channels")
    if isinstance(parts, web.Response):
        return parts
    q = request.query
    filters = [f for f in ("id", "forUsername", "forHandle") if q.get(f)]
    if len(filters) != 1:
        message = "No filter selected. Expected one of: forUsername, id, forHandle, mine"
        if filters:
            message = "Incompatible parameters specified in the request: " + ", ".join(filters)
        return _error(
            400,
            message,
            "missingRequiredParameter" if not filters else "incompatibleParameters",
            "youtube.parameter",
        )
    world, now = ctx.world, ctx.clock.now()
    found: list[Account] = []
    if "id" in filters:
        for cid in q["id"].split(","):
            acc = world.account(PLATFORM, cid.strip())
            if acc is not None and acc not in found:
                found.append(acc)
    else:
        by = "username" if "forUsername" in filters else "handle"
        acc = world.account(PLATFORM, q[filters[0]].strip(), by)
        found = [acc] if acc is not None else []
    items = [channel_item(world, a, parts, now) for a in found]
    return _respond(_list("youtube#channelListResponse", items, 5, omit_empty=True))


async def playlist_items(request: web.Request) -> web.Response:
    """GET /youtube/v3/playlistItems for an uploads playlist, newest first."""
    ctx = context(request)
    parts = _parts(request, "playlistItems")
    if isinstance(parts, web.Response):
        return parts
    per_page = _max_results(request)
    if isinstance(per_page, web.Response):
        return per_page
    playlist = request.query.get("playlistId", "")
    if not playlist:
        return _error(
            400,
            "No filter selected. Expected one of: playlistId, id",
            "missingRequiredParameter",
            "youtube.parameter",
        )
    acc = ctx.world.account(PLATFORM, "UC" + playlist[2:]) if playlist.startswith("UU") else None
    if acc is None:
        msg = (
            "The playlist identified with the request's <code>playlistId</code> parameter "
            "cannot be found."
        )
        return _error(
            404,
            msg,
            "playlistNotFound",
            "youtube.playlistItem",
            location="playlistId",
            locationType="parameter",
        )
    now = ctx.clock.now()
    videos = ctx.world.visible_posts(acc, now)[::-1]
    start = 0
    if request.query.get("pageToken"):
        try:
            offset, backwards = parse_page_token(request.query["pageToken"])
        except (ValueError, IndexError):
            return _error(
                400,
                "The request specifies an invalid page token.",
                "invalidPageToken",
                "youtube.parameter",
                location="pageToken",
                locationType="parameter",
            )
        start = max(0, offset - per_page) if backwards else offset
    page = videos[start : start + per_page]
    items = [
        playlist_item(acc, v, start + i, parts, ctx.world.text(v, now)) for i, v in enumerate(page)
    ]
    tokens: dict[str, str] = {}
    if per_page and start + per_page < len(videos):
        tokens["nextPageToken"] = page_token(start + per_page)
    if start > 0:
        tokens["prevPageToken"] = page_token(start, backwards=True)
    return _respond(_list("youtube#playlistItemListResponse", items, per_page, len(videos), tokens))


async def videos(request: web.Request) -> web.Response:
    """GET /youtube/v3/videos for up to 50 ids; unknown or unpublished ids are left out."""
    ctx = context(request)
    parts = _parts(request, "videos")
    if isinstance(parts, web.Response):
        return parts
    wanted = [v.strip() for v in request.query.get("id", "").split(",") if v.strip()]
    if not wanted:
        return _error(
            400,
            "No filter selected. Expected one of: chart, id, myRating",
            "missingRequiredParameter",
            "youtube.parameter",
        )
    if len(wanted) > 50:
        return _error(
            400,
            "The request specifies an invalid filter parameter.",
            "invalidFilters",
            "youtube.parameter",
            location="id",
            locationType="parameter",
        )
    world, now = ctx.world, ctx.clock.now()
    items = []
    for vid in dict.fromkeys(wanted):
        post = world.posts.get(vid)
        if post is not None and post.platform == PLATFORM and world.is_visible(post, now):
            items.append(video_item(world, post, parts, now))
    return _respond(_list("youtube#videoListResponse", items, len(items)))


# -- middlewares and app -------------------------------------------------------------------------


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return _error(
            429,
            "Resource has been exhausted (e.g. check quota).",
            "rateLimitExceeded",
            status="RESOURCE_EXHAUSTED",
        )
    if status == 503:
        return _error(
            503, "The service is currently unavailable.", "backendError", status="UNAVAILABLE"
        )
    if status == 502:
        return web.Response(
            status=502, text="<html><title>502 Bad Gateway</title></html>", content_type="text/html"
        )
    return _error(500, "Internal error encountered.", "backendError", status="INTERNAL")


def pacific_day(at: datetime) -> str:
    """The Pacific-time date on which YouTube quota resets."""
    return at.astimezone(_PACIFIC).date().isoformat()


def _key_middleware(ctx: SandboxContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/feeds/videos.xml"):  # the public feed needs no key or quota
            return await handler(request)
        key = request.query.get("key", "")
        if not key:
            msg = "The request is missing a valid API key."
            return _error(403, msg, "forbidden", status="PERMISSION_DENIED")
        if ctx.config.youtube_api_keys and key not in ctx.config.youtube_api_keys:
            return _key_invalid()
        slot = (key, pacific_day(ctx.clock.now()))
        used = ctx.stats.quota_used.get(slot, 0)
        if used >= ctx.config.youtube_daily_quota:
            return _quota_exceeded()
        ctx.stats.quota_used[slot] = used + 1  # channels, playlistItems, videos: 1 unit each
        return await handler(request)

    return middleware


#: How many of the newest uploads the channel feed lists (the real feed has no paging).
FEED_ENTRIES = 15


async def feed(request: web.Request) -> web.Response:
    """GET /feeds/videos.xml?channel_id=UC...: the channel's Atom feed (the 15 newest uploads).

    As on youtube.com: ``media:starRating@count`` is the like count, ``media:statistics@views``
    the view count, and the feed-level ``yt:channelId`` drops the "UC" prefix.
    """
    ctx = context(request)
    channel_id = request.query.get("channel_id", "")
    acc = ctx.world.account(PLATFORM, channel_id) if channel_id else None
    if acc is None:
        return web.Response(status=404, text="<!DOCTYPE html><html><body>404 Not Found</body></html>",
                            content_type="text/html")  # fmt: skip
    now = ctx.clock.now()
    newest = ctx.world.visible_posts(acc, now)[::-1][:FEED_ENTRIES]
    channel_url = f"https://www.youtube.com/channel/{acc.account_id}"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">',
        f' <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id={acc.account_id}"/>',
        f" <id>yt:channel:{acc.account_id[2:]}</id>",
        f" <yt:channelId>{acc.account_id[2:]}</yt:channelId>",
        f" <title>{escape(acc.display_name)}</title>",
        f' <link rel="alternate" href="{channel_url}"/>',
        f" <author><name>{escape(acc.display_name)}</name><uri>{channel_url}</uri></author>",
        f" <published>{acc.created_at.isoformat()}</published>",
    ]
    for video in newest:
        thumb = f"https://i1.ytimg.com/vi/{video.post_id}/hqdefault.jpg"
        title = escape(video.title or "")
        lines += [
            " <entry>",
            f"  <id>yt:video:{video.post_id}</id>",
            f"  <yt:videoId>{video.post_id}</yt:videoId>",
            f"  <yt:channelId>{acc.account_id}</yt:channelId>",
            f"  <title>{title}</title>",
            f'  <link rel="alternate" href="https://www.youtube.com/watch?v={video.post_id}"/>',
            f"  <author><name>{escape(acc.display_name)}</name><uri>{channel_url}</uri></author>",
            f"  <published>{video.created_at.isoformat()}</published>",
            f"  <updated>{now.isoformat()}</updated>",
            "  <media:group>",
            f"   <media:title>{title}</media:title>",
            f'   <media:content url="https://www.youtube.com/v/{video.post_id}?version=3" '
            'type="application/x-shockwave-flash" width="640" height="390"/>',
            f'   <media:thumbnail url="{thumb}" width="480" height="360"/>',
            f"   <media:description>{escape(ctx.world.text(video, now))}</media:description>",
            "   <media:community>",
            f'    <media:starRating count="{ctx.world.counter(video, "likes", now)}" '
            'average="5.00" min="1" max="5"/>',
            f'    <media:statistics views="{ctx.world.counter(video, "views", now)}"/>',
            "   </media:community>",
            "  </media:group>",
            " </entry>",
        ]
    lines.append("</feed>")
    return web.Response(text="\n".join(lines), content_type="application/atom+xml", charset="utf-8")


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The YouTube sub-application, mounted at ``/youtube`` by the server."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(PLATFORM, request.path.rsplit("/", 1)[-1])] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
            _key_middleware(ctx),
        ]
    )
    app.router.add_get("/youtube/v3/channels", channels)
    app.router.add_get("/youtube/v3/playlistItems", playlist_items)
    app.router.add_get("/youtube/v3/videos", videos)
    app.router.add_get("/feeds/videos.xml", feed)
    return app
