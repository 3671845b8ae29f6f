"""Malformed listing pages: valid JSON whose extra items carry null ids, bad timestamps or words
where counts belong (the ``malformed`` fault of :mod:`hhs_platform.sandbox.faults`).

A malformed page keeps every real item as served and adds, right after some of them, a broken
copy: the same item with its id set to null, its timestamp set to ``"not-a-date"``, or a counter
set to ``"many"``. What the platform really serves stays complete, so a collector must land every
real item exactly and quarantine each broken copy with a reason. The last item of a page is
never copied (some collectors page from the last item's id).

Platforms whose listings are paged by counting items (LinkedIn's ``start``/``count`` offsets)
get no malformed pages: an extra item would move the next page's offset, which no real offset
API does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hhs_platform.sandbox import ids

#: What each broken copy carries in place of the real value.
BAD_TIMESTAMP = "not-a-date"
BAD_COUNT = "many"
#: The three ways an item is broken, in the order they are applied.
BREAKS = ("id", "timestamp", "count")


@dataclass(frozen=True)
class ItemSpec:
    """Where a platform's listing keeps its items and which of their fields a broken copy breaks.

    Paths are dotted (``post.record.createdAt``); ``items`` is ``""`` for a bare JSON array.

    Attributes:
        path: regular expression searched in the request path (the listing's route).
        items: path of the item list in the JSON body.
        id: the id fields (all set to null).
        timestamp: the time fields the collector reads (every present one is broken).
        count: a counter the collector reads from the item itself (None: counters come from
            another endpoint, e.g. Threads insights).
        skip: items where this field is set are never copied (reposts and boosts, whose
            counters belong to the original post).
        method: Flickr-style REST: the ``method`` query parameter the listing has.
    """

    path: str
    items: str
    id: tuple[str, ...]
    timestamp: tuple[str, ...]
    count: str | None = None
    skip: str | None = None
    method: str | None = None

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        """True when a request (its path and query) asks for this listing."""
        if self.method is not None and query.get("method") != self.method:
            return False
        return re.search(self.path, path) is not None


_MASTODON = ItemSpec(
    r"/api/v1/accounts/[^/]+/statuses$", "", ("id",), ("created_at",), "favourites_count", "reblog"
)
#: The listings that can be made malformed, per platform.
ITEM_SPECS: dict[str, ItemSpec] = {
    "bluesky": ItemSpec(
        r"/xrpc/app\.bsky\.feed\.getAuthorFeed$",
        "feed",
        ("post.uri",),
        ("post.record.createdAt",),
        "post.likeCount",
        "reason",
    ),
    "x": ItemSpec(
        r"/2/users/[^/]+/tweets$",
        "data",
        ("id",),
        ("created_at",),
        "public_metrics.like_count",
        "referenced_tweets",
    ),
    "youtube": ItemSpec(
        r"/youtube/v3/videos$", "items", ("id",), ("snippet.publishedAt",), "statistics.viewCount"
    ),
    "mastodon": _MASTODON,
    "truthsocial": _MASTODON,
    "reddit": ItemSpec(
        r"/user/[^/]+/submitted(\.json)?$",
        "data.children",
        ("data.name", "data.id"),
        ("data.created_utc", "data.created"),
        "data.num_comments",
    ),
    "flickr": ItemSpec(
        r"/services/rest/?$",
        "photos.photo",
        ("id",),
        ("dateupload",),
        "views",
        method="flickr.people.getPublicPhotos",
    ),
    "facebook": ItemSpec(
        r"/v[\d.]+/[^/]+/(posts|published_posts|feed)$",
        "data",
        ("id",),
        ("created_time",),
        "comments.summary.total_count",
        "parent_id",
    ),
    "instagram": ItemSpec(
        r"/v[\d.]+/[^/]+$",
        "business_discovery.media.data",
        ("id",),
        ("timestamp",),
        "comments_count",
    ),
    "threads": ItemSpec(r"/v[\d.]+/[^/]+/threads$", "data", ("id",), ("timestamp",), None),
}


def apply_malformed(
    body: bytes, spec: ItemSpec, path: str, query: Mapping[str, str], seed: int, n: int
) -> tuple[bytes, list[str]]:
    """:func:`malform` for a request to ``path`` with ``query``; other requests unchanged."""
    if not spec.matches(path, query):
        return body, []
    return malform(body, spec, seed, n)


def malform(body: bytes, spec: ItemSpec, seed: int, n: int) -> tuple[bytes, list[str]]:
    """``body`` with a broken copy added after up to three of its items, one per way of breaking.

    Returns the new body and the breaks applied (``id``, ``timestamp``, ``count``); the body
    is unchanged (and the list empty) when it is not JSON or its listing has too few items.
    """
    payload, items = _listing(body, spec)
    if items is None:
        return body, []
    # Never the last item: a collector may page from it.
    free = [
        i
        for i, item in enumerate(items[:-1])
        if isinstance(item, dict) and (spec.skip is None or _get(item, spec.skip) is None)
    ]
    copies: list[tuple[int, dict[str, Any], str]] = []
    for kind in BREAKS:
        if not free:
            break
        index = free.pop(int(ids.unit(seed, n, "malformed", kind) * len(free)))
        broken = _break(items[index], spec, kind)
        if broken is not None:
            copies.append((index, broken, kind))
    if not copies:
        return body, []
    for index, broken, _ in sorted(copies, key=lambda c: c[0], reverse=True):
        items.insert(index + 1, broken)
    return dump_like(payload, body), [kind for _, _, kind in copies]


def broken_copies(body: bytes, spec: ItemSpec) -> int:
    """How many broken copies a listing page as served carries (0 for a body that is not JSON).

    A copy is broken when every id field is null, a timestamp reads ``BAD_TIMESTAMP`` or its
    counter reads ``BAD_COUNT``: what a page that reached a collector whole obliges it to
    quarantine.
    """
    _, items = _listing(body, spec)
    return sum(
        1
        for item in items or ()
        if isinstance(item, dict)
        and (
            all(_get(item, p) is None for p in spec.id)
            or any(_get(item, p) == BAD_TIMESTAMP for p in spec.timestamp)
            or (spec.count is not None and _get(item, spec.count) == BAD_COUNT)
        )
    )


def _listing(body: bytes, spec: ItemSpec) -> tuple[Any, list[Any] | None]:
    """The decoded page and its item list (None when the body is not JSON or has no list)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    items = _get(payload, spec.items) if spec.items else payload
    return payload, items if isinstance(items, list) else None


def _break(item: dict[str, Any], spec: ItemSpec, kind: str) -> dict[str, Any] | None:
    """A copy of ``item`` broken one way, or None when it lacks the fields to break."""
    if kind == "count" and spec.count is None:
        return None
    paths = {"id": spec.id, "timestamp": spec.timestamp, "count": (spec.count or "",)}[kind]
    value = {"id": None, "timestamp": BAD_TIMESTAMP, "count": BAD_COUNT}[kind]
    present = [p for p in paths if p and _get(item, p) is not None]
    if not present:
        return None
    broken = copy.deepcopy(item)
    for path in present:
        _set(broken, path, value)
    return broken


def _get(node: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _set(node: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value


def dump_like(payload: Any, original: bytes) -> bytes:
    """``payload`` as JSON bytes in the style of ``original`` (pretty-printed or compact)."""
    if original[:2] in (b"{\n", b"[\n"):  # pretty-printed (YouTube): keep the look
        return json.dumps(payload, ensure_ascii=False, indent=2).encode()
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
