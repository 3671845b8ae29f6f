"""LinkedIn Community Management API: organization by vanity name, followers, posts, share stats."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from hhs_platform.connectors.base import (
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
    QuotaExhaustedError,
    RateLimitedError,
)

#: The monthly API version sent as ``LinkedIn-Version``; LinkedIn sunsets each after about a year.
LINKEDIN_VERSION = "202601"
ORGANIZATIONS = "linkedin.organizations.vanityName"
NETWORK_SIZES = "linkedin.networkSizes"
POSTS = "linkedin.posts.author"
SHARE_STATS = "linkedin.organizationalEntityShareStatistics"
PAGE_SIZE = 100
STATS_BATCH = 50
_ORG_PREFIX = "urn:li:organization:"
_HASHTAG_RE = re.compile(r"\{hashtag\|\\?#\|([^}|]+)\}|(?<![\w#&/])#(\w+)")
_MENTION_RE = re.compile(r"@\[[^\]]*\]\((urn:li:[a-zA-Z]+:[^)]+)\)")
_LINK_RE = re.compile(r"https?://[^\s<>\"'{}()]+")


def vanity_name(handle: str) -> str:
    """The vanity name in a registry handle: a bare name or a /company/ or /showcase/ URL."""
    text = handle.strip().rstrip("/")
    for marker in ("/company/", "/showcase/", "/school/"):
        if marker in text:
            return text.split(marker, 1)[1].split("/", 1)[0].split("?", 1)[0]
    return text.removeprefix("company/").removeprefix("showcase/").lstrip("@")


def _epoch_ms(value: Any) -> datetime | None:
    ms = as_count(value)
    if ms is None or ms == 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _org_id(urn_or_id: Any) -> str | None:
    text = str(urn_or_id) if isinstance(urn_or_id, int | str) and urn_or_id != "" else None
    return text.removeprefix(_ORG_PREFIX) if text else None


class LinkedInConnector(Connector):
    """LinkedIn organization pages: a member token with organization admin rights."""

    platform: ClassVar[str] = "linkedin"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "linkedin/1"
    required_settings: ClassVar[tuple[str, ...]] = ("linkedin_access_token",)
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=False,
        posts_count=False,
        likes=True,
        reposts=True,  # shareCount
        replies=True,  # commentCount
        quotes=False,
        views=True,  # impressionCount
        history=(
            "every post of the organization through the posts finder; engagement only for "
            "the last 12 months (organizationalEntityShareStatistics window)"
        ),
        auth=(
            "OAuth 2.0 member token (HHS_LINKEDIN_ACCESS_TOKEN) with r_organization_social and "
            "rw_organization_admin, from an ADMINISTRATOR of the page"
        ),
        rate_limit=(
            "per-application and per-member daily call limits per endpoint, reset at midnight "
            "UTC; 429 when reached; no rate-limit headers"
        ),
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Rest.li errors are ``{"status": N, "serviceErrorCode"?: N, "message": text}``."""
        if 200 <= raw.status < 300 or raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(payload, dict):
            return None
        message = str(payload.get("message") or "")
        code = payload.get("serviceErrorCode")
        where = (
            f"linkedin {raw.endpoint} for {raw.account_key}: HTTP {raw.status} "
            f"{code if code is not None else '-'}: {message}"
        )
        kw: dict[str, Any] = {"platform": "linkedin", "status": raw.status}
        low = message.lower()
        if raw.status == 429 or "throttle" in low:
            if " day limit" in low:
                return QuotaExhaustedError(
                    f"{where}; the daily call limit is spent until midnight UTC", **kw
                )
            return RateLimitedError(f"{where}; slowing down", **kw)
        if raw.status in (401, 403) or code in (65600, 65601, 65602, 100):
            return AuthError(
                f"{where}; check HHS_LINKEDIN_ACCESS_TOKEN, its scopes and the member's page role",
                **kw,
            )
        if raw.status == 404:
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        return None

    def _headers(self) -> dict[str, str]:
        token = self.settings.secret("linkedin_access_token")
        if not token:
            raise AuthError(
                "linkedin: no access token configured; set HHS_LINKEDIN_ACCESS_TOKEN to an "
                "OAuth token with r_organization_social and rw_organization_admin",
                platform="linkedin",
            )
        return {
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": LINKEDIN_VERSION,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def _get(
        self, endpoint: str, path: str, params: dict[str, str | int], account: AccountRef, page: int
    ) -> Any:
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=endpoint,
            url=f"{self.base}{path}",
            params=params,
            account_key=account.key,
            page=page,
            headers=self._headers(),
            classify=self.classify_error,
        )
        return data

    async def _organization(self, account: AccountRef) -> Mapping[str, Any]:
        vanity = vanity_name(account.handle)
        data = await self._get(
            ORGANIZATIONS,
            "/rest/organizations",
            {"q": "vanityName", "vanityName": vanity},
            account,
            0,
        )
        elements = dig(data, "elements")
        org = elements[0] if isinstance(elements, list) and elements else None
        if not isinstance(org, Mapping) or _org_id(org.get("id")) is None:
            raise NotFoundError(
                f"linkedin: no organization with vanity name {vanity!r} for {account.key}; "
                "check the handle in the registry (the part after /company/ or /showcase/)",
                platform="linkedin",
                status=200,
            )
        return org

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        org = await self._organization(account)
        urn = _ORG_PREFIX + str(_org_id(org.get("id")))
        await self._get(
            NETWORK_SIZES,
            f"/rest/networkSizes/{quote(urn, safe='')}",
            {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
            account,
            0,
        )
        start = 0
        pages = 0
        page_no = 1
        seen: set[str] = set()
        while True:
            data = await self._get(
                POSTS,
                "/rest/posts",
                {
                    "q": "author",
                    "author": urn,
                    "count": PAGE_SIZE,
                    "start": start,
                    "sortBy": "CREATED",
                },
                account,
                page_no,
            )
            page_no += 1
            pages += 1
            elements = dig(data, "elements")
            if not isinstance(elements, list) or not elements:
                return
            fresh: list[str] = []
            dated: list[datetime] = []
            for post in elements:
                post_id = as_str(dig(post, "id"))
                created = _epoch_ms(dig(post, "publishedAt")) or _epoch_ms(dig(post, "createdAt"))
                if created is not None:
                    dated.append(created)
                if post_id is None or post_id in seen:
                    continue
                seen.add(post_id)
                # Reshares carry no statistics of their own; skip posts older than the watermark.
                if (
                    dig(post, "reshareContext") is None
                    and _in_feed(post)
                    and not (since is not None and created is not None and created < since)
                ):
                    fresh.append(post_id)
            for i in range(0, len(fresh), STATS_BATCH):
                page_no += await self._share_statistics(
                    urn, fresh[i : i + STATS_BATCH], account, page_no
                )
            if since is not None and dated and all(t < since for t in dated):
                return
            if not _has_next(data, start, len(elements)):
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, POSTS)
                return
            start += len(elements)

    async def _share_statistics(
        self, urn: str, post_ids: list[str], account: AccountRef, page: int
    ) -> int:
        """Ask the statistics of ``post_ids``: one call for shares, one for ugcPosts."""
        calls = 0
        for param, prefix in (("shares", "urn:li:share:"), ("ugcPosts", "urn:li:ugcPost:")):
            ids = [p for p in post_ids if p.startswith(prefix)]
            if not ids:
                continue
            # Rest.li 2.0: URNs inside List(...) are percent-encoded (':' is its syntax).
            encoded = ",".join(quote(i, safe="") for i in ids)
            params: dict[str, str | int] = {
                "q": "organizationalEntity",
                "organizationalEntity": urn,
            }
            await self._get(
                SHARE_STATS,
                f"/rest/organizationalEntityShareStatistics?{param}=List({encoded})",
                params,
                account,
                page + calls,
            )
            calls += 1
        return calls

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        try:
            org = await self._organization(account)
        except NotFoundError:
            return ResolvedAccount(self.platform, account.handle, "not_found")
        except CollectionError as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=_org_id(org.get("id")),
            current_handle=as_str(org.get("vanityName")),
            display_name=_localized(org, "name"),
            verified=None,  # organization pages have no public verification flag in this API
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
            if endpoint == ORGANIZATIONS:
                _parse_organizations(data, account_key, rows)
            elif endpoint == NETWORK_SIZES:
                _parse_network_size(data, str(record.get("request_url") or ""), rows)
            elif endpoint == POSTS:
                _parse_posts(data, rows)
            elif endpoint == SHARE_STATS:
                _parse_share_statistics(data, rows)
            else:
                rows.problems.append(f"linkedin: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


def _has_next(data: Any, start: int, got: int) -> bool:
    """Rest.li paging: a ``next`` link, else ``total``, else a full page means maybe more."""
    links = dig(data, "paging", "links")
    if isinstance(links, list) and any(dig(link, "rel") == "next" for link in links):
        return True
    total = as_count(dig(data, "paging", "total"))
    if total is not None:
        return start + got < total
    count = as_count(dig(data, "paging", "count")) or PAGE_SIZE
    return got >= count and not isinstance(links, list)


def _localized(org: Mapping[str, Any], field: str) -> str | None:
    """``localizedName`` first, else the first value of the multi-locale ``name``."""
    text = as_str(org.get("localized" + field[:1].upper() + field[1:]))
    if text:
        return text
    values = dig(org, field, "localized")
    if isinstance(values, Mapping):
        return next((v for v in values.values() if isinstance(v, str) and v), None)
    return None


def _elements(data: Any, endpoint: str, rows: ParsedRows) -> list[Any] | None:
    elements = dig(data, "elements")
    if not isinstance(elements, list):
        got = type(data).__name__ if not isinstance(data, dict) else "no 'elements' list"
        rows.problems.append(f"{endpoint}: expected {{'elements': [...]}}, got {got}")
        return None
    return elements


def _parse_organizations(data: Any, account_key: str, rows: ParsedRows) -> None:
    elements = _elements(data, ORGANIZATIONS, rows)
    for index, org in enumerate(elements or []):
        org_id = _org_id(dig(org, "id"))
        if not isinstance(org, Mapping) or org_id is None:
            rows.problems.append(f"{ORGANIZATIONS}: elements[{index}] skipped: no 'id'")
            continue
        registry_handle = account_key.split(":", 1)[1] if ":" in account_key else org_id
        rows.accounts.append(
            {
                "account_id": org_id,
                "handle": as_str(org.get("vanityName")) or vanity_name(registry_handle),
                "display_name": _localized(org, "name"),
                "description": _localized(org, "description"),
                "account_created_at": None,
                "account_key": account_key,
            }
        )


def _parse_network_size(data: Any, request_url: str, rows: ParsedRows) -> None:
    if not isinstance(data, dict) or "firstDegreeSize" not in data:
        got = type(data).__name__ if not isinstance(data, dict) else "no 'firstDegreeSize'"
        rows.problems.append(f"{NETWORK_SIZES}: expected {{'firstDegreeSize': N}}, got {got}")
        return
    # The answer names no one: the organization is in the request path.
    path = request_url.split("?", 1)[0].replace("%3A", ":").replace("%3a", ":")
    org_id = path.rsplit(_ORG_PREFIX, 1)[1].strip("/") if _ORG_PREFIX in path else None
    if not org_id:
        rows.problems.append(f"{NETWORK_SIZES}: no organization URN in {request_url!r}")
        return
    rows.account_snapshots.append(
        {
            "account_id": org_id,
            "followers": as_count(data.get("firstDegreeSize")),
            "following": None,
            "posts_count": None,
        }
    )


def _in_feed(post: Any) -> bool:
    """False for drafts, non-public posts and dark ads (sponsored posts never in the page feed)."""
    state = dig(post, "lifecycleState")
    if state is not None and state != "PUBLISHED":
        return False
    visibility = dig(post, "visibility")
    if visibility is not None and visibility != "PUBLIC":
        return False
    return not (
        dig(post, "adContext", "isDsc") is True
        or dig(post, "distribution", "feedDistribution") == "NONE"
    )


def _parse_posts(data: Any, rows: ParsedRows) -> None:
    elements = _elements(data, POSTS, rows)
    seen: set[str] = set()
    for index, post in enumerate(elements or []):
        try:
            row = _parse_post(post)
        except ValueError as exc:
            rows.problems.append(f"{POSTS}: elements[{index}] skipped: {exc}")
            continue
        except Exception as exc:  # one odd item must not cost the others
            rows.problems.append(
                f"{POSTS}: elements[{index}] skipped: {exc.__class__.__name__}: {exc}"
            )
            continue
        if row is None or row["post_id"] in seen:
            continue
        seen.add(row["post_id"])
        rows.posts.append(row)


def _media(content: Any) -> tuple[str | None, int, list[str]]:
    """(media_type, media_count, media_urls) from a post's ``content``."""
    if not isinstance(content, Mapping):
        return None, 0, []
    if isinstance(content.get("multiImage"), Mapping):
        images = [i for i in dig(content, "multiImage", "images") or [] if isinstance(i, Mapping)]
        return "image", len(images), []
    if isinstance(content.get("article"), Mapping):
        url = as_str(dig(content, "article", "source"))
        return "external", 1, [url] if url else []
    media_id = str(dig(content, "media", "id") or "")
    if media_id.startswith("urn:li:video:"):
        return "video", 1, []  # a URN, not a URL: the Videos API resolves it (one call each)
    if media_id.startswith("urn:li:image:"):
        return "image", 1, []
    if media_id:
        return None, 1, []  # a document
    return None, 0, []


def _media_items(content: Any) -> list[dict[str, Any]]:
    """Each attachment of a post's ``content`` (same cases as :func:`_media`), with alt text.

    Images and videos are URNs (``urn:li:image:...``): no URL without one more API call per
    asset, so ``url`` stays None unless the payload carries one; an article keeps its source.
    """
    if not isinstance(content, Mapping):
        return []
    if isinstance(content.get("multiImage"), Mapping):
        return [
            media_item("image", as_str(i.get("url")), alt_text=i.get("altText"))
            for i in dig(content, "multiImage", "images") or []
            if isinstance(i, Mapping)
        ]
    if isinstance(content.get("article"), Mapping):
        return [media_item("external", as_str(dig(content, "article", "source")))]
    media = content.get("media")
    media_id = str(dig(media, "id") or "")
    if not isinstance(media, Mapping) or not media_id:
        return []
    kind = (
        "video"
        if media_id.startswith("urn:li:video:")
        else "image"
        if media_id.startswith("urn:li:image:")
        else None  # a document
    )
    return [media_item(kind, as_str(media.get("url")), alt_text=media.get("altText"))]


def _parse_post(post: Any) -> dict[str, Any] | None:
    """One Posts API object as a posts row; None for posts that are not in the public feed."""
    if not isinstance(post, Mapping):
        raise ValueError(f"expected an object, got {type(post).__name__}")
    post_id = as_str(post.get("id"))
    if post_id is None:
        raise ValueError("post without 'id'")
    if not _in_feed(post):
        return None
    created = _epoch_ms(post.get("publishedAt")) or _epoch_ms(post.get("createdAt"))
    if created is None:
        raise ValueError(f"post {post_id} without a valid 'publishedAt'/'createdAt'")
    author = as_str(post.get("author")) or ""
    account_id = _org_id(author) if author.startswith(_ORG_PREFIX) else author
    if not account_id:
        raise ValueError(f"post {post_id} without 'author'")
    commentary = post.get("commentary")
    text: str = commentary if isinstance(commentary, str) else ""
    reshared = as_str(dig(post, "reshareContext", "parent"))
    media_type, media_count, media_urls = _media(post.get("content"))
    hashtags = [a or b for a, b in _HASHTAG_RE.findall(text)]
    links = [m.rstrip(".,;:!?") for m in _LINK_RE.findall(text)]
    for url in media_urls:
        if url not in links:
            links.append(url)
    return {
        "post_id": post_id,
        "account_id": account_id,
        "author_id": account_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(post.get("publishedAt") or post.get("createdAt")),
        "post_type": "repost" if reshared else "original",
        "text": text or None,
        "title": as_str(dig(post, "content", "article", "title")),
        "url": f"https://www.linkedin.com/feed/update/{post_id}/",
        "lang": None,
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": reshared,
        "hashtags": list(dict.fromkeys(hashtags)),
        "mentions": list(dict.fromkeys(_MENTION_RE.findall(text))),
        "links": list(dict.fromkeys(links)),
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": [] if reshared else _media_items(post.get("content")),
        "duration_s": None,
        "is_deleted": False,
    }


def _parse_share_statistics(data: Any, rows: ParsedRows) -> None:
    elements = _elements(data, SHARE_STATS, rows)
    for index, element in enumerate(elements or []):
        post_id = as_str(dig(element, "share")) or as_str(dig(element, "ugcPost"))
        stats = dig(element, "totalShareStatistics")
        if post_id is None:
            # The lifetime aggregate of the whole page has neither: not a post's figures.
            named = isinstance(element, Mapping) and ("share" in element or "ugcPost" in element)
            if isinstance(stats, Mapping) and isinstance(element, Mapping) and not named:
                continue
            rows.problems.append(f"{SHARE_STATS}: elements[{index}] skipped: no 'share'/'ugcPost'")
            continue
        if not isinstance(stats, Mapping):
            rows.problems.append(
                f"{SHARE_STATS}: elements[{index}] skipped: {post_id} without totalShareStatistics"
            )
            continue
        rows.post_metrics.append(
            {
                "post_id": post_id,
                "account_id": _org_id(dig(element, "organizationalEntity")) or "",
                "likes": as_count(stats.get("likeCount")),
                "reposts": as_count(stats.get("shareCount")),
                "replies": as_count(stats.get("commentCount")),
                "quotes": None,
                "views": as_count(stats.get("impressionCount")),
            }
        )
