"""Threads API: the token owner's profile, followers, threads and per-post insights; else discovery."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from hhs_platform.connectors.base import (
    PAGE_REPEATS,
    AccountRef,
    Capabilities,
    Connector,
    ParsedRows,
    RawResponse,
    ResolvedAccount,
    as_count,
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
    RateLimitedError,
    ServerError,
)

log = logging.getLogger(__name__)

API_VERSION = "v1.0"
ME = "threads.me"
USER_INSIGHTS = "threads.threads_insights"
THREADS = "threads.threads"
MEDIA_INSIGHTS = "threads.media.insights"
PROFILE_LOOKUP = "threads.profile_lookup"
PROFILE_POSTS = "threads.profile_posts"
PROFILE_FIELDS = "id,username,name,threads_profile_picture_url,threads_biography,is_verified"
POST_FIELDS = (
    "id,media_product_type,media_type,media_url,permalink,owner,username,text,timestamp,"
    "shortcode,thumbnail_url,children,is_quote_post,quoted_post,reposted_post,topic_tag,"
    "link_attachment_url,is_reply,replied_to,alt_text"
)
PUBLIC_POST_FIELDS = (
    "id,media_product_type,media_type,media_url,permalink,username,text,timestamp,shortcode,"
    "thumbnail_url,children,is_quote_post,topic_tag"
)
MEDIA_METRICS = "views,likes,replies,reposts,quotes"
PAGE_SIZE = 100
#: ``since`` must not be older than this (the API refuses earlier values).
_EARLIEST_SINCE = 1688540400
_RATE_CODES = {4, 17, 32, 613}
_AUTH_CODES = {10, 102, 190} | set(range(200, 300))
_TEMPORARY_CODES = {1, 2}
_HASHTAG_RE = re.compile(r"(?<![\w#&/])#(\w+)")
_LINK_RE = re.compile(r"https?://[^\s<>\"']+")
_METRIC_COLUMNS = {
    "likes": "likes",
    "replies": "replies",
    "reposts": "reposts",
    "quotes": "quotes",
    "views": "views",
}


def threads_username(handle: str) -> str:
    """A username from a registry handle: ``@cdcgov``, ``cdcgov`` or a threads.net profile URL."""
    text = handle.strip().rstrip("/")
    for host in ("threads.net/", "threads.com/"):
        if host in text:
            text = text.split(host, 1)[1].split("/", 1)[0]
    return text.lstrip("@")


def _request_parts(request_url: str) -> tuple[list[str], dict[str, list[str]]]:
    """The path segments after the API version and the query of an archived request URL."""
    split = urlsplit(request_url)
    segments = [unquote(s) for s in split.path.split("/") if s]
    if API_VERSION in segments:
        segments = segments[segments.index(API_VERSION) + 1 :]
    return segments, parse_qs(split.query)


class ThreadsConnector(Connector):
    """Threads: a user token; full figures for the token's own profile, public ones otherwise."""

    platform: ClassVar[str] = "threads"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "threads/1"
    required_settings: ClassVar[tuple[str, ...]] = ("threads_access_token",)
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=False,
        posts_count=False,
        likes=True,
        reposts=True,
        replies=True,
        quotes=True,
        views=True,
        history=(
            "every thread of the token's own profile (replies excluded), counters through "
            "per-post insights; other profiles: posts via profile_posts without counters"
        ),
        auth=(
            "Threads user access token of the agency's own profile (HHS_THREADS_ACCESS_TOKEN) "
            "with threads_basic, threads_manage_insights and threads_profile_discovery"
        ),
        rate_limit=(
            "24-hour rolling call budget (4,800 x impressions); profile_lookup and "
            "profile_posts 1,000 requests per 24 h; no rate-limit headers"
        ),
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Graph errors: ``{"error": {"message", "type": "THApiException", "code", ...}}``."""
        if 200 <= raw.status < 300 or raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        error = dig(payload, "error")
        if not isinstance(error, Mapping):
            return None
        code = as_count(error.get("code"))
        subcode = as_count(error.get("error_subcode"))
        message = str(error.get("message") or "")
        where = (
            f"threads {raw.endpoint} for {raw.account_key}: HTTP {raw.status} "
            f"{error.get('type') or '-'} code {code}: {message}"
        )
        kw: dict[str, Any] = {"platform": "threads", "status": raw.status}
        low = message.lower()
        if code in _RATE_CODES or raw.status == 429:
            return RateLimitedError(
                f"{where}; the 24-hour call budget is spent, slowing down", **kw
            )
        if code in _AUTH_CODES:
            return AuthError(
                f"{where}; check HHS_THREADS_ACCESS_TOKEN and its permissions "
                "(threads_basic, threads_manage_insights, threads_profile_discovery)",
                **kw,
            )
        if code in (24, 803) or subcode == 33 or "does not exist" in low or "not found" in low:
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        if code in _TEMPORARY_CODES:
            return ServerError(f"{where}; Meta says this is temporary", **kw)
        return None

    def _token(self) -> str:
        token = self.settings.secret("threads_access_token")
        if not token:
            raise AuthError(
                "threads: no access token configured; set HHS_THREADS_ACCESS_TOKEN to a "
                "long-lived Threads user token of the agency's profile",
                platform="threads",
            )
        return token

    async def _get(
        self, endpoint: str, path: str, params: dict[str, str | int], account: AccountRef, page: int
    ) -> Any:
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=endpoint,
            url=f"{self.base}/{API_VERSION}/{path}",
            params={**params, "access_token": self._token()},
            account_key=account.key,
            page=page,
            classify=self.classify_error,
        )
        return data

    async def _me(self, account: AccountRef) -> tuple[str | None, Any]:
        """The token owner's profile, and its id when it is the registry account."""
        me = await self._get(ME, "me", {"fields": PROFILE_FIELDS}, account, 0)
        me_id, me_name = as_str(dig(me, "id")), as_str(dig(me, "username"))
        wanted = threads_username(account.handle).lower()
        own = (account.platform_id is not None and account.platform_id == me_id) or (
            me_name is not None and me_name.lower() == wanted
        )
        return (me_id if own else None), me

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        user_id, _ = await self._me(account)
        if user_id is None:
            await self._collect_public(account, since)
            return
        await self._get(
            USER_INSIGHTS, f"{user_id}/threads_insights", {"metric": "followers_count"}, account, 0
        )
        params: dict[str, str | int] = {"fields": POST_FIELDS, "limit": PAGE_SIZE}
        if since is not None:
            params["since"] = max(int(since.timestamp()), _EARLIEST_SINCE)
        insights = _InsightsState()
        await self._paginate(
            THREADS, f"{user_id}/threads", params, account, since, insights.fetcher(self, account)
        )

    async def _collect_public(self, account: AccountRef, since: datetime | None) -> None:
        username = threads_username(account.handle)
        await self._get(PROFILE_LOOKUP, "profile_lookup", {"username": username}, account, 0)
        params: dict[str, str | int] = {
            "username": username,
            "fields": PUBLIC_POST_FIELDS,
            "limit": PAGE_SIZE,
        }
        if since is not None:
            params["since"] = max(int(since.timestamp()), _EARLIEST_SINCE)
        await self._paginate(PROFILE_POSTS, "profile_posts", params, account, since, None)

    async def _paginate(
        self,
        endpoint: str,
        path: str,
        params: dict[str, str | int],
        account: AccountRef,
        since: datetime | None,
        on_page: Any,
    ) -> None:
        cursor: str | None = None
        seen_cursors: set[str] = set()
        pages = repeats = 0
        page_no = 1
        while True:
            query = {**params, **({"after": cursor} if cursor else {})}
            data = await self._get(endpoint, path, query, account, page_no)
            pages += 1
            page_no += 1
            items = dig(data, "data")
            if not isinstance(items, list) or not items:
                return
            after = as_str(dig(data, "paging", "cursors", "after"))
            if (
                cursor is not None
                and (after == cursor or after in seen_cursors)
                and repeats < PAGE_REPEATS
            ):
                repeats += 1  # an earlier page served again (its cursor points back): ask again
                continue
            if on_page is not None:
                page_no += await on_page(items, since, page_no)
            dated = [t for i in items if (t := parse_timestamp(_ts(dig(i, "timestamp"))))]
            if since is not None and dated and all(t < since for t in dated):
                return
            # Graph paging: the last page may still carry cursors; only ``next`` says more exist.
            if dig(data, "paging", "next") is None or after is None or after in seen_cursors:
                if dig(data, "paging", "next") is not None and after in seen_cursors:
                    self.note_cursor_loop(account, endpoint, str(after))
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, endpoint)
                return
            seen_cursors.add(after)
            cursor, repeats = after, 0

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        try:
            user_id, me = await self._me(account)
            if user_id is not None:
                return ResolvedAccount(
                    self.platform,
                    account.handle,
                    "active",
                    account_id=user_id,
                    current_handle=as_str(dig(me, "username")),
                    display_name=as_str(dig(me, "name")),
                    verified=dig(me, "is_verified")
                    if isinstance(dig(me, "is_verified"), bool)
                    else None,
                )
            username = threads_username(account.handle)
            data = await self._get(
                PROFILE_LOOKUP, "profile_lookup", {"username": username}, account, 0
            )
        except NotFoundError:
            return ResolvedAccount(self.platform, account.handle, "not_found")
        except CollectionError as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        name = as_str(dig(data, "username"))
        if name is None:
            return ResolvedAccount(self.platform, account.handle, "not_found")
        verified = dig(data, "is_verified")
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=name,  # the discovery API exposes no user id
            current_handle=name,
            display_name=as_str(dig(data, "name")),
            verified=verified if isinstance(verified, bool) else None,
        )

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
        account_key = str(record.get("account_key") or "")
        request_url = str(record.get("request_url") or "")
        try:
            if endpoint == ME:
                _parse_me(data, account_key, rows)
            elif endpoint == USER_INSIGHTS:
                _parse_user_insights(data, request_url, rows)
            elif endpoint == PROFILE_LOOKUP:
                _parse_profile_lookup(data, account_key, rows)
            elif endpoint in (THREADS, PROFILE_POSTS):
                _parse_threads(data, str(endpoint), request_url, rows)
            elif endpoint == MEDIA_INSIGHTS:
                _parse_media_insights(data, account_key, request_url, rows)
            else:
                rows.problems.append(f"threads: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


class _InsightsState:
    """Per-post insights of one collection; switched off after a permission error."""

    def __init__(self) -> None:
        self.enabled = True

    def fetcher(self, connector: ThreadsConnector, account: AccountRef) -> Any:
        async def fetch(items: list[Any], since: datetime | None, page_no: int) -> int:
            if not self.enabled:
                return 0
            ids: list[str] = []
            for item in items:
                media_id = as_str(dig(item, "id"))
                created = parse_timestamp(_ts(dig(item, "timestamp")))
                if media_id is None or _is_repost(item):
                    continue  # a repost's counters belong to the original post
                if since is not None and created is not None and created < since:
                    continue
                ids.append(media_id)

            async def one(offset: int, media_id: str) -> None:
                try:
                    await connector._get(
                        MEDIA_INSIGHTS,
                        f"{media_id}/insights",
                        {"metric": MEDIA_METRICS},
                        account,
                        page_no + offset,
                    )
                except NotFoundError:
                    log.info(
                        "threads %s: post %s vanished before its insights", account.key, media_id
                    )

            # The HTTP layer bounds concurrency per platform; one call per post is what the API offers.
            results = await asyncio.gather(
                *(one(n, m) for n, m in enumerate(ids)), return_exceptions=True
            )
            for result in results:
                if isinstance(result, AuthError):
                    self.enabled = False
                    log.warning(
                        "threads %s: no permission for insights (%s); posts are collected "
                        "without counters",
                        account.key,
                        result,
                    )
                elif isinstance(result, BaseException):
                    raise result
            return len(ids)

        return fetch


def _ts(value: Any) -> Any:
    """Meta writes offsets as ``+0000``; make them ``+00:00`` for fromisoformat."""
    if isinstance(value, str) and re.search(r"[+-]\d{4}$", value):
        return value[:-2] + ":" + value[-2:]
    return value


def _is_repost(item: Any) -> bool:
    return dig(item, "media_type") == "REPOST_FACADE" or dig(item, "reposted_post") is not None


def _ref_id(value: Any) -> str | None:
    """A media reference: ``{"id": ...}`` or a bare id."""
    if isinstance(value, Mapping):
        return as_str(value.get("id"))
    return as_str(value) if not isinstance(value, bool) else None


def _parse_me(data: Any, account_key: str, rows: ParsedRows) -> None:
    if not isinstance(data, dict):
        rows.problems.append(f"{ME}: expected an object, got {type(data).__name__}")
        return
    user_id, username = as_str(data.get("id")), as_str(data.get("username"))
    if user_id is None or username is None:
        rows.problems.append(f"{ME}: profile without 'id'/'username'")
        return
    registry = account_key.split(":", 1)[1] if ":" in account_key else ""
    if username.lower() != threads_username(registry).lower():
        return  # the token's own profile, asked for another account: not this account's row
    rows.accounts.append(
        {
            "account_id": user_id,
            "handle": username,
            "display_name": as_str(data.get("name")),
            "description": as_str(data.get("threads_biography")),
            "account_created_at": None,
            "account_key": account_key,
        }
    )


def _metric_value(entry: Any) -> int | None:
    """``total_value.value`` (totals) or the last ``values[].value`` (lifetime/time series)."""
    total = dig(entry, "total_value", "value")
    if total is not None:
        return as_count(total)
    values = dig(entry, "values")
    if isinstance(values, list) and values:
        return as_count(dig(values[-1], "value"))
    return None


def _insights_data(data: Any, endpoint: str, rows: ParsedRows) -> list[Any] | None:
    entries = dig(data, "data")
    if not isinstance(entries, list):
        got = type(data).__name__ if not isinstance(data, dict) else "no 'data' list"
        rows.problems.append(f"{endpoint}: expected {{'data': [...]}}, got {got}")
        return None
    return entries


def _owner_of(entries: list[Any], request_url: str) -> str | None:
    """The node the insights belong to: ``<id>/insights/...`` in an entry, else the request path."""
    for entry in entries:
        entry_id = as_str(dig(entry, "id"))
        if entry_id and "/insights/" in entry_id and not entry_id.startswith("<"):
            return entry_id.split("/insights/", 1)[0]
    segments, _ = _request_parts(request_url)
    return segments[0] if len(segments) >= 2 and segments[0] != "me" else None


def _parse_user_insights(data: Any, request_url: str, rows: ParsedRows) -> None:
    entries = _insights_data(data, USER_INSIGHTS, rows)
    if entries is None:
        return
    followers = next(
        (_metric_value(e) for e in entries if dig(e, "name") == "followers_count"), None
    )
    user_id = _owner_of(entries, request_url)
    if user_id is None:
        rows.problems.append(f"{USER_INSIGHTS}: cannot tell whose insights these are")
        return
    if followers is None:
        rows.problems.append(f"{USER_INSIGHTS}: no 'followers_count' value")
        return
    rows.account_snapshots.append(
        {"account_id": user_id, "followers": followers, "following": None, "posts_count": None}
    )


def _parse_media_insights(data: Any, account_key: str, request_url: str, rows: ParsedRows) -> None:
    entries = _insights_data(data, MEDIA_INSIGHTS, rows)
    if not entries:
        return  # a repost facade answers with an empty list: nothing of its own to count
    media_id = _owner_of(entries, request_url)
    if media_id is None:
        rows.problems.append(f"{MEDIA_INSIGHTS}: cannot tell which post these insights are for")
        return
    values = {
        name: _metric_value(e) for e in entries if (name := as_str(dig(e, "name"))) is not None
    }
    # The payload names only the post; rows join posts on post_id, the handle says whose it is.
    handle = account_key.split(":", 1)[1] if ":" in account_key else account_key
    rows.post_metrics.append(
        {
            "post_id": media_id,
            "account_id": threads_username(handle),
            **{column: values.get(name) for name, column in _METRIC_COLUMNS.items()},
        }
    )


def _parse_profile_lookup(data: Any, account_key: str, rows: ParsedRows) -> None:
    if not isinstance(data, dict):
        rows.problems.append(f"{PROFILE_LOOKUP}: expected an object, got {type(data).__name__}")
        return
    username = as_str(data.get("username"))
    if username is None:
        rows.problems.append(f"{PROFILE_LOOKUP}: profile without 'username'")
        return
    # The discovery API exposes no user id: the username is the key of such accounts.
    rows.accounts.append(
        {
            "account_id": username,
            "handle": username,
            "display_name": as_str(data.get("name")),
            "description": as_str(data.get("biography")),
            "account_created_at": None,
            "account_key": account_key,
        }
    )
    rows.account_snapshots.append(
        {
            "account_id": username,
            "followers": as_count(data.get("follower_count")),
            "following": None,
            "posts_count": None,
        }
    )


def _parse_threads(data: Any, endpoint: str, request_url: str, rows: ParsedRows) -> None:
    items = dig(data, "data")
    if not isinstance(items, list):
        got = type(data).__name__ if not isinstance(data, dict) else "no 'data' list"
        rows.problems.append(f"{endpoint}: expected {{'data': [...]}}, got {got}")
        return
    segments, query = _request_parts(request_url)
    if endpoint == PROFILE_POSTS:
        feed_owner = threads_username((query.get("username") or [""])[0]) or None
    else:
        feed_owner = segments[0] if len(segments) >= 2 and segments[0] != "me" else None
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            row = _parse_thread(item, feed_owner, endpoint == PROFILE_POSTS)
        except ValueError as exc:
            rows.problems.append(f"{endpoint}: data[{index}] skipped: {exc}")
            continue
        except Exception as exc:  # one odd item must not cost the others
            rows.problems.append(
                f"{endpoint}: data[{index}] skipped: {exc.__class__.__name__}: {exc}"
            )
            continue
        if row["post_id"] in seen:
            continue
        seen.add(row["post_id"])
        rows.posts.append(row)


def _media(item: Mapping[str, Any]) -> tuple[str | None, int, list[str]]:
    kind = item.get("media_type")
    if kind == "CAROUSEL_ALBUM":
        children = [c for c in dig(item, "children", "data") or [] if isinstance(c, Mapping)]
        urls = [u for c in children if (u := as_str(c.get("media_url")))]
        has_video = any(c.get("media_type") == "VIDEO" for c in children)
        return ("video" if has_video else "image"), len(children), urls
    url = as_str(item.get("media_url"))
    if kind == "IMAGE":
        return "image", 1, [url] if url else []
    if kind == "VIDEO":
        return "video", 1, [url] if url else []
    link = as_str(item.get("link_attachment_url"))
    if link:
        return "external", 1, [link]
    return None, 0, []


def _media_items(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each image or video (a carousel: each child) with its ``alt_text``; a link attachment.

    Threads gives no sizes or durations; children come back as bare ids unless their fields
    were asked for, and then their entries carry no url.
    """
    kind = item.get("media_type")
    if kind == "CAROUSEL_ALBUM":
        children = [c for c in dig(item, "children", "data") or [] if isinstance(c, Mapping)]
        return [
            media_item(
                "video" if c.get("media_type") == "VIDEO" else "image",
                as_str(c.get("media_url")) or as_str(c.get("thumbnail_url")),
                alt_text=c.get("alt_text"),
            )
            for c in children
        ]
    if kind == "IMAGE":
        return [media_item("image", as_str(item.get("media_url")), alt_text=item.get("alt_text"))]
    if kind == "VIDEO":
        url = as_str(item.get("media_url")) or as_str(item.get("thumbnail_url"))
        return [media_item("video", url, alt_text=item.get("alt_text"))]
    link = as_str(item.get("link_attachment_url"))
    if link:
        return [media_item("external", link)]
    return []


def _parse_thread(item: Any, feed_owner: str | None, public: bool) -> dict[str, Any]:
    """One Threads media object as a posts row (counters come from its insights)."""
    if not isinstance(item, Mapping):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    media_id = as_str(item.get("id"))
    if media_id is None:
        raise ValueError("thread without 'id'")
    created = parse_timestamp(_ts(item.get("timestamp")))
    if created is None:
        raise ValueError(f"thread {media_id} without a valid 'timestamp'")
    username = as_str(item.get("username"))
    owner = _ref_id(item.get("owner"))
    account_id = (username if public else None) or feed_owner or owner or username
    if account_id is None:
        raise ValueError(f"thread {media_id}: cannot tell whose feed holds it")
    text = item.get("text") if isinstance(item.get("text"), str) else None
    reposted = _ref_id(item.get("reposted_post")) if _is_repost(item) else None
    quoted = _ref_id(item.get("quoted_post")) if item.get("is_quote_post") is True else None
    reply_to = _ref_id(item.get("replied_to")) if item.get("is_reply") is True else None
    tags = [t for t in [as_str(item.get("topic_tag"))] if t]
    tags += _HASHTAG_RE.findall(text or "")
    links = [m.rstrip(".,;:!?)]}") for m in _LINK_RE.findall(text or "")]
    if (link := as_str(item.get("link_attachment_url"))) and link not in links:
        links.append(link)
    repost = _is_repost(item)
    media_type, media_count, media_urls = (None, 0, []) if repost else _media(item)
    # profile_posts flags quotes without naming the quoted post: still a quote.
    is_quote = quoted is not None or item.get("is_quote_post") is True
    post_type = "repost" if repost else "reply" if reply_to else "quote" if is_quote else "original"
    return {
        "post_id": media_id,
        "account_id": account_id,
        # A repost facade is authored by whoever wrote the original; the API does not say who.
        "author_id": (owner or account_id) if not repost else "",
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(_ts(item.get("timestamp"))),
        "post_type": post_type,
        "text": None if repost else text,
        "title": None,
        "url": as_str(item.get("permalink")),
        "lang": None,
        "reply_to_post_id": reply_to,
        "quoted_post_id": quoted,
        "reposted_post_id": reposted,
        "hashtags": list(dict.fromkeys(tags)),
        "mentions": [],
        "links": list(dict.fromkeys(links)),
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": [] if repost else _media_items(item),
        "duration_s": None,
        "is_deleted": False,
    }
