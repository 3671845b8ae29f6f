"""The simulated Facebook Graph API (Pages): page nodes, ``/{page}/posts``, usage headers.

Shapes follow ``../shared/api-samples/facebook`` and the Graph reference: only the requested
fields are served (field expansion with ``.summary()``, ``.limit()``, ``.type()``, ``.as()``),
``shares`` is left out when nobody shared, cursor paging with an absolute ``paging.next``
(time paging with ``until`` + ``__paging_token`` when ``since``/``until`` were given), errors
are ``{"error": {...}}`` with Graph's codes, and throttling is a code (4, 32, 613), never 429.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.graph import (
    OMIT,
    VERSION_RE,
    Field,
    GraphError,
    UsageMeter,
    access_token,
    error_response,
    graph_time,
    int_arg,
    parse_fields,
    parse_time_param,
    select,
    throttled,
    unknown_object,
    usage_header,
)
from hhs_platform.sandbox.model import Account, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "facebook"
API_VERSION = "v21.0"
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
CDN = "https://scontent.xx.fbcdn.net/v/t39.30808-6"
REACTION_TYPES = ("LIKE", "LOVE", "CARE", "HAHA", "WOW", "SAD", "ANGRY")
#: Edges of a Page that list its posts (no visitor posts exist in the world, so they agree).
POST_EDGES = frozenset({"posts", "feed", "published_posts"})


def _error_for_status(status: int) -> web.Response:
    if status == 429:  # Graph throttles with a code in a 400, never with a 429
        return error_response(throttled(613), "fault")
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")  # fmt: skip
    if status == 503:
        return error_response(GraphError("(#2) Service temporarily unavailable", 2, status=503,
                                         extra={"is_transient": True}), "fault")  # fmt: skip
    return error_response(GraphError("An unknown error has occurred.", 1, status=500,
                                     extra={"is_transient": True}), "fault")  # fmt: skip


# -- world lookups -------------------------------------------------------------------------------


def find_page(world: World, ref: str) -> Account | None:
    """A page by id or (case-insensitive) username."""
    return world.account(PLATFORM, ref) or world.account(PLATFORM, ref, "handle")


def _story(post_id: str) -> str:
    return post_id.split("_", 1)[1]


def _split(total: int, post_id: str) -> dict[str, int]:
    """Reactions by type: mostly likes, a stable mix of the others."""
    shares = {t: ids.unit(post_id, "reaction", t) for t in REACTION_TYPES[1:]}
    scale = 0.05 + 0.2 * ids.unit(post_id, "reactions")
    weight = sum(shares.values()) or 1.0
    out = {t: int(total * scale * s / weight) for t, s in shares.items()}
    out["LIKE"] = total - sum(out.values())
    return out


# -- payload builders ----------------------------------------------------------------------------


def message(world: World, post: Post) -> tuple[str, list[dict[str, Any]]]:
    """The post's ``message`` (full links, page names for mentions) and its ``message_tags``."""
    raw = post.text.encode()
    parts: list[str] = []
    tags: list[dict[str, Any]] = []
    pos = 0
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        parts.append(raw[pos : f.byte_start].decode())
        shown = raw[f.byte_start : f.byte_end].decode()
        if f.kind == "link":
            shown = f.value
        elif f.kind == "mention":
            page = world.account(PLATFORM, f.value)
            if page is not None:
                shown = page.display_name
                offset = len("".join(parts))
                tags.append({"id": page.account_id, "name": shown, "type": "page",
                             "offset": offset, "length": len(shown)})  # fmt: skip
        parts.append(shown)
        pos = f.byte_end
    parts.append(raw[pos:].decode())
    return "".join(parts), tags


def _image(blob: str, w: int, h: int) -> dict[str, Any]:
    k = min(1.0, 720 / max(w, h))
    return {"height": round(h * k), "src": f"{CDN}/{blob[-20:]}_n.jpg?_nc_cat=1&ccb=1-7",
            "width": round(w * k)}  # fmt: skip


