"""Campaign items: the same content cross-posted by one agency to several platforms, linked.

Two posts are linked when they belong to the same agency, sit on different platforms, were
published at most ``window`` apart (72 h) and

1. have the same text fingerprint (the text lowercased, without links, mentions, hashtags,
   punctuation, emoji and extra whitespace), or
2. are near-duplicates: the Jaccard similarity of their word sets is at least ``threshold``
   (0.8), or
3. link to the same targets (the same non-empty set of normalised links: no scheme, no
   ``www.``, no tracking parameters, no trailing slash) and their words are at least half alike
   (Jaccard >= 0.5), or either has no words at all (a photo or a bare link).

A campaign grows link by link, in the order the later post of each link was published, and
never spans more than the window: all its posts are published within 72 h of its first one.
So a post can join through another one, but an agency repeating a text every other day does not
chain its weeks into one campaign.
Reposts are left out (the content is someone else's); deleted posts stay in (they were posted).
Every eligible post gets a row: a post linked to nothing is a campaign of one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import polars as pl

from hhs_platform.enrich.text import ANY_URL_RE
from hhs_platform.lake.store import AtLeast, Lake, Where, WriteResult
from hhs_platform.spread import balanced, cluster_workers, spread
from schemas import table_spec

log = logging.getLogger(__name__)

TABLE = "silver/campaign_items"
WINDOW = timedelta(hours=72)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
THRESHOLD = 0.8
LINK_THRESHOLD = 0.5
#: From this many posts on, a run inside a Dask task links its agencies on every worker of the
#: cluster (agencies are linked independently; below it, handing them out costs more).
SPREAD_FROM = 20_000
_EDGE_SLICE = 100_000
_URL = re.compile(ANY_URL_RE)
_MENTION = re.compile(r"(?<![\w@])@[\w.\-]+")
_HASHTAG = re.compile(r"(?<![\w#&])#\w+")
_NON_WORD = re.compile(r"[\W_]+")
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|igshid|ref_src|cmpid)$", re.I)
_POST_COLUMNS = [
    "platform",
    "post_id",
    "account_id",
    "created_at",
    "post_type",
    "text",
    "title",
    "links",
    "last_seen_at",
]


def normalise_text(text: str | None) -> str:
    """Lowercase words only: links, mentions, hashtags, punctuation and emoji removed."""
    if not text:
        return ""
    # Each pattern runs only where it can match: a link has a "/" or "www.", a mention an "@"
    # and a hashtag a "#" (0.96 -> 0.68 s for the pipeline benchmark's 44,566 posts).
    if "/" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(" ", text)
    return _NON_WORD.sub(" ", text.lower()).strip()


def fingerprint(normalised: str) -> str | None:
    """A short stable hash of normalised text (None for text without words)."""
    if not normalised:
        return None
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


def normalise_link(url: str) -> str:
    """A link as a comparable target: host without ``www.``, path without a trailing slash,
    query without tracking parameters, no scheme and no fragment."""
    try:
        parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return url.strip().lower()
    query = urlencode(sorted(q for q in parse_qsl(parts.query) if not _TRACKING.match(q[0])))
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{query}" if query else "")


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class _Components:
    """Union-find over posts (indices in time order) that keeps each group's time span."""

    def __init__(self, times: list[int]) -> None:
        self.parent = list(range(len(times)))
        self.first = list(times)
        self.last = list(times)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union_within(self, i: int, j: int, span: int) -> None:
        """Join the groups of i and j unless the joined group would span more than ``span``."""
        a, b = self.find(i), self.find(j)
        if a == b:
            return
        first, last = min(self.first[a], self.first[b]), max(self.last[a], self.last[b])
        if last - first > span:
            return
        root, other = min(a, b), max(a, b)  # the smaller index: the earlier post
        self.parent[other] = root
        self.first[root], self.last[root] = first, last


