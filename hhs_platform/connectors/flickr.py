"""Flickr REST API: resolve the NSID, people.getInfo, then people.getPublicPhotos page by page."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
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
    CollectionError,
    HhsError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TerminalError,
)

LOOKUP_USER = "flickr.urls.lookupUser"
PEOPLE_INFO = "flickr.people.getInfo"
PUBLIC_PHOTOS = "flickr.people.getPublicPhotos"
EXTRAS = (
    "date_upload,date_taken,views,count_faves,count_comments,tags,url_o,url_l,media,o_dims,"
    "description"
)
PER_PAGE = 500
_NSID_RE = re.compile(r"^\d+@N\d{2}$")
#: Flickr's ``code`` values (``{"stat": "fail", "code": N}``, usually with HTTP 200).
_NOT_FOUND_CODES = {1, 2}  # "User not found" / "Unknown user"
_AUTH_CODES = {95, 96, 97, 98, 99, 100}  # SSL required, signatures, login, permission, bad key
_SERVER_CODES = {105, 106}  # service unavailable, write failed (both temporary)


def _content(value: Any) -> str | None:
    """Flickr wraps most strings as ``{"_content": text}``; plain strings are accepted too."""
    if isinstance(value, Mapping):
        value = value.get("_content")
    return as_str(value)


def _raw_content(value: Any) -> Any:
    """``value["_content"]`` of any type (counts come as numbers or strings), else ``value``."""
    return value.get("_content") if isinstance(value, Mapping) else value


def _epoch(value: Any) -> datetime | None:
    """Unix seconds (Flickr sends them as strings) as aware UTC."""
    seconds = as_count(value)
    if seconds is None or seconds == 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _handle_of(account: AccountRef) -> str:
    """A path alias or NSID from a registry handle, which may be a photostream URL."""
    handle = account.handle.strip().rstrip("/")
    if "flickr.com/" in handle:
        parts = handle.split("flickr.com/", 1)[1].split("/")
        if len(parts) >= 2 and parts[0] in ("photos", "people"):
            return parts[1]
    return handle.lstrip("@")


class FlickrConnector(Connector):
    """Flickr: an API key; errors arrive as HTTP 200 ``stat: fail`` bodies."""

    platform: ClassVar[str] = "flickr"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "flickr/1"
    required_settings: ClassVar[tuple[str, ...]] = ("flickr_api_key",)
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=False,  # the public API has no follower count for a member
        following=False,
        posts_count=True,
        likes=True,  # faves
        reposts=False,
        replies=True,  # comments
        quotes=False,
        views=True,
        history="every public photo and video, newest upload first (500 per page)",
        auth="API key (HHS_FLICKR_API_KEY), sent as the api_key parameter",
        rate_limit="3,600 queries per hour per key; no rate-limit headers",
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """``{"stat": "fail", "code": N, "message": ...}``, checked on 200 responses too."""
        if raw.status == 0:
            return None
        try:
            payload = json.loads(raw.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("stat") != "fail":
            return None
        code = as_count(payload.get("code"))
        message = str(payload.get("message") or "")
        where = (
            f"flickr {raw.endpoint} for {raw.account_key}: HTTP {raw.status} code {code}: {message}"
        )
        kw: dict[str, Any] = {"platform": "flickr", "status": raw.status}
        if code in _NOT_FOUND_CODES:
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        if code in _AUTH_CODES:
            return AuthError(f"{where}; check HHS_FLICKR_API_KEY", **kw)
        if code in _SERVER_CODES:
            return ServerError(f"{where}; Flickr says this is temporary", **kw)
        if raw.status == 429 or "rate" in message.lower():
            return RateLimitedError(f"{where}; slowing down", **kw)
        if 200 <= raw.status < 300:
            # Any other failure on a 200 still must not be read as data.
            return TerminalError(f"{where}; the request was rejected", **kw)
        return None

    def _api_key(self) -> str:
        key = self.settings.secret("flickr_api_key")
        if not key:
            raise AuthError(
                "flickr: no API key configured; set HHS_FLICKR_API_KEY to a Flickr API key "
                "(https://www.flickr.com/services/apps/create/)",
                platform="flickr",
            )
        return key

    async def _call(
        self, method: str, params: dict[str, str | int], account: AccountRef, page: int
    ) -> Any:
        query: dict[str, str | int] = {
            "method": method,
            "api_key": self._api_key(),
            "format": "json",
            "nojsoncallback": 1,
            **params,
        }
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=method,
            url=f"{self.base}/services/rest/",
            params=query,
            account_key=account.key,
            page=page,
            classify=self.classify_error,
        )
        return data

    async def _nsid(self, account: AccountRef) -> str:
        """The member's NSID: the registry's, or looked up from the photostream path alias."""
        for candidate in (account.platform_id, _handle_of(account)):
            if candidate and _NSID_RE.match(candidate):
                return candidate
        alias = _handle_of(account)
        data = await self._call(
            LOOKUP_USER, {"url": f"https://www.flickr.com/photos/{alias}/"}, account, 0
        )
        nsid = as_str(dig(data, "user", "id"))
        if nsid is None:
            raise NotFoundError(
                f"flickr: no member for {account.key}; check the handle in the registry",
                platform="flickr",
                status=200,
            )
        return nsid

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        nsid = await self._nsid(account)
        await self._call(PEOPLE_INFO, {"user_id": nsid}, account, 0)
        page = 1
        repeats = 0
        while True:
            data = await self._call(
                PUBLIC_PHOTOS,
                {"user_id": nsid, "extras": EXTRAS, "per_page": PER_PAGE, "page": page},
                account,
                page,
            )
            photos = dig(data, "photos", "photo")
            if not isinstance(photos, list) or not photos:
                return
            served = as_count(dig(data, "photos", "page"))
            if served is not None and served != page:
                if repeats < PAGE_REPEATS:
                    repeats += 1  # another page than asked for (a stale cache): ask again
                    continue
                self.note_cursor_loop(account, PUBLIC_PHOTOS, str(page))
                return
            repeats = 0
            uploaded = [t for p in photos if (t := _epoch(dig(p, "dateupload"))) is not None]
            if since is not None and uploaded and all(t < since for t in uploaded):
                return
            pages = as_count(dig(data, "photos", "pages")) or 0
            if page >= pages:
                return
            if page >= self.settings.max_pages:
                self.note_cap_hit(account, PUBLIC_PHOTOS)
                return
            page += 1

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        try:
            nsid = await self._nsid(account)
            data = await self._call(PEOPLE_INFO, {"user_id": nsid}, account, 0)
        except NotFoundError:
            return ResolvedAccount(self.platform, account.handle, "not_found")
        except CollectionError as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        person = dig(data, "person")
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=as_str(dig(person, "nsid")) or nsid,
            current_handle=as_str(dig(person, "path_alias")) or _content(dig(person, "username")),
            display_name=_content(dig(person, "realname")) or _content(dig(person, "username")),
            verified=None,  # Flickr has no verification mark
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
        if endpoint == LOOKUP_USER:
            return rows  # it only finds the NSID; getInfo carries the account
        if isinstance(data, dict) and data.get("stat") == "fail":
            return rows  # an error answer sent with HTTP 200: nothing to read, nothing lost
        try:
            if endpoint == PEOPLE_INFO:
                _parse_person(data, str(record.get("account_key") or ""), rows)
            elif endpoint == PUBLIC_PHOTOS:
                _parse_photos(data, rows)
            else:
                rows.problems.append(f"flickr: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


def _parse_person(data: Any, account_key: str, rows: ParsedRows) -> None:
    person = dig(data, "person")
    if not isinstance(person, Mapping):
        got = type(data).__name__ if not isinstance(data, dict) else "no 'person' object"
        rows.problems.append(f"{PEOPLE_INFO}: expected {{'person': {{...}}}}, got {got}")
        return
    nsid = as_str(person.get("nsid")) or as_str(person.get("id"))
    if nsid is None:
        rows.problems.append(f"{PEOPLE_INFO}: person without 'nsid'")
        return
    registry_handle = account_key.split(":", 1)[1] if ":" in account_key else None
    username = _content(person.get("username"))
    rows.accounts.append(
        {
            "account_id": nsid,
            "handle": as_str(person.get("path_alias")) or username or registry_handle or nsid,
            "display_name": _content(person.get("realname")) or username,
            "description": _content(person.get("description")),
            "account_created_at": None,  # Flickr does not publish a member's join date
            "account_key": account_key,
        }
    )
    rows.account_snapshots.append(
        {
            "account_id": nsid,
            "followers": None,  # not in the public API
            "following": None,
            "posts_count": as_count(_raw_content(dig(person, "photos", "count"))),
        }
    )


def _parse_photos(data: Any, rows: ParsedRows) -> None:
    photos = dig(data, "photos", "photo")
    if not isinstance(photos, list):
        got = type(data).__name__ if not isinstance(data, dict) else "no 'photos.photo' list"
        rows.problems.append(
            f"{PUBLIC_PHOTOS}: expected {{'photos': {{'photo': [...]}}}}, got {got}"
        )
        return
    add_posts(rows, photos, _parse_photo, f"{PUBLIC_PHOTOS}: photo")


def _media_items(photo: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The photo (or video) itself as the post's one attachment.

    The URL is ``url_o`` (sized by ``width_o``/``height_o``, or ``o_width``/``o_height`` from
    the ``o_dims`` extra) else ``url_l`` (``width_l``/``height_l``); for a video it is its still
    frame. The API has no alt text, so the title stands in for it (None when empty).
    """
    if as_str(photo.get("url_o")):
        url = as_str(photo.get("url_o"))
        width = as_count(photo.get("width_o"))
        height = as_count(photo.get("height_o"))
        if width is None or height is None:
            width, height = as_count(photo.get("o_width")), as_count(photo.get("o_height"))
    else:
        url = as_str(photo.get("url_l"))
        width, height = as_count(photo.get("width_l")), as_count(photo.get("height_l"))
    title = as_str(photo.get("title"))
    return [
        media_item(
            "video" if photo.get("media") == "video" else "image",
            url,
            width=width if url else None,
            height=height if url else None,
            alt_text=title.strip() if title else None,
        )
    ]


