"""The simulated Reddit OAuth API (oauth.reddit.com): user about and submitted listings."""

from __future__ import annotations

import html
import math
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.model import Account, Post

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "reddit"
WEB = "https://www.reddit.com"
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
#: Listings reach back this many items, whatever the paging.
LISTING_CAP = 1000
#: Where an agency's submissions go besides its own profile (``u_<name>``).
SUBREDDITS = ("publichealth", "HealthInsurance", "medicine", "science", "askscience",
              "COVID19", "nutrition", "mentalhealth")  # fmt: skip
_SORTS = ("new", "hot", "top", "controversial")
_SLUG_RE = re.compile(r"[^a-z0-9]+")


# -- errors --------------------------------------------------------------------------------------


def error(status: int, message: str) -> web.Response:
    """Reddit's error body: ``{"message": "Not Found", "error": 404}``."""
    return json_response({"message": message, "error": status}, status)


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return error(429, "Too Many Requests")
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")  # fmt: skip
    if status == 503:
        return web.Response(
            status=503,
            text="<!doctype html><html><head><title>Ow! -- reddit.com</title></head><body>"
            "<h2>all of our servers are busy right now</h2><p>please try again in a minute</p>"
            "</body></html>",
            content_type="text/html",
        )
    return error(500, "Internal Server Error")


# -- payload builders ----------------------------------------------------------------------------


def _epoch(dt: datetime) -> float:
    return float(int(dt.timestamp()))


def _t5(acc: Account) -> str:
    return "t5_" + format(ids.stable_hash("t5", acc.account_id) % 36**6, "x")[:6]


def _icon(acc: Account) -> str:
    return (
        f"https://styles.redditmedia.com/{_t5(acc)}/styles/profileIcon_{acc.avatar_cid[-13:]}.png"
    )


def profile_subreddit(world: World, acc: Account, at: datetime) -> dict[str, Any]:
    """The user's profile subreddit (``u_<name>``): ``subscribers`` are the user's followers."""
    name = acc.username or acc.handle
    return {
        "default_set": True,
        "user_is_contributor": None,
        "banner_img": "",
        "allowed_media_in_comments": [],
        "user_is_banned": None,
        "free_form_reports": True,
        "community_icon": None,
        "show_media": True,
        "icon_color": "",
        "user_is_muted": None,
        "display_name": f"u_{name}",
        "header_img": None,
        "title": acc.display_name,
        "previous_names": [],
        "over_18": False,
        "icon_size": [256, 256],
        "primary_color": "",
        "icon_img": _icon(acc),
        "description": "",
        "submit_link_label": "",
        "header_size": None,
        "restrict_posting": True,
        "restrict_commenting": False,
        "subscribers": world.served_followers(acc, at),
        "submit_text_label": "",
        "is_default_icon": False,
        "link_flair_position": "",
        "display_name_prefixed": f"u/{name}",
        "key_color": "",
        "name": _t5(acc),
        "is_default_banner": True,
        "url": f"/user/{name}/",
        "quarantine": False,
        "banner_size": None,
        "user_is_moderator": None,
        "accept_followers": True,
        "public_description": acc.description,
        "link_flair_enabled": False,
        "disable_contributor_requests": False,
        "subreddit_type": "user",
        "user_is_subscriber": None,
    }


def user_about(world: World, acc: Account, at: datetime) -> dict[str, Any]:
    """The t2 Thing ``/user/<name>/about`` returns to another user or an app."""
    link_karma = sum(world.counter(p, "likes", at) for p in world.visible_posts(acc, at))
    comment_karma = int(acc.followers0 * 0.05)
    created = _epoch(acc.created_at)
    return {
        "kind": "t2",
        "data": {
            "is_employee": False,
            "is_friend": False,
            "subreddit": profile_subreddit(world, acc, at),
            "snoovatar_size": None,
            "awardee_karma": 0,
            "id": acc.account_id.removeprefix("t2_"),
            "verified": True,
            "is_gold": False,
            "is_mod": True,
            "awarder_karma": 0,
            "has_verified_email": True,
            "icon_img": _icon(acc),
            "hide_from_robots": False,
            "link_karma": link_karma,
            "pref_show_snoovatar": False,
            "is_blocked": False,
            "total_karma": link_karma + comment_karma,
            "accept_chats": False,
            "name": acc.username,
            "created": created,
            "created_utc": created,
            "snoovatar_img": "",
            "comment_karma": comment_karma,
            "accept_followers": True,
            "has_subscribed": True,
            "accept_pms": True,
        },
    }