def _link_order(
    first: array[int], second: array[int], stamps: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct edges ``(first[k], second[k])`` (the earlier post first) in the order their
    later post was published, then the earlier one's, then by index: one numpy sort instead of
    millions of Python keys."""
    n = len(stamps)
    keys = np.frombuffer(first, dtype=np.int64) * n
    keys += np.frombuffer(second, dtype=np.int64)
    keys = np.unique(keys)
    i, j = keys // n, keys % n
    del keys
    at = np.asarray(stamps, dtype=np.int64)
    order = np.lexsort((i, j, at[i], at[j]))
    return i[order], j[order]


def _similar_pairs(words: list[frozenset[str]], threshold: float) -> Iterator[tuple[int, int]]:
    """Pairs ``(j, i)``, ``j < i``, whose Jaccard similarity is at least ``threshold``.

    Candidates come from prefix filtering (two such sets share a word among the first
    ``|s| - ceil(threshold * |s|) + 1`` of each, in a common rare-first order) and are checked
    as they are found, one set at a time: the candidates of a whole agency, kept at once, took
    hundreds of MB in a 10x run.
    """
    freq: dict[str, int] = defaultdict(int)
    for ws in words:
        for w in ws:
            freq[w] += 1
    index: dict[str, list[int]] = defaultdict(list)
    for i, ws in enumerate(words):
        if not ws:
            continue
        ordered = sorted(ws, key=lambda w: (freq[w], w))
        checked: set[int] = set()
        for w in ordered[: len(ws) - math.ceil(threshold * len(ws)) + 1]:
            for j in index[w]:
                if j not in checked:
                    checked.add(j)
                    if _jaccard(words[j], ws) >= threshold:
                        yield j, i
            index[w].append(i)


def link_posts(
    posts: pl.DataFrame,
    *,
    window: timedelta = WINDOW,
    threshold: float = THRESHOLD,
    linked_at: datetime | None = None,
) -> pl.DataFrame:
    """``silver/campaign_items`` rows for the eligible posts of some agencies.

    ``posts`` has silver posts columns plus ``agency``; reposts and posts without an agency
    are dropped here.
    """
    spec = table_spec(TABLE)
    posts = posts.filter((pl.col("post_type") != "repost") & pl.col("agency").is_not_null())
    if posts.is_empty():
        return spec.empty()
    posts = posts.sort("agency", "created_at", "platform", "post_id")
    rows = posts.select("agency", "title", "text", "links").rows()
    stamps = posts["created_at"].dt.epoch("us").to_list()  # microseconds: int arithmetic
    span = window // timedelta(microseconds=1)
    plats = posts["platform"].to_list()
    norm = [normalise_text("\n".join(p for p in (r[1], r[2]) if p)) for r in rows]
    words = [frozenset(t.split()) for t in norm]
    # Edges (i, j), i the earlier post, as two arrays (a pair may come more than once): 16 bytes
    # an edge where a set of tuples took about 100 (millions of edges in a 10x run).
    first, second = array("q"), array("q")
    add_first, add_second = first.append, second.append

    def pair_up(members: list[int], ok: Callable[[int, int], bool] | None = None) -> None:
        """Edges between members (one agency's, in time order) on different platforms."""
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if stamps[j] - stamps[i] > span:
                    break
                if plats[i] != plats[j] and (ok is None or ok(i, j)):
                    add_first(i)
                    add_second(j)

    # Rule 1: the same normalised text (so the same fingerprint).
    same_text: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, text in enumerate(norm):
        if text:
            same_text[(rows[i][0], text)].append(i)
    for members in same_text.values():
        pair_up(members)
    # Rule 2: near-duplicate texts of one agency (compared once per pair of distinct texts).
    by_agency: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for agency, text in same_text:
        by_agency[agency].append((agency, text))
    text_times: dict[tuple[str, str], list[int]] = {}

    def cross(left: list[int], right: list[int], right_times: list[int]) -> None:
        """Edges between a post of ``left`` and one of ``right`` (two texts' posts, each in time
        order) on different platforms, at most the window apart: a binary search per post, not
        a scan of both texts' posts."""
        for i in left:
            lo = bisect_left(right_times, stamps[i] - span)
            hi = bisect_right(right_times, stamps[i] + span)
            for j in right[lo:hi]:
                if plats[i] != plats[j]:
                    add_first(min(i, j))
                    add_second(max(i, j))

    for keys in by_agency.values():
        sets = [words[same_text[k][0]] for k in keys]
        for a, b in _similar_pairs(sets, threshold):
            right = same_text[keys[b]]
            if keys[b] not in text_times:
                text_times[keys[b]] = [stamps[j] for j in right]
            cross(same_text[keys[a]], right, text_times[keys[b]])
    # Rule 3: the same link targets, with alike or empty texts.
    same_links: dict[tuple[str, frozenset[str]], list[int]] = defaultdict(list)
    target = cache(normalise_link)  # cross-posts share their links: each is parsed once
    for i, r in enumerate(rows):
        targets = frozenset(target(u) for u in (r[3] or []) if u)
        if targets:
            same_links[(r[0], targets)].append(i)
    for members in same_links.values():
        pair_up(
            members,
            lambda i, j: (
                not words[i] or not words[j] or _jaccard(words[i], words[j]) >= LINK_THRESHOLD
            ),
        )

    # Join linked posts, earliest links first, as long as a campaign stays within the window.
    comp = _Components(stamps)
    empty = np.empty(0, dtype=np.int64)
    earlier, later = _link_order(first, second, stamps) if first else (empty, empty)
    del first[:], second[:]  # emptied in place (the rules' closures still hold them)
    # Python ints a slice at a time: millions of them at once would take hundreds of MB.
    for start in range(0, len(earlier), _EDGE_SLICE):
        end = start + _EDGE_SLICE
        for i, j in zip(earlier[start:end].tolist(), later[start:end].tolist(), strict=True):
            comp.union_within(i, j, span)
    # Rows are sorted by agency and time, so a group's root (its smallest index) is its first
    # post, which names the campaign.
    names = [
        f"{agency}|{platform}|{post_id}"
        for agency, platform, post_id in posts.select("agency", "platform", "post_id").rows()
    ]
    roots = [comp.find(i) for i in range(len(rows))]
    out = (
        posts.with_columns(
            _root=pl.Series(roots, dtype=pl.Int64),
            campaign_id=pl.Series(
                ["c" + hashlib.sha256(names[r].encode()).hexdigest()[:16] for r in roots],
                dtype=pl.Utf8,
            ),
            fingerprint=pl.Series([fingerprint(t) for t in norm], dtype=pl.Utf8),
        )
        .with_columns(
            first_posted_at=pl.col("created_at").min().over("_root"),
            platforms=pl.col("platform").n_unique().over("_root").cast(pl.Int64),
            posts=pl.len().over("_root").cast(pl.Int64),
            source_last_seen_at=pl.col("last_seen_at"),
            linked_at=pl.lit(linked_at or datetime.now(UTC), dtype=spec.schema["linked_at"]),
        )
        .sort("campaign_id", "created_at", "platform", "post_id")
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


#: Posts linked at once by one process: more are linked a share of agencies at a time (an
#: agency is never split; its campaigns are its own). Relinking the incremental benchmark's
#: lake whole (207 k posts): 964 MiB peak at once, 575 MiB in shares of 50,000.
LINK_POSTS_AT_ONCE = 50_000


def link_agencies(posts: pl.DataFrame, *, spread_from: int = SPREAD_FROM) -> pl.DataFrame:
    """:func:`link_posts`, the agencies split over the workers of the Dask cluster this runs on
    as a task (with at least ``spread_from`` posts), and in shares of about
    :data:`LINK_POSTS_AT_ONCE` posts on each; the same rows as one ``link_posts`` call."""
    workers = cluster_workers()
    link = partial(link_posts, linked_at=datetime.now(UTC))
    spread_out = workers >= 2 and posts.height >= spread_from
    if posts.height <= LINK_POSTS_AT_ONCE and not spread_out:
        return link(posts)
    sizes = dict(posts.filter(pl.col("agency").is_not_null()).group_by("agency").len().iter_rows())
    shares = -(-posts.height // LINK_POSTS_AT_ONCE)
    groups = balanced(sizes, max(shares, workers if spread_out else 1))
    if len(groups) < 2:
        return link(posts)
    parts = [posts.filter(pl.col("agency").is_in(g)) for g in groups]
    # one worker links its shares one after another: one share's memory at a time
    linked = spread(link, parts) if spread_out else [link(part) for part in parts]
    # link_posts sorts its rows by these columns; (platform, post_id) is unique
    return pl.concat(linked).sort("campaign_id", "created_at", "platform", "post_id")


def link_campaigns(
    lake: Lake, *, full: bool = False, spread_from: int = SPREAD_FROM
) -> WriteResult:
    """Link cross-posted content into ``silver/campaign_items``, incrementally.

    Only agencies with a post that is new, was seen again (``last_seen_at`` newer than its
    row's ``source_last_seen_at``) or moved to another agency are linked again; their rows are
    replaced in one commit. ``full=True`` relinks every agency and replaces the table. Inside
    a Dask task, ``spread_from`` posts or more are linked on every worker of the cluster
    (:func:`link_agencies`).
    """
    link = partial(link_agencies, spread_from=spread_from)
    accounts = (
        lake.scan("silver/accounts")
        .select("platform", "account_id", "agency")
        .unique(["platform", "account_id"], keep="last")
    )
    posts = (
        lake.scan("silver/posts")
        .select(_POST_COLUMNS)
        .join(accounts, on=["platform", "account_id"], how="left")
        .filter((pl.col("post_type") != "repost") & pl.col("agency").is_not_null())
    )
    if full or not lake.exists(TABLE):
        rows = link(posts.collect())
        log.info(
            "linked %d post(s) into %d campaign(s)", rows.height, rows["campaign_id"].n_unique()
        )
        return lake.overwrite(TABLE, rows)
    items = lake.scan(TABLE).select(
        "platform",
        "post_id",
        pl.col("agency").alias("_was"),
        "source_last_seen_at",
        pl.col("created_at").alias("_created"),
    )
    # The earliest post of each agency that is new, seen again, gone or moved (for both its
    # agencies).
    changed = (
        posts.select("platform", "post_id", "agency", "last_seen_at", "created_at")
        .join(items, on=["platform", "post_id"], how="full", coalesce=True)
        .filter(
            pl.col("source_last_seen_at").is_null()
            | pl.col("agency").is_null()
            | (pl.col("last_seen_at") > pl.col("source_last_seen_at"))
            | (pl.col("agency") != pl.col("_was"))
        )
        .select(
            pl.concat_list("agency", "_was").alias("agency"),
            # both publication times, should it have moved: the stored row is replaced too
            pl.min_horizontal("created_at", "_created").alias("changed_at"),
        )
        .explode("agency")
        .drop_nulls()
        .group_by("agency")
        .agg(pl.col("changed_at").min())
        .collect()
    )
    if changed.is_empty():
        return WriteResult(TABLE, 0)
    agencies = sorted(changed["agency"].to_list())
    starts = _relink_from(lake.scan(TABLE).filter(pl.col("agency").is_in(agencies)), changed)
    window = (
        posts.join(starts.lazy(), on="agency")
        .filter(pl.col("created_at") >= pl.col("_from"))
        .drop("_from")
        .collect()
    )
    rows = link(window)
    log.info("relinked %d agencies: %d post(s)", len(agencies), rows.height)
    # Each agency's rows from its start on are replaced: every stored row of a post in the window
    # lies there (a moved post's earlier time counts in its agency's start), and so does every
    # row whose post left the window or the agency. No list of ids: deltalake evaluates a long
    # IN list as a chain of ORs (0.3 s for 3,000 ids); the bound also spares the older files.
    parts: list[tuple[pl.DataFrame, Where]] = [
        (
            rows.filter(pl.col("agency") == agency),
            {"agency": [agency], "created_at": AtLeast(start)},
        )
        for agency, start in starts.select("agency", "_from").iter_rows()
    ]
    return lake.replace_many(TABLE, parts)


def _relink_from(items: pl.LazyFrame, changed: pl.DataFrame) -> pl.DataFrame:
    """Per agency, the instant its posts are linked again from (``agency``, ``_from``).

    A changed post links only to posts within ``WINDOW`` of it, and a campaign never spans more
    than ``WINDOW``: campaigns whose posts all precede the agency's first changed post by more
    than ``WINDOW`` cannot change. Relinking starts there, moved back to the first post of any
    stored campaign that straddles it, so every campaign is relinked whole or not at all; the
    result equals relinking all the agency's posts.
    """
    us = timedelta(microseconds=1)
    spans = (
        items.group_by("agency", "campaign_id")
        .agg(pl.col("created_at").min().alias("first"), pl.col("created_at").max().alias("last"))
        .select("agency", pl.col("first", "last").dt.epoch("us"))
        .collect()
    )
    # each agency's campaigns as two arrays of microseconds: one pass, not a query a step
    bounds = {
        str(agency): (part["first"].to_numpy(), part["last"].to_numpy())
        for (agency,), part in spans.partition_by("agency", as_dict=True).items()
    }
    none = np.empty(0, dtype=np.int64)
    out = []
    for agency, changed_at in changed.select("agency", "changed_at").iter_rows():
        start = (changed_at - WINDOW - _EPOCH) // us
        first, last = bounds.get(agency, (none, none))
        while True:
            across = (first < start) & (last >= start)
            if not across.any():
                break
            start = int(first[across].min())
        out.append({"agency": agency, "_from": _EPOCH + start * us})
    return pl.DataFrame(
        out, schema={"agency": pl.Utf8, "_from": pl.Datetime("us", "UTC")}, orient="row"
    )
