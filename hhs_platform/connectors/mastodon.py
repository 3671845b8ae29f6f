"""Mastodon (and Truth Social, same API): account lookup, then the account's statuses by Link."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

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
from hhs_platform.settings import DEFAULT_API_BASES

LOOKUP = "mastodon.accounts.lookup"
ACCOUNT = "mastodon.accounts.get"
STATUSES = "mastodon.accounts.statuses"
PAGE_LIMIT = 40  # the documented maximum of /api/v1/accounts/:id/statuses
_PROFILE_ENDPOINTS = (LOOKUP, ACCOUNT)
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL_NEXT_RE = re.compile(r"""rel\s*=\s*"?([^";]*)"?""", re.IGNORECASE)
_BLOCK_TAGS = frozenset({"li", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})


# --- pure helpers ----------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """Plain text and outbound links of a status' HTML ``content`` (standard library only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._break = 0  # line breaks owed before the next text: nested blocks do not stack

    def _newlines(self, n: int) -> None:
        self._break = max(self._break, n)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p":
            self._newlines(2)
        elif tag in _BLOCK_TAGS:
            self._newlines(1)
        elif tag == "a":
            attr = {k: v or "" for k, v in attrs}
            classes = attr.get("class", "").split()
            rels = attr.get("rel", "").split()
            # Mentions and hashtags are anchors too; they are read from mentions[]/tags[].
            if "mention" in classes or "hashtag" in classes or "tag" in rels:
                return
            href = attr.get("href", "")
            if href.startswith(("http://", "https://")):
                self.links.append(href)

    def handle_data(self, data: str) -> None:
        # Mastodon splits long URLs into invisible/ellipsis spans; keeping all gives the full URL.
        if self._break and self.parts:  # no leading blank lines
            self.parts.append("\n" * self._break)
        self._break = 0
        self.parts.append(data)


def html_to_text(html: Any) -> tuple[str | None, list[str]]:
    """``(plain text, links)`` of Mastodon HTML: paragraphs and ``<br>`` kept as line breaks."""
    if not isinstance(html, str) or not html:
        return None, []
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = "".join(parser.parts).split("\n")
    text = "\n".join(line.rstrip() for line in lines).strip()
    return text or None, list(dict.fromkeys(parser.links))


def next_max_id(link: str | None) -> str | None:
    """The ``max_id`` of the ``rel="next"`` URL of a ``Link`` header, else None."""
    if not link:
        return None
    for match in _LINK_RE.finditer(link):
        rel = _REL_NEXT_RE.search(match.group(2))
        if rel is None or "next" not in rel.group(1).split():
            continue
        values = parse_qs(urlsplit(match.group(1)).query).get("max_id")
        return values[0] if values and values[0] else None
    return None


def normalize_acct(handle: str, base: str, home: str = "") -> str:
    """The ``acct`` to look up: ``@user``, ``user``, ``user@instance`` or a profile URL.

    The instance part is dropped when it is the configured instance (``base``) or the
    platform's own documented one (``home``, so a proxy or simulator of truthsocial.com still
    reads ``https://truthsocial.com/@user`` as local); ``www.`` is ignored. Local accounts are
    looked up by bare username.
    """
    text = handle.strip()
    host = ""
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        host = parts.hostname or ""
        segment = next((s for s in parts.path.split("/") if s.startswith("@")), "")
        text = segment or parts.path.strip("/").rsplit("/", 1)[-1]
    text = text.lstrip("@")
    if "@" in text:
        text, host = text.split("@", 1)
    local = {(urlsplit(u).hostname or "").removeprefix("www.") for u in (base, home) if u}
    host = host.lower().removeprefix("www.")
    return f"{text}@{host}" if host and host not in local else text


def _duration(meta: Any) -> float | None:
    value = dig(meta, "original", "duration")
    if not isinstance(value, int | float) or isinstance(value, bool):
        value = dig(meta, "duration")
    return as_seconds(value)


_MEDIA_KIND = {"image": "image", "gifv": "gif", "video": "video", "audio": "video"}
_MEDIA_RANK = {"video": 0, "gif": 1, "image": 2}


def _media(status: Mapping[str, Any]) -> tuple[str | None, int, list[str], float | None]:
    """(media_type, media_count, media_urls, duration_s) from attachments, else the link card.

    Audio has no type of its own in silver: it counts as time-based media ("video").
    """
    attachments = [a for a in status.get("media_attachments") or [] if isinstance(a, Mapping)]
    if attachments:
        kinds = [_MEDIA_KIND.get(str(a.get("type")), "") for a in attachments]
        known = sorted((k for k in kinds if k), key=_MEDIA_RANK.__getitem__)
        urls = [
            u for a in attachments if (u := as_str(a.get("url")) or as_str(a.get("remote_url")))
        ]
        duration = next(
            (d for a in attachments if (d := _duration(a.get("meta"))) is not None), None
        )
        return (known[0] if known else None), len(attachments), urls, duration
    card_url = as_str(dig(status, "card", "url"))
    if card_url:
        return "external", 1, [card_url], None
    return None, 0, [], None


