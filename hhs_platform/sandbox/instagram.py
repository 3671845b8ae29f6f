"""The simulated Instagram Graph API: ``GET /{ig-user-id}?fields=business_discovery...``.

One business account asks about another by username through nested field expansion
(``business_discovery.username(cdcgov){followers_count,media.limit(50).after(c){...}}``);
only the requested fields are served, ``like_count`` is left out where the owner hid it,
carousels carry ``children``, the media edge pages with ``paging.cursors`` (no ``next`` URL),
and an unknown username is error 110 / subcode 2207013. Usage goes out in ``X-App-Usage`` and
``X-Business-Use-Case-Usage``; past the budget the answer is (#80002).
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
    buc_header,
    error_response,
    graph_time,
    int_arg,
    parse_fields,
    select,
    throttled,
    unknown_object,
    usage_header,
)
from hhs_platform.sandbox.model import Account, Post

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "instagram"
API_VERSION = "v21.0"
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
CDN = "https://scontent.cdninstagram.com/v/t51.29350-15"
VIDEO_CDN = "https://video.cdninstagram.com/o1/v/t16"


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return error_response(throttled(613), "fault")
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")  # fmt: skip
    return error_response(GraphError("An unexpected error has occurred. Please retry your "
                                      "request later.", 2, status=status,
                                      extra={"is_transient": True}), "fault")  # fmt: skip


def user_not_found(username: str) -> GraphError:
    """What business_discovery answers for a username that is not a business/creator account."""
    return GraphError(
        "Invalid user id",
        110,
        subcode=2207013,
        extra={
            "is_transient": False,
            "error_user_title": "Cannot find User",
            "error_user_msg": f"The user with username: {username} cannot be found.",
        },
    )


# -- payload builders ----------------------------------------------------------------------------


def caption(post: Post) -> str:
    """The caption as typed: full links, ``@username`` mentions, ``#tags``."""
    raw = post.text.encode()
    parts, pos = [], 0
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        parts.append(raw[pos : f.byte_start].decode())
        parts.append(f.value if f.kind == "link" else raw[f.byte_start : f.byte_end].decode())
        pos = f.byte_end
    parts.append(raw[pos:].decode())
    return "".join(parts)


def _shortcode(media_id: str) -> str:
    return ids.etag("shortcode", media_id)[:11]


def media_type(post: Post) -> str:
    """IMAGE, VIDEO or CAROUSEL_ALBUM."""
    e = post.embed
    if e is not None and e.kind == "video":
        return "VIDEO"
    return "CAROUSEL_ALBUM" if e is not None and len(e.blobs) > 1 else "IMAGE"


def _child_is_video(post: Post, i: int) -> bool:
    return ids.unit(post.post_id, i, "child_video") < 0.15


def _children(world: World, post: Post, acc: Account, f: Field) -> dict[str, Any]:
    e = post.embed
    assert e is not None
    out = []
    for i, blob in enumerate(e.blobs):
        child_id = str(18_000_000_000_000_000 + int(post.post_id) % 10**15 * 10 + i)
        video = _child_is_video(post, i)
        url = (f"{VIDEO_CDN}/f2/m86/{blob[-24:]}.mp4" if video
               else f"{CDN}/{blob[-24:]}_n.jpg?stp=dst-jpg_e35&_nc_cat=1")  # fmt: skip
        resolvers: dict[str, Any] = {
            "id": lambda g, c=child_id: c,
            "media_type": lambda g, v=video: "VIDEO" if v else "IMAGE",
            "media_url": lambda g, u=url: u,
            "permalink": lambda g: f"https://www.instagram.com/p/{_shortcode(post.post_id)}/",
            "thumbnail_url": lambda g, v=video, b=blob: f"{CDN}/{b[-24:]}_t.jpg" if v else OMIT,
            "timestamp": lambda g: graph_time(post.created_at),
            "username": lambda g: acc.username,
            "shortcode": lambda g: _shortcode(post.post_id),
        }
        out.append(select("IGMedia", resolvers, f.children, ("id",)))
    return {"data": out}


def media_node(world: World, post: Post, f: Field, at: datetime) -> dict[str, Any]:
    """One media object with the fields ``f.children`` selects."""
    from hhs_platform.sandbox.platforms.instagram import likes_hidden

    acc = world.account_by_id(post.account_id)
    kind = media_type(post)
    e = post.embed
    blob = e.blobs[0] if e is not None else post.post_id
    url = (f"{VIDEO_CDN}/f2/m86/{blob[-24:]}.mp4" if kind == "VIDEO"
           else f"{CDN}/{blob[-24:]}_n.jpg?stp=dst-jpg_e35&_nc_cat=1")  # fmt: skip
    resolvers: dict[str, Any] = {
        "id": lambda g: post.post_id,
        "caption": lambda g: caption(post) if post.text else OMIT,
        "comments_count": lambda g: world.counter(post, "replies", at),
        "like_count": lambda g: (
            OMIT if likes_hidden(post.post_id) else world.counter(post, "likes", at)
        ),
        "media_type": lambda g: kind,
        "media_product_type": lambda g: "REELS" if kind == "VIDEO" else "FEED",
        "media_url": lambda g: url,
        "permalink": lambda g: (
            f"https://www.instagram.com/"
            f"{'reel' if kind == 'VIDEO' else 'p'}/{_shortcode(post.post_id)}/"
        ),
        "thumbnail_url": lambda g: f"{CDN}/{blob[-24:]}_t.jpg" if kind == "VIDEO" else OMIT,
        "timestamp": lambda g: graph_time(post.created_at),
        "username": lambda g: acc.username,
        "shortcode": lambda g: _shortcode(post.post_id),
        "is_comment_enabled": lambda g: True,
        "children": lambda g: _children(world, post, acc, g) if kind == "CAROUSEL_ALBUM" else OMIT,
    }
    return select("IGMedia", resolvers, f.children, ("id",))


def _cursor(post: Post) -> str:
    raw = f"{int(post.ts)}:{post.post_id}".encode().hex()
    return "QVFI" + ids.etag("igcursor", post.post_id)[:6] + raw


def _uncursor(token: str) -> tuple[float, str]:
    try:
        ts, _, media_id = bytes.fromhex(token[10:]).decode().partition(":")
        if token[:10] != "QVFI" + ids.etag("igcursor", media_id)[:6]:
            raise ValueError(token)
        return float(ts), media_id
    except (ValueError, UnicodeDecodeError):
        raise GraphError("(#100) The after/before cursor is invalid", 100) from None


