"""The simulated Flickr REST API: people.getInfo, urls.lookupUser, findByUsername, public photos.

No recorded Flickr payloads exist in ``../shared/api-samples``; the shapes follow the method
pages of https://www.flickr.com/services/api/ (JSON is the XML response with attributes as keys
and text as ``_content``), and errors are HTTP 200 ``{"stat": "fail", "code": N, "message"}``.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.model import Account, Post

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "flickr"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 100, 500
STATIC = "https://live.staticflickr.com"
#: The documented extras of people.getPublicPhotos, plus the widely used count_* ones.
EXTRAS = frozenset({
    "description", "license", "date_upload", "date_taken", "owner_name", "icon_server",
    "original_format", "last_update", "geo", "tags", "machine_tags", "o_dims", "views", "media",
    "path_alias", "url_sq", "url_t", "url_s", "url_q", "url_m", "url_n", "url_z", "url_c",
    "url_l", "url_o", "count_faves", "count_comments",
})  # fmt: skip
#: Size suffix and longest side (squares: the side) of each url_* extra.
_SIZES = {"sq": ("s", 75), "q": ("q", 150), "t": ("t", 100), "s": ("m", 240), "n": ("n", 320),
          "m": ("", 500), "z": ("z", 640), "c": ("c", 800), "l": ("b", 1024)}  # fmt: skip


class FlickrFail(Exception):
    """A ``stat: fail`` answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _user_not_found() -> FlickrFail:
    return FlickrFail(1, "User not found")


# -- payload builders ----------------------------------------------------------------------------


def _c(value: Any) -> dict[str, Any]:
    return {"_content": value}


def _alias(acc: Account) -> str | None:
    return acc.instance or None


def _server(post_id: str) -> str:
    return str(65535 - ids.stable_hash(post_id, "server") % 2)


def _secret(*parts: object) -> str:
    return format(ids.stable_hash(*parts), "016x")[:10]


def person(world: World, acc: Account, at: datetime) -> dict[str, Any]:
    """The ``person`` of flickr.people.getInfo."""
    visible = world.visible_posts(acc, at)
    path = _alias(acc) or acc.account_id
    first = visible[0] if visible else None
    return {
        "id": acc.account_id,
        "nsid": acc.account_id,
        "ispro": 1,
        "pro_badge": "standard",
        "expire": "0",
        "can_buy_pro": 0,
        "iconserver": str(ids.stable_hash(acc.account_id, "icon") % 65535),
        "iconfarm": 66,
        "ignored": 0,
        "path_alias": _alias(acc),
        "has_stats": 1,
        "gender": "P",
        "contact": 0,
        "friend": 0,
        "family": 0,
        "revcontact": 0,
        "revfriend": 0,
        "revfamily": 0,
        "username": _c(acc.username),
        "realname": _c(acc.display_name),
        "location": _c("Washington, DC, USA"),
        "timezone": {
            "label": "Eastern Time (US & Canada)",
            "offset": "-05:00",
            "timezone_id": "America/New_York",
        },
        "description": _c(acc.description),
        "photosurl": _c(f"https://www.flickr.com/photos/{path}/"),
        "profileurl": _c(f"https://www.flickr.com/people/{path}/"),
        "mobileurl": _c(f"https://m.flickr.com/photostream.gne?id={acc.account_id.split('@')[0]}"),
        "photos": {
            "firstdatetaken": _c(_date_taken(first) if first else None),
            "firstdate": _c(str(int(first.ts)) if first else None),
            "count": _c(len(visible)),
        },
        "has_adfree": 0,
        "has_free_standard_shipping": 0,
        "has_free_educational_resources": 0,
    }


