"""X (Twitter) API v2 with an app bearer token: the user lookup, then the user's post timeline."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from hhs_platform.connectors.base import (
    PAGE_REPEATS,
    AccountRef,
    Capabilities,
    Connector,
    ParsedRows,
    RawResponse,
    ResolvedAccount,
    add_posts,
    as_count,
    as_metric,
    as_str,
    decode_json_body,
    dig,
    is_success,
    media_item,
    parse_timestamp,
    utc_offset_minutes,
)
from hhs_platform.errors import (
    AuthError,
    CollectionError,
    HhsError,
    NotFoundError,
    QuotaExhaustedError,
    TerminalError,
)
from hhs_platform.metrics import first_present

log = logging.getLogger(__name__)

USER_BY_USERNAME = "x.users.by.username"
USER_BY_ID = "x.users"
USER_TWEETS = "x.users.tweets"
PROFILE_ENDPOINTS = (USER_BY_USERNAME, USER_BY_ID)

USER_FIELDS = "public_metrics,created_at,description,verified,verified_type,protected,username,name"
TWEET_FIELDS = (
    "created_at,public_metrics,entities,attachments,referenced_tweets,conversation_id,lang,"
    "edit_history_tweet_ids,author_id,note_tweet"
)
EXPANSIONS = "attachments.media_keys,referenced_tweets.id,referenced_tweets.id.author_id"
MEDIA_FIELDS = "type,url,preview_image_url,duration_ms,width,height,alt_text,public_metrics"
#: users/:id/tweets reaches only the most recent 3,200 posts (SOURCES.md §4, X docs).
TIMELINE_DEPTH = 3200
_MEDIA_TYPES = {"photo": "image", "video": "video", "animated_gif": "gif"}
_TIMELINE_PATH_RE = re.compile(r"/2/users/([0-9]+)/tweets")
_RT_PREFIX_RE = re.compile(r"^RT @([A-Za-z0-9_]{1,15}):")
_MEDIA_LINK_RE = re.compile(
    r"^https?://(?:pic\.(?:twitter|x)\.com/"
    r"|(?:www\.)?(?:twitter|x)\.com/[^/]+/status/[0-9]+/(?:photo|video)/)"
)


class XConnector(Connector):
    """X: an app-only bearer token; ``x-rate-limit-*`` headers on every response."""

    platform: ClassVar[str] = "x"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "x/1"
    required_settings: ClassVar[tuple[str, ...]] = ("x_bearer_token",)
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=True,
        posts_count=True,
        likes=True,
        reposts=True,
        replies=True,
        quotes=True,
        views=True,
        history="the most recent 3,200 posts of the user timeline (an API limit), newest first",
        auth="app-only bearer token (HHS_X_BEARER_TOKEN) of a developer App in a Project",
        rate_limit=(
            "per endpoint per 15 minutes (users/:id/tweets 10,000 per app); x-rate-limit-* "
            "headers on every response; plus the plan's monthly post-read cap"
        ),
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """X problems: ``{"title","detail","type"}``, or a 200 whose ``errors`` replace ``data``."""
        if raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None  # 2020-era text/plain 429s, HTML 5xx: the HTTP default applies
        if not isinstance(payload, dict):
            return None
        kw: dict[str, Any] = {"platform": "x", "status": raw.status}
        where = f"x {raw.endpoint} for {raw.account_key}: HTTP {raw.status}"
        if 200 <= raw.status < 300:
            errors = payload.get("errors")
            # Partial errors next to data (a deleted referenced post) are not the account's fault.
            if "data" in payload or not isinstance(errors, list) or not errors:
                return None
            return _problem_error(errors[0], where, kw)
        title, detail = str(payload.get("title") or ""), str(payload.get("detail") or "")
        kind = str(payload.get("type") or "")
        where = f"{where} {title}: {detail}"
        if raw.status == 429 and (kind.endswith("/usage-capped") or title == "UsageCapExceeded"):
            return QuotaExhaustedError(
                f"{where}; the plan's {payload.get('period') or 'monthly'} cap is spent until "
                "the billing cycle resets (or the plan is raised in the developer console)",
                **kw,
            )
        if raw.status in (401, 403) or kind.endswith(("/client-forbidden", "/unsupported-auth")):
            return AuthError(
                f"{where}; check HHS_X_BEARER_TOKEN (an app-only bearer token of a developer App "
                "attached to a Project with read access)",
                **kw,
            )
        return None

    def _headers(self) -> dict[str, str]:
        token = self.settings.secret("x_bearer_token")
        if not token:
            raise AuthError(
                "x: no bearer token configured; set HHS_X_BEARER_TOKEN to the app-only bearer "
                "token of your X developer App (developer console → your App → Keys and tokens)",
                platform="x",
            )
        return {"Authorization": f"Bearer {token}"}

    def _profile_request(self, account: AccountRef) -> tuple[str, str]:
        """(endpoint, url) of the profile lookup: by id when known, else by username."""
        if account.platform_id and account.platform_id.strip().isdigit():
            return USER_BY_ID, f"{self.base}/2/users/{account.platform_id.strip()}"
        username = quote(account.handle.strip().lstrip("@"), safe="")
        return USER_BY_USERNAME, f"{self.base}/2/users/by/username/{username}"

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        headers = self._headers()
        endpoint, url = self._profile_request(account)
        _, profile = await self.http.get_json(
            platform=self.platform,
            endpoint=endpoint,
            url=url,
            params={"user.fields": USER_FIELDS},
            account_key=account.key,
            page=0,
            headers=headers,
            classify=self.classify_error,
        )
        user_id = as_str(dig(profile, "data", "id"))
        if user_id is None:
            raise NotFoundError(
                f"x: no user in the {endpoint} answer for {account.key}; "
                "check the handle/platform_id in the registry",
                platform="x",
                status=200,
            )
        token: str | None = None
        seen_tokens: set[str] = set()
        pages = repeats = 0
        while True:
            params: dict[str, str | int] = {
                "max_results": 100,
                "tweet.fields": TWEET_FIELDS,
                "expansions": EXPANSIONS,
                "media.fields": MEDIA_FIELDS,
            }
            if since is not None:
                # The API filters by itself; second granularity, inclusive (RFC 3339).
                params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if token:
                params["pagination_token"] = token
            _, data = await self.http.get_json(
                platform=self.platform,
                endpoint=USER_TWEETS,
                url=f"{self.base}/2/users/{user_id}/tweets",
                params=params,
                account_key=account.key,
                page=pages + 1,
                headers=headers,
                classify=self.classify_error,
            )
            pages += 1
            tweets = dig(data, "data")
            if since is not None and isinstance(tweets, list) and _all_older(tweets, since):
                return  # the server ignored start_time: stop at the watermark ourselves
            next_token = as_str(dig(data, "meta", "next_token"))
            if (
                next_token is not None
                and (next_token == token or next_token in seen_tokens)
                and repeats < PAGE_REPEATS
            ):
                repeats += 1  # an earlier page served again (its cursor points back): ask again
                continue
            if next_token is None or next_token in seen_tokens:
                if next_token is not None:
                    self.note_cursor_loop(account, USER_TWEETS, next_token)
                    return
                break
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, USER_TWEETS)
                return
            seen_tokens.add(next_token)
            token, repeats = next_token, 0
        posted = as_count(dig(profile, "data", "public_metrics", "tweet_count"))
        if since is None and posted is not None and posted > TIMELINE_DEPTH:
            # The end of the timeline is not the end of the account: older posts exist but are
            # out of reach, so this read must not be taken as complete (it would tombstone them).
            self.cap_hits.append((account.key, USER_TWEETS))
            log.info(
                "x %s: %d posts, the timeline reaches only the newest %d; older ones not read",
                account.key,
                posted,
                TIMELINE_DEPTH,
            )

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """One profile lookup: active, not_found or suspended, with the stable user id."""
        endpoint, url = self._profile_request(account)

        def keep_2xx(raw: RawResponse) -> HhsError | None:
            # A 200 with only ``errors`` is the answer here (not found, suspended), not a failure.
            return None if 200 <= raw.status < 300 else self.classify_error(raw)

        try:
            _, body = await self.http.get(
                platform=self.platform,
                endpoint=endpoint,
                url=url,
                params={"user.fields": USER_FIELDS},
                account_key=account.key,
                page=0,
                headers=self._headers(),
                classify=keep_2xx,
                expect_json=True,
            )
        except NotFoundError as exc:
            return ResolvedAccount("x", account.handle, "not_found", detail=str(exc))
        except CollectionError as exc:
            return ResolvedAccount("x", account.handle, "error", detail=str(exc))
        payload = json.loads(body)
        user = dig(payload, "data")
        if isinstance(user, Mapping) and as_str(user.get("id")):
            return ResolvedAccount(
                "x",
                account.handle,
                "active",
                account_id=as_str(user.get("id")),
                current_handle=as_str(user.get("username")),
                display_name=as_str(user.get("name")),
                verified=_verified(user),
                detail="protected: posts visible to approved followers only"
                if user.get("protected") is True
                else "",
            )
        errors = dig(payload, "errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
        detail = str(dig(first, "detail") or "no 'data' and no 'errors' in the answer")
        status = "suspended" if "suspended" in detail.lower() else "not_found"
        if status == "not_found" and not str(dig(first, "type") or "").endswith(
            "/resource-not-found"
        ):
            status = "error"
        return ResolvedAccount("x", account.handle, status, detail=detail)

    @staticmethod
    def parse(record: Mapping[str, Any]) -> ParsedRows:
        rows = ParsedRows()
        if not is_success(record):
            return rows
        endpoint = record.get("endpoint")
        data, problem = decode_json_body(record)
        if problem:
            rows.problems.append(f"{endpoint}: {problem}")
            return rows
        try:
            if endpoint in PROFILE_ENDPOINTS:
                _parse_profile(data, str(endpoint), str(record.get("account_key") or ""), rows)
            elif endpoint == USER_TWEETS:
                _parse_timeline(data, str(record.get("request_url") or ""), rows)
            else:
                rows.problems.append(f"x: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


def _problem_error(problem: Any, where: str, kw: dict[str, Any]) -> HhsError:
    """The error a 200 ``errors[]`` entry means when there is no ``data``."""
    title, detail = str(dig(problem, "title") or ""), str(dig(problem, "detail") or "")
    kind = str(dig(problem, "type") or "")
    where = f"{where} {title}: {detail}"
    if "suspended" in detail.lower():
        return NotFoundError(f"{where}; the account is suspended by X", **kw)
    if kind.endswith("/resource-not-found"):
        return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
    if kind.endswith("/not-authorized-for-resource"):
        return AuthError(
            f"{where}; the account is protected: its posts are visible to approved followers only",
            **kw,
        )
    return TerminalError(f"{where}; the request was rejected", **kw)


def _verified(user: Mapping[str, Any]) -> bool | None:
    kind = as_str(user.get("verified_type"))
    if isinstance(user.get("verified"), bool):
        return bool(user["verified"]) or (kind is not None and kind != "none")
    return None if kind is None else kind != "none"


def _all_older(tweets: list[Any], since: datetime) -> bool:
    times = [parse_timestamp(dig(t, "created_at")) for t in tweets]
    dated = [t for t in times if t is not None]
    return bool(dated) and all(t < since for t in dated)


def _error_details(errors: Any) -> str:
    if not isinstance(errors, list):
        return "-"
    return "; ".join(str(dig(e, "detail") or dig(e, "message") or e) for e in errors[:3]) or "-"


def _parse_profile(data: Any, endpoint: str, account_key: str, rows: ParsedRows) -> None:
    user = dig(data, "data")
    if not isinstance(user, Mapping):
        if isinstance(data, Mapping) and "errors" in data:
            rows.problems.append(f"{endpoint}: no user: {_error_details(data.get('errors'))}")
        else:
            got = type(data).__name__ if not isinstance(data, Mapping) else "no 'data' object"
            rows.problems.append(f"{endpoint}: expected {{'data': {{...}}}}, got {got}")
        return
    user_id = as_str(user.get("id"))
    if user_id is None:
        rows.problems.append(f"{endpoint}: user without 'id'")
        return
    rows.accounts.append(
        {
            "account_id": user_id,
            "handle": as_str(user.get("username")) or user_id,
            "display_name": as_str(user.get("name")),
            "description": as_str(user.get("description")),
            "account_created_at": parse_timestamp(user.get("created_at")),
            "account_key": account_key,
        }
    )
    metrics = user.get("public_metrics")
    rows.account_snapshots.append(
        {
            "account_id": user_id,
            "followers": as_count(dig(metrics, "followers_count")),
            "following": as_count(dig(metrics, "following_count")),
            "posts_count": as_count(dig(metrics, "tweet_count")),
        }
    )


def _by_key(items: Any, key: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {k: i for i in items if isinstance(i, Mapping) and (k := as_str(i.get(key)))}


def _parse_timeline(data: Any, request_url: str, rows: ParsedRows) -> None:
    if not isinstance(data, Mapping) or not ("data" in data or "meta" in data):
        got = type(data).__name__ if not isinstance(data, Mapping) else "no 'data' or 'meta'"
        rows.problems.append(
            f"{USER_TWEETS}: expected {{'data': [...], 'meta': {{...}}}}, got {got}"
        )
        return
    tweets = data.get("data")
    if tweets is None:
        if as_count(dig(data, "meta", "result_count")) == 0:
            return  # an empty page (the end, or nothing since start_time)
        rows.problems.append(f"{USER_TWEETS}: no posts: {_error_details(data.get('errors'))}")
        return
    if not isinstance(tweets, list):
        rows.problems.append(f"{USER_TWEETS}: 'data' is {type(tweets).__name__}, not a list")
        return
    match = _TIMELINE_PATH_RE.search(request_url)
    owner = match.group(1) if match else None
    includes = data.get("includes") if isinstance(data.get("includes"), Mapping) else {}
    media = _by_key(dig(includes, "media"), "media_key")
    referenced = _by_key(dig(includes, "tweets"), "id")
    users = {
        str(u.get("username") or "").lower(): i
        for i, u in _by_key(dig(includes, "users"), "id").items()
    }
    add_posts(
        rows,
        tweets,
        lambda tweet: _recorded(rows, _parse_tweet(tweet, owner, media, referenced, users)),
        f"{USER_TWEETS}: data",
    )


def _entities(tweet: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(hashtags, mentions, links): links are expanded URLs, minus the attached media's own."""
    entities = dig(tweet, "note_tweet", "entities")
    if not isinstance(entities, Mapping):
        entities = tweet.get("entities") if isinstance(tweet.get("entities"), Mapping) else {}
    tags = [t for h in entities.get("hashtags") or [] if (t := as_str(dig(h, "tag")))]
    mentions = [u for m in entities.get("mentions") or [] if (u := as_str(dig(m, "username")))]
    links: list[str] = []
    for entity in entities.get("urls") or []:
        url = as_str(dig(entity, "expanded_url")) or as_str(dig(entity, "url"))
        if url is None or dig(entity, "media_key") or _MEDIA_LINK_RE.match(url):
            continue
        if str(dig(entity, "display_url") or "").startswith(("pic.twitter.com", "pic.x.com")):
            continue
        links.append(url)
    return list(dict.fromkeys(tags)), list(dict.fromkeys(mentions)), list(dict.fromkeys(links))


