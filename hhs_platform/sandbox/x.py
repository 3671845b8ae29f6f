"""The simulated X API v2: user lookup and user timelines, bearer tokens, 15-minute windows."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import SandboxContext, context, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware
from hhs_platform.sandbox.formats import iso_ms
from hhs_platform.sandbox.model import QUOTE, REPLY, Account, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World

PLATFORM = "x"
_PROBLEMS = "https://api.twitter.com/2/problems"
_TOKEN_PREFIX = "7140dibdnow9c7btw"  # noqa: S105 - a page token's look, not a secret
_TWEPOCH_MS = 1_288_834_974_657  # the snowflake epoch (2010-11-04T01:42:54.657Z)
_MAX_TIMELINE = 3200  # users/:id/tweets reaches back this many posts

TWEET_FIELDS = (
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "note_tweet", "possibly_sensitive", "public_metrics", "referenced_tweets",
    "reply_settings", "scopes", "source", "text", "withheld",
)  # fmt: skip
USER_FIELDS = (
    "created_at", "description", "entities", "id", "location", "name", "pinned_tweet_id",
    "profile_image_url", "protected", "public_metrics", "url", "username", "verified",
    "verified_type", "withheld",
)  # fmt: skip
MEDIA_FIELDS = (
    "alt_text", "duration_ms", "height", "media_key", "preview_image_url", "public_metrics",
    "type", "url", "variants", "width",
)  # fmt: skip
TWEET_EXPANSIONS = (
    "attachments.media_keys", "author_id", "in_reply_to_user_id", "referenced_tweets.id",
    "referenced_tweets.id.author_id",
)  # fmt: skip
USER_EXPANSIONS = ("pinned_tweet_id",)
_DEFAULT_TWEET = ("id", "text", "edit_history_tweet_ids")
_DEFAULT_USER = ("id", "name", "username")
_DEFAULT_MEDIA = ("media_key", "type")


# -- errors --------------------------------------------------------------------------------------


def _problem(status: int, title: str, detail: str, kind: str = "about:blank") -> web.Response:
    return json_response({"title": title, "detail": detail, "type": kind, "status": status}, status)


def _invalid(parameter: str, value: str, message: str) -> web.Response:
    return json_response(
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": f"{_PROBLEMS}/invalid-request",
        },
        400,
    )


def not_found(parameter: str, value: str, resource: str = "user") -> dict[str, Any]:
    """One entry of the ``errors`` array of a 200 response for a missing user or tweet."""
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": f"{_PROBLEMS}/resource-not-found",
    }


def _error_for_status(status: int) -> web.Response:
    if status == 429:
        return _problem(429, "Too Many Requests", "Too Many Requests")
    if status == 503:
        return _problem(503, "Service Unavailable", "Service Unavailable")
    if status == 502:
        return web.Response(status=502, text="Bad Gateway", content_type="text/plain")
    return _problem(500, "Internal Server Error", "Internal Server Error")


# -- field selection -----------------------------------------------------------------------------


class Fields:
    """The tweet, user and media fields and the expansions one request asked for."""

    def __init__(self, tweet: set[str], user: set[str], media: set[str], expand: set[str]):
        self.tweet, self.user, self.media, self.expand = tweet, user, media, expand


def _csv(
    request: web.Request, name: str, allowed: tuple[str, ...], default: tuple[str, ...]
) -> set[str] | web.Response:
    raw = request.query.get(name)
    if raw is None:
        return set(default)
    values = [v.strip() for v in raw.split(",") if v.strip()]
    for v in values:
        if v not in allowed:
            return _invalid(
                name,
                v,
                f"The `{name}` query parameter value [{v}] is not one of [{','.join(allowed)}]",
            )
    return set(default) | set(values)


def _fields(request: web.Request, expansions: tuple[str, ...]) -> Fields | web.Response:
    tweet = _csv(request, "tweet.fields", TWEET_FIELDS, _DEFAULT_TWEET)
    user = _csv(request, "user.fields", USER_FIELDS, _DEFAULT_USER)
    media = _csv(request, "media.fields", MEDIA_FIELDS, _DEFAULT_MEDIA)
    expand = _csv(request, "expansions", expansions, ())
    for v in (tweet, user, media, expand):
        if isinstance(v, web.Response):
            return v
    assert isinstance(tweet, set) and isinstance(user, set)
    assert isinstance(media, set) and isinstance(expand, set)
    return Fields(tweet, user, media, expand)


# -- payload builders ----------------------------------------------------------------------------


def _tco(*parts: object) -> str:
    h = ids.stable_hash("t.co", *parts)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "https://t.co/" + "".join(alphabet[(h >> (6 * i)) % 62] for i in range(10))


def _text_and_entities(world: World, post: Post, at: datetime) -> tuple[str, dict[str, Any]]:
    """The tweet text (links as t.co URLs) and its entities, offsets in code points."""
    raw = world.text(post, at).encode()
    out, pos = "", 0
    entities: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(post.facets, key=lambda f: f.byte_start):
        out += raw[pos : f.byte_start].decode()
        start = len(out)
        shown = raw[f.byte_start : f.byte_end].decode()
        if f.kind == "link":
            url = _tco(post.post_id, f.value)
            out += url
            entities.setdefault("urls", []).append(
                {"start": start, "end": len(out), "url": url, "expanded_url": f.value,
                 "display_url": shown.removeprefix("https://").removeprefix("www.")}
            )  # fmt: skip
        else:
            out += shown
            if f.kind == "mention":
                acc = world.account(PLATFORM, f.value)
                entities.setdefault("mentions", []).append(
                    {"start": start, "end": len(out), "username": acc.username if acc else
                     shown[1:], "id": f.value}
                )  # fmt: skip
            else:
                entities.setdefault("hashtags", []).append(
                    {"start": start, "end": len(out), "tag": f.value}
                )
        pos = f.byte_end
    out += raw[pos:].decode()
    media = _media_keys(post)
    if media:
        url = _tco(post.post_id, "media")
        entities.setdefault("urls", []).append(
            {"start": len(out) + 1, "end": len(out) + 1 + len(url), "url": url,
             "expanded_url": f"https://x.com/i/web/status/{post.post_id}/photo/1",
             "display_url": "pic.x.com/" + url.rsplit("/", 1)[1], "media_key": media[0]}
        )  # fmt: skip
        out += " " + url
    return out, entities


def _media_keys(post: Post) -> list[str]:
    e = post.embed
    if e is None or e.kind not in ("images", "video"):
        return []
    prefix = "3_" if e.kind == "images" else "13_"
    return [prefix + str(ids.stable_hash(blob) >> 2) for blob in e.blobs]


def media_objects(post: Post, fields: set[str], at_views: int) -> list[dict[str, Any]]:
    """The ``includes.media`` entries of one tweet with the requested fields."""
    e = post.embed
    if e is None:
        return []
    out = []
    for i, key in enumerate(_media_keys(post)):
        full: dict[str, Any] = {
            "media_key": key,
            "type": "photo" if e.kind == "images" else "video",
        }
        full["width"], full["height"] = e.aspect
        if e.kind == "images":
            full["url"] = f"https://pbs.twimg.com/media/{key.split('_')[1]}.jpg"
            full["alt_text"] = e.alts[i] if i < len(e.alts) else ""
        else:
            full["preview_image_url"] = f"https://pbs.twimg.com/amplify_video_thumb/{key}.jpg"
            full["duration_ms"] = e.sizes[0]
            full["public_metrics"] = {"view_count": at_views}
            full["variants"] = [
                {"content_type": "application/x-mpegURL",
                 "url": f"https://video.twimg.com/amplify_video/{key}/pl/playlist.m3u8"}
            ]  # fmt: skip
        out.append({k: v for k, v in full.items() if k in fields})
    return out


def edit_id(post: Post) -> str:
    """The id of the edited version of ``post``: a snowflake of the edit's instant."""
    assert post.edited_ts is not None
    millis = round(post.edited_ts * 1000) - _TWEPOCH_MS
    return str((millis << 22) | (ids.stable_hash(post.post_id, "edit") >> 42))


