"""The simulated LinkedIn Community Management API (api.linkedin.com/rest), Rest.li 2.0.

Every call needs ``Authorization: Bearer``, ``LinkedIn-Version: YYYYMM`` (one of the active
monthly versions) and ``X-Restli-Protocol-Version: 2.0.0``. URNs inside ``List(...)`` and in
path keys must be percent-encoded (``urn%3Ali%3Ashare%3A1``), as the Rest.li 2.0 grammar uses
``:`` ``,`` ``(`` ``)`` itself; plain query values may be sent either way. Errors are Rest.li
bodies ``{"status": N, "serviceErrorCode"?: N, "code"?: TEXT, "message": TEXT}``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.model import Account, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "linkedin"
ORG = "urn:li:organization:"
DEFAULT_COUNT, MAX_COUNT = 10, 100
#: Characters the "little text" format of ``commentary`` reserves (escaped with a backslash).
_LITTLE_RESERVED = set("|{}@[]()<>#\\*_~")


def error(status: int, message: str, *, code: str | None = None,
          service_code: int | None = None) -> web.Response:  # fmt: skip
    """A Rest.li error body."""
    body: dict[str, Any] = {"status": status}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    if code is not None:
        body["code"] = code
    body["message"] = message
    return json_response(body, status)


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return error(429, "Resource level throttle limit for calls to this resource is reached.",
                     service_code=101)  # fmt: skip
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")  # fmt: skip
    if status == 503:
        return error(503, "Service Unavailable")
    return error(500, "Internal Server Error")


def _bad_query() -> web.Response:
    return error(400, "Invalid query parameters passed to request", code="ILLEGAL_ARGUMENT")


# -- payload builders ----------------------------------------------------------------------------


def _localized(text: str) -> dict[str, Any]:
    return {"localized": {"en_US": text}, "preferredLocale": {"country": "US", "language": "en"}}


def organization(acc: Account) -> dict[str, Any]:
    """An organization as an ADMINISTRATOR of the page sees it."""
    site = f"https://www.{acc.domain}"
    asset = "urn:li:digitalmediaAsset:C4D0BAQ" + ids.etag(acc.avatar_cid)[:13]
    return {
        "vanityName": acc.username,
        "localizedName": acc.display_name,
        "website": _localized(site),
        "foundedOn": {"year": acc.created_at.year},
        "groups": [],
        "description": _localized(acc.description),
        "alternativeNames": [],
        "specialties": [],
        "localizedSpecialties": [],
        "industries": ["urn:li:industry:75"],  # Government Administration
        "name": _localized(acc.display_name),
        "primaryOrganizationType": "NONE",
        "locations": [],
        "id": int(acc.account_id),
        "$URN": ORG + acc.account_id,
        "localizedDescription": acc.description,
        "localizedWebsite": site,
        "logoV2": {
            "original": asset,
            "cropped": asset,
            "cropInfo": {"x": 0, "y": 0, "width": 400, "height": 400},
        },
        "organizationType": "GOVERNMENT_AGENCY",
        "staffCountRange": "SIZE_10001_OR_MORE",
        "defaultLocale": {"country": "US", "language": "en"},
        "versionTag": str(ids.stable_hash(acc.account_id, "version") % 10_000),
        "autoCreated": False,
    }


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _LITTLE_RESERVED else c for c in text)


def commentary(world: World, post: Post, at: datetime) -> str:
    """The post's text in LinkedIn's little text format (hashtag and mention templates)."""
    raw = world.text(post, at).encode()
    out, pos = [], 0
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        if f.byte_end > len(raw):
            break
        out.append(_escape(raw[pos : f.byte_start].decode()))
        if f.kind == "tag":
            out.append(f"{{hashtag|\\#|{f.value}}}")
        elif f.kind == "mention":
            who = world.account(PLATFORM, f.value)
            name = who.display_name if who else raw[f.byte_start + 1 : f.byte_end].decode()
            out.append(f"@[{_escape(name)}]({ORG}{f.value})")
        else:
            out.append(f.value)
        pos = f.byte_end
    out.append(_escape(raw[pos:].decode()))
    return "".join(out)


def _asset(kind: str, blob: str) -> str:
    return f"urn:li:{kind}:D4E{'10' if kind == 'image' else '05'}AQ" + ids.etag(blob)[:13]


def content(post: Post) -> dict[str, Any] | None:
    """The post's ``content``: media, multiImage or an article card (None: text only)."""
    e = post.embed
    if e is not None and e.kind == "images" and len(e.blobs) > 1:
        return {"multiImage": {"images": [
            {"id": _asset("image", b), "altText": e.alts[i] if i < len(e.alts) else ""}
            for i, b in enumerate(e.blobs)]}}  # fmt: skip
    if e is not None and e.kind == "images":
        return {"media": {"id": _asset("image", e.blobs[0]),
                          "altText": e.alts[0] if e.alts else ""}}  # fmt: skip
    if e is not None and e.kind == "video":
        return {"media": {"id": _asset("video", e.blobs[0]), "title": ""}}
    link = next((f.value for f in post.facets if f.kind == "link"), None)
    if link:
        return {"article": {"source": link, "title": "Learn more",
                            "description": link.split("://", 1)[-1]}}  # fmt: skip
    return None