def suspended_about(name: str) -> dict[str, Any]:
    """What ``about`` shows of a permanently suspended user: the name and the flag."""
    return {
        "kind": "t2",
        "data": {"name": name, "is_suspended": True, "is_blocked": False,
                 "awardee_karma": 0, "awarder_karma": 0, "total_karma": 0},
    }  # fmt: skip


def subreddit_of(post: Post, acc: Account) -> str:
    """Where a submission was posted: the profile for most, a community for some."""
    roll = ids.unit(post.post_id, "subreddit")
    if post.quote_of is None and roll < 0.6:
        return f"u_{acc.username}"
    return SUBREDDITS[int(roll * 1000) % len(SUBREDDITS)]


def _link(post: Post) -> str | None:
    return next((f.value for f in post.facets if f.kind == "link"), None)


def markdown(post: Post) -> str:
    """The submission's Markdown text: links in full (the world's text shows them shortened)."""
    raw = post.text.encode()
    out, pos = [], 0
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        out.append(raw[pos : f.byte_start].decode())
        shown = raw[f.byte_start : f.byte_end].decode()
        out.append(f.value if f.kind == "link" else shown)
        pos = f.byte_end
    out.append(raw[pos:].decode())
    return "".join(out)


def _slug(title: str) -> str:
    words = _SLUG_RE.sub(" ", title.lower()).split()
    return "_".join(words)[:50].rstrip("_") or "post"


def _selftext_html(text: str) -> str | None:
    if not text:
        return None
    paras = "".join(f"<p>{html.escape(p, quote=False)}</p>\n" for p in text.split("\n") if p)
    return f'<!-- SC_OFF --><div class="md">{paras}</div><!-- SC_ON -->'


def _preview(post: Post, url: str, w: int, h: int) -> dict[str, Any]:
    pid = ids.etag(post.post_id, "preview")[:22]
    src = {"url": f"https://preview.redd.it/{pid}.jpg?auto=webp&s={ids.etag(url)[:40]}",
           "width": w, "height": h}  # fmt: skip
    return {"images": [{"source": src, "resolutions": [], "variants": {}, "id": pid}],
            "enabled": True}  # fmt: skip


def _media_fields(post: Post, permalink: str) -> dict[str, Any]:
    """url, domain, is_self, post_hint, media and friends for one kind of submission."""
    e = post.embed
    out: dict[str, Any] = {"is_self": False, "media": None, "secure_media": None,
                           "is_video": False, "is_reddit_media_domain": False,
                           "thumbnail": "default", "thumbnail_height": None,
                           "thumbnail_width": None}  # fmt: skip
    key = ids.etag(post.post_id, "media")[:13].lower().replace("-", "x").replace("_", "y")
    if e is not None and e.kind == "images" and len(e.blobs) > 1:
        w, h = e.aspect
        media_ids = [f"{key}{i}" for i in range(len(e.blobs))]
        out.update(
            url=f"{WEB}/gallery/{post.post_id[3:]}",
            domain="reddit.com",
            is_gallery=True,
            gallery_data={"items": [{"media_id": m, "id": i + 1} for i, m in
                                    enumerate(media_ids)]},
            media_metadata={m: {"status": "valid", "e": "Image", "m": "image/jpg",
                                "s": {"y": h, "x": w,
                                      "u": f"https://preview.redd.it/{m}.jpg?width={w}"},
                                "id": m} for m in media_ids},
            thumbnail=f"https://b.thumbs.redditmedia.com/{key}.jpg",
            thumbnail_height=140,
            thumbnail_width=140,
        )  # fmt: skip
    elif e is not None and e.kind == "images":
        w, h = e.aspect
        url = f"https://i.redd.it/{key}.jpeg"
        out.update(url=url, domain="i.redd.it", post_hint="image", is_reddit_media_domain=True,
                   preview=_preview(post, url, w, h),
                   thumbnail=f"https://b.thumbs.redditmedia.com/{key}.jpg",
                   thumbnail_height=140, thumbnail_width=140)  # fmt: skip
    elif e is not None and e.kind == "video":
        w, h = e.aspect
        base = f"https://v.redd.it/{key}"
        video = {
            "reddit_video": {
                "bitrate_kbps": 2400,
                "fallback_url": f"{base}/DASH_720.mp4?source=fallback",
                "height": min(h, 720 if w >= h else 1280),
                "width": min(w, 1280 if w >= h else 720),
                "scrubber_media_url": f"{base}/DASH_96.mp4",
                "dash_url": f"{base}/DASHPlaylist.mpd",
                "duration": round(e.sizes[0] / 1000),
                "hls_url": f"{base}/HLSPlaylist.m3u8",
                "is_gif": False,
                "transcoding_status": "completed",
            }
        }
        out.update(url=base, domain="v.redd.it", post_hint="hosted:video", is_video=True,
                   is_reddit_media_domain=True, media=video, secure_media=video,
                   thumbnail=f"https://b.thumbs.redditmedia.com/{key}.jpg",
                   thumbnail_height=140, thumbnail_width=140)  # fmt: skip
    elif (link := _link(post)) is not None and ids.unit(post.post_id, "link post") < 0.5:
        out.update(url=link, domain=link.split("/")[2], post_hint="link",
                   preview=_preview(post, link, 1200, 630))  # fmt: skip
    else:
        out.update(url=f"{WEB}{permalink}", is_self=True, thumbnail="self")
    if not out["is_self"]:
        out["url_overridden_by_dest"] = out["url"]
    return out