def _link(page: Account, kind: str, fb_id: str) -> str:
    who = page.username or page.account_id
    return f"https://www.facebook.com/{who}/{kind}/{fb_id}/"


def attachments(world: World, post: Post) -> list[dict[str, Any]]:
    """The post's attachments: a photo, an album with subattachments, a video or a link card."""
    page = world.account_by_id(post.account_id)
    e = post.embed
    link = next((f.value for f in post.facets if f.kind == "link"), None)
    if e is not None and e.kind == "images":
        w, h = e.aspect
        photos = []
        for i, blob in enumerate(e.blobs):
            photo_id = str(int(_story(post.post_id)) + 1 + i)
            url = _link(page, "photos", photo_id)
            photos.append({"media": {"image": _image(blob, w, h)}, "media_type": "photo",
                           "target": {"id": photo_id, "url": url}, "type": "photo", "url": url,
                           "unshimmed_url": url,
                           **({"description": e.alts[i]} if i < len(e.alts) and e.alts[i]
                              else {})})  # fmt: skip
        if len(photos) == 1:
            return photos
        album_id = str(int(_story(post.post_id)) + 99)
        url = _link(page, "posts", album_id)
        return [{"media": photos[0]["media"], "media_type": "album", "subattachments":
                 {"data": photos}, "target": {"id": album_id, "url": url}, "title":
                 f"Photos from {page.display_name}'s post", "type": "album", "url": url,
                 "unshimmed_url": url}]  # fmt: skip
    if e is not None and e.kind == "video":
        video_id = str(int(_story(post.post_id)) + 1)
        url = _link(page, "videos", video_id)
        return [{"media": {"image": _image(e.blobs[0], *e.aspect),
                           "source": f"https://video.xx.fbcdn.net/v/t42.1790-2/{e.blobs[0][-20:]}"
                           "_n.mp4"},
                 "media_type": "video", "target": {"id": video_id, "url": url},
                 "type": "video_inline", "url": url, "unshimmed_url": url}]  # fmt: skip
    if link is not None:
        shim = f"https://l.facebook.com/l.php?u={link}&h=AT{ids.etag(link)[:20]}"
        return [{"description": post.text.split("\n")[0][:200], "media": {"image": _image(
                 ids.blob_cid(link), 1200, 630)}, "media_type": "link", "target": {"url": shim},
                 "title": f"{page.display_name} | {link.split('/')[-2] or 'Home'}",
                 "type": "share", "unshimmed_url": link, "url": shim}]  # fmt: skip
    return []


def _summary_obj(f: Field, total: int, full: dict[str, Any]) -> dict[str, Any]:
    """``summary(true)``: every summary field; ``summary(total_count,...)``: the named ones."""
    wanted = f.args.get("summary", "").strip().lower()
    if wanted in ("true", "1"):
        return full
    names = {n.strip() for n in wanted.split(",")}
    return {k: v for k, v in full.items() if k in names} or {"total_count": total}


