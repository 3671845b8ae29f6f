"""Reddit through its OAuth API: the user's about page, then their submissions, newest first."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from hhs_platform.connectors.base import (
    PAGE_REPEATS,
    AccountRef,
    Capabilities,
    Connector,
    ParsedRows,
    RawResponse,
    ResolvedAccount,
    as_count,
    as_metric,
    as_seconds,
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
)

ABOUT = "reddit.user.about"
SUBMITTED = "reddit.user.submitted"
PAGE_LIMIT = 100  # the documented maximum of a listing page
#: Reddit's API rules ask every client for a unique, descriptive User-Agent
#: (``<platform>:<app id>:<version> (by /u/<username>)``); generic ones are throttled hard.
USER_AGENT = "python:hhs-platform.reddit-connector:v1 (public figures of official HHS accounts)"
WEB = "https://www.reddit.com"
_MENTION_RE = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})\b")
_LINK_RE = re.compile(r"https?://[^\s<>\"'()\[\]]+")


# --- pure helpers ----------------------------------------------------------------------------


def normalize_username(handle: str) -> str:
    """The username of ``u/name``, ``/u/name``, ``/user/name``, ``name`` or a profile URL."""
    text = handle.strip()
    if text.startswith(("http://", "https://")):
        text = urlsplit(text).path
    parts = [p for p in text.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0].lower() in ("u", "user"):
        return parts[1]
    return parts[-1].lstrip("@") if parts else text


def epoch_utc(value: Any) -> datetime | None:
    """An epoch-seconds number (Reddit's ``created_utc``, a float) as aware UTC, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return parse_timestamp(value)
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _t2(user_id: str) -> str:
    return user_id if user_id.startswith("t2_") else f"t2_{user_id}"


def _media(post: Mapping[str, Any]) -> tuple[str | None, int, list[str], float | None]:
    """(media_type, media_count, media_urls, duration_s) of a submission."""
    video = dig(post, "media", "reddit_video") or dig(post, "secure_media", "reddit_video")
    if post.get("is_video") is True or isinstance(video, Mapping):
        url = as_str(dig(video, "fallback_url")) or as_str(post.get("url"))
        return "video", 1, [url] if url else [], as_seconds(dig(video, "duration"))
    if post.get("is_gallery") is True:
        items = [i for i in dig(post, "gallery_data", "items") or [] if isinstance(i, Mapping)]
        meta = post.get("media_metadata") if isinstance(post.get("media_metadata"), Mapping) else {}
        urls = [
            u
            for i in items
            if (
                u := as_str(dig(meta, str(i.get("media_id")), "s", "u"))
                or as_str(dig(meta, str(i.get("media_id")), "s", "gif"))
            )
        ]
        return "image", len(items), urls, None
    url = as_str(post.get("url"))
    hint = as_str(post.get("post_hint")) or ""
    if hint == "image" and url:
        return ("gif" if url.lower().endswith(".gif") else "image"), 1, [url], None
    if hint in ("hosted:video", "rich:video") and url:
        return "video", 1, [url], None
    if post.get("is_self") is not True and url:
        return "external", 1, [url], None
    return None, 0, [], None


def _unescaped(value: Any) -> str | None:
    """A URL from a listing: without ``raw_json=1`` Reddit HTML-escapes ``&`` as ``&amp;``."""
    url = as_str(value)
    return url.replace("&amp;", "&") if url else None


def _preview_source(post: Mapping[str, Any]) -> Mapping[str, Any]:
    """``preview.images[0].source`` ({url, width, height}) of a submission, else {}."""
    images = dig(post, "preview", "images")
    source = dig(images[0], "source") if isinstance(images, list) and images else None
    return source if isinstance(source, Mapping) else {}


def _media_items(post: Mapping[str, Any], media_type: str | None) -> list[dict[str, Any]]:
    """Each attachment of a submission (same cases as :func:`_media`): url, size, duration."""
    if media_type is None:
        return []  # a self post: a preview there is only the thumbnail of a link in its text
    source = _preview_source(post)
    video = dig(post, "media", "reddit_video") or dig(post, "secure_media", "reddit_video")
    if isinstance(video, Mapping) or post.get("is_video") is True:
        video = video if isinstance(video, Mapping) else {}
        return [
            media_item(
                "video",
                _unescaped(video.get("fallback_url")) or _unescaped(post.get("url")),
                width=video.get("width", source.get("width")),
                height=video.get("height", source.get("height")),
                duration_s=video.get("duration"),
            )
        ]
    if post.get("is_gallery") is True:
        meta = post.get("media_metadata") if isinstance(post.get("media_metadata"), Mapping) else {}
        out = []
        for item in dig(post, "gallery_data", "items") or []:
            entry = dig(meta, str(dig(item, "media_id")))
            if not isinstance(entry, Mapping):
                continue
            s: Mapping[str, Any] = entry["s"] if isinstance(entry.get("s"), Mapping) else {}
            animated = entry.get("e") == "AnimatedImage" or "gif" in s
            out.append(
                media_item(
                    "gif" if animated else "image",
                    _unescaped(s.get("u")) or _unescaped(s.get("gif")),
                    width=s.get("x"),
                    height=s.get("y"),
                )
            )
        return out
    url = _unescaped(post.get("url"))
    if media_type == "external":
        return [media_item("external", url)]
    return [
        media_item(
            media_type,
            url or _unescaped(source.get("url")),
            width=source.get("width"),
            height=source.get("height"),
        )
    ]


def _parse_submission(child: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One t3 listing child as a posts row and a post_metrics row."""
    post = dig(child, "data")
    if not isinstance(post, Mapping):
        raise ValueError("listing child without 'data'")
    post_id = as_str(post.get("name")) or (
        f"t3_{short}" if (short := as_str(post.get("id"))) else None
    )
    if post_id is None:
        raise ValueError("submission without 'name'/'id'")
    created = epoch_utc(post.get("created_utc"))
    if created is None:
        raise ValueError(f"submission {post_id} without a valid 'created_utc'")
    # Modern listings carry the author's t2 fullname; recordings before ~2017 only the name.
    account_id = as_str(post.get("author_fullname")) or as_str(post.get("author"))
    if account_id is None:
        raise ValueError(f"submission {post_id} without 'author_fullname'")
    selftext = as_str(post.get("selftext"))
    permalink = as_str(post.get("permalink"))
    crosspost_of = as_str(post.get("crosspost_parent"))
    media_type, media_count, media_urls, duration = _media(post)
    links = [m.group(0).rstrip(".,;:!?") for m in _LINK_RE.finditer(selftext or "")]
    if media_type == "external" and media_urls:
        links.insert(0, media_urls[0])
    row = {
        "post_id": post_id,
        "account_id": account_id,
        "author_id": account_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(post.get("created_utc")),
        # A crosspost has its own title, votes and comments: it quotes the parent rather than
        # resharing it, so it is a "quote" (with metrics) and not a "repost" (without).
        "post_type": "quote" if crosspost_of else "original",
        "text": selftext,
        "title": as_str(post.get("title")),
        "url": f"{WEB}{permalink}" if permalink and permalink.startswith("/") else permalink,
        "lang": None,
        "reply_to_post_id": None,
        "quoted_post_id": crosspost_of,
        "reposted_post_id": None,
        "hashtags": [],
        "mentions": list(dict.fromkeys(_MENTION_RE.findall(selftext or ""))),
        "links": list(dict.fromkeys(links)),
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": _media_items(post, media_type),
        "duration_s": duration,
        "is_deleted": False,
    }
    metrics = {
        "post_id": post_id,
        "account_id": account_id,
        # net upvotes (fuzzed by Reddit); ups == score
        "likes": as_metric(post.get("score"), "score"),
        "reposts": as_metric(post.get("num_crossposts"), "num_crossposts"),  # absent before ~2018
        "replies": as_metric(post.get("num_comments"), "num_comments"),
        "quotes": None,
        "views": None,  # view_count exists but is always null
    }
    return row, metrics


def _parse_about(data: Any, account_key: str, rows: ParsedRows) -> None:
    user = dig(data, "data")
    if not isinstance(data, Mapping) or not isinstance(user, Mapping):
        got = type(data).__name__ if not isinstance(data, Mapping) else "no 'data' object"
        rows.problems.append(f"{ABOUT}: expected {{'kind': 't2', 'data': {{...}}}}, got {got}")
        return
    if user.get("is_suspended") is True:
        return  # a suspended user shows only its name: there are no figures to record
    user_id = as_str(user.get("id"))
    if user_id is None:
        rows.problems.append(f"{ABOUT}: user without 'id'")
        return
    profile = user.get("subreddit") if isinstance(user.get("subreddit"), Mapping) else {}
    name = as_str(user.get("name"))
    rows.accounts.append(
        {
            "account_id": _t2(user_id),
            "handle": name or user_id,
            "display_name": as_str(dig(profile, "title")),
            "description": as_str(dig(profile, "public_description")),
            "account_created_at": epoch_utc(user.get("created_utc")),
            "account_key": account_key,
        }
    )
    rows.account_snapshots.append(
        {
            "account_id": _t2(user_id),
            # Followers of a user are the subscribers of the user's profile subreddit.
            "followers": as_count(dig(profile, "subscribers")),
            "following": None,
            "posts_count": None,
        }
    )


def _parse_listing(data: Any, rows: ParsedRows) -> None:
    children = dig(data, "data", "children")
    if not isinstance(children, list):
        got = type(data).__name__ if not isinstance(data, Mapping) else "no 'data.children' list"
        rows.problems.append(f"{SUBMITTED}: expected a Listing, got {got}")
        return
    seen: set[str] = set()
    for index, child in enumerate(children):
        if isinstance(child, Mapping) and child.get("kind") not in (None, "t3"):
            continue  # /submitted holds only t3; anything else is not a submission
        try:
            post, metrics = _parse_submission(child)
        except ValueError as exc:
            rows.problems.append(f"{SUBMITTED}: children[{index}] skipped: {exc}")
            continue
        except Exception as exc:  # one odd item must not cost the others
            rows.problems.append(
                f"{SUBMITTED}: children[{index}] skipped: {exc.__class__.__name__}: {exc}"
            )
            continue
        if post["post_id"] in seen:
            continue
        seen.add(post["post_id"])
        rows.posts.append(post)
        rows.post_metrics.append(metrics)


# --- the connector ---------------------------------------------------------------------------


class RedditConnector(Connector):
    """Reddit: an OAuth bearer token; ``x-ratelimit-*`` headers (float remaining, seconds reset)."""

    platform: ClassVar[str] = "reddit"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "reddit/1"
    required_settings: ClassVar[tuple[str, ...]] = ("reddit_access_token",)
    # A suspended user's about has only name and is_suspended: check nothing else there.
    expected_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        ABOUT: ("data.name", "data.subreddit.subscribers"),
        SUBMITTED: tuple(
            f"data.children[].data.{f}"
            for f in (
                "name",
                "created_utc",
                "author_fullname",
                "score",
                "num_comments",
                "permalink",
            )
        ),
    }
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=False,
        posts_count=False,
        likes=True,
        reposts=True,
        replies=True,
        quotes=False,
        views=False,
        history="the newest ~1,000 submissions (Reddit's listing cap), 100 per page",
        auth="OAuth bearer token (HHS_REDDIT_ACCESS_TOKEN, scopes read + history; expires after 1 h)",
        rate_limit="100 queries per minute per OAuth client, averaged over 10 minutes; x-ratelimit-* headers",
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """``{"message", "error": code}`` or ``{"reason", "explanation", ...}``; 429 even on a 200."""
        if raw.status == 0 or (200 <= raw.status < 300 and len(raw.body) > 512):
            return None  # a listing is not an error body: skip decoding it twice
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        body = payload if isinstance(payload, Mapping) else {}
        code = body.get("error")
        reason = str(body.get("reason") or "")
        message = str(body.get("explanation") or body.get("message") or "")
        where = (
            f"reddit {raw.endpoint} for {raw.account_key}: HTTP {raw.status} "
            f"{reason or code or ''} {message}".rstrip()
        )
        kw: dict[str, Any] = {"platform": "reddit", "status": raw.status}
        if 200 <= raw.status < 300:
            # Reddit sometimes answers a throttled client with a 200 carrying the 429 body.
            if code == 429 and "data" not in body:
                return RateLimitedError(f"{where}; rate limited (429 in a 200 body)", **kw)
            return None
        if raw.status == 429 or code == 429:
            return RateLimitedError(f"{where}; rate limited until x-ratelimit-reset", **kw)
        if raw.status == 401:
            return AuthError(
                f"{where}; HHS_REDDIT_ACCESS_TOKEN is missing, wrong or expired "
                "(Reddit tokens last one hour): fetch a new one",
                **kw,
            )
        if reason == "USER_DOESNT_EXIST" or raw.status == 404:
            return NotFoundError(f"{where}; check the handle in the registry", **kw)
        if raw.status == 403:
            return NotFoundError(
                f"{where}; the account is suspended or its listing is private "
                "(if every account fails this way, check the token's scopes: read, history)",
                **kw,
            )
        return None

    def _headers(self) -> dict[str, str]:
        token = self.settings.secret("reddit_access_token")
        if not token:
            raise AuthError(
                "reddit: no access token configured; set HHS_REDDIT_ACCESS_TOKEN to an OAuth "
                "token of a Reddit 'script' app (scopes read, history)",
                platform="reddit",
            )
        return {"Authorization": f"bearer {token}", "User-Agent": USER_AGENT}

    async def _about(self, account: AccountRef) -> Any:
        name = normalize_username(account.handle)
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=ABOUT,
            url=f"{self.base}/user/{quote(name, safe='')}/about",
            params={"raw_json": 1},
            account_key=account.key,
            page=0,
            headers=self._headers(),
            classify=self.classify_error,
        )
        return data

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        headers = self._headers()
        about = await self._about(account)
        if dig(about, "data", "is_suspended") is True:
            raise NotFoundError(
                f"reddit: {account.key} is suspended; nothing to collect",
                platform="reddit",
                status=200,
            )
        name = as_str(dig(about, "data", "name")) or normalize_username(account.handle)
        after: str | None = None
        seen: set[str] = set()
        pages = repeats = 0
        while True:
            params: dict[str, str | int] = {"sort": "new", "limit": PAGE_LIMIT, "raw_json": 1}
            if after:
                params["after"] = after
            _, data = await self.http.get_json(
                platform=self.platform,
                endpoint=SUBMITTED,
                url=f"{self.base}/user/{quote(name, safe='')}/submitted",
                params=params,
                account_key=account.key,
                page=pages + 1,
                headers=headers,
                classify=self.classify_error,
            )
            pages += 1
            children = dig(data, "data", "children")
            if not isinstance(children, list) or not children:
                return
            if since is not None:
                # Pinned profile posts sit on top whatever their age: they cannot end the walk.
                times = [
                    t
                    for c in children
                    if dig(c, "data", "pinned") is not True
                    and dig(c, "data", "stickied") is not True
                    if (t := epoch_utc(dig(c, "data", "created_utc"))) is not None
                ]
                if any(t < since for t in times):
                    return
            next_after = as_str(dig(data, "data", "after"))
            if (
                next_after is not None
                and (next_after == after or next_after in seen)
                and repeats < PAGE_REPEATS
            ):
                repeats += 1  # an earlier page served again (its cursor points back): ask again
                continue
            if next_after is None or next_after in seen:
                if next_after is not None:
                    self.note_cursor_loop(account, SUBMITTED, next_after)
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, SUBMITTED)
                return
            seen.add(next_after)
            after, repeats = next_after, 0

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """One about request: active, suspended (flag or 403), not found (400/404), or error."""
        try:
            about = await self._about(account)
        except NotFoundError as exc:
            status = "suspended" if exc.status == 403 else "not_found"
            return ResolvedAccount(self.platform, account.handle, status, detail=str(exc))
        except CollectionError as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        user = dig(about, "data")
        name = as_str(dig(user, "name"))
        if dig(user, "is_suspended") is True:
            return ResolvedAccount(
                self.platform, account.handle, "suspended", current_handle=name, detail="suspended"
            )
        user_id = as_str(dig(user, "id"))
        if user_id is None:
            return ResolvedAccount(
                self.platform, account.handle, "error", detail="user without 'id'"
            )
        return ResolvedAccount(
            platform=self.platform,
            handle=account.handle,
            status="active",
            account_id=_t2(user_id),
            current_handle=name,
            display_name=as_str(dig(user, "subreddit", "title")),
            verified=None,  # Reddit's 'verified' is e-mail verification, not a public mark
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
        try:
            if isinstance(data, Mapping) and data.get("error") == 429 and "data" not in data:
                rows.problems.append(f"{endpoint}: a 429 body in a 2xx response: {data}")
            elif endpoint == ABOUT:
                _parse_about(data, account_key, rows)
            elif endpoint == SUBMITTED:
                _parse_listing(data, rows)
            else:
                rows.problems.append(f"reddit: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows
