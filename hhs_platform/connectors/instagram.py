"""Instagram business and creator accounts through the Graph API's ``business_discovery``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from hhs_platform.connectors.base import (
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
from hhs_platform.connectors.graph import (
    classify_graph_error,
    graph_url,
    hashtags,
    links,
    mentions,
)
from hhs_platform.errors import (
    AuthError,
    CollectionError,
    ConfigurationError,
    HhsError,
    NotFoundError,
)

DISCOVERY = "instagram.business_discovery"
CREDENTIAL_ENV = "HHS_INSTAGRAM_ACCESS_TOKEN"
ACCOUNT_ID_ENV = "HHS_INSTAGRAM_BUSINESS_ACCOUNT_ID"
PROFILE_FIELDS = (
    "id,username,name,biography,followers_count,follows_count,media_count,profile_picture_url"
)
MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,media_url,permalink,thumbnail_url,timestamp,"
    "like_count,comments_count,children{media_type,media_url}"
)
MEDIA_LIMIT = 50
_USERNAME_RE = re.compile(r"^[A-Za-z0-9._]{1,30}$")
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_\-=+/%.]+$")
_MEDIA_TYPES = {"IMAGE": "image", "VIDEO": "video", "REELS": "video"}


def _username(account: AccountRef) -> str:
    """The Instagram username to discover; refuses what cannot be one (it goes in ``fields``)."""
    name = account.handle.strip().lstrip("@")
    if not _USERNAME_RE.match(name):
        raise NotFoundError(
            f"instagram: {name!r} ({account.key}) is not an Instagram username; "
            "fix the handle in the registry",
            platform="instagram",
        )
    return name


def discovery_fields(username: str, cursor: str | None = None, *, profile: bool = True) -> str:
    """The ``fields`` value of a business_discovery request.

    The first page asks for the profile and the first media page together; later pages ask
    only for the media after ``cursor`` (nested paging: ``media.after(<cursor>)``), so the
    account's figures are read once per collection.
    """
    media = f"media.limit({MEDIA_LIMIT})"
    if cursor:
        media += f".after({cursor})"
    head = PROFILE_FIELDS if profile else "id"
    return f"business_discovery.username({username}){{{head},{media}{{{MEDIA_FIELDS}}}}}"


class InstagramConnector(Connector):
    """Instagram via business_discovery: the agency's own IG business account asks about others."""

    platform: ClassVar[str] = "instagram"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "instagram/1"
    required_settings: ClassVar[tuple[str, ...]] = (
        "instagram_access_token",
        "instagram_business_account_id",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=True,
        posts_count=True,
        likes=True,  # like_count; absent when the owner hides likes
        reposts=False,
        replies=True,  # comments_count
        quotes=False,
        views=False,  # plays/reach are insights of one's own media only
        history="every media item of a business or creator account, newest first, through "
        "nested media cursors (personal and private accounts are not reachable)",
        auth="user access token (HHS_INSTAGRAM_ACCESS_TOKEN) with instagram_basic and "
        "pages_read_engagement, plus the agency's own IG business account id "
        "(HHS_INSTAGRAM_BUSINESS_ACCOUNT_ID)",
        rate_limit="Business Use Case limit: 4,800 calls per 24 h x impressions of the asking "
        "account; X-Business-Use-Case-Usage reports % used",
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Meta's error codes; an unknown username is code 110 / subcode 2207013 (not found)."""
        return classify_graph_error(raw, CREDENTIAL_ENV)

    def _credentials(self) -> tuple[str, str]:
        token = self.settings.secret("instagram_access_token")
        if not token:
            raise AuthError(
                f"instagram: no access token configured; set {CREDENTIAL_ENV} "
                "(see docs/platforms.md)",
                platform="instagram",
            )
        asker = str(getattr(self.settings, "instagram_business_account_id", "") or "").strip()
        if not asker.isdigit():
            raise ConfigurationError(
                f"instagram: {ACCOUNT_ID_ENV} must be the numeric id of the agency's own "
                f"Instagram business account (got {asker!r}); see docs/platforms.md"
            )
        return token, asker

    async def _discover(self, account: AccountRef, fields: str, page: int) -> Any:
        token, asker = self._credentials()
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=DISCOVERY,
            url=graph_url(self.base, asker),
            params={"fields": fields, "access_token": token},
            account_key=account.key,
            page=page,
            classify=self.classify_error,
        )
        return data

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        self._credentials()  # fail before any request when a setting is missing
        username = _username(account)
        cursor: str | None = None
        seen_cursors: set[str] = set()
        media_count: int | None = None
        served_ids: set[str] = set()
        pages = 0
        while True:
            fields = discovery_fields(username, cursor, profile=pages == 0)
            data = await self._discover(account, fields, pages + 1)
            pages += 1
            if media_count is None:
                media_count = as_count(dig(data, "business_discovery", "media_count"))
            items = dig(data, "business_discovery", "media", "data")
            if not isinstance(items, list) or not items:
                return
            # Distinct ids, not items: an item served twice or without an id (a malformed
            # one, quarantined by parse) would otherwise end the listing before its last page.
            served_ids.update(i for item in items if (i := as_str(dig(item, "id"))))
            served = len(served_ids)
            if since is not None:
                # business_discovery has no ``since``: media come newest first, so the page
                # whose oldest item predates the watermark is the last one needed.
                dated = [t for i in items if (t := parse_timestamp(dig(i, "timestamp")))]
                if dated and min(dated) < since:
                    return
            if media_count is not None and served >= media_count:
                return
            after = as_str(dig(data, "business_discovery", "media", "paging", "cursors", "after"))
            if after is None or after in seen_cursors or not _CURSOR_RE.match(after):
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, DISCOVERY)
                return
            seen_cursors.add(after)
            cursor = after

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """One business_discovery lookup; Graph exposes no verification badge (None)."""
        try:
            fields = f"business_discovery.username({_username(account)}){{id,username,name}}"
            data = await self._discover(account, fields, 0)
        except NotFoundError as exc:
            return ResolvedAccount(self.platform, account.handle, "not_found", detail=str(exc))
        except (CollectionError, ConfigurationError) as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        user = dig(data, "business_discovery")
        user_id = as_str(dig(user, "id"))
        if user_id is None:
            return ResolvedAccount(
                self.platform, account.handle, "error", detail="instagram: user without 'id'"
            )
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=user_id,
            current_handle=as_str(dig(user, "username")),
            display_name=as_str(dig(user, "name")),
            verified=None,
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
            if endpoint == DISCOVERY:
                _parse_discovery(data, str(record.get("account_key") or ""), rows)
            else:
                rows.problems.append(f"instagram: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


def _parse_discovery(data: Any, account_key: str, rows: ParsedRows) -> None:
    user = dig(data, "business_discovery")
    if not isinstance(user, Mapping):
        got = type(data).__name__ if not isinstance(data, Mapping) else "no 'business_discovery'"
        rows.problems.append(f"{DISCOVERY}: expected {{'business_discovery': {{...}}}}, got {got}")
        return
    user_id = as_str(user.get("id"))
    if user_id is None:
        rows.problems.append(f"{DISCOVERY}: business_discovery without 'id'")
        return
    if any(k in user for k in ("username", "followers_count", "media_count")):
        registry_handle = account_key.split(":", 1)[1] if ":" in account_key else None
        rows.accounts.append(
            {
                "account_id": user_id,
                "handle": as_str(user.get("username")) or registry_handle or user_id,
                "display_name": as_str(user.get("name")),
                "description": as_str(user.get("biography")),
                "account_created_at": None,
                "account_key": account_key,
            }
        )
        rows.account_snapshots.append(
            {
                "account_id": user_id,
                "followers": as_count(user.get("followers_count")),
                "following": as_count(user.get("follows_count")),
                "posts_count": as_count(user.get("media_count")),
            }
        )
    if "media" not in user:
        return  # not asked for (a profile-only request): a null edge is a broken answer instead
    items = dig(user.get("media"), "data")
    if not isinstance(items, list):
        rows.problems.append(f"{DISCOVERY}: business_discovery.media without a 'data' list")
        return
    add_posts(rows, items, lambda item: _parse_media(item, user_id), f"{DISCOVERY}: media.data")


def _media(item: Mapping[str, Any]) -> tuple[str | None, int, list[str]]:
    """(media_type, media_count, media_urls); a carousel counts its children."""
    kind = str(item.get("media_type") or "").upper()
    if kind == "CAROUSEL_ALBUM":
        children = dig(item, "children", "data")
        parts = (
            [c for c in children if isinstance(c, Mapping)] if isinstance(children, list) else []
        )
        kinds = [_MEDIA_TYPES.get(str(c.get("media_type") or "").upper(), "image") for c in parts]
        urls = [u for c in parts if (u := as_str(c.get("media_url")))]
        # A carousel with any video in it counts as video; one without children data (the
        # field not granted) is still at least one image.
        return "video" if "video" in kinds else "image", len(parts) or 1, urls
    single = _MEDIA_TYPES.get(kind)
    if single is None:
        return None, 0, []
    url = as_str(item.get("media_url")) or as_str(item.get("thumbnail_url"))
    return single, 1, [url] if url else []


def _media_items(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each image or video (a carousel: each child) as type and url only.

    business_discovery gives no sizes, durations or alt text for media, so those stay None.
    """
    kind = str(item.get("media_type") or "").upper()
    if kind == "CAROUSEL_ALBUM":
        children = dig(item, "children", "data")
        parts = (
            [c for c in children if isinstance(c, Mapping)] if isinstance(children, list) else []
        )
        if not parts:  # children not granted: the album's cover is all there is
            return [media_item("image", as_str(item.get("media_url")))]
        return [
            media_item(
                _MEDIA_TYPES.get(str(c.get("media_type") or "").upper(), "image"),
                as_str(c.get("media_url")) or as_str(c.get("thumbnail_url")),
            )
            for c in parts
        ]
    single = _MEDIA_TYPES.get(kind)
    if single is None:
        return []
    url = as_str(item.get("media_url")) or as_str(item.get("thumbnail_url"))
    return [media_item(single, url)]


def _parse_media(item: Any, user_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(item, Mapping):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    media_id = as_str(item.get("id"))
    if media_id is None:
        raise ValueError("media without 'id'")
    created = parse_timestamp(item.get("timestamp"))
    if created is None:
        raise ValueError(f"media {media_id} without a valid 'timestamp'")
    caption = item.get("caption") if isinstance(item.get("caption"), str) else None
    media_type, media_count, media_urls = _media(item)
    row = {
        "post_id": media_id,
        "account_id": user_id,
        "author_id": user_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(item.get("timestamp")),
        # business_discovery lists only the account's own media: no reposts, replies, quotes.
        "post_type": "original",
        "text": caption or None,
        "title": None,
        "url": as_str(item.get("permalink")),
        "lang": None,
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": None,
        "hashtags": hashtags(caption or ""),
        "mentions": mentions(caption or ""),
        "links": links(caption or ""),
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": _media_items(item),
        "duration_s": None,
        "is_deleted": False,
    }
    metrics = {
        "post_id": media_id,
        "account_id": user_id,
        # Owners can hide like counts: then ``like_count`` is absent and the value unknown.
        "likes": as_metric(item.get("like_count"), "like_count"),
        "reposts": None,
        "replies": as_metric(item.get("comments_count"), "comments_count"),
        "quotes": None,
        "views": None,
    }
    return row, metrics
