"""YouTube: the Data API v3 (channels, uploads playlist, videos), or the keyless RSS feed."""

from __future__ import annotations

import json
import logging
import math
import re
import xml.etree.ElementTree as ET
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
from hhs_platform.errors import (
    AuthError,
    HhsError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
)

log = logging.getLogger(__name__)

CHANNELS = "youtube.channels.list"
PLAYLIST_ITEMS = "youtube.playlistItems.list"
VIDEOS = "youtube.videos.list"
FEED = "youtube.feeds.videos"
#: The Atom feed's namespaces (``https://www.youtube.com/feeds/videos.xml``).
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "media": "http://search.yahoo.com/mrss/",
}
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_AUTH_REASONS = {
    "keyInvalid",
    "keyExpired",
    "forbidden",
    "accessNotConfigured",
    "ipRefererBlocked",
    "insufficientPermissions",
    "authError",
}
_NOT_FOUND_REASONS = {"channelNotFound", "playlistNotFound", "videoNotFound", "notFound"}
_DURATION_RE = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_HASHTAG_RE = re.compile(r"(?<![\w#&/])#(\w+)")
_LINK_RE = re.compile(r"https?://[^\s<>\"']+")
_THUMB_ORDER = ("maxres", "standard", "high", "medium", "default")


def _largest_thumb(thumbs: Mapping[str, Any]) -> str:
    """The key of the largest thumbnail (its size stands for the video's frame size)."""
    return next((k for k in _THUMB_ORDER if isinstance(thumbs.get(k), Mapping)), "default")


def iso_duration_seconds(value: Any) -> float | None:
    """An ISO-8601 duration (``PT21M7S``, ``P1DT2H``, ``P0D``) in seconds, else None."""
    if not isinstance(value, str):
        return None
    match = _DURATION_RE.match(value.strip())
    if match is None or value.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    seconds = (
        parts.get("w", 0.0) * 604800
        + parts.get("d", 0.0) * 86400
        + parts.get("h", 0.0) * 3600
        + parts.get("m", 0.0) * 60
        + parts.get("s", 0.0)
    )
    return seconds if math.isfinite(seconds) else None  # a run of 400 digits is inf