def _edge_with_summary(f: Field, total: int, full: dict[str, Any]) -> dict[str, Any]:
    # Individual reactors and commenters are not part of the world: ``data`` is always empty.
    int_arg(f, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    out: dict[str, Any] = {"data": []}
    if "summary" in f.args:
        out["summary"] = _summary_obj(f, total, full)
    return out


def post_node(
    world: World, entry: Post | Repost, requested: tuple[Field, ...] | None, at: datetime
) -> dict[str, Any]:
    """One Page post with the requested fields (a share is the page's own post with parent_id)."""
    is_share = isinstance(entry, Repost)
    post = world.posts[entry.subject] if isinstance(entry, Repost) else entry
    page = world.account_by_id(entry.account_id)
    own_id = entry.uri if isinstance(entry, Repost) else entry.post_id
    text, tags = ("", []) if is_share else message(world, post)
    likes = 0 if is_share else world.counter(post, "likes", at)
    comments = 0 if is_share else world.counter(post, "replies", at)
    shares = 0 if is_share else world.counter(post, "reposts", at)
    media = attachments(world, post)
    picture = media[0]["media"]["image"]["src"] if media and "media" in media[0] else None
    kind = ("shared_story" if is_share or (media and media[0]["type"] == "share")
            else "added_video" if media and media[0]["type"] == "video_inline"
            else "added_photos" if media else "mobile_status_update")  # fmt: skip

    def reactions(f: Field) -> Any:
        if "type" in f.args:
            kind_ = f.args["type"].upper()
            if kind_ not in REACTION_TYPES:
                raise GraphError(f"(#100) type must be one of the following values: "
                                 f"{', '.join(('NONE', *REACTION_TYPES))}", 100)  # fmt: skip
            n = _split(likes, post.post_id)[kind_] if likes else 0
            return _edge_with_summary(f, n, {"total_count": n})
        return _edge_with_summary(f, likes, {"total_count": likes, "viewer_reaction": "NONE"})

    resolvers: dict[str, Any] = {
        "id": lambda f: own_id,
        "created_time": lambda f: graph_time(entry.created_at),
        "updated_time": lambda f: graph_time(entry.created_at),
        "message": lambda f: text or OMIT,
        "message_tags": lambda f: tags or OMIT,
        "story": lambda f: f"{page.display_name} shared a post." if is_share else OMIT,
        "permalink_url": lambda f: (
            f"https://www.facebook.com/{page.account_id}/posts/{_story(own_id)}/"
        ),
        "full_picture": lambda f: picture or OMIT,
        "picture": lambda f: picture.replace("_n.jpg", "_s.jpg") if picture else OMIT,
        "icon": lambda f: (
            "https://www.facebook.com/images/icons/"
            + ("photo.gif" if kind == "added_photos" else "post.gif")
        ),
        "status_type": lambda f: kind,
        "is_published": lambda f: True,
        "is_hidden": lambda f: False,
        "from": lambda f: {"name": page.display_name, "id": page.account_id},
        "parent_id": lambda f: entry.subject if isinstance(entry, Repost) else OMIT,
        "shares": lambda f: {"count": shares} if shares else OMIT,
        "attachments": lambda f: {"data": [_pick(a, f.children) for a in media]} if media else OMIT,
        "reactions": reactions,
        "comments": lambda f: _edge_with_summary(
            f,
            comments,
            {
                "order": "chronological" if f.args.get("filter") == "stream" else "ranked",
                "total_count": comments,
                "can_comment": True,
            },
        ),
    }
    return select("Post", resolvers, requested, ("created_time", "message", "story", "id"))


def _pick(obj: dict[str, Any], children: tuple[Field, ...] | None) -> dict[str, Any]:
    """Keep the requested keys of an attachment (subattachments keep the same selection)."""
    if not children:
        return obj
    out: dict[str, Any] = {}
    for f in children:
        if f.name == "subattachments" and "subattachments" in obj:
            out[f.key] = {"data": [_pick(s, children) for s in obj["subattachments"]["data"]]}
        elif f.name in obj:
            out[f.key] = obj[f.name]
        elif f.name not in ("description", "description_tags", "media", "media_type", "target",
                            "title", "type", "unshimmed_url", "url", "subattachments"):  # fmt: skip
            raise GraphError(f"(#100) Tried accessing nonexisting field ({f.name}) on node type "
                             "(StoryAttachment)", 100)  # fmt: skip
    return out


def page_node(
    world: World, page: Account, requested: tuple[Field, ...] | None, at: datetime
) -> dict[str, Any]:
    """A Page node with the requested fields."""
    from hhs_platform.sandbox.platforms.facebook import fan_count

    site = f"https://www.{page.domain}"
    link = f"https://www.facebook.com/{page.username or page.account_id}"
    resolvers: dict[str, Any] = {
        "id": lambda f: page.account_id,
        "name": lambda f: page.display_name,
        "username": lambda f: page.username or OMIT,
        "about": lambda f: page.description,
        "description": lambda f: page.description,
        "fan_count": lambda f: fan_count(world, page, at),
        "followers_count": lambda f: world.served_followers(page, at),
        "link": lambda f: link,
        "website": lambda f: site,
        "verification_status": lambda f: "blue_verified",
        "category": lambda f: "Government Organization",
        "category_list": lambda f: [{"id": "2235", "name": "Government Organization"}],
        "founded": lambda f: str(page.created_at.year),
        "talking_about_count": lambda f: world.served_followers(page, at) // 200,  # type: ignore[operator]
        "picture": lambda f: {
            "data": {
                "height": 50,
                "is_silhouette": False,
                "url": f"{CDN}/{page.avatar_cid[-20:]}_n.png",
                "width": 50,
            }
        },
        "cover": lambda f: {
            "cover_id": str(ids.stable_hash(page.banner_cid) % 10**17),
            "offset_x": 0,
            "offset_y": 50,
            "source": f"{CDN}/{page.banner_cid[-20:]}_n.jpg",
            "id": str(ids.stable_hash(page.banner_cid) % 10**17),
        },
    }
    return select("Page", resolvers, requested, ("name", "id"))


# -- handlers ------------------------------------------------------------------------------------


def _requested(request: web.Request) -> tuple[Field, ...] | None:
    raw = request.query.get("fields", "")
    return parse_fields(raw) if raw.strip() else None


async def node(request: web.Request) -> web.Response:
    """GET /{version}/{page-id|username|post-id}."""
    ctx = context(request)
    world, now = ctx.world, ctx.clock.now()
    ref = request.match_info["node"]
    fields = _requested(request)
    if "_" in ref:
        entry = world.posts.get(ref) or world.reposts.get(ref)
        if entry is None or entry.created_at > now or not ref.startswith(entry.account_id):
            raise unknown_object(ref)
        return json_response(post_node(world, entry, fields, now))
    page = find_page(world, ref)
    if page is None:
        raise unknown_object(ref)
    return json_response(page_node(world, page, fields, now))


def _key(e: Post | Repost) -> tuple[float, str]:
    return (e.ts, e.uri if isinstance(e, Repost) else e.post_id)


def _cursor(e: Post | Repost) -> str:
    ts, fb_id = _key(e)
    return ids.etag("fbcursor", fb_id)[:6] + f"{int(ts)}_{fb_id}".encode().hex()


def _uncursor(token: str) -> tuple[float, str]:
    try:
        ts, _, fb_id = bytes.fromhex(token[6:]).decode().partition("_")
        if token[:6] != ids.etag("fbcursor", fb_id)[:6]:
            raise ValueError(token)
        return float(ts), fb_id
    except (ValueError, UnicodeDecodeError):
        raise GraphError("(#100) The after/before/__paging_token cursor is invalid", 100) from None


async def posts(request: web.Request) -> web.Response:
    """GET /{version}/{page}/posts: newest first; cursors, or time paging with since/until."""
    ctx = context(request)
    world, q, now = ctx.world, request.query, ctx.clock.now()
    page = find_page(world, request.match_info["node"])
    if page is None:
        raise unknown_object(request.match_info["node"])
    fields = _requested(request)
    limit = int_arg(Field("posts", {"limit": q.get("limit", "")}), "limit", DEFAULT_LIMIT, 1,
                    MAX_LIMIT)  # fmt: skip
    entries = sorted(world.visible_feed(page, now), key=_key)  # oldest first
    keys = [_key(e) for e in entries]
    since, until = parse_time_param(q.get("since", "")), parse_time_param(q.get("until", ""))
    timed = "since" in q or "until" in q
    lo = bisect.bisect_left([k[0] for k in keys], since) if since is not None else 0
    hi = bisect.bisect_right([k[0] for k in keys], until) if until is not None else len(keys)
    backwards = False
    token = q.get("__paging_token") if timed else None
    if token or "after" in q or "before" in q:
        if "before" in q or (token and "__previous" in q and q["__previous"] != ""):
            backwards = True
        key = _uncursor(token or q.get("before") or q.get("after") or "")
        if backwards:
            lo = max(lo, bisect.bisect_right(keys, key))
        else:
            hi = min(hi, bisect.bisect_left(keys, key))
    window = entries[lo:hi]
    chunk = window[:limit] if backwards else window[::-1][:limit]
    if backwards:
        chunk = chunk[::-1]
    more_older = bool(chunk) and (len(window) > limit if not backwards else lo > 0)
    body: dict[str, Any] = {"data": [post_node(world, e, fields, now) for e in chunk]}
    if chunk:
        base = request.url.with_query(None)
        carried = {k: v for k, v in q.items()
                   if k not in ("after", "before", "until", "since", "__paging_token",
                                "__previous")}  # fmt: skip
        paging: dict[str, Any] = {}
        if timed:
            first, last = chunk[0], chunk[-1]
            prev_q = {**carried, "since": str(int(first.ts)), "until": "",
                      "__paging_token": _cursor(first), "__previous": "1"}  # fmt: skip
            paging["previous"] = str(base.with_query(prev_q))
            if more_older:
                next_q = {**carried, "until": str(int(last.ts)), "since": "",
                          "__paging_token": _cursor(last)}  # fmt: skip
                if since is not None:
                    next_q["since"] = q["since"]
                paging["next"] = str(base.with_query(next_q))
        else:
            paging["cursors"] = {"before": _cursor(chunk[0]), "after": _cursor(chunk[-1])}
            if more_older:
                paging["next"] = str(base.with_query({**carried, "after": _cursor(chunk[-1])}))
            if "after" in q or "before" in q:
                paging["previous"] = str(base.with_query({**carried,
                                                          "before": _cursor(chunk[0])}))  # fmt: skip
        body["paging"] = paging
    return json_response(body)


async def unknown_edge(request: web.Request) -> web.Response:
    """An edge this simulation does not serve."""
    raise GraphError(f"(#100) Unknown path components: /{request.match_info['edge']}", 2500)


async def not_found_route(request: web.Request) -> web.Response:
    """A path outside ``/v{major}.{minor}/...``."""
    raise GraphError("Unknown path components: " + request.path, 2500)


# -- middlewares and app -------------------------------------------------------------------------


def _graph_middleware(ctx: SandboxContext) -> Any:
    app_meter = UsageMeter(ctx.config.facebook_app_call_budget, ctx.config.facebook_usage_window)
    page_meter = UsageMeter(ctx.config.facebook_page_call_budget, ctx.config.facebook_usage_window)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = {"facebook-api-version": API_VERSION}
        try:
            token = access_token(request, ctx.config.facebook_access_tokens)
            app_pct, app_over = app_meter.hit(token)
            headers["X-App-Usage"] = usage_header(app_pct)
            page = find_page(ctx.world, request.match_info.get("node", ""))
            page_over = 0.0
            if page is not None:
                page_pct, page_over = page_meter.hit(page.account_id)
                headers["X-Page-Usage"] = usage_header(page_pct)
            if app_over or page_over:
                ctx.stats.rate_limited[PLATFORM] += 1
                raise throttled(4 if app_over else 32)
            response = await handler(request)
        except GraphError as exc:
            response = error_response(exc, request.path_qs)
        for k, v in headers.items():
            response.headers[k] = v
        response.headers.setdefault("x-fb-trace-id", ids.etag(request.path_qs)[:11])
        return response

    return middleware


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The Facebook Graph sub-application, mounted at ``/facebook`` (``/v21.0/{page}/posts``)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        last = request.path.rsplit("/", 1)[-1]
        ctx.stats.requests[(PLATFORM, last if last in POST_EDGES else "node")] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            _graph_middleware(ctx),
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
        ]
    )
    version = f"{{version:{VERSION_RE}}}"
    app.router.add_get(f"/{version}/{{node}}", node)
    for edge in sorted(POST_EDGES):
        app.router.add_get(f"/{version}/{{node}}/{edge}", posts)
    app.router.add_get(f"/{version}/{{node}}/{{edge}}", unknown_edge)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