def _media(
    tweet: Mapping[str, Any], media: Mapping[str, Mapping[str, Any]]
) -> tuple[str | None, int, list[str], float | None]:
    """(media_type, media_count, media_urls, duration_s) from the attachments and includes."""
    keys = [k for k in dig(tweet, "attachments", "media_keys") or [] if isinstance(k, str)]
    if not keys:
        return None, 0, [], None
    found = [media[k] for k in keys if k in media]
    kinds = {_MEDIA_TYPES.get(str(m.get("type")), "image") for m in found}
    # A post may mix images, GIFs and videos; the richest kind names it.
    kind: str | None = next((k for k in ("video", "gif", "image") if k in kinds), None)
    if kind is None:  # includes.media missing: the keys still say what family it is
        prefix = keys[0].split("_", 1)[0]
        kind = {"3": "image", "7": "video", "13": "video", "16": "gif"}.get(prefix, "image")
    urls = [u for m in found if (u := as_str(m.get("url")) or as_str(m.get("preview_image_url")))]
    durations = [d for m in found if (d := as_count(m.get("duration_ms"))) is not None]
    return kind, len(keys), urls, (durations[0] / 1000.0 if durations else None)


def _media_items(
    tweet: Mapping[str, Any], media: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each attachment found in ``includes.media``: size, duration and alt text."""
    out = []
    for key in dig(tweet, "attachments", "media_keys") or []:
        m = media.get(key) if isinstance(key, str) else None
        if not isinstance(m, Mapping):
            continue
        ms = as_count(m.get("duration_ms"))
        out.append(
            media_item(
                _MEDIA_TYPES.get(str(m.get("type")), "image"),
                as_str(m.get("url")) or as_str(m.get("preview_image_url")),
                width=m.get("width"),
                height=m.get("height"),
                duration_s=ms / 1000.0 if ms is not None else None,
                alt_text=m.get("alt_text"),
            )
        )
    return out


def _recorded(
    rows: ParsedRows, parsed: tuple[dict[str, Any], dict[str, Any] | None]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Move the native field behind ``views`` from the metrics row into the rows' record."""
    post, metrics = parsed
    if metrics is not None:
        rows.used("views", metrics.pop("_views_field", None))
    return post, metrics


def _parse_tweet(
    tweet: Any,
    owner: str | None,
    media: Mapping[str, Mapping[str, Any]],
    referenced: Mapping[str, Mapping[str, Any]],
    users: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One post as a posts row and (except for reposts) a post_metrics row."""
    if not isinstance(tweet, Mapping):
        raise ValueError(f"post is {type(tweet).__name__}, not an object")
    tweet_id = as_str(tweet.get("id"))
    if tweet_id is None:
        raise ValueError("post without 'id'")
    created = parse_timestamp(tweet.get("created_at"))
    if created is None:
        raise ValueError(f"post {tweet_id} without a valid 'created_at'")
    account_id = as_str(tweet.get("author_id")) or owner
    if account_id is None:
        raise ValueError(f"post {tweet_id} without 'author_id'")
    # Each edit is a new id; the timeline serves the newest version, and the chain's first id
    # (edit_history_tweet_ids[0], oldest first) is the one key that survives every edit.
    history = [h for h in tweet.get("edit_history_tweet_ids") or [] if isinstance(h, str) and h]
    post_id = history[0] if history else tweet_id
    refs = {
        str(dig(r, "type")): rid
        for r in tweet.get("referenced_tweets") or []
        if (rid := as_str(dig(r, "id")))
    }
    empty: list[str] = []
    url = f"https://x.com/i/web/status/{tweet_id}"
    if "retweeted" in refs:
        original = refs["retweeted"]
        match = _RT_PREFIX_RE.match(str(tweet.get("text") or ""))
        author = (
            as_str(dig(referenced.get(original), "author_id"))
            or (users.get(match.group(1).lower()) if match else None)
            or account_id  # the original is gone from includes (deleted or protected)
        )
        row = {
            "post_id": post_id,
            "account_id": account_id,
            "author_id": author,
            "created_at": created,
            "utc_offset_minutes": utc_offset_minutes(tweet.get("created_at")),
            "post_type": "repost",
            "text": None,
            "title": None,
            "url": url,
            "lang": None,
            "reply_to_post_id": None,
            "quoted_post_id": None,
            "reposted_post_id": original,
            "hashtags": empty,
            "mentions": empty,
            "links": empty,
            "media_type": None,
            "media_count": 0,
            "media_urls": empty,
            "media": [],
            "duration_s": None,
            "is_deleted": False,
        }
        return row, None  # a retweet's counters are the original's

    reply_to, quoted = refs.get("replied_to"), refs.get("quoted")
    text = as_str(dig(tweet, "note_tweet", "text")) or as_str(tweet.get("text"))
    hashtags, mentions, links = _entities(tweet)
    media_type, media_count, media_urls, duration_s = _media(tweet, media)
    lang = as_str(tweet.get("lang"))
    row = {
        "post_id": post_id,
        "account_id": account_id,
        "author_id": account_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(tweet.get("created_at")),
        "post_type": "reply" if reply_to else "quote" if quoted else "original",
        "text": text,
        "title": None,
        "url": url,
        "lang": None if lang in (None, "und", "zxx", "qme", "qht") else lang,
        "reply_to_post_id": reply_to,
        "quoted_post_id": quoted,
        "reposted_post_id": None,
        "hashtags": hashtags,
        "mentions": mentions,
        "links": links,
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": _media_items(tweet, media),
        "duration_s": duration_s,
        "is_deleted": False,
    }
    pm = tweet.get("public_metrics")
    # Impressions are the current views; plays of the attached media are what X showed before.
    plays = [
        as_count(dig(media.get(k), "public_metrics", "view_count"))
        for k in dig(tweet, "attachments", "media_keys") or []
        if isinstance(k, str)
    ]
    views, views_field = first_present(
        [
            ("public_metrics.impression_count", as_count(dig(pm, "impression_count"))),
            (
                "includes.media[].public_metrics.view_count",
                sum(p for p in plays if p is not None)
                if any(p is not None for p in plays)
                else None,
            ),
        ]
    )
    metrics = {
        "post_id": post_id,
        "account_id": account_id,
        "likes": as_metric(dig(pm, "like_count"), "public_metrics.like_count"),
        "reposts": as_metric(dig(pm, "retweet_count"), "public_metrics.retweet_count"),
        "replies": as_metric(dig(pm, "reply_count"), "public_metrics.reply_count"),
        "quotes": as_metric(dig(pm, "quote_count"), "public_metrics.quote_count"),
        "views": views,
        "_views_field": views_field,  # taken out by the caller into the metric model's record
    }
    return row, metrics