def _ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def post_object(world: World, entry: Post | Repost, at: datetime) -> dict[str, Any]:
    """A Posts API object."""
    acc = world.account_by_id(entry.account_id)
    created = _ms(entry.created_at)
    out: dict[str, Any] = {
        "isReshareDisabledByAuthor": False,
        "createdAt": created,
        "lifecycleState": "PUBLISHED",
        "lastModifiedAt": created + 1,
        "visibility": "PUBLIC",
        "publishedAt": created + 1,
        "author": ORG + acc.account_id,
        "id": entry.uri if isinstance(entry, Repost) else entry.post_id,
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleStateInfo": {"isEditedByAuthor": False},
    }
    if isinstance(entry, Repost):
        root = world.posts[entry.subject]
        out["commentary"] = ""
        out["reshareContext"] = {"parent": entry.subject, "root": root.post_id}
        return out
    out["commentary"] = commentary(world, entry, at)
    body = content(entry)
    if body is not None:
        out["content"] = body
    return out


def share_statistics(world: World, post: Post, at: datetime) -> dict[str, Any]:
    """``totalShareStatistics`` of one post."""
    likes, comments, shares, views = (world.counter(post, m, at)
                                      for m in ("likes", "replies", "reposts", "views"))  # fmt: skip
    clicks = views // 60
    return {
        "uniqueImpressionsCount": views * 3 // 4,
        "shareCount": shares,
        "engagement": round((likes + comments + shares + clicks) / views, 6) if views else 0.0,
        "clickCount": clicks,
        "likeCount": likes,
        "impressionCount": views,
        "commentMentionsCount": 0,
        "shareMentionsCount": 0,
        "commentCount": comments,
    }


# -- request helpers -----------------------------------------------------------------------------


def _raw_query(request: web.Request) -> dict[str, str]:
    """Query values as sent (still percent-encoded): Rest.li parses them before decoding."""
    raw = request.raw_path.partition("?")[2]
    out: dict[str, str] = {}
    for part in raw.split("&"):
        key, _, value = part.partition("=")
        if key:
            out.setdefault(unquote(key), value)
    return out


def _simple(value: str) -> str:
    return unquote(value.replace("+", " "))


def _urn_list(raw: str) -> list[str] | None:
    """The URNs of ``List(a,b)`` with encoded elements; None when the value does not parse."""
    if not (raw.startswith("List(") and raw.endswith(")")):
        return None
    inner = raw[5:-1]
    items = inner.split(",") if inner else []
    if any(set(i) & set(":()',") or not i for i in items):
        return None  # a raw ':' is Rest.li syntax, not part of a value
    return [unquote(i) for i in items]


def _paging(start: int, count: int, links: list[dict[str, str]] | None = None,
            total: int | None = None) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"start": start, "count": count, "links": links or []}
    if total is not None:
        out["total"] = total
    return out


def _org(request: web.Request, urn: str) -> Account | None:
    if not urn.startswith(ORG):
        return None
    return context(request).world.account(PLATFORM, urn.removeprefix(ORG))


def _denied(resource: str) -> web.Response:
    return error(403, f"Not enough permissions to access: {resource}", code="ACCESS_DENIED",
                 service_code=100)  # fmt: skip


# -- handlers ------------------------------------------------------------------------------------


async def organizations(request: web.Request) -> web.Response:
    """GET /rest/organizations?q=vanityName&vanityName=: the page with that vanity name."""
    q = _raw_query(request)
    if _simple(q.get("q", "")) != "vanityName" or "vanityName" not in q:
        return _bad_query()
    acc = context(request).world.account(PLATFORM, _simple(q["vanityName"]), "handle")
    elements = [organization(acc)] if acc else []
    return json_response({"elements": elements, "paging": _paging(0, DEFAULT_COUNT)})