def submission(world: World, post: Post, at: datetime, *, nested: bool = False) -> dict[str, Any]:
    """A t3 Thing's ``data`` with the counters served at ``at``."""
    acc = world.account_by_id(post.account_id)
    sub = subreddit_of(post, acc)
    short = post.post_id.removeprefix("t3_")
    prefix = f"u/{sub[2:]}" if sub.startswith("u_") else f"r/{sub}"
    permalink = f"/{prefix}/comments/{short}/{_slug(post.title)}/"
    score = world.counter(post, "likes", at)
    parent = world.posts.get(post.quote_of) if post.quote_of else None
    fields = _media_fields(post, permalink)
    if parent is not None:  # a crosspost links to its parent, with the parent's card
        pdata = submission(world, parent, at, nested=True)
        fields = {**fields, "is_self": False, "url": pdata["permalink"], "domain": pdata["domain"],
                  "thumbnail": pdata["thumbnail"], "post_hint": pdata.get("post_hint", "link")}  # fmt: skip
        fields["url_overridden_by_dest"] = fields["url"]
    selftext = markdown(post) if fields["is_self"] else ""
    data: dict[str, Any] = {
        "approved_at_utc": None,
        "subreddit": sub,
        "selftext": selftext,
        "author_fullname": acc.account_id,
        "saved": False,
        "mod_reason_title": None,
        "gilded": 0,
        "clicked": False,
        "title": post.title,
        "link_flair_richtext": [],
        "subreddit_name_prefixed": prefix,
        "hidden": False,
        "pwls": 6,
        "link_flair_css_class": None,
        "downs": 0,
        "top_awarded_type": None,
        "hide_score": False,
        "name": post.post_id,
        "quarantine": False,
        "link_flair_text_color": "dark",
        "ignore_reports": False,
        "upvote_ratio": round(0.8 + 0.2 * ids.unit(post.post_id, "ratio"), 2),
        "author_flair_background_color": None,
        "ups": score,
        "total_awards_received": 0,
        "media_embed": {},
        "author_flair_template_id": None,
        "is_original_content": False,
        "user_reports": [],
        "is_meta": False,
        "category": None,
        "secure_media_embed": {},
        "link_flair_text": None,
        "can_mod_post": False,
        "score": score,
        "approved_by": None,
        "is_created_from_ads_ui": False,
        "author_premium": False,
        "edited": False,
        "author_flair_css_class": None,
        "author_flair_richtext": [],
        "gildings": {},
        "content_categories": None,
        "subreddit_type": "user" if sub.startswith("u_") else "public",
        "created": _epoch(post.created_at),
        "link_flair_type": "text",
        "wls": 6,
        "removed_by_category": None,
        "banned_by": None,
        "author_flair_type": "text",
        "domain": f"self.{sub}",
        "allow_live_comments": False,
        "selftext_html": _selftext_html(selftext),
        "likes": None,
        "suggested_sort": None,
        "banned_at_utc": None,
        "view_count": None,
        "archived": False,
        "no_follow": score < 2,
        "spam": False,
        "is_crosspostable": True,
        "pinned": False,
        "over_18": False,
        "all_awardings": [],
        "awarders": [],
        "media_only": False,
        "can_gild": False,
        "removed": False,
        "spoiler": False,
        "locked": False,
        "author_flair_text": None,
        "treatment_tags": [],
        "rte_mode": "markdown",
        "visited": False,
        "removed_by": None,
        "mod_note": None,
        "distinguished": None,
        "subreddit_id": _t5(acc) if sub.startswith("u_") else
        "t5_" + format(ids.stable_hash("t5", sub) % 36**5, "x")[:5],
        "author_is_blocked": False,
        "mod_reason_by": None,
        "num_reports": None,
        "removal_reason": None,
        "link_flair_background_color": "",
        "id": short,
        "is_robot_indexable": True,
        "report_reasons": None,
        "author": acc.username,
        "discussion_type": None,
        "num_comments": world.counter(post, "replies", at),
        "send_replies": True,
        "whitelist_status": "all_ads",
        "contest_mode": False,
        "mod_reports": [],
        "author_patreon_flair": False,
        "approved": False,
        "author_flair_text_color": None,
        "permalink": permalink,
        "parent_whitelist_status": "all_ads",
        "stickied": False,
        "subreddit_subscribers": (world.served_followers(acc, at) if sub.startswith("u_")
                                  else 100_000 + ids.stable_hash(sub) % 900_000),
        "created_utc": _epoch(post.created_at),
        "num_crossposts": world.counter(post, "reposts", at),
        "mod_reports_dismissed": None,
    }  # fmt: skip
    data.update(fields)
    if parent is not None and not nested:
        data["crosspost_parent"] = parent.post_id
        data["crosspost_parent_list"] = [submission(world, parent, at, nested=True)]
    return data