def _media_items(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each attachment with ``meta.original`` size and duration and its ``description`` (alt text)."""
    out = []
    for a in status.get("media_attachments") or []:
        if not isinstance(a, Mapping):
            continue
        out.append(
            media_item(
                _MEDIA_KIND.get(str(a.get("type")), str(a.get("type") or "")) or None,
                as_str(a.get("url")) or as_str(a.get("remote_url")),
                width=dig(a, "meta", "original", "width"),
                height=dig(a, "meta", "original", "height"),
                duration_s=_duration(a.get("meta")),
                alt_text=a.get("description"),
            )
        )
    if not out and (card_url := as_str(dig(status, "card", "url"))):
        out.append(media_item("external", card_url, alt_text=dig(status, "card", "title")))
    return out


def _quoted_id(status: Mapping[str, Any]) -> str | None:
    """The quoted status: Mastodon 4.5 ``Quote``/``ShallowQuote``, or Truth Social's ``quote_id``."""
    quote_obj = status.get("quote")
    if isinstance(quote_obj, Mapping):
        candidates = [
            dig(quote_obj, "quoted_status", "id"),  # Quote (full)
            quote_obj.get("quoted_status_id"),  # ShallowQuote
            quote_obj.get("id") if "content" in quote_obj else None,  # a whole Status (Truth)
        ]
        found = next((c for c in candidates if as_str(c)), None)
        if found:
            return str(found)
    return as_str(status.get("quote_id"))


def _status_time(status: Any) -> datetime | None:
    return parse_timestamp(dig(status, "created_at"))


def _parse_status(status: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One Status as a posts row and (except for boosts) a post_metrics row."""
    if not isinstance(status, Mapping):
        raise ValueError(f"expected a status object, got {type(status).__name__}")
    status_id = as_str(status.get("id"))
    if status_id is None:
        raise ValueError("status without 'id'")
    created = _status_time(status)
    if created is None:
        raise ValueError(f"status {status_id} without a valid 'created_at'")
    account_id = as_str(dig(status, "account", "id"))
    if account_id is None:
        raise ValueError(f"status {status_id} without 'account.id'")
    empty: list[str] = []
    reblog = status.get("reblog")
    if isinstance(reblog, Mapping):
        original_id = as_str(reblog.get("id"))
        if original_id is None:
            raise ValueError(f"boost {status_id} without 'reblog.id'")
        author_id = as_str(dig(reblog, "account", "id")) or as_str(dig(reblog, "account", "acct"))
        if author_id is None:
            raise ValueError(f"boost {status_id} without 'reblog.account.id'")
        row = {
            "post_id": status_id,  # the boost's own id: one row per boost
            "account_id": account_id,
            "author_id": author_id,
            "created_at": created,
            "utc_offset_minutes": utc_offset_minutes(dig(status, "created_at")),
            "post_type": "repost",
            "text": None,
            "title": None,
            "url": as_str(reblog.get("url")) or as_str(reblog.get("uri")),
            "lang": None,
            "reply_to_post_id": None,
            "quoted_post_id": None,
            "reposted_post_id": original_id,
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
        return row, None  # engagement belongs to the original status

    text, anchors = html_to_text(status.get("content"))
    card_url = as_str(dig(status, "card", "url"))
    links = list(dict.fromkeys([*anchors, *([card_url] if card_url else [])]))
    tags = [n for t in status.get("tags") or [] if (n := as_str(dig(t, "name")))]
    mentions = [a for m in status.get("mentions") or [] if (a := as_str(dig(m, "acct")))]
    reply_to = as_str(status.get("in_reply_to_id"))
    quoted = _quoted_id(status)
    media_type, media_count, media_urls, duration = _media(status)
    row = {
        "post_id": status_id,
        "account_id": account_id,
        "author_id": account_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(dig(status, "created_at")),
        "post_type": "reply" if reply_to else "quote" if quoted else "original",
        "text": text,
        # The content warning (ActivityPub "summary") is the closest thing to a title.
        "title": as_str(status.get("spoiler_text")),
        "url": as_str(status.get("url")) or as_str(status.get("uri")),
        "lang": as_str(status.get("language")),
        "reply_to_post_id": reply_to,
        "quoted_post_id": quoted,
        "reposted_post_id": None,
        "hashtags": list(dict.fromkeys(tags)),
        "mentions": list(dict.fromkeys(mentions)),
        "links": links,
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": _media_items(status),
        "duration_s": duration,
        "is_deleted": False,
    }
    metrics = {
        "post_id": status_id,
        "account_id": account_id,
        "likes": as_metric(status.get("favourites_count"), "favourites_count"),
        "reposts": as_metric(status.get("reblogs_count"), "reblogs_count"),
        "replies": as_metric(status.get("replies_count"), "replies_count"),
        # Mastodon 4.5+; absent before
        "quotes": as_metric(status.get("quotes_count"), "quotes_count"),
        "views": None,
    }
    return row, metrics


def _parse_account(data: Any, endpoint: Any, account_key: str, rows: ParsedRows) -> None:
    if not isinstance(data, Mapping):
        rows.problems.append(f"{endpoint}: expected an account object, got {type(data).__name__}")
        return
    account_id = as_str(data.get("id"))
    if account_id is None:
        rows.problems.append(f"{endpoint}: account without 'id'")
        return
    note, _ = html_to_text(data.get("note"))
    rows.accounts.append(
        {
            "account_id": account_id,
            "handle": as_str(data.get("acct")) or as_str(data.get("username")) or account_id,
            "display_name": as_str(data.get("display_name")),
            "description": note,
            "account_created_at": parse_timestamp(data.get("created_at")),
            "account_key": account_key,
        }
    )
    if data.get("suspended") is True:
        return  # a suspended account reports zeros, not its figures
    rows.account_snapshots.append(
        {
            "account_id": account_id,
            "followers": as_count(data.get("followers_count")),
            "following": as_count(data.get("following_count")),
            "posts_count": as_count(data.get("statuses_count")),
        }
    )


def _parse_statuses(data: Any, rows: ParsedRows) -> None:
    if not isinstance(data, list):
        got = type(data).__name__ if not isinstance(data, Mapping) else "an object"
        rows.problems.append(f"{STATUSES}: expected a JSON array of statuses, got {got}")
        return
    add_posts(rows, data, _parse_status, f"{STATUSES}: status")


# --- the connectors --------------------------------------------------------------------------


class MastodonConnector(Connector):
    """Mastodon: public accounts need no credential; ``X-RateLimit-*`` on every response.

    ``HHS_MASTODON_API_BASE`` is the instance (``https://mastodon.social`` by default); handles on
    other instances are looked up as ``user@instance`` through it, which only sees what has
    federated to it, so point the base at the account's home instance where possible.
    """

    platform: ClassVar[str] = "mastodon"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "mastodon/1"
    # The statuses endpoint answers a bare JSON array, which field paths cannot address yet.
    expected_fields: ClassVar[dict[str, tuple[str, ...]]] = {
        endpoint: (
            "id",
            "acct",
            "created_at",
            "followers_count",
            "following_count",
            "statuses_count",
        )
        for endpoint in _PROFILE_ENDPOINTS
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
        history="every status the instance holds, newest first, 40 per page through the Link header",
        auth="none for public accounts; optional bearer token (HHS_MASTODON_ACCESS_TOKEN)",
        rate_limit=(
            "300 requests per 5 minutes per token or IP (paging: 300 per 15 minutes); "
            "X-RateLimit-* headers with an ISO reset time"
        ),
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Errors are ``{"error": text, "error_description"?: text}``; say what each status means."""
        if 200 <= raw.status < 300 or raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        message = str(dig(payload, "error") or "") if isinstance(payload, Mapping) else ""
        described = dig(payload, "error_description")
        if isinstance(described, str) and described:
            message = f"{message}: {described}" if message else described
        platform = raw.platform or "mastodon"
        where = f"{platform} {raw.endpoint} for {raw.account_key}: HTTP {raw.status} {message}"
        kw: dict[str, Any] = {"platform": platform, "status": raw.status}
        if raw.status in (401, 403):
            return AuthError(
                f"{where}; this instance wants a login for its API: set "
                f"HHS_{platform.upper()}_ACCESS_TOKEN to a token with the read scope",
                **kw,
            )
        if raw.status == 404:
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        if raw.status == 410:
            return NotFoundError(f"{where}; the account is suspended or gone", **kw)
        if raw.status == 429:
            return RateLimitedError(f"{where}; rate limited until X-RateLimit-Reset", **kw)
        return None

    def _headers(self) -> dict[str, str] | None:
        token = self.settings.secret(f"{self.platform}_access_token")
        return {"Authorization": f"Bearer {token}"} if token else None

    async def _profile(self, account: AccountRef) -> Any:
        """The Account entity: by stable id when the registry has it, else by ``acct``."""
        if account.platform_id:
            endpoint = ACCOUNT
            url = f"{self.base}/api/v1/accounts/{quote(account.platform_id, safe='')}"
            params: dict[str, str | int] | None = None
        else:
            endpoint = LOOKUP
            url = f"{self.base}/api/v1/accounts/lookup"
            home = DEFAULT_API_BASES.get(self.platform, "")
            params = {"acct": normalize_acct(account.handle, self.base, home)}
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=endpoint,
            url=url,
            params=params,
            account_key=account.key,
            page=0,
            headers=self._headers(),
            classify=self.classify_error,
        )
        return data

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        profile = await self._profile(account)
        account_id = as_str(dig(profile, "id"))
        if account_id is None:
            raise NotFoundError(
                f"{self.platform}: the profile of {account.key} has no 'id'; "
                "check the handle/platform_id in the registry",
                platform=self.platform,
                status=200,
            )
        if dig(profile, "suspended") is True:
            raise NotFoundError(
                f"{self.platform}: {account.key} is suspended on {self.base}; nothing to collect",
                platform=self.platform,
                status=200,
            )
        max_id: str | None = None
        seen: set[str] = set()
        pages = repeats = 0
        while True:
            params: dict[str, str | int] = {"limit": PAGE_LIMIT}
            if max_id:
                params["max_id"] = max_id
            raw, data = await self.http.get_json(
                platform=self.platform,
                endpoint=STATUSES,
                url=f"{self.base}/api/v1/accounts/{quote(account_id, safe='')}/statuses",
                params=params,
                account_key=account.key,
                page=pages + 1,
                headers=self._headers(),
                classify=self.classify_error,
            )
            pages += 1
            if not isinstance(data, list) or not data:
                return
            # Statuses come newest first (by snowflake id, which is time), boosts at boost time.
            times = [t for s in data if (t := _status_time(s)) is not None]
            if since is not None and any(t < since for t in times):
                return
            link = raw.headers.get("link")
            next_id = next_max_id(link)
            if next_id is None and link is None and len(data) >= PAGE_LIMIT:
                # A compatible server without Link headers: page by the last id seen.
                next_id = as_str(dig(data[-1], "id"))
            stale = next_id is not None and (next_id == max_id or next_id in seen)
            if stale and repeats < PAGE_REPEATS:
                # An earlier page served again (a stale cache, or a retry answered from one):
                # its cursor points back. Ask for this page again.
                repeats += 1
                continue
            if next_id is None or next_id in seen:
                if next_id is not None:
                    self.note_cursor_loop(account, STATUSES, next_id)
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, STATUSES)
                return
            seen.add(next_id)
            max_id, repeats = next_id, 0

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """One profile request: active, suspended (flag or 410), not found (404), or error."""
        try:
            profile = await self._profile(account)
        except NotFoundError as exc:
            status = "suspended" if exc.status == 410 else "not_found"
            return ResolvedAccount(self.platform, account.handle, status, detail=str(exc))
        except CollectionError as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        account_id = as_str(dig(profile, "id"))
        if account_id is None:
            return ResolvedAccount(
                self.platform, account.handle, "error", detail="profile without 'id'"
            )
        moved = as_str(dig(profile, "moved", "acct"))
        verified = dig(profile, "verified")  # Truth Social's mark; Mastodon has none
        return ResolvedAccount(
            platform=self.platform,
            handle=account.handle,
            status="suspended" if dig(profile, "suspended") is True else "active",
            account_id=account_id,
            current_handle=as_str(dig(profile, "acct")),
            display_name=as_str(dig(profile, "display_name")),
            verified=verified if isinstance(verified, bool) else None,
            detail=f"moved to {moved}" if moved else "",
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
            if endpoint in _PROFILE_ENDPOINTS:
                _parse_account(data, endpoint, str(record.get("account_key") or ""), rows)
            elif endpoint == STATUSES:
                _parse_statuses(data, rows)
            else:
                rows.problems.append(f"mastodon: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


class TruthSocialConnector(MastodonConnector):
    """Truth Social: a Mastodon fork with the same API at ``https://truthsocial.com``.

    Its API usually refuses anonymous clients: set ``HHS_TRUTHSOCIAL_ACCESS_TOKEN``.
    """

    platform: ClassVar[str] = "truthsocial"
    version: ClassVar[str] = "truthsocial/1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=True,
        posts_count=True,
        likes=True,
        reposts=True,
        replies=True,
        quotes=True,
        views=False,
        history="every status, newest first, 40 per page through the Link header",
        auth="bearer token of a Truth Social login (HHS_TRUTHSOCIAL_ACCESS_TOKEN); anonymous calls are often refused",
        rate_limit="Mastodon-style X-RateLimit-* headers (limits not published)",
    )