async def organization_by_id(request: web.Request) -> web.Response:
    """GET /rest/organizations/{id}."""
    acc = context(request).world.account(PLATFORM, request.match_info["id"])
    if acc is None:
        return error(404, "Not Found", code="NOT_FOUND")
    return json_response(organization(acc))


async def network_sizes(request: web.Request) -> web.Response:
    """GET /rest/networkSizes/{urn-encoded organization}?edgeType=COMPANY_FOLLOWED_BY_MEMBER."""
    segment = request.raw_path.partition("?")[0].rsplit("/", 1)[-1]
    if ":" in segment:
        return error(400, "Syntax exception in path variables", code="ILLEGAL_ARGUMENT")
    q = _raw_query(request)
    if _simple(q.get("edgeType", "")) not in (
        "COMPANY_FOLLOWED_BY_MEMBER",
        "CompanyFollowedByMember",
    ):
        return _bad_query()
    acc = _org(request, unquote(segment))
    if acc is None:
        return error(404, "Not Found", code="NOT_FOUND")
    ctx = context(request)
    return json_response({"firstDegreeSize": ctx.world.served_followers(acc, ctx.clock.now())})


async def posts(request: web.Request) -> web.Response:
    """GET /rest/posts?q=author&author=: the page's posts and reshares, start/count paging."""
    q = _raw_query(request)
    if _simple(q.get("q", "")) != "author" or "author" not in q:
        return _bad_query()
    sort = _simple(q.get("sortBy", "LAST_MODIFIED"))
    raw_start, raw_count = q.get("start", "0"), q.get("count", str(DEFAULT_COUNT))
    if (
        sort not in ("LAST_MODIFIED", "CREATED")
        or not raw_start.isdigit()
        or not raw_count.isdigit()
    ):
        return _bad_query()
    acc = _org(request, _simple(q["author"]))
    if acc is None:
        return _denied("partnerApiPostsExternal.FINDER-author")
    start, count = int(raw_start), min(int(raw_count), MAX_COUNT)
    ctx = context(request)
    now = ctx.clock.now()
    feed = ctx.world.visible_feed(acc, now)[::-1]  # newest first (created = last modified here)
    page = feed[start : start + count]
    links = []
    base = f"/rest/posts?author={quote(ORG + acc.account_id, safe='')}&count={count}&q=author"
    if start > 0:
        links.append({"type": "application/json", "rel": "prev",
                      "href": f"{base}&start={max(0, start - count)}"})  # fmt: skip
    if start + count < len(feed):
        links.append({"type": "application/json", "rel": "next",
                      "href": f"{base}&start={start + count}"})  # fmt: skip
    return json_response({
        "paging": _paging(start, count, links, len(feed)),
        "elements": [post_object(ctx.world, e, now) for e in page],
    })  # fmt: skip


async def share_stats(request: web.Request) -> web.Response:
    """GET /rest/organizationalEntityShareStatistics: lifetime statistics per post or page."""
    q = _raw_query(request)
    if _simple(q.get("q", "")) != "organizationalEntity" or "organizationalEntity" not in q:
        return _bad_query()
    acc = _org(request, _simple(q["organizationalEntity"]))
    if acc is None:
        return _denied("organizationalEntityShareStatistics.FINDER-organizationalEntity")
    wanted: list[tuple[str, str]] = []
    for param, field in (("shares", "share"), ("ugcPosts", "ugcPost")):
        if param in q:
            urns = _urn_list(q[param])
            if urns is None or any(not u.startswith(f"urn:li:{field}:") for u in urns):
                return _bad_query()
            wanted += [(field, u) for u in urns]
    ctx = context(request)
    world, now = ctx.world, ctx.clock.now()
    org = ORG + acc.account_id
    elements: list[dict[str, Any]] = []
    if not wanted:
        totals: dict[str, Any] = defaultdict(int)
        for p in world.visible_posts(acc, now):
            for k, v in share_statistics(world, p, now).items():
                totals[k] += v
        views = totals["impressionCount"]
        engaged = sum(totals[k] for k in ("likeCount", "commentCount", "shareCount", "clickCount"))
        totals["engagement"] = round(engaged / views, 6) if views else 0.0
        elements.append({"totalShareStatistics": dict(totals), "organizationalEntity": org})
    for field, urn in wanted:
        post = world.posts.get(urn)
        repost = world.reposts.get(urn)
        if post is not None and post.account_id == acc.account_id and world.is_visible(post, now):
            stats = share_statistics(world, post, now)
        elif (
            repost is not None
            and repost.account_id == acc.account_id
            and repost.ts <= now.timestamp()
        ):
            stats = dict.fromkeys(share_statistics(world, world.posts[repost.subject], now), 0)
            stats["engagement"] = 0.0
        else:
            continue  # not this page's post: no element
        elements.append({"totalShareStatistics": stats, field: urn, "organizationalEntity": org})
    return json_response({"paging": _paging(0, DEFAULT_COUNT), "elements": elements})


