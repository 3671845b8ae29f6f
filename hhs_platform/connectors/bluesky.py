"""Bluesky through the public AppView: getProfile, then getAuthorFeed newest first."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

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
from hhs_platform.errors import AuthError, HhsError, NotFoundError

PROFILE = "app.bsky.actor.getProfile"
AUTHOR_FEED = "app.bsky.feed.getAuthorFeed"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
REASON_PIN = "app.bsky.feed.defs#reasonPin"
_NOT_FOUND_ERRORS = {"AccountTakedown", "AccountDeactivated", "ProfileNotFound", "NotFound"}
#: XRPC error names that mean the account exists but is taken down (``hhs registry check``).
_SUSPENDED_ERRORS = {"AccountTakedown", "AccountSuspended"}
_AUTH_ERRORS = {"BlockedActor", "BlockedByActor", "AuthMissing", "ExpiredToken", "InvalidToken"}


class BlueskyConnector(Connector):
    """Bluesky (AT Protocol): public, no credential; ``RateLimit-*`` headers on every response."""

    platform: ClassVar[str] = "bluesky"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "bluesky/1"
    expected_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "app.bsky.actor.getProfile": (
            "did",
            "handle",
            "followersCount",
            "followsCount",
            "postsCount",
        ),
        "app.bsky.feed.getAuthorFeed": (
            "feed[].post.uri",
            "feed[].post.author.did",
            "feed[].post.record.createdAt",
            "feed[].post.record.text",
            "feed[].post.likeCount",
            "feed[].post.repostCount",
            "feed[].post.replyCount",
            "feed[].post.quoteCount",
        ),
    }
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=True,
        posts_count=True,
        likes=True,
        reposts=True,
        replies=True,
        quotes=True,
        views=False,
        history="the whole author feed, newest first, through its cursor",
        auth="none (public AppView)",
        rate_limit="3,000 requests per 5 minutes per IP; RateLimit-* headers on every response",
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """XRPC errors are ``{"error": name, "message": text}``; 400 covers several meanings."""
        if 200 <= raw.status < 300 or raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(payload, dict):
            return None
        name, message = str(payload.get("error") or ""), str(payload.get("message") or "")
        where = f"bluesky {raw.endpoint} for {raw.account_key}: HTTP {raw.status} {name}: {message}"
        kw: dict[str, Any] = {"platform": "bluesky", "status": raw.status}
        if name in _NOT_FOUND_ERRORS or "not found" in message.lower():
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        if name in _AUTH_ERRORS:
            return AuthError(f"{where}; the account cannot be read by this client", **kw)
        return None

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        actor = account.platform_id or account.handle.lstrip("@")
        _, profile = await self.http.get_json(
            platform=self.platform,
            endpoint=PROFILE,
            url=f"{self.base}/xrpc/{PROFILE}",
            params={"actor": actor},
            account_key=account.key,
            page=0,
            classify=self.classify_error,
        )
        did = as_str(dig(profile, "did")) or actor
        cursor: str | None = None
        seen_cursors: set[str] = set()
        pages = repeats = 0
        while True:
            params: dict[str, str | int] = {
                "actor": did,
                "limit": 100,
                "filter": "posts_with_replies",
            }
            if cursor:
                params["cursor"] = cursor
            _, data = await self.http.get_json(
                platform=self.platform,
                endpoint=AUTHOR_FEED,
                url=f"{self.base}/xrpc/{AUTHOR_FEED}",
                params=params,
                account_key=account.key,
                page=pages + 1,
                classify=self.classify_error,
            )
            pages += 1
            feed = dig(data, "feed")
            if not isinstance(feed, list) or not feed:
                return
            if since is not None and _all_older(feed, since):
                return
            next_cursor = as_str(dig(data, "cursor"))
            if (
                next_cursor is not None
                and (next_cursor == cursor or next_cursor in seen_cursors)
                and repeats < PAGE_REPEATS
            ):
                repeats += 1  # an earlier page served again (its cursor points back): ask again
                continue
            if next_cursor is None or next_cursor in seen_cursors:
                if next_cursor is not None:
                    self.note_cursor_loop(account, AUTHOR_FEED, next_cursor)
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, AUTHOR_FEED)
                return
            seen_cursors.add(next_cursor)
            cursor, repeats = next_cursor, 0

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """getProfile by DID when known (it survives renames), else by handle."""
        actor = account.platform_id or account.handle.lstrip("@")
        answered: list[RawResponse] = []

        def classify(raw: RawResponse) -> HhsError | None:
            answered.append(raw)  # kept to tell a takedown from a missing profile
            return self.classify_error(raw)

        try:
            _, profile = await self.http.get_json(
                platform=self.platform,
                endpoint=PROFILE,
                url=f"{self.base}/xrpc/{PROFILE}",
                params={"actor": actor},
                account_key=account.key,
                page=0,
                classify=classify,
            )
        except NotFoundError as exc:
            name, message = _xrpc_error(answered[-1]) if answered else ("", "")
            suspended = name in _SUSPENDED_ERRORS or "suspended" in message.lower()
            status = "suspended" if suspended else "not_found"
            return ResolvedAccount(self.platform, account.handle, status, detail=str(exc))
        did = as_str(dig(profile, "did"))
        if did is None:
            return ResolvedAccount(
                self.platform, account.handle, "error", detail=f"{PROFILE}: profile without 'did'"
            )
        verification = dig(profile, "verification")
        verified = None
        if isinstance(verification, Mapping):
            verified = "valid" in (
                verification.get("verifiedStatus"),
                verification.get("trustedVerifierStatus"),
            )
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=did,
            current_handle=as_str(dig(profile, "handle")),
            display_name=as_str(dig(profile, "displayName")),
            verified=verified,
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
        try:
            if endpoint == PROFILE:
                _parse_profile(data, str(record.get("account_key") or ""), rows)
            elif endpoint == AUTHOR_FEED:
                _parse_feed(data, rows)
            else:
                rows.problems.append(f"bluesky: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


def _xrpc_error(raw: RawResponse) -> tuple[str, str]:
    """The ``(error, message)`` of an XRPC error body; empty strings when it has none."""
    try:
        payload = json.loads(raw.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    return str(payload.get("error") or ""), str(payload.get("message") or "")


def _item_time(item: Any) -> datetime | None:
    """When a feed item entered the feed: the repost time for reposts, else the post's time."""
    if dig(item, "reason", "$type") == REASON_REPOST:
        return parse_timestamp(dig(item, "reason", "indexedAt"))
    return parse_timestamp(dig(item, "post", "record", "createdAt")) or parse_timestamp(
        dig(item, "post", "indexedAt")
    )