def _date_taken(post: Post) -> str:
    before = int(ids.unit(post.post_id, "taken") * 3 * 86400)
    return datetime.fromtimestamp(post.ts - before, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _scaled(w: int, h: int, side: int, square: bool) -> tuple[int, int]:
    if square:
        return side, side
    if max(w, h) <= side:
        return w, h
    k = side / max(w, h)
    return round(w * k), round(h * k)


def photo(world: World, post: Post, extras: set[str], at: datetime) -> dict[str, Any]:
    """One ``photos.photo`` entry with the requested extras, as Flickr types them."""
    acc = world.account_by_id(post.account_id)
    server, secret = _server(post.post_id), _secret(post.post_id, "secret")
    e = post.embed
    w, h = e.aspect if e else (1024, 768)
    out: dict[str, Any] = {
        "id": post.post_id, "owner": acc.account_id, "secret": secret, "server": server,
        "farm": 66, "title": post.title, "ispublic": 1, "isfriend": 0, "isfamily": 0,
    }  # fmt: skip
    if "description" in extras:
        out["description"] = _c(post.text)
    if "license" in extras:
        out["license"] = "8"  # United States Government Work
    if "date_upload" in extras:
        out["dateupload"] = str(int(post.ts))
    if "last_update" in extras:
        out["lastupdate"] = str(int(post.ts) + 60)
    if "date_taken" in extras:
        out.update(datetaken=_date_taken(post), datetakengranularity=0, datetakenunknown="0")
    if "owner_name" in extras:
        out["ownername"] = acc.username
    if "icon_server" in extras:
        out.update(iconserver=str(ids.stable_hash(acc.account_id, "icon") % 65535), iconfarm=66)
    if "original_format" in extras:
        out.update(originalsecret=_secret(post.post_id, "original"), originalformat="jpg")
    if "views" in extras:
        out["views"] = str(world.counter(post, "views", at))
    if "tags" in extras:
        out["tags"] = " ".join(post.tags)
    if "machine_tags" in extras:
        out["machine_tags"] = ""
    if "o_dims" in extras:
        out.update(o_width=str(w), o_height=str(h))
    if "geo" in extras:
        out.update(latitude="0", longitude="0", accuracy="0", context=0)
    if "media" in extras:
        out.update(media="video" if e and e.kind == "video" else "photo", media_status="ready")
    if "path_alias" in extras:
        out["pathalias"] = _alias(acc)
    for key, (suffix, side) in _SIZES.items():
        if f"url_{key}" not in extras or (key == "l" and max(w, h) < 1024):
            continue
        sw, sh = _scaled(w, h, side, key in ("sq", "q"))
        tail = f"_{suffix}" if suffix else ""
        out[f"url_{key}"] = f"{STATIC}/{server}/{post.post_id}_{secret}{tail}.jpg"
        out[f"height_{key}"], out[f"width_{key}"] = sh, sw
    if "url_o" in extras:
        original = _secret(post.post_id, "original")
        out["url_o"] = f"{STATIC}/{server}/{post.post_id}_{original}_o.jpg"
        out["height_o"], out["width_o"] = h, w
    if "count_faves" in extras:
        out["count_faves"] = str(world.counter(post, "likes", at))
    if "count_comments" in extras:
        out["count_comments"] = str(world.counter(post, "replies", at))
    return out


# -- methods -------------------------------------------------------------------------------------


def _member(world: World, user_id: str) -> Account:
    acc = world.account(PLATFORM, user_id) if user_id else None
    if acc is None:
        raise _user_not_found()
    return acc


def people_get_info(world: World, q: Any, at: datetime) -> dict[str, Any]:
    """flickr.people.getInfo(user_id)."""
    return {"person": person(world, _member(world, q.get("user_id", "")), at)}


def urls_lookup_user(world: World, q: Any, at: datetime) -> dict[str, Any]:
    """flickr.urls.lookupUser(url): a photostream or profile URL to the member."""
    raw = q.get("url", "")
    parts = [p for p in urlsplit(raw if "//" in raw else "https://" + raw).path.split("/") if p]
    acc = None
    if len(parts) >= 2 and parts[0] in ("photos", "people"):
        acc = world.account(PLATFORM, parts[1]) or world.account(PLATFORM, parts[1], "handle")
    if acc is None:
        raise _user_not_found()
    return {"user": {"id": acc.account_id, "username": _c(acc.username)}}


def people_find_by_username(world: World, q: Any, at: datetime) -> dict[str, Any]:
    """flickr.people.findByUsername(username): the screen name, not the path alias."""
    acc = world.account(PLATFORM, q.get("username", ""), "username")
    if acc is None:
        raise _user_not_found()
    return {"user": {"id": acc.account_id, "nsid": acc.account_id,
                     "username": _c(acc.username)}}  # fmt: skip


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return default


def people_get_public_photos(world: World, q: Any, at: datetime) -> dict[str, Any]:
    """flickr.people.getPublicPhotos(user_id, extras, per_page, page): newest upload first."""
    acc = _member(world, q.get("user_id", ""))
    per_page = _int(q.get("per_page"), DEFAULT_PER_PAGE)
    per_page = MAX_PER_PAGE if per_page > MAX_PER_PAGE else per_page if per_page > 0 else 100
    page = max(1, _int(q.get("page"), 1))
    extras = {x.strip() for x in q.get("extras", "").split(",")} & EXTRAS
    posts = sorted(world.visible_posts(acc, at), key=lambda p: (p.ts, int(p.post_id)), reverse=True)
    total = len(posts)
    chunk = posts[(page - 1) * per_page : page * per_page]  # past the last page: no photos
    return {
        "photos": {
            "page": page,
            "pages": math.ceil(total / per_page),
            "perpage": per_page,
            "total": total,
            "photo": [photo(world, p, extras, at) for p in chunk],
        }
    }


METHODS = {
    "flickr.people.getInfo": people_get_info,
    "flickr.urls.lookupUser": urls_lookup_user,
    "flickr.people.findByUsername": people_find_by_username,
    "flickr.people.getPublicPhotos": people_get_public_photos,
}


# -- formats -------------------------------------------------------------------------------------


def _xml(name: str, value: Any) -> str:
    """One element of the REST (XML) format: scalars are attributes, ``_content`` is text."""
    if isinstance(value, list):
        return "".join(_xml(name, v) for v in value)
    if not isinstance(value, dict):
        return f"<{name}>{escape(str(value))}</{name}>"
    attrs = "".join(f" {k}={quoteattr(str(v))}" for k, v in value.items()
                    if k != "_content" and not isinstance(v, dict | list) and v is not None)  # fmt: skip
    inner = "".join(_xml(k, v) for k, v in value.items() if isinstance(v, dict | list))
    inner += escape(str(value["_content"])) if value.get("_content") is not None else ""
    return f"<{name}{attrs}>{inner}</{name}>"


def render(request: web.Request, payload: dict[str, Any]) -> web.Response:
    """The answer in the requested format (json, JSONP or the default REST XML), HTTP 200."""
    fmt = request.query.get("format", "rest")
    if fmt == "json":
        if request.query.get("nojsoncallback") == "1":
            return json_response(payload)
        callback = request.query.get("jsoncallback") or "jsonFlickrApi"
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return web.Response(text=f"{callback}({body})", content_type="text/javascript",
                            charset="utf-8")  # fmt: skip
    stat = payload["stat"]
    if stat == "fail":
        inner = (
            f"<err code={quoteattr(str(payload['code']))} msg={quoteattr(payload['message'])} />"
        )
    else:
        inner = "".join(_xml(k, v) for k, v in payload.items() if k != "stat")
    xml = f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="{stat}">\n{inner}\n</rsp>\n'
    return web.Response(text=xml, content_type="text/xml", charset="utf-8")


def fail(request: web.Request, code: int, message: str) -> web.Response:
    """An error answer: HTTP 200 with ``stat: fail``."""
    return render(request, {"stat": "fail", "code": code, "message": message})


# -- handlers ------------------------------------------------------------------------------------


async def rest(request: web.Request) -> web.Response:
    """GET /services/rest/?method=...&api_key=...&format=json&nojsoncallback=1."""
    ctx = context(request)
    q = request.query
    fmt = q.get("format", "rest")
    if fmt not in ("rest", "json"):
        return fail(request, 111, f'Format "{fmt}" not found')
    key = q.get("api_key", "")
    keys = ctx.config.flickr_api_keys
    if not key:
        return fail(request, 100, "Invalid API Key (Key has invalid format)")
    if keys and key not in keys:
        return fail(request, 100, "Invalid API Key (Key not found)")
    method = q.get("method", "")
    impl = METHODS.get(method)
    if impl is None:
        return fail(request, 112, f'Method "{method}" not found')
    try:
        payload = impl(ctx.world, q, ctx.clock.now())
    except FlickrFail as exc:
        return fail(request, exc.code, exc.message)
    return render(request, {**payload, "stat": "ok"})


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return web.Response(status=429, text="Too Many Requests", content_type="text/plain")
    if status in (502, 503):
        return web.Response(status=status, text=f"<html><body><h1>{status} Service Unavailable"
                            "</h1></body></html>", content_type="text/html")  # fmt: skip
    return json_response({"stat": "fail", "code": 105, "message": "Service currently unavailable"},
                         500)  # fmt: skip


def _rate_limit_middleware(ctx: SandboxContext, state: dict[str, list[float]]) -> Middleware:
    limit = int(ctx.config.flickr_rate_limit)
    window = int(ctx.config.flickr_rate_window)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Per API key and hour; Flickr sends no rate-limit headers, only the 429.
        who = request.query.get("api_key") or request.remote or "unknown"
        now = time.time()
        start = math.floor(now / window) * window
        win = state.get(who)
        if win is None or win[0] != start:
            win = state[who] = [start, 0.0]
        win[1] += 1
        if win[1] > limit:
            ctx.stats.rate_limited[PLATFORM] += 1
            return _error_for_status(429)
        response = await handler(request)
        if response.status == 429:
            ctx.stats.rate_limited[PLATFORM] += 1
        return response

    return middleware


async def not_found_route(request: web.Request) -> web.Response:
    """Any other path."""
    return web.Response(status=404, text="<html><body><h1>404 Not Found</h1></body></html>",
                        content_type="text/html")  # fmt: skip


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The Flickr sub-application, mounted at ``/flickr`` (paths as on api.flickr.com)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(PLATFORM, request.query.get("method", request.path))] += 1
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
    app.router.add_get("/services/rest/", rest)
    app.router.add_get("/services/rest", rest)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