def _metrics(world: World, post: Post, at: datetime) -> dict[str, int]:
    return {
        "retweet_count": world.counter(post, "reposts", at),
        "reply_count": world.counter(post, "replies", at),
        "like_count": world.counter(post, "likes", at),
        "quote_count": world.counter(post, "quotes", at),
        "bookmark_count": world.counter(post, "bookmarks", at),
        "impression_count": world.counter(post, "views", at),
    }


def tweet(world: World, entry: Post | Repost, fields: set[str], at: datetime) -> dict[str, Any]:
    """A tweet object with exactly the requested fields (a retweet is its own tweet)."""
    full: dict[str, Any] = {}
    if isinstance(entry, Repost):
        orig = world.posts[entry.subject]
        author = world.account_by_id(orig.account_id)
        text, _ = _text_and_entities(world, orig, at)
        prefix = f"RT @{author.username}: "
        body = text if len(text) <= 140 - len(prefix) else text[: 139 - len(prefix)] + "…"
        full = {
            "id": entry.uri,
            "text": prefix + body,
            "edit_history_tweet_ids": [entry.uri],
            "author_id": entry.account_id,
            "conversation_id": entry.uri,
            "created_at": iso_ms(entry.created_at),
            "entities": {"mentions": [{"start": 3, "end": 4 + len(author.username or ""),
                                       "username": author.username, "id": author.account_id}]},
            "lang": "en",
            "possibly_sensitive": False,
            "referenced_tweets": [{"type": "retweeted", "id": orig.post_id}],
            "reply_settings": "everyone",
            # A retweet shows the original's retweet count and nothing else.
            "public_metrics": {**dict.fromkeys(_metrics(world, orig, at), 0),
                               "retweet_count": world.counter(orig, "reposts", at)},
        }  # fmt: skip
    else:
        text, entities = _text_and_entities(world, entry, at)
        history = [entry.post_id]
        if world.edited_at(entry, at) is not None:
            history.append(edit_id(entry))
        full = {
            # An edit is a new tweet: the timeline serves the newest version under its own id.
            "id": history[-1],
            "text": text,
            "edit_history_tweet_ids": history,
            "author_id": entry.account_id,
            "conversation_id": entry.reply_root or entry.post_id,
            "created_at": iso_ms(entry.created_at),
            "lang": "en",
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "public_metrics": _metrics(world, entry, at),
            "source": "Sprout Social",
        }
        if entities:
            full["entities"] = entities
        keys = _media_keys(entry)
        if keys:
            full["attachments"] = {"media_keys": keys}
        if entry.kind == REPLY and entry.reply_parent:
            parent = world.posts[entry.reply_parent]
            full["in_reply_to_user_id"] = parent.account_id
            full["referenced_tweets"] = [{"type": "replied_to", "id": parent.post_id}]
        elif entry.kind == QUOTE and entry.quote_of:
            full["referenced_tweets"] = [{"type": "quoted", "id": entry.quote_of}]
    return {k: v for k, v in full.items() if k in fields}