def _all_older(feed: list[Any], since: datetime) -> bool:
    """True when every dated, non-pinned item of a page is older than ``since``."""
    times = [_item_time(i) for i in feed if dig(i, "reason", "$type") != REASON_PIN]
    dated = [t for t in times if t is not None]
    return bool(dated) and all(t < since for t in dated)


def _parse_profile(data: Any, account_key: str, rows: ParsedRows) -> None:
    if not isinstance(data, dict):
        rows.problems.append(f"{PROFILE}: expected an object, got {type(data).__name__}")
        return
    did = as_str(data.get("did"))
    if did is None:
        rows.problems.append(f"{PROFILE}: profile without 'did'")
        return
    rows.accounts.append(
        {
            "account_id": did,
            "handle": as_str(data.get("handle")) or did,
            "display_name": as_str(data.get("displayName")),
            "description": as_str(data.get("description")),
            "account_created_at": parse_timestamp(data.get("createdAt")),
            "account_key": account_key,
        }
    )
    rows.account_snapshots.append(
        {
            "account_id": did,
            "followers": as_count(data.get("followersCount")),
            "following": as_count(data.get("followsCount")),
            "posts_count": as_count(data.get("postsCount")),
        }
    )


def _parse_feed(data: Any, rows: ParsedRows) -> None:
    feed = dig(data, "feed")
    if not isinstance(feed, list):
        got = type(data).__name__ if not isinstance(data, dict) else "no 'feed' list"
        rows.problems.append(f"{AUTHOR_FEED}: expected {{'feed': [...]}}, got {got}")
        return
    add_posts(rows, feed, _parse_feed_item, f"{AUTHOR_FEED}: feed")


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _post_url(handle_or_did: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle_or_did}/post/{_rkey(uri)}"


