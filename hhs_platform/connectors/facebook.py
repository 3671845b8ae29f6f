"""Facebook Pages through the Graph API: the page's fields, then its posts newest first."""

from __future__ import annotations

import re
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
from hhs_platform.connectors.graph import (
    classify_graph_error,
    graph_url,
    hashtags,
    links,
    next_page_params,
    unix_seconds,
)
from hhs_platform.errors import AuthError, CollectionError, HhsError, NotFoundError

PAGE = "facebook.page"
POSTS = "facebook.page.posts"
CREDENTIAL_ENV = "HHS_FACEBOOK_ACCESS_TOKEN"
PAGE_FIELDS = "id,name,username,about,fan_count,followers_count,link,verification_status,category"
#: ``parent_id`` is asked on top of the documented list: it is what tells a reshare of another
#: post apart from the page's own post (``status_type`` alone cannot, see ``_post_type``).
POST_FIELDS = (
    "id,created_time,message,permalink_url,"
    "attachments{media_type,type,url,unshimmed_url,media,subattachments},"
    "shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),"
    "status_type,parent_id"
)
PAGE_LIMIT = 100
_PAGE_REF_RE = re.compile(r"^[A-Za-z0-9.\-]{1,100}$")
_VERIFIED = {"blue_verified": True, "gray_verified": True, "not_verified": False}


def _page_ref(account: AccountRef) -> str:
    """The page id or username to ask for; refuses what cannot be one (it goes in the path)."""
    ref = (account.platform_id or account.handle).strip().lstrip("@")
    if not _PAGE_REF_RE.match(ref):
        raise NotFoundError(
            f"facebook: {ref!r} ({account.key}) is not a page id or username; "
            "fix the handle/platform_id in the registry",
            platform="facebook",
        )
    return ref