def _pinned(world: World, acc: Account, at: datetime) -> Post | None:
    for p in acc.posts[:20]:
        if p.kind == "original":
            return p if world.is_visible(p, at) else None
    return None


def user(world: World, acc: Account, fields: set[str], at: datetime) -> dict[str, Any]:
    """A user object with exactly the requested fields."""
    site = f"https://www.{acc.domain}"
    url = _tco(acc.account_id, site)
    full: dict[str, Any] = {
        "id": acc.account_id,
        "name": acc.display_name,
        "username": acc.username,
        "created_at": iso_ms(acc.created_at),
        "description": acc.description,
        "entities": {"url": {"urls": [{"start": 0, "end": len(url), "url": url,
                                       "expanded_url": site, "display_url": acc.domain}]}},
        "location": "United States",
        "profile_image_url": f"https://pbs.twimg.com/profile_images/{acc.avatar_cid[-19:]}_normal.jpg",
        "protected": False,
        "public_metrics": {
            "followers_count": world.served_followers(acc, at),
            "following_count": world.following(acc, at),
            "tweet_count": world.posts_count(acc, at),
            "listed_count": acc.followers0 // 150,
            "like_count": acc.follows0 * 3,
        },
        "url": url,
        "verified": True,
        "verified_type": "government",
    }  # fmt: skip
    pin = _pinned(world, acc, at)
    if pin is not None:
        full["pinned_tweet_id"] = pin.post_id
    return {k: v for k, v in full.items() if k in fields}