def _is_post_uri(uri: Any) -> bool:
    return isinstance(uri, str) and "/app.bsky.feed.post/" in uri


def _quoted_uri(post: Mapping[str, Any]) -> str | None:
    """The quoted post: the hydrated ``embed`` view first, the record's own embed second."""
    embed, rec_embed = post.get("embed"), dig(post, "record", "embed")
    candidates = [
        dig(embed, "record", "uri"),  # app.bsky.embed.record#view
        dig(embed, "record", "record", "uri"),  # app.bsky.embed.recordWithMedia#view
        dig(rec_embed, "record", "uri"),  # app.bsky.embed.record
        dig(rec_embed, "record", "record", "uri"),  # app.bsky.embed.recordWithMedia
    ]
    return next((c for c in candidates if _is_post_uri(c)), None)


def _media(post: Mapping[str, Any]) -> tuple[str | None, int, list[str]]:
    """(media_type, media_count, media_urls) from the post's embed."""
    embed = post.get("embed")
    if isinstance(embed, Mapping) and str(embed.get("$type", "")).startswith(
        "app.bsky.embed.recordWithMedia"
    ):
        embed = embed.get("media")
    if not isinstance(embed, Mapping):
        embed = dig(post, "record", "embed")
        if isinstance(embed, Mapping) and str(embed.get("$type", "")).startswith(
            "app.bsky.embed.recordWithMedia"
        ):
            embed = embed.get("media")
    if not isinstance(embed, Mapping):
        return None, 0, []
    kind = str(embed.get("$type", "")).split("#", 1)[0]
    if kind == "app.bsky.embed.images":
        images = [i for i in embed.get("images") or [] if isinstance(i, Mapping)]
        urls = [u for i in images if (u := as_str(i.get("fullsize")) or as_str(i.get("thumb")))]
        return "image", len(images), urls
    if kind == "app.bsky.embed.video":
        url = as_str(embed.get("playlist"))
        return "video", 1, [url] if url else []
    if kind == "app.bsky.embed.external":
        url = as_str(dig(embed, "external", "uri"))
        return "external", 1, [url] if url else []
    return None, 0, []