# -- listing and handlers ------------------------------------------------------------------------


def _account(request: web.Request) -> tuple[Account | None, str]:
    name = request.match_info["name"]
    return context(request).world.account(PLATFORM, name, "handle"), name


def _suspended(request: web.Request, name: str) -> bool:
    suspended = {n.lower() for n in context(request).config.reddit_suspended_users}
    return name.lower() in suspended


def _hot(score: int, ts: float) -> float:
    order = math.log10(max(abs(score), 1))
    sign = 1 if score > 0 else -1 if score < 0 else 0
    return round(sign * order + (ts - 1134028003) / 45000, 7)


def _limit(raw: str | None) -> int:
    try:
        n = int(raw) if raw is not None else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT
    return min(max(n, 1), MAX_LIMIT) if n > 0 else DEFAULT_LIMIT


def _legacy_escape(value: Any) -> Any:
    """Without ``raw_json=1`` Reddit escapes ``&``, ``<`` and ``>`` in every string."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, list):
        return [_legacy_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _legacy_escape(v) for k, v in value.items()}
    return value


def _reply(request: web.Request, payload: Any) -> web.Response:
    raw = request.query.get("raw_json") == "1"
    return json_response(payload if raw else _legacy_escape(payload))


async def about(request: web.Request) -> web.Response:
    """GET /user/{name}/about: the t2 Thing (404 for unknown users)."""
    ctx = context(request)
    acc, name = _account(request)
    if _suspended(request, name):
        return _reply(request, suspended_about(acc.username if acc and acc.username else name))
    if acc is None:
        return error(404, "Not Found")
    return _reply(request, user_about(ctx.world, acc, ctx.clock.now()))


def listing(
    world: World, acc: Account, query: Any, at: datetime
) -> tuple[list[Post], str | None, str | None]:
    """The page of ``acc``'s submissions a query asks for, and its ``after`` and ``before``."""
    sort = query.get("sort", "new")
    sort = sort if sort in _SORTS else "new"
    posts = world.visible_posts(acc, at)
    if sort == "top":
        ordered = sorted(posts, key=lambda p: (world.counter(p, "likes", at), p.ts), reverse=True)
    elif sort == "hot":
        ordered = sorted(posts, key=lambda p: (_hot(world.counter(p, "likes", at), p.ts), p.ts),
                         reverse=True)  # fmt: skip
    else:  # new (and controversial: nothing here has downvotes to rank by)
        ordered = sorted(posts, key=lambda p: (p.ts, p.post_id), reverse=True)
    ordered = ordered[:LISTING_CAP]
    names = [p.post_id for p in ordered]
    limit = _limit(query.get("limit"))
    after, before = query.get("after"), query.get("before")
    count = int(query["count"]) if query.get("count", "").isdigit() else 0
    if after:
        if after not in names:
            return [], None, None
        start = names.index(after) + 1
    elif before:
        if before not in names:
            return [], None, None
        start = max(0, names.index(before) - limit)
        limit = names.index(before) - start
    else:
        start = 0
    page = ordered[start : start + limit]
    more = start + len(page) < len(ordered)
    nxt = page[-1].post_id if page and more else None
    prev = page[0].post_id if page and start > 0 and (after or before or count) else None
    return page, nxt, prev