def _includes(
    world: World, entries: list[Post | Repost], f: Fields, at: datetime
) -> dict[str, Any]:
    media: list[dict[str, Any]] = []
    users: dict[str, Account] = {}
    tweets: dict[str, Post] = {}
    for e in entries:
        if isinstance(e, Repost):
            ref: Post | None = world.posts[e.subject]
            users.setdefault(e.account_id, world.account_by_id(e.account_id))
        else:
            ref = world.posts.get(e.reply_parent or e.quote_of or "")
            if "attachments.media_keys" in f.expand:
                media += media_objects(e, f.media, world.counter(e, "views", at) // 3)
            users.setdefault(e.account_id, world.account_by_id(e.account_id))
            if e.kind == REPLY and ref is not None and "in_reply_to_user_id" in f.expand:
                users.setdefault(ref.account_id, world.account_by_id(ref.account_id))
        if ref is not None and "referenced_tweets.id" in f.expand:
            tweets.setdefault(ref.post_id, ref)
            if "referenced_tweets.id.author_id" in f.expand:
                users.setdefault(ref.account_id, world.account_by_id(ref.account_id))
    out: dict[str, Any] = {}
    if media:
        out["media"] = media
    wanted_users = (
        "author_id" in f.expand
        or {"in_reply_to_user_id", "referenced_tweets.id.author_id"} & f.expand
    )
    if wanted_users and users:
        out["users"] = [user(world, a, f.user, at) for a in users.values()]
    if tweets:
        out["tweets"] = [tweet(world, t, f.tweet, at) for t in tweets.values()]
    return out


# -- handlers ------------------------------------------------------------------------------------


def _user_response(
    request: web.Request, acc: Account | None, parameter: str, value: str
) -> web.Response:
    ctx = context(request)
    f = _fields(request, USER_EXPANSIONS)
    if isinstance(f, web.Response):
        return f
    if acc is None:
        return json_response({"errors": [not_found(parameter, value)]})
    now = ctx.clock.now()
    out: dict[str, Any] = {"data": user(ctx.world, acc, f.user, now)}
    pin = _pinned(ctx.world, acc, now)
    if "pinned_tweet_id" in f.expand and pin is not None:
        out["includes"] = {"tweets": [tweet(ctx.world, pin, f.tweet, now)]}
    return json_response(out)


async def user_by_username(request: web.Request) -> web.Response:
    """GET /2/users/by/username/:username."""
    name = request.match_info["username"]
    acc = context(request).world.account(PLATFORM, name, "handle")
    return _user_response(request, acc, "username", name)


async def user_by_id(request: web.Request) -> web.Response:
    """GET /2/users/:id."""
    uid = request.match_info["id"]
    if not uid.isdigit():
        return _invalid("id", uid, f"The `id` query parameter value [{uid}] is not valid")
    acc = context(request).world.account(PLATFORM, uid)
    return _user_response(request, acc, "id", uid)


def _token(tweet_id: str, backwards: bool) -> str:
    n, digits = (int(tweet_id) << 1) | backwards, ""
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return _TOKEN_PREFIX + digits


def _parse_token(token: str) -> tuple[int, bool]:
    if not token.startswith(_TOKEN_PREFIX) or len(token) <= len(_TOKEN_PREFIX):
        raise ValueError(token)
    n = int(token[len(_TOKEN_PREFIX) :], 36)
    return n >> 1, bool(n & 1)


def _instant(raw: str) -> float:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


async def user_tweets(request: web.Request) -> web.Response:
    """GET /2/users/:id/tweets: newest first, ``meta.next_token`` → ``pagination_token``."""
    ctx = context(request)
    world, q = ctx.world, request.query
    uid = request.match_info["id"]
    if not uid.isdigit():
        return _invalid("id", uid, f"The `id` query parameter value [{uid}] is not valid")
    raw_max = q.get("max_results", "10")
    if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
        msg = f"The `max_results` query parameter value [{raw_max}] is not between 5 and 100"
        return _invalid("max_results", raw_max, msg)
    limit = int(raw_max)
    f = _fields(request, TWEET_EXPANSIONS)
    if isinstance(f, web.Response):
        return f
    exclude = {v.strip() for v in q.get("exclude", "").split(",") if v.strip()}
    if exclude - {"retweets", "replies"}:
        bad = sorted(exclude - {"retweets", "replies"})[0]
        msg = f"The `exclude` query parameter value [{bad}] is not one of [replies,retweets]"
        return _invalid("exclude", bad, msg)
    bounds: dict[str, float] = {}
    for name in ("start_time", "end_time"):
        if name in q:
            try:
                bounds[name] = _instant(q[name])
            except ValueError:
                msg = f"Invalid '{name}':'{q[name]}'. '{name}' must be a valid RFC 3339 date."
                return _invalid(name, q[name], msg)
    token: tuple[int, bool] | None = None
    if "pagination_token" in q:
        try:
            token = _parse_token(q["pagination_token"])
        except ValueError:
            tok = q["pagination_token"]
            msg = f"The `pagination_token` query parameter value [{tok}] is not valid"
            return _invalid("pagination_token", tok, msg)
    acc = world.account(PLATFORM, uid)
    if acc is None:
        return json_response({"errors": [not_found("id", uid)]})
    now = ctx.clock.now()
    entries = world.visible_feed(acc, now)[-_MAX_TIMELINE:][::-1]  # newest first
    if "retweets" in exclude:
        entries = [e for e in entries if not isinstance(e, Repost)]
    if "replies" in exclude:
        entries = [e for e in entries if isinstance(e, Repost) or e.kind != REPLY]
    if "start_time" in bounds:
        entries = [e for e in entries if e.ts >= bounds["start_time"]]
    if "end_time" in bounds:
        entries = [e for e in entries if e.ts <= bounds["end_time"]]
    for name, keep in (("since_id", lambda i, b: i > b), ("until_id", lambda i, b: i < b)):
        if name in q and q[name].isdigit():
            entries = [e for e in entries if keep(int(_id(e)), int(q[name]))]
    if token is None:
        page, first = entries[:limit], True
    elif token[1]:  # previous page: the ``limit`` items just newer than the token
        newer = [e for e in entries if int(_id(e)) > token[0]]
        page, first = newer[-limit:], len(newer) <= limit
    else:
        older = [e for e in entries if int(_id(e)) <= token[0]]
        page, first = older[:limit], False
    if not page:
        return json_response({"meta": {"result_count": 0}})
    out: dict[str, Any] = {"data": [tweet(world, e, f.tweet, now) for e in page]}
    includes = _includes(world, page, f, now)
    if includes:
        out["includes"] = includes
    meta: dict[str, Any] = {
        "result_count": len(page),
        "newest_id": _id(page[0]),
        "oldest_id": _id(page[-1]),
    }
    rest = [e for e in entries if int(_id(e)) < int(_id(page[-1]))]
    if rest:
        meta["next_token"] = _token(_id(rest[0]), False)
    if not first:
        meta["previous_token"] = _token(_id(page[0]), True)
    out["meta"] = meta
    return json_response(out)


def _id(e: Post | Repost) -> str:
    return e.uri if isinstance(e, Repost) else e.post_id


async def not_found_route(request: web.Request) -> web.Response:
    """Any other path."""
    return _problem(404, "Not Found Error", "Sorry, that page does not exist.")


# -- middlewares and app -------------------------------------------------------------------------


def _endpoint(path: str) -> str:
    if "/2/users/by/username/" in path:
        return "users_by_username"
    return "users_tweets" if path.endswith("/tweets") else "users"


def _auth_middleware(ctx: SandboxContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        tokens = ctx.config.x_bearer_tokens
        if not token or (tokens and token not in tokens):
            return _problem(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    return middleware


def _rate_limit_middleware(
    ctx: SandboxContext, state: dict[tuple[str, str], list[float]]
) -> Middleware:
    window = ctx.config.x_rate_window

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = _endpoint(request.path)
        limit = int(ctx.config.x_rate_limits.get(endpoint, 300))
        slot = (request.headers.get("Authorization", ""), endpoint)
        now = time.time()
        win = state.get(slot)
        if win is None or now >= win[0] + window:
            win = state[slot] = [now, 0.0]
        win[1] += 1
        if win[1] > limit:
            ctx.stats.rate_limited[PLATFORM] += 1
            response: web.StreamResponse = _error_for_status(429)
        else:
            response = await handler(request)
            if response.status == 429:
                ctx.stats.rate_limited[PLATFORM] += 1
        remaining = 0 if response.status == 429 else max(0, limit - int(win[1]))
        response.headers["x-rate-limit-limit"] = str(limit)
        response.headers["x-rate-limit-remaining"] = str(remaining)
        response.headers["x-rate-limit-reset"] = str(int(win[0] + window))
        return response

    return middleware


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The X sub-application, mounted at ``/x`` by the server."""

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
    app.router.add_get("/2/users/by/username/{username}", user_by_username)
    app.router.add_get("/2/users/{id}/tweets", user_tweets)
    app.router.add_get("/2/users/{id}", user_by_id)
    app.router.add_route("*", "/{tail:.*}", not_found_route)
    return app