class FacebookConnector(Connector):
    """Facebook Pages: a page access token; throttling is told by error codes and usage headers."""

    platform: ClassVar[str] = "facebook"
    keeps_fetched_json: ClassVar[bool] = True  # collect only reads the pages
    version: ClassVar[str] = "facebook/1"
    required_settings: ClassVar[tuple[str, ...]] = ("facebook_access_token",)
    capabilities: ClassVar[Capabilities] = Capabilities(
        followers=True,
        following=False,
        posts_count=False,
        likes=True,  # all reactions (like, love, care, haha, wow, sad, angry) together
        reposts=True,  # shares.count
        replies=True,  # comments
        quotes=False,
        views=False,  # only through Page insights, which need the page's own admin token
        history="every post of the page through /posts, newest first, cursor paging",
        auth="page access token (HHS_FACEBOOK_ACCESS_TOKEN) with pages_read_engagement, "
        "or Page Public Content Access",
        rate_limit="Business Use Case limit: 4,800 calls per 24 h x engaged users per page "
        "token; X-Page-Usage / X-Business-Use-Case-Usage report % used",
    )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Meta's error codes: rate limits, token, permission, missing page (see graph.py)."""
        return classify_graph_error(raw, CREDENTIAL_ENV)

    def _token(self) -> str:
        token = self.settings.secret("facebook_access_token")
        if not token:
            raise AuthError(
                f"facebook: no access token configured; set {CREDENTIAL_ENV} to a page access "
                "token (see docs/platforms.md)",
                platform="facebook",
            )
        return token

    async def _get(
        self, endpoint: str, url: str, params: dict[str, str | int], account: AccountRef, page: int
    ) -> Any:
        _, data = await self.http.get_json(
            platform=self.platform,
            endpoint=endpoint,
            url=url,
            params={**params, "access_token": self._token()},
            account_key=account.key,
            page=page,
            classify=self.classify_error,
        )
        return data

    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        since = parse_timestamp(since) if since is not None else None  # naive means UTC
        self._token()  # fail before any request when the credential is missing
        ref = _page_ref(account)
        page_data = await self._get(
            PAGE, graph_url(self.base, ref), {"fields": PAGE_FIELDS}, account, 0
        )
        page_id = as_str(dig(page_data, "id")) or ref
        url = graph_url(self.base, page_id, "posts")
        params: dict[str, str | int] = {"fields": POST_FIELDS, "limit": PAGE_LIMIT}
        if since is not None:
            params["since"] = unix_seconds(since)
        seen: set[tuple[tuple[str, str], ...]] = set()
        pages = repeats = 0
        while True:
            data = await self._get(POSTS, url, params, account, pages + 1)
            pages += 1
            items = dig(data, "data")
            if not isinstance(items, list) or not items:
                return
            if since is not None:
                times = [parse_timestamp(dig(i, "created_time")) for i in items]
                dated = [t for t in times if t is not None]
                # The server filters by ``since`` already; this guards a server that does not.
                if dated and min(dated) < since:
                    return
            nxt = next_page_params(dig(data, "paging", "next"))
            if nxt is None:
                return
            if since is not None and not nxt.get("since"):
                # Time-based ``next`` links carry ``until`` and may drop ``since``: keep ours.
                nxt["since"] = str(unix_seconds(since))
            if pages > 1 and nxt == params and repeats < PAGE_REPEATS:
                repeats += 1  # the page before, served again: ask for this one again
                continue
            key = tuple(sorted(nxt.items()))
            if key in seen:
                self.note_cursor_loop(account, POSTS, str(nxt.get("after") or key))
                return
            if pages >= self.settings.max_pages:
                self.note_cap_hit(account, POSTS)
                return
            seen.add(key)
            params, repeats = dict(nxt), 0

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """One page lookup: id, current username, name and Meta's verification badge."""
        try:
            data = await self._get(
                PAGE, graph_url(self.base, _page_ref(account)), {"fields": PAGE_FIELDS}, account, 0
            )
        except NotFoundError as exc:
            return ResolvedAccount(self.platform, account.handle, "not_found", detail=str(exc))
        except CollectionError as exc:
            return ResolvedAccount(self.platform, account.handle, "error", detail=str(exc))
        page_id = as_str(dig(data, "id"))
        if page_id is None:
            return ResolvedAccount(
                self.platform, account.handle, "error", detail="facebook: page without 'id'"
            )
        return ResolvedAccount(
            self.platform,
            account.handle,
            "active",
            account_id=page_id,
            current_handle=as_str(dig(data, "username")) or page_id,
            display_name=as_str(dig(data, "name")),
            verified=_VERIFIED.get(str(dig(data, "verification_status"))),
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
            if endpoint == PAGE:
                _parse_page(data, str(record.get("account_key") or ""), rows)
            elif endpoint == POSTS:
                _parse_posts(data, rows)
            else:
                rows.problems.append(f"facebook: no parser for endpoint {endpoint!r}")
        except Exception as exc:  # a parser bug must not lose the payload: quarantine it
            rows.problems.append(f"{endpoint}: parser failed: {exc.__class__.__name__}: {exc}")
        return rows


def _parse_page(data: Any, account_key: str, rows: ParsedRows) -> None:
    if not isinstance(data, Mapping):
        rows.problems.append(f"{PAGE}: expected an object, got {type(data).__name__}")
        return
    page_id = as_str(data.get("id"))
    if page_id is None:
        rows.problems.append(f"{PAGE}: page without 'id'")
        return
    registry_handle = account_key.split(":", 1)[1] if ":" in account_key else None
    rows.accounts.append(
        {
            "account_id": page_id,
            "handle": as_str(data.get("username")) or registry_handle or page_id,
            "display_name": as_str(data.get("name")),
            "description": as_str(data.get("about")),
            "account_created_at": None,
            "account_key": account_key,
        }
    )
    rows.account_snapshots.append(
        {
            "account_id": page_id,
            # ``fan_count`` counts the page's likes, not its followers; the two drift apart
            # (and pages in the New Pages Experience only have followers), so it is not used.
            "followers": as_count(data.get("followers_count")),
            "following": None,
            "posts_count": None,
        }
    )


def _parse_posts(data: Any, rows: ParsedRows) -> None:
    items = dig(data, "data")
    if not isinstance(items, list):
        got = type(data).__name__ if not isinstance(data, Mapping) else "no 'data' list"
        rows.problems.append(f"{POSTS}: expected {{'data': [...]}}, got {got}")
        return
    add_posts(rows, items, _parse_post, f"{POSTS}: data")


def _attachment_media(att: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """(media_type, urls) of one attachment or subattachment."""
    kind = str(att.get("media_type") or att.get("type") or "").lower()
    image = as_str(dig(att, "media", "image", "src"))
    source = as_str(dig(att, "media", "source"))
    if "animated" in kind or kind == "gif":
        return "gif", [u for u in (source or image,) if u]
    if "video" in kind:
        return "video", [u for u in (source or image,) if u]
    if kind in ("photo", "album", "profile_media", "cover_photo", "image"):
        return "image", [image] if image else []
    if kind in ("link", "share", "event", "note"):
        url = as_str(att.get("unshimmed_url")) or as_str(att.get("url"))
        return "external", [url] if url else []
    return None, [image] if image else []


def _media(post: Mapping[str, Any]) -> tuple[str | None, int, list[str]]:
    """(media_type, media_count, media_urls) from ``attachments`` (albums: subattachments)."""
    attachments = dig(post, "attachments", "data")
    if not isinstance(attachments, list):
        return None, 0, []
    kinds: list[str] = []
    urls: list[str] = []
    count = 0
    for att in attachments:
        if not isinstance(att, Mapping):
            continue
        subs = dig(att, "subattachments", "data")
        parts = [s for s in subs if isinstance(s, Mapping)] if isinstance(subs, list) else []
        for part in parts or [att]:
            kind, found = _attachment_media(part)
            if kind is None:
                continue
            kinds.append(kind)
            urls.extend(found)
            count += 1
    if not kinds:
        return None, 0, []
    # A mixed album counts as video: that is what changes how people engage with it.
    media_type = "video" if "video" in kinds else kinds[0]
    return media_type, count, list(dict.fromkeys(urls))


def _media_items(post: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each attachment (albums: each subattachment) with the size of ``media.image``.

    Graph gives no alt text and no video duration in ``attachments``; a link share keeps its
    ``title`` as the entry's text, as the other connectors do for link cards.
    """
    attachments = dig(post, "attachments", "data")
    if not isinstance(attachments, list):
        return []
    out = []
    for att in attachments:
        if not isinstance(att, Mapping):
            continue
        subs = dig(att, "subattachments", "data")
        parts = [s for s in subs if isinstance(s, Mapping)] if isinstance(subs, list) else []
        for part in parts or [att]:
            kind, found = _attachment_media(part)
            if kind is None:
                continue
            if kind == "external":
                out.append(
                    media_item(kind, found[0] if found else None, alt_text=part.get("title"))
                )
                continue
            out.append(
                media_item(
                    kind,
                    found[0] if found else None,
                    width=dig(part, "media", "image", "width"),
                    height=dig(part, "media", "image", "height"),
                )
            )
    return out


def _post_type(post: Mapping[str, Any]) -> tuple[str, str | None]:
    """(post_type, reposted_post_id).

    A Page post with ``parent_id`` reshares another Facebook post: a repost of that post.
    ``status_type == "shared_story"`` is *not* enough: in the recorded feeds it marks the page's
    own post sharing a link (an attachment of type ``share``), with its own text and its own
    reactions, so it stays an original post with an ``external`` attachment.
    """
    parent = as_str(post.get("parent_id"))
    if parent is not None:
        return "repost", parent
    return "original", None


def _parse_post(item: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if not isinstance(item, Mapping):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    post_id = as_str(item.get("id"))
    if post_id is None:
        raise ValueError("post without 'id'")
    created = parse_timestamp(item.get("created_time"))
    if created is None:
        raise ValueError(f"post {post_id} without a valid 'created_time'")
    # Page post ids are "<page id>_<post id>": the prefix is the page whose feed holds it.
    page_id = post_id.split("_", 1)[0] if "_" in post_id else post_id
    message = item.get("message") if isinstance(item.get("message"), str) else None
    post_type, reposted = _post_type(item)
    media_type, media_count, media_urls = _media(item)
    found_links = links(message or "")
    if media_type == "external":
        found_links.extend(u for u in media_urls if u not in found_links)
    tags = item.get("message_tags")
    mentioned = (
        [t for tag in tags if (t := as_str(dig(tag, "id")))] if isinstance(tags, list) else []
    )
    row = {
        "post_id": post_id,
        "account_id": page_id,
        "author_id": page_id,
        "created_at": created,
        "utc_offset_minutes": utc_offset_minutes(item.get("created_time")),
        "post_type": post_type,
        "text": message or None,
        "title": None,
        "url": as_str(item.get("permalink_url")),
        "lang": None,
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": reposted,
        "hashtags": hashtags(message or ""),
        "mentions": list(dict.fromkeys(mentioned)),
        "links": found_links,
        "media_type": media_type,
        "media_count": media_count,
        "media_urls": media_urls,
        "media": [] if post_type == "repost" else _media_items(item),
        "duration_s": None,
        "is_deleted": False,
    }
    if post_type == "repost":
        return row, None  # engagement belongs to the original post
    if not any(isinstance(item.get(k), Mapping) for k in ("reactions", "comments", "shares")):
        return row, None  # engagement was not asked for (or not given): no counters to record
    has_shares = isinstance(item.get("shares"), Mapping)
    metrics = {
        "post_id": post_id,
        "account_id": page_id,
        "likes": as_metric(
            dig(item, "reactions", "summary", "total_count"), "reactions.summary.total_count"
        ),
        # Graph leaves ``shares`` out when nobody shared the post.
        "reposts": as_metric(dig(item, "shares", "count"), "shares.count") if has_shares else 0,
        "replies": as_metric(
            dig(item, "comments", "summary", "total_count"), "comments.summary.total_count"
        ),
        "quotes": None,
        "views": None,
    }
    return row, metrics