def _media_items(post: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each attachment of the post's embed with its size and alt text (``aspectRatio``, ``alt``)."""
    embed = post.get("embed")
    if isinstance(embed, Mapping) and str(embed.get("$type", "")).startswith(
        "app.bsky.embed.recordWithMedia"
    ):
        embed = embed.get("media")
    if not isinstance(embed, Mapping):
        return []
    kind = str(embed.get("$type", "")).split("#", 1)[0]
    if kind == "app.bsky.embed.images":
        return [
            media_item(
                "image",
                as_str(i.get("fullsize")) or as_str(i.get("thumb")),
                width=dig(i, "aspectRatio", "width"),
                height=dig(i, "aspectRatio", "height"),
                alt_text=i.get("alt"),
            )
            for i in embed.get("images") or []
            if isinstance(i, Mapping)
        ]
    if kind == "app.bsky.embed.video":
        return [
            media_item(
                "video",
                as_str(embed.get("playlist")),
                width=dig(embed, "aspectRatio", "width"),
                height=dig(embed, "aspectRatio", "height"),
                alt_text=embed.get("alt"),
            )
        ]
    if kind == "app.bsky.embed.external":
        return [
            media_item(
                "external",
                as_str(dig(embed, "external", "uri")),
                alt_text=dig(embed, "external", "title"),
            )
        ]
    return []


def _facets(record: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(hashtags, mentions, links) from the record's rich-text facets and tags."""
    tags: list[str] = []
    mentions: list[str] = []
    links: list[str] = []
    for facet in record.get("facets") or []:
        for feature in dig(facet, "features") or []:
            kind = str(dig(feature, "$type") or "")
            if kind.endswith("#tag") and (tag := as_str(dig(feature, "tag"))):
                tags.append(tag)
            elif kind.endswith("#mention") and (did := as_str(dig(feature, "did"))):
                mentions.append(did)
            elif kind.endswith("#link") and (uri := as_str(dig(feature, "uri"))):
                links.append(uri)
    tags.extend(t for t in record.get("tags") or [] if isinstance(t, str) and t)
    external = dig(record, "embed", "external", "uri")
    if isinstance(external, str) and external and external not in links:
        links.append(external)
    return list(dict.fromkeys(tags)), list(dict.fromkeys(mentions)), links


def _parse_feed_item(item: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One FeedViewPost as a posts row and (except for reposts) a post_metrics row."""
    post = dig(item, "post")
    if not isinstance(post, Mapping):
        raise ValueError("no 'post' object")
    uri = as_str(post.get("uri"))
    if uri is None:
        raise ValueError("post without 'uri' (post id)")
    author: Mapping[str, Any] = post["author"] if isinstance(post.get("author"), Mapping) else {}
    author_id = as_str(dig(author, "did")) or uri.removeprefix("at://").split("/", 1)[0]
    author_ref = as_str(dig(author, "handle")) or author_id
    record: Mapping[str, Any] = post["record"] if isinstance(post.get("record"), Mapping) else {}
    reason = dig(item, "reason")
    empty: list[str] = []

    if dig(reason, "$type") == REASON_REPOST:
        by = as_str(dig(reason, "by", "did"))
        if by is None:
            raise ValueError(f"repost of {uri} without 'reason.by.did'")
        created = parse_timestamp(dig(reason, "indexedAt"))
        if created is None:
            raise ValueError(f"repost of {uri} without a valid 'reason.indexedAt'")
        row = {
            "post_id": as_str(dig(reason, "uri")) or f"{uri}#repost-by-{by}",
            "account_id": by,
            "author_id": author_id,
            "created_at": created,
            "utc_offset_minutes": utc_offset_minutes(dig(reason, "indexedAt")),
            "post_type": "repost",
            "text": None,
            "title": None,
            "url": _post_url(author_ref, uri),
            "lang": None,
            "reply_to_post_id": None,
            "quoted_post_id": None,
            "reposted_post_id": uri,
            "hashtags": empty,
            "mentions": empty,
            "links": empty,
            "media_type": None,
            "media_count": 0,
            "media_urls": empty,
            "duration_s": None,
            "media": [],
            "is_deleted": False,
        }
        return row, None  # engagement belongs to the original post

    created = parse_timestamp(record.get("createdAt"))
    if created is None:
        raise ValueError(f"post {uri} without a valid 'record.createdAt'")
    reply_to = as_str(dig(record, "reply", "parent", "uri")) or as_str(
        dig(item, "reply", "parent", "uri")
    )
    quoted = _quoted_uri(post)
    media_type, media_count, media_urls = _media(post)
    hashtags, mentions, links = _facets(record)
    langs = record.get("langs")
    row = {
        "post_id": uri,
        "account_id": author_id,
        "author_id": author_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(record.get("createdAt")),
        "post_type": "reply" if reply_to else "quote" if quoted else "original",
        "text": record.get("text") if isinstance(record.get("text"), str) else None,
        "title": None,
        "url": _post_url(author_ref, uri),
        "lang": as_str(langs[0]) if isinstance(langs, list) and langs else None,
        "reply_to_post_id": reply_to,
        "quoted_post_id": quoted,
        "reposted_post_id": None,
        "hashtags": hashtags,
        "mentions": mentions,
        "links": links,
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "duration_s": None,
        "media": _media_items(post),
        "is_deleted": False,
    }
    metrics = {
        "post_id": uri,
        "account_id": author_id,
        "likes": as_metric(post.get("likeCount"), "likeCount"),
        "reposts": as_metric(post.get("repostCount"), "repostCount"),
        "replies": as_metric(post.get("replyCount"), "replyCount"),
        "quotes": as_metric(post.get("quoteCount"), "quoteCount"),
        "views": None,
    }
    return row, metrics