class YouTubeConnector(Connector):
    """YouTube: an API key; a daily quota in units and no rate-limit headers."""

    platform: ClassVar[str] = "youtube"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "youtube/1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=False,
        posts_count=True,
        likes=True,
        reposts=False,
        replies=True,
        quotes=False,
        views=True,
        history="every public upload, through the channel's uploads playlist",
        auth=(
            "API key (HHS_YOUTUBE_API_KEY); without one, the keyless RSS feed "
            "(latest 15 videos, likes and views only, no subscribers)"
        ),
        rate_limit="10,000 quota units per day (1 unit per list call); no rate-limit headers",
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Google errors carry ``error.errors[].reason``: quota, throttling, key, not found."""
        if 200 <= raw.status < 300 or raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        errors = dig(payload, "error", "errors")
        reasons = {str(dig(e, "reason")) for e in errors} if isinstance(errors, list) else set()
        message = str(dig(payload, "error", "message") or "")
        where = (
            f"youtube {raw.endpoint} for {raw.account_key}: HTTP {raw.status} "
            f"{','.join(sorted(reasons)) or '-'}: {message}"
        )
        kw: dict[str, Any] = {"platform": "youtube", "status": raw.status}
        if reasons & _QUOTA_REASONS:
            return QuotaExhaustedError(
                f"{where}; the daily quota is spent until midnight Pacific time", **kw
            )
        if reasons & _RATE_REASONS:
            return RateLimitedError(f"{where}; slowing down", **kw)
        if reasons & _AUTH_REASONS or dig(payload, "error", "status") == "PERMISSION_DENIED":
            return AuthError(
                f"{where}; check HHS_YOUTUBE_API_KEY and that the YouTube Data API v3 is enabled",
                **kw,
            )
        if reasons & _NOT_FOUND_REASONS:
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        return None

    def _has_key(self) -> bool:
        """A Data API key is configured (HttpClient fills and rotates it: ``credentials=``)."""
        return bool(self.settings.secret("youtube_api_key") or self.settings.youtube_api_keys)

    async def _get(
        self, endpoint: str, path: str, params: dict[str, str | int], account: AccountRef, page: int
    ) -> Any:
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=endpoint,
            url=f"{self.base}/youtube/v3/{path}",
            params=params,
            account_key=account.key,
            page=page,
            classify=self.classify_error,
            credentials="youtube",
        )
        return data

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        if not self._has_key():
            await self._collect_feed(account)
            return
        params: dict[str, str | int] = {"part": "snippet,statistics,contentDetails"}
        handle = account.handle.strip()
        if account.platform_id and account.platform_id.startswith("UC"):
            params["id"] = account.platform_id
        elif handle.startswith("UC") and len(handle) == 24:
            params["id"] = handle
        elif handle.startswith("@"):
            params["forHandle"] = handle
        else:
            params["forUsername"] = handle
        data = await self._get(CHANNELS, "channels", params, account, 0)
        items = dig(data, "items")
        channel = items[0] if isinstance(items, list) and items else None
        channel_id = as_str(dig(channel, "id"))
        if channel is None or channel_id is None:
            raise NotFoundError(
                f"youtube: no channel for {account.key} "
                f"({', '.join(f'{k}={v}' for k, v in params.items() if k != 'part')}); "
                "check the handle/platform_id in the registry",
                platform="youtube",
                status=200,
            )
        uploads = as_str(dig(channel, "contentDetails", "relatedPlaylists", "uploads"))
        uploads = uploads or "UU" + channel_id[2:]

        page_no = 1
        pages = 0
        token: str | None = None
        seen_tokens: set[str] = set()
        seen_videos: set[str] = set()
        repeats = 0
        while True:
            list_params: dict[str, str | int] = {
                "part": "snippet,contentDetails",
                "playlistId": uploads,
                "maxResults": 50,
            }
            if token:
                list_params["pageToken"] = token
            try:
                page = await self._get(
                    PLAYLIST_ITEMS, "playlistItems", list_params, account, page_no
                )
            except NotFoundError:
                if pages == 0:  # a channel without uploads has no uploads playlist
                    log.info("youtube %s: no uploads playlist %s", account.key, uploads)
                    return
                raise
            page_no += 1
            pages += 1
            entries = dig(page, "items")
            if not isinstance(entries, list) or not entries:
                return
            fresh: list[str] = []
            dated: list[datetime] = []
            for entry in entries:
                video_id = as_str(dig(entry, "contentDetails", "videoId")) or as_str(
                    dig(entry, "snippet", "resourceId", "videoId")
                )
                published = parse_timestamp(
                    dig(entry, "contentDetails", "videoPublishedAt")
                ) or parse_timestamp(dig(entry, "snippet", "publishedAt"))
                if published is not None:
                    dated.append(published)
                    if since is not None and published < since:
                        continue
                if video_id and video_id not in seen_videos:
                    seen_videos.add(video_id)
                    fresh.append(video_id)
            for start in range(0, len(fresh), 50):
                video_params: dict[str, str | int] = {
                    "part": "snippet,statistics,contentDetails",
                    "id": ",".join(fresh[start : start + 50]),
                }
                await self._get(VIDEOS, "videos", video_params, account, page_no)
                page_no += 1
            if since is not None and dated and all(t < since for t in dated):
                return
            asked, token = token, as_str(dig(page, "nextPageToken"))
            if (
                token is not None
                and (token == asked or token in seen_tokens)
                and repeats < PAGE_REPEATS
            ):
                repeats += 1  # an earlier page served again (its cursor points back): ask again
                token = asked
                continue
            if token is None or token in seen_tokens:
                if token is not None:
                    self.note_cursor_loop(account, PLAYLIST_ITEMS, token)
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, PLAYLIST_ITEMS)
                return
            seen_tokens.add(token)
            repeats = 0

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """channels.list (1 unit) by channel id when known, else by @handle or legacy username."""
        handle = account.handle.strip()
        params: dict[str, str | int] = {"part": "snippet"}
        if account.platform_id and account.platform_id.startswith("UC"):
            params["id"] = account.platform_id
        elif handle.startswith("UC") and len(handle) == 24:
            params["id"] = handle
        elif handle.startswith("@"):
            params["forHandle"] = handle
        else:
            params["forUsername"] = handle
        try:
            data = await self._get(CHANNELS, "channels", params, account, 0)
        except NotFoundError as exc:
            return ResolvedAccount(self.platform, account.handle, "not_found", detail=str(exc))
        items = dig(data, "items")
        channel = items[0] if isinstance(items, list) and items else None
        channel_id = as_str(dig(channel, "id"))
        if channel_id is None:  # a missing or terminated channel: no items at all
            asked = ", ".join(f"{k}={v}" for k, v in params.items() if k != "part")
            detail = f"youtube: no channel for {asked}"
            return ResolvedAccount(self.platform, account.handle, "not_found", detail=detail)
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=channel_id,
            current_handle=as_str(dig(channel, "snippet", "customUrl")),
            display_name=as_str(dig(channel, "snippet", "title")),
        )

    async def _collect_feed(self, account: AccountRef) -> None:
        """Keyless fallback: the channel's Atom feed (its latest 15 videos, one request).

        Raises:
            AuthError: the registry has no ``UC...`` channel id, which the feed needs.
        """
        channel_id = next(
            (
                c
                for c in (account.platform_id, account.handle)
                if c and c.strip().startswith("UC") and len(c.strip()) == 24
            ),
            None,
        )
        if channel_id is None:
            raise AuthError(
                f"youtube: {account.key} has no channel id (UC...) for the keyless RSS feed; "
                "set HHS_YOUTUBE_API_KEY, or put the channel id in the registry's platform_id",
                platform="youtube",
            )
        await self.http.get(
            platform=self.platform,
            endpoint=FEED,
            url=f"{self.settings.youtube_rss_base.rstrip('/')}/feeds/videos.xml",
            params={"channel_id": channel_id.strip()},
            account_key=account.key,
            page=0,
            classify=self.classify_error,
            expect_json=False,
        )
        # 15 videos are not the whole channel: never let this read tombstone older videos.
        self.cap_hits.append((account.key, FEED))
        log.info("youtube %s: read through the keyless RSS feed (latest 15 videos)", account.key)

    @staticmethod
    def parse(record: Mapping[str, Any]) -> ParsedRows:
        rows = ParsedRows()
        if not is_success(record):
            return rows
        endpoint = record.get("endpoint")
        if endpoint == PLAYLIST_ITEMS:
            # It only drives pagination (videos.list carries the rows), but a broken page is
            # still quarantined so that no archived response fails silently.
            _, problem = decode_json_body(record)
            if problem:
                rows.problems.append(f"{endpoint}: {problem}")
            return rows
        if endpoint == FEED:
            try:
                _parse_feed(record, rows)
            except Exception as exc:  # a parser bug must not lose the payload: quarantine it
                rows.problems.append(f"{FEED}: parser failed: {exc.__class__.__name__}: {exc}")
            return rows
        data, problem = decode_json_body(record)
        if problem:
            rows.problems.append(f"{endpoint}: {problem}")
            return rows
        items = dig(data, "items")
        if not isinstance(items, list):
            got = type(data).__name__ if not isinstance(data, dict) else "no 'items' list"
            rows.problems.append(f"{endpoint}: expected {{'items': [...]}}, got {got}")
            return rows
        account_key = str(record.get("account_key") or "")
        for index, item in enumerate(items):
            try:
                if endpoint == CHANNELS:
                    _parse_channel(item, account_key, rows)
                elif endpoint == VIDEOS:
                    _parse_video(item, rows)
                else:
                    rows.problems.append(f"youtube: no parser for endpoint {endpoint!r}")
                    return rows
            except ValueError as exc:
                rows.problems.append(f"{endpoint}: items[{index}] skipped: {exc}")
            except Exception as exc:  # one odd item must not cost the others
                rows.problems.append(
                    f"{endpoint}: items[{index}] skipped: {exc.__class__.__name__}: {exc}"
                )
        return rows


def _parse_channel(item: Any, account_key: str, rows: ParsedRows) -> None:
    channel_id = as_str(dig(item, "id"))
    if channel_id is None:
        raise ValueError("channel without 'id'")
    snippet = dig(item, "snippet") or {}
    registry_handle = account_key.split(":", 1)[1] if ":" in account_key else None
    rows.accounts.append(
        {
            "account_id": channel_id,
            "handle": as_str(dig(snippet, "customUrl")) or registry_handle or channel_id,
            "display_name": as_str(dig(snippet, "title")),
            "description": as_str(dig(snippet, "description")),
            "account_created_at": parse_timestamp(dig(snippet, "publishedAt")),
            "account_key": account_key,
        }
    )
    hidden = dig(item, "statistics", "hiddenSubscriberCount") is True
    rows.account_snapshots.append(
        {
            "account_id": channel_id,
            "followers": None if hidden else as_count(dig(item, "statistics", "subscriberCount")),
            "following": None,
            "posts_count": as_count(dig(item, "statistics", "videoCount")),
        }
    )


def _links(text: str) -> list[str]:
    found = (m.group(0).rstrip(".,;:!?)]}") for m in _LINK_RE.finditer(text))
    return list(dict.fromkeys(found))


def _hashtags(text: str) -> list[str]:
    tags = (m.group(1) for m in _HASHTAG_RE.finditer(text))
    return list(dict.fromkeys(t for t in tags if not t.isdigit()))


def _parse_video(item: Any, rows: ParsedRows) -> None:
    video_id = as_str(dig(item, "id"))
    if video_id is None:
        raise ValueError("video without 'id'")
    snippet = dig(item, "snippet")
    if not isinstance(snippet, Mapping):
        raise ValueError(f"video {video_id} without 'snippet'")
    created = parse_timestamp(snippet.get("publishedAt"))
    if created is None:
        raise ValueError(f"video {video_id} without a valid 'snippet.publishedAt'")
    channel_id = as_str(snippet.get("channelId"))
    if channel_id is None:
        raise ValueError(f"video {video_id} without 'snippet.channelId'")
    description = as_str(snippet.get("description")) or ""
    raw_thumbs = snippet.get("thumbnails")
    thumbs: Mapping[str, Any] = raw_thumbs if isinstance(raw_thumbs, Mapping) else {}
    thumb = next((u for k in _THUMB_ORDER if (u := as_str(dig(thumbs, k, "url")))), None)
    stats = dig(item, "statistics") or {}
    rows.posts.append(
        {
            "post_id": video_id,
            "account_id": channel_id,
            "author_id": channel_id,
            "created_at": created,
            "utc_offset_minutes": utc_offset_minutes(snippet.get("publishedAt")),
            "post_type": "original",
            "text": description or None,
            "title": as_str(snippet.get("title")),
            "url": f"https://www.youtube.com/watch?v={video_id}",
            "lang": as_str(snippet.get("defaultLanguage"))
            or as_str(snippet.get("defaultAudioLanguage")),
            "reply_to_post_id": None,
            "quoted_post_id": None,
            "reposted_post_id": None,
            "hashtags": _hashtags(description),
            "mentions": [],
            "links": _links(description),
            "media_type": "video",
            "media_count": 1,
            "media_urls": [thumb] if thumb else [],
            "duration_s": iso_duration_seconds(dig(item, "contentDetails", "duration")),
            "media": [
                media_item(
                    "video",
                    f"https://www.youtube.com/watch?v={video_id}",
                    width=dig(thumbs, _largest_thumb(thumbs), "width"),
                    height=dig(thumbs, _largest_thumb(thumbs), "height"),
                    duration_s=iso_duration_seconds(dig(item, "contentDetails", "duration")),
                )
            ],
            "is_deleted": False,
        }
    )
    rows.post_metrics.append(
        {
            "post_id": video_id,
            "account_id": channel_id,
            "likes": as_metric(dig(stats, "likeCount"), "statistics.likeCount"),
            "reposts": None,
            "replies": as_metric(dig(stats, "commentCount"), "statistics.commentCount"),
            "quotes": None,
            "views": as_metric(dig(stats, "viewCount"), "statistics.viewCount"),
        }
    )


# --- the keyless RSS (Atom) feed ---------------------------------------------------------------


def _xml_text(node: ET.Element | None, path: str) -> str | None:
    found = node.find(path, NS) if node is not None else None
    text = found.text.strip() if found is not None and found.text else ""
    return text or None


def _xml_attr(node: ET.Element | None, path: str, name: str) -> str | None:
    found = node.find(path, NS) if node is not None else None
    return as_str(found.get(name)) if found is not None else None


def _channel_id(value: str | None) -> str | None:
    """A channel id with its ``UC`` prefix, which the feed-level ``yt:channelId`` drops."""
    if value is None:
        return None
    value = value.strip().rsplit("/", 1)[-1]
    if len(value) == 22 and not value.startswith("UC"):
        return "UC" + value
    return value if value.startswith("UC") and len(value) == 24 else None


def _parse_feed(record: Mapping[str, Any], rows: ParsedRows) -> None:
    body = record.get("body")
    if isinstance(body, memoryview | bytearray):
        body = bytes(body)
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    if not isinstance(body, bytes) or not body.strip():
        rows.problems.append(f"{FEED}: empty body")
        return
    if b"<!DOCTYPE" in body[:2048].upper() or b"<!ENTITY" in body.upper():
        # Atom feeds carry no DTD; an HTML page (a consent wall) or entity tricks are refused.
        rows.problems.append(f"{FEED}: body has a DOCTYPE/ENTITY: not the Atom feed")
        return
    try:
        feed = ET.fromstring(body)  # noqa: S314 -- no DTD/entities (checked above), expat 2.4+
    except ET.ParseError as exc:
        rows.problems.append(f"{FEED}: body is not valid XML ({exc}; {len(body)} bytes)")
        return
    if feed.tag != f"{{{NS['atom']}}}feed":
        rows.problems.append(f"{FEED}: expected an Atom <feed>, got <{feed.tag}>")
        return
    account_key = str(record.get("account_key") or "")
    channel = (
        _channel_id(_xml_text(feed, "yt:channelId"))
        or _channel_id(_xml_text(feed, "atom:author/atom:uri"))
        or _channel_id(_xml_attr(feed, "atom:link[@rel='alternate']", "href"))
    )
    if channel is None:
        rows.problems.append(f"{FEED}: feed without a channel id")
    else:
        registry_handle = account_key.split(":", 1)[1] if ":" in account_key else None
        rows.accounts.append(
            {
                "account_id": channel,
                "handle": registry_handle or channel,
                "display_name": _xml_text(feed, "atom:title"),
                "description": None,  # the feed has none; the API's channels.list does
                "account_created_at": parse_timestamp(_xml_text(feed, "atom:published")),
                "account_key": account_key,
            }
        )
        # No account_snapshots row: the feed has no subscriber, video or view count at all.
    entries = feed.findall("atom:entry", NS)
    add_posts(rows, entries, lambda entry: _parse_feed_entry(entry, channel), f"{FEED}: entry")


def _parse_feed_entry(
    entry: ET.Element, feed_channel: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    video_id = _xml_text(entry, "yt:videoId")
    if video_id is None:
        raise ValueError("entry without 'yt:videoId' (video id)")
    created = parse_timestamp(_xml_text(entry, "atom:published"))
    if created is None:
        raise ValueError(f"video {video_id} without a valid 'published' (publishedAt)")
    channel_id = _channel_id(_xml_text(entry, "yt:channelId")) or feed_channel
    if channel_id is None:
        raise ValueError(f"video {video_id} without 'yt:channelId'")
    group = entry.find("media:group", NS)
    description = _xml_text(group, "media:description") or ""
    thumb = _xml_attr(group, "media:thumbnail", "url")
    rows = {
        "post_id": video_id,
        "account_id": channel_id,
        "author_id": channel_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(_xml_text(entry, "atom:published")),
        "post_type": "original",
        "text": description or None,
        "title": _xml_text(entry, "atom:title") or _xml_text(group, "media:title"),
        "url": _xml_attr(entry, "atom:link[@rel='alternate']", "href")
        or f"https://www.youtube.com/watch?v={video_id}",
        "lang": None,
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": None,
        "hashtags": _hashtags(description),
        "mentions": [],
        "links": _links(description),
        "media_type": "video",
        "media_count": 1,
        "media_urls": [thumb] if thumb else [],
        "duration_s": None,  # not in the feed
        "is_deleted": False,
    }
    metrics = {
        "post_id": video_id,
        "account_id": channel_id,
        # starRating's count is the like count (average/min/max are fixed at 5.00/1/5).
        "likes": as_count(_xml_attr(group, "media:community/media:starRating", "count")),
        "reposts": None,
        "replies": None,  # the feed has no comment count
        "quotes": None,
        "views": as_count(_xml_attr(group, "media:community/media:statistics", "views")),
    }
    return rows, metrics