def media_edge(world: World, acc: Account, f: Field, at: datetime) -> dict[str, Any]:
    """The ``media`` edge: newest first, ``limit``/``after``/``before`` as modifiers."""
    limit = int_arg(f, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    posts = world.visible_posts(acc, at)  # oldest first
    keys = [(p.ts, p.post_id) for p in posts]
    lo, hi = 0, len(posts)
    if f.args.get("after"):
        hi = bisect.bisect_left(keys, _uncursor(f.args["after"]))
    if f.args.get("before"):
        lo = bisect.bisect_right(keys, _uncursor(f.args["before"]))
        chunk = posts[lo:hi][:limit][::-1]
    else:
        chunk = posts[lo:hi][::-1][:limit]
    out: dict[str, Any] = {"data": [media_node(world, p, f, at) for p in chunk]}
    if chunk:
        cursors = {"after": _cursor(chunk[-1])}
        if f.args.get("after") or f.args.get("before"):
            cursors = {"before": _cursor(chunk[0]), **cursors}
        out["paging"] = {"cursors": cursors}
    return out


def user_node(
    world: World, acc: Account, requested: tuple[Field, ...] | None, at: datetime
) -> dict[str, Any]:
    """An IG user (a business_discovery result or one's own account) with the asked fields."""
    resolvers: dict[str, Any] = {
        "id": lambda g: acc.account_id,
        "ig_id": lambda g: int(acc.account_id) % 10**10,
        "username": lambda g: acc.username,
        "name": lambda g: acc.display_name,
        "biography": lambda g: acc.description,
        "website": lambda g: f"https://www.{acc.domain}/",
        "followers_count": lambda g: world.served_followers(acc, at),
        "follows_count": lambda g: world.following(acc, at),
        "media_count": lambda g: world.posts_count(acc, at),
        "profile_picture_url": lambda g: (
            f"https://scontent.xx.fbcdn.net/v/t51.2885-15/{acc.avatar_cid[-24:]}_n.jpg"
        ),
        "media": lambda g: media_edge(world, acc, g, at),
    }
    return select("IGUser", resolvers, requested, ("id",))


def asker_node(
    world: World, asker: str, requested: tuple[Field, ...] | None, at: datetime
) -> dict[str, Any]:
    """The asking business account: its own ``id`` and the ``business_discovery`` it asked."""
    own = world.account(PLATFORM, asker)

    def discovery(f: Field) -> Any:
        username = f.args.get("username", "").strip().lstrip("@")
        if not username:
            raise GraphError("(#100) The parameter username is required", 100)
        acc = world.account(PLATFORM, username, "handle")
        if acc is None:
            raise user_not_found(username)
        return user_node(world, acc, f.children, at)

    resolvers: dict[str, Any] = {"id": lambda g: asker, "business_discovery": discovery}
    if own is not None:
        # One's own account also answers its profile fields directly.
        resolvers.update({k: (lambda g, k=k: user_node(world, own, (g,), at)[g.key])
                          for k in ("username", "name", "biography", "followers_count",
                                    "follows_count", "media_count", "media")})  # fmt: skip
    else:
        resolvers["username"] = lambda g: f"hhs_collector_{asker[-4:]}"
    return select("IGUser", resolvers, requested, ("id",))


# -- handlers ------------------------------------------------------------------------------------


async def node(request: web.Request) -> web.Response:
    """GET /{version}/{ig-user-id}?fields=business_discovery.username(...){...}."""
    ctx = context(request)
    asker = request.match_info["node"]
    allowed = ctx.config.instagram_business_account_ids
    if not asker.isdigit() or (allowed and asker not in allowed):
        raise unknown_object(asker)
    raw = request.query.get("fields", "")
    fields = parse_fields(raw) if raw.strip() else None
    return json_response(asker_node(ctx.world, asker, fields, ctx.clock.now()))


async def unknown_edge(request: web.Request) -> web.Response:
    """An edge this simulation does not serve."""
    raise GraphError(f"(#100) Unknown path components: /{request.match_info['edge']}", 2500)


async def not_found_route(request: web.Request) -> web.Response:
    """A path outside ``/v{major}.{minor}/...``."""
    raise GraphError("Unknown path components: " + request.path, 2500)


# -- middlewares and app -------------------------------------------------------------------------


def _graph_middleware(ctx: SandboxContext) -> Any:
    cfg = ctx.config
    app_meter = UsageMeter(cfg.instagram_app_call_budget, cfg.instagram_usage_window)
    buc_meter = UsageMeter(cfg.instagram_buc_call_budget, cfg.instagram_usage_window)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = {"facebook-api-version": API_VERSION}
        try:
            token = access_token(request, cfg.instagram_access_tokens)
            app_pct, app_over = app_meter.hit(token)
            headers["X-App-Usage"] = usage_header(app_pct)
            asker = request.match_info.get("node", "")
            buc_over = 0.0
            if asker.isdigit():
                buc_pct, buc_over = buc_meter.hit(asker)
                headers["X-Business-Use-Case-Usage"] = buc_header(
                    asker, "instagram", buc_pct, buc_over
                )
            if app_over or buc_over:
                ctx.stats.rate_limited[PLATFORM] += 1
                raise throttled(4 if app_over else 80002)
            response = await handler(request)
        except GraphError as exc:
            response = error_response(exc, request.path_qs)
        for k, v in headers.items():
            response.headers[k] = v
        response.headers.setdefault("x-fb-trace-id", ids.etag(request.path_qs)[:11])
        return response

    return middleware


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The Instagram Graph sub-application, mounted at ``/instagram`` (``/v21.0/{ig-user-id}``)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        fields = request.query.get("fields", "")
        kind = "business_discovery" if "business_discovery" in fields else "node"
        ctx.stats.requests[(PLATFORM, kind)] += 1
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
    app.router.add_get(f"/{version}/{{node}}/{{edge}}", unknown_edge)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