async def not_found_route(request: web.Request) -> web.Response:
    """Any other path."""
    return error(404, "Not Found", code="NOT_FOUND")


# -- middlewares and app -------------------------------------------------------------------------


def _resource(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[parts.index("rest") + 1] if "rest" in parts and parts[-1] != "rest" else "other"


def _month_index(version: str) -> int | None:
    head = version.split(".", 1)[0]
    if len(head) != 6 or not head.isdigit() or not 1 <= int(head[4:]) <= 12:
        return None
    return int(head[:4]) * 12 + int(head[4:]) - 1


def _headers_middleware(ctx: SandboxContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        version = request.headers.get("LinkedIn-Version", "").strip()
        if not version:
            return error(400, "A version must be present. Please specify a version by adding "
                         "the LinkedIn-Version header.", code="VERSION_MISSING")  # fmt: skip
        now = ctx.clock.now().astimezone(UTC)
        current = now.year * 12 + now.month - 1
        month = _month_index(version)
        active = int(ctx.config.linkedin_active_versions)
        if month is None or not current - active < month <= current:
            return error(426, f"Requested version {version} is not active",
                         code="NONEXISTENT_VERSION")  # fmt: skip
        if request.headers.get("X-Restli-Protocol-Version", "").strip() != "2.0.0":
            return error(400, "The X-Restli-Protocol-Version header must be 2.0.0 for this "
                         "resource", code="ILLEGAL_ARGUMENT")  # fmt: skip
        response = await handler(request)
        response.headers["X-RestLi-Protocol-Version"] = "2.0.0"
        response.headers["x-li-uuid"] = ids.etag(request.raw_path, time.time_ns())[:22] + "=="
        return response

    return middleware


def _auth_middleware(ctx: SandboxContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(401, "Empty oauth2 access token", code="EMPTY_ACCESS_TOKEN",
                         service_code=65604)  # fmt: skip
        tokens = ctx.config.linkedin_access_tokens
        if tokens and token.strip() not in tokens:
            return error(401, "Invalid access token", code="INVALID_ACCESS_TOKEN",
                         service_code=65600)  # fmt: skip
        return await handler(request)

    return middleware


def _throttle_middleware(ctx: SandboxContext, used: dict[tuple[str, str, int], int]) -> Middleware:
    limits: Mapping[str, int] = ctx.config.linkedin_daily_limits

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Member-level daily limits per resource, reset at midnight UTC.
        resource = _resource(request.path)
        day = int(time.time() // 86400)
        slot = (request.headers.get("Authorization", ""), resource, day)
        used[slot] = used.get(slot, 0) + 1
        limit = limits.get(resource)
        if limit is not None and used[slot] > int(limit):
            ctx.stats.rate_limited[PLATFORM] += 1
            return error(429, "Resource level throttle MEMBER DAY limit for calls to this "
                         "resource is reached.")  # fmt: skip
        return await handler(request)

    return middleware


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The LinkedIn sub-application, mounted at ``/linkedin`` (paths as on api.linkedin.com)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(PLATFORM, _resource(request.path))] += 1
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    app = web.Application(
        middlewares=[
            count,
            _auth_middleware(ctx),
            _headers_middleware(ctx),
            _throttle_middleware(ctx, {}),
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, _error_for_status, on_fault
            ),
        ]
    )
    app.router.add_get("/rest/organizations", organizations)
    app.router.add_get("/rest/organizations/{id:\\d+}", organization_by_id)
    app.router.add_get("/rest/networkSizes/{urn}", network_sizes)
    app.router.add_get("/rest/posts", posts)
    app.router.add_get("/rest/organizationalEntityShareStatistics", share_stats)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