def _parse_photo(photo: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(photo, Mapping):
        raise ValueError(f"expected an object, got {type(photo).__name__}")
    photo_id = as_str(photo.get("id"))
    if photo_id is None:
        raise ValueError("photo without 'id'")
    owner = as_str(photo.get("owner"))
    if owner is None:
        raise ValueError(f"photo {photo_id} without 'owner'")
    created = _epoch(photo.get("dateupload"))
    if created is None:
        raise ValueError(f"photo {photo_id} without a valid 'dateupload'")
    tags = [t for t in str(photo.get("tags") or "").split() if t]
    is_video = photo.get("media") == "video"
    image = as_str(photo.get("url_o")) or as_str(photo.get("url_l"))
    description = _content(photo.get("description"))
    post = {
        "post_id": photo_id,
        "account_id": owner,
        "author_id": owner,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(photo.get("dateupload")),
        "post_type": "original",
        "text": description,
        "title": as_str(photo.get("title")),
        "url": f"https://www.flickr.com/photos/{owner}/{photo_id}/",
        "lang": None,
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": None,
        "hashtags": list(dict.fromkeys(tags)),
        "mentions": [],
        "links": [],
        "media_type": "video" if is_video else "image",
        "media_count": 1,
        # For a video, url_o/url_l are its still frame: still the best public picture of it.
        "media_urls": [image] if image else [],
        "media": _media_items(photo),
        "duration_s": None,  # only photos.getInfo has a video's duration: one call per video
        "is_deleted": False,
    }
    metrics = {
        "post_id": photo_id,
        "account_id": owner,
        "likes": as_metric(photo.get("count_faves"), "count_faves"),
        "reposts": None,
        "replies": as_metric(photo.get("count_comments"), "count_comments"),
        "quotes": None,
        "views": as_metric(photo.get("views"), "views"),
    }
    return post, metrics