async def submitted(request: web.Request) -> web.Response:
    """GET /user/{name}/submitted: a Listing of t3 Things, ``after``/``before`` fullnames."""
    ctx = context(request)
    acc, name = _account(request)
    if _suspended(request, name):
        return error(403, "Forbidden")
    if acc is None:
        return error(404, "Not Found")
    now = ctx.clock.now()
    page, nxt, prev = listing(ctx.world, acc, request.query, now)
    return _reply(
        request,
        {
            "kind": "Listing",
            "data": {
                "after": nxt,
                "dist": len(page),
                "modhash": None,
                "geo_filter": "",
                "children": [{"kind": "t3", "data": submission(ctx.world, p, now)} for p in page],
                "before": prev,
            },
        },
    )


async def trophies(request: web.Request) -> web.Response:
    """GET /api/v1/user/{name}/trophies: the 400 ``USER_DOESNT_EXIST`` body for unknown users."""
    acc, _ = _account(request)
    if acc is None:
        return json_response(
            {"fields": ["id"], "explanation": "that user doesn't exist", "message": "Bad Request",
             "reason": "USER_DOESNT_EXIST"},
            400,
        )  # fmt: skip
    return _reply(request, {"kind": "TrophyList", "data": {"trophies": []}})


async def not_found_route(request: web.Request) -> web.Response:
    """Any other path."""
    return error(404, "Not Found")


# -- middlewares and app -------------------------------------------------------------------------


def _auth_middleware(ctx: SandboxContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        tokens = ctx.config.reddit_access_tokens
        if scheme.lower() != "bearer" or not token.strip() or (tokens and token not in tokens):
            response = error(401, "Unauthorized")
            response.headers["www-authenticate"] = 'Bearer realm="reddit", error="invalid_token"'
            return response
        return await handler(request)

    return middleware


def _rate_limit_middleware(ctx: SandboxContext, state: dict[str, list[float]]) -> Middleware:
    limit = int(ctx.config.reddit_rate_limit)
    window = int(ctx.config.reddit_rate_window)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Counted per OAuth client (here: per token), in windows aligned to the period.
        who = request.headers.get("Authorization") or request.remote or "unknown"
        now = time.time()
        start = math.floor(now / window) * window
        win = state.get(who)
        if win is None or win[0] != start:
            win = state[who] = [start, 0.0]
        win[1] += 1
        if win[1] > limit:
            ctx.stats.rate_limited[PLATFORM] += 1
            response: web.StreamResponse = error(429, "Too Many Requests")
        else:
            response = await handler(request)
            if response.status == 429:
                ctx.stats.rate_limited[PLATFORM] += 1
        response.headers["x-ratelimit-used"] = str(int(win[1]))
        response.headers["x-ratelimit-remaining"] = f"{float(max(0, limit - int(win[1])))}"
        response.headers["x-ratelimit-reset"] = str(max(0, math.ceil(start + window - now)))
        return response

    return middleware


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The Reddit sub-application, mounted at ``/reddit`` (paths as on oauth.reddit.com)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        tail = request.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
        ctx.stats.requests[(PLATFORM, tail)] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            _rate_limit_middleware(ctx, {}),
            _auth_middleware(ctx),
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
        ]
    )
    for suffix in ("", "/", ".json"):
        app.router.add_get(f"/user/{{name}}/about{suffix}", about)
        app.router.add_get(f"/user/{{name}}/submitted{suffix}", submitted)
        app.router.add_get(f"/api/v1/user/{{name}}/trophies{suffix}", trophies)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
