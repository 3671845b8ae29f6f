"""The Posts explorer's figures: post search, latest counters and a post's engagement curve.

Pure functions over polars frames (no Panel, no I/O of their own). The search takes lazy frames
(in the page, scans of the lake's tables) and builds one plan per question, so filters reach the
scans: the platform partition, the publication window and the text match are applied while the
files are read; only the matching keys are joined, sorted and cut to one page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

import polars as pl

from hhs_platform.transforms.counters import ENGAGEMENT_PARTS, engagement_expr
from hhs_platform.transforms.counters import latest_counters as gold_latest_counters
from schemas import table_spec

#: Rows per page of results.
PAGE_SIZE = 50
#: Most rows an export writes (the whole filtered set up to this).
EXPORT_LIMIT = 100_000
#: Characters of a post's text shown in the result table (the export has it whole).
TEXT_CHARS = 140
#: The "no filter" choice of a selector.
ALL = "All"
#: Agency label of accounts the registry ties to no agency.
UNASSIGNED_AGENCY = "(unassigned)"
#: Counters of silver/post_metrics, in display order.
COUNTERS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes", "views")

#: Sort choices: label -> (column, descending). Ties: newest first, then platform and post id.
SORTS: dict[str, tuple[str, bool]] = {
    "Newest first": ("created_at", True),
    "Oldest first": ("created_at", False),
    "Most engagement": ("engagement", True),
    "Most likes": ("likes", True),
    "Most reposts": ("reposts", True),
    "Most replies": ("replies", True),
    "Most views": ("views", True),
    "Highest overperformance": ("overperformance", True),
}
DEFAULT_SORT = "Newest first"

#: Columns of silver/posts the search reads.
POST_COLUMNS: tuple[str, ...] = (
    "platform",
    "post_id",
    "account_id",
    "created_at",
    "post_type",
    "text",
    "title",
    "url",
    "is_deleted",
)
#: Columns of silver/post_features the search reads.
FEATURE_COLUMNS: tuple[str, ...] = ("platform", "post_id", "hashtags", "topics")
#: Columns of silver/accounts the search reads.
ACCOUNT_COLUMNS: tuple[str, ...] = ("platform", "account_id", "handle", "agency")
#: Columns of silver/post_metrics the search and the curve read.
METRIC_COLUMNS: tuple[str, ...] = (
    "platform",
    "post_id",
    "observed_at",
    "last_observed_at",
    *COUNTERS,
)
#: Columns of gold/post_curves the search and the curve read.
CURVE_COLUMNS: tuple[str, ...] = (
    "platform",
    "post_id",
    "age_hours",
    "engagement",
    "baseline",
    "overperformance",
)

#: Columns of a search result, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "created_at",
    "agency",
    "platform",
    "handle",
    "post_type",
    "text",
    "title",
    "hashtags",
    "topics",
    *COUNTERS,
    "engagement",
    "overperformance",
    "curve_age_hours",
    "url",
    "is_deleted",
    "post_id",
    "account_id",
)

_KEYS = ["platform", "post_id"]
#: Polars engine of the searches: the streaming one reads big scans in batches (less memory, and
#: measured faster on a 2 M-post lake).
_ENGINE: Literal["streaming"] = "streaming"
#: Columns of silver/posts read for every match (the rest is read for the shown rows only); the
#: time a post was last seen bounds the reads of the shown rows' details (see :func:`_details`).
_MATCH_COLUMNS = ["platform", "post_id", "account_id", "created_at", "last_seen_at"]
_UTC = dt.UTC


@dataclass(frozen=True)
class PostQuery:
    """What the viewer asked for: filters, sort and page.

    Attributes:
        text: Words to find in the post's text or title (case-insensitive, literal: ``.`` or
            ``*`` are plain characters); empty finds every post.
        hashtag: A hashtag, with or without ``#``, any case; empty means any.
        topic: A health topic of the taxonomy; empty or :data:`ALL` means any.
        agency: An agency code, :data:`UNASSIGNED_AGENCY`, or :data:`ALL`.
        platform: A platform slug or :data:`ALL`.
        since: First publication day (UTC, inclusive).
        until: Last publication day (UTC, inclusive).
        min_engagement: Keep posts with at least this latest engagement (0 keeps posts
            never observed too).
        include_deleted: Keep posts found deleted.
        sort: A key of :data:`SORTS`.
        offset: Rows to skip (paging).
    """

    text: str = ""
    hashtag: str = ""
    topic: str = ""
    agency: str = ALL
    platform: str = ALL
    since: dt.date | None = None
    until: dt.date | None = None
    min_engagement: int = 0
    include_deleted: bool = True
    sort: str = DEFAULT_SORT
    offset: int = 0


@dataclass(frozen=True)
class Sources:
    """The tables a search reads: lazy scans (or frames) with at least the listed columns."""

    posts: pl.LazyFrame  #: silver/posts, :data:`POST_COLUMNS` and last_seen_at
    features: pl.LazyFrame  #: silver/post_features, :data:`FEATURE_COLUMNS`
    metrics: pl.LazyFrame  #: silver/post_metrics, :data:`METRIC_COLUMNS`
    curves: pl.LazyFrame  #: gold/post_curves, :data:`CURVE_COLUMNS`
    accounts: pl.DataFrame  #: silver/accounts, :data:`ACCOUNT_COLUMNS` (small)
    #: gold/post_counters, :data:`METRIC_COLUMNS` and ``engagement`` (None: every post's latest
    #: counters are reduced from ``metrics``)
    counters: pl.LazyFrame | None = None


@dataclass(frozen=True)
class SearchResult:
    """One page of matching posts and how many match in all."""

    rows: pl.DataFrame
    total: int
    offset: int = 0
    sort: str = DEFAULT_SORT

    @property
    def first(self) -> int:
        """1-based position of the page's first row (0 when there is none)."""
        return self.offset + 1 if self.rows.height else 0

    @property
    def last(self) -> int:
        """1-based position of the page's last row (0 when there is none)."""
        return self.offset + self.rows.height


def empty_rows() -> pl.DataFrame:
    """A search result without rows: :data:`RESULT_COLUMNS` with their types."""
    posts = table_spec("silver/posts").schema
    types = {
        **{c: posts[c] for c in POST_COLUMNS},
        "handle": pl.String(),
        "agency": pl.String(),
        "hashtags": pl.List(pl.String()),
        "topics": pl.List(pl.String()),
        **{c: pl.Int64() for c in (*COUNTERS, "engagement", "curve_age_hours")},
        "overperformance": pl.Float64(),
    }
    return pl.DataFrame(schema={c: types[c] for c in RESULT_COLUMNS})


def normalise_hashtag(tag: str) -> str:
    """A hashtag as silver/post_features stores it: lowercase, no ``#``, no spaces around."""
    return tag.strip().lstrip("#").strip().lower()


def is_web_url(url: pl.Expr) -> pl.Expr:
    """True for ``http://`` and ``https://`` URLs (the only ones offered as links)."""
    lower = url.str.strip_chars().str.to_lowercase()
    return (lower.str.starts_with("https://") | lower.str.starts_with("http://")).fill_null(False)


def post_filter(query: PostQuery) -> pl.Expr:
    """The conditions on silver/posts' own columns (pushed into the scan).

    Args:
        query: The viewer's filters.

    Returns:
        One boolean expression: platform (the partition column), publication window, text or
        title containing ``query.text`` case-insensitively and literally, and deletion state.
    """
    conditions = _post_conditions(query)
    needle = query.text.strip()
    if needle:
        conditions.append(_text_match(needle))
    return pl.all_horizontal(conditions)


def _post_conditions(query: PostQuery) -> list[pl.Expr]:
    """:func:`post_filter`'s conditions but the text's."""
    conditions: list[pl.Expr] = [pl.lit(True)]
    if query.platform not in ("", ALL):
        conditions.append(pl.col("platform") == query.platform)
    if query.since is not None:
        start = dt.datetime.combine(query.since, dt.time(), tzinfo=_UTC)
        conditions.append(pl.col("created_at") >= pl.lit(start, dtype=pl.Datetime("us", "UTC")))
    if query.until is not None:
        end = dt.datetime.combine(query.until + dt.timedelta(days=1), dt.time(), tzinfo=_UTC)
        conditions.append(pl.col("created_at") < pl.lit(end, dtype=pl.Datetime("us", "UTC")))
    if not query.include_deleted:
        conditions.append(~pl.col("is_deleted"))
    return conditions


def _text_match(needle: str) -> pl.Expr:
    """Text or title containing ``needle``, case-insensitively (Unicode simple case folding)
    and literally."""
    # A case-insensitive pattern of the escaped text: a third of the time of lowercasing every
    # text first (72 against 164 ms over the large benchmark lake's 2.2 M posts).
    pattern = "(?i)" + re.escape(needle)
    return pl.any_horizontal(
        pl.col(c).str.contains(pattern).fill_null(False) for c in ("text", "title")
    )


def account_filter(
    accounts: pl.DataFrame, agency: str, allowed: frozenset[str] | None
) -> pl.DataFrame:
    """Accounts of one agency (or all), within the agencies the viewer may see.

    Args:
        accounts: silver/accounts rows (``platform``, ``account_id``, ``handle``, ``agency``).
        agency: An agency code, :data:`UNASSIGNED_AGENCY` (no agency) or :data:`ALL`.
        allowed: Agencies the viewer may see; ``None`` means every one (and accounts without).

    Returns:
        The kept accounts, one row per ``platform`` and ``account_id``.
    """
    kept = accounts.select(ACCOUNT_COLUMNS).unique(subset=["platform", "account_id"], keep="last")
    conditions = _agency_conditions(agency, allowed)
    return kept.filter(pl.all_horizontal(conditions)) if conditions else kept


def _agency_conditions(agency: str, allowed: frozenset[str] | None) -> list[pl.Expr]:
    """The conditions on an ``agency`` column of :func:`account_filter` (none: keep all)."""
    conditions: list[pl.Expr] = []
    if allowed is not None:
        conditions.append(pl.col("agency").is_in(sorted(allowed)))
    if agency == UNASSIGNED_AGENCY:
        conditions.append(pl.col("agency").is_null())
    elif agency not in ("", ALL):
        conditions.append(pl.col("agency") == agency)
    return conditions


def latest_counters(metrics: pl.LazyFrame) -> pl.LazyFrame:
    """Each post's latest counters (its row with the largest ``observed_at``) and engagement.

    Args:
        metrics: silver/post_metrics rows (run-length encoded: a row per change).

    Returns:
        One row per ``platform`` and ``post_id``: the counters of :data:`COUNTERS` and
        ``engagement``.
    """
    return gold_latest_counters(metrics, COUNTERS)


def latest_overperformance(curves: pl.LazyFrame) -> pl.LazyFrame:
    """Each post's overperformance at the oldest curve age it has reached.

    Args:
        curves: gold/post_curves rows.

    Returns:
        One row per ``platform`` and ``post_id``: ``overperformance`` (null without a baseline)
        and ``curve_age_hours`` (the age it stands for).
    """
    return curves.group_by(_KEYS).agg(
        pl.col("overperformance").sort_by("age_hours").last(),
        pl.col("age_hours").max().alias("curve_age_hours"),
    )


def _tag_conditions(query: PostQuery) -> list[pl.Expr]:
    """The hashtag and topic conditions on silver/post_features' columns (none: any)."""
    conditions: list[pl.Expr] = []
    tag = normalise_hashtag(query.hashtag)
    if tag:
        conditions.append(pl.col("hashtags").list.contains(tag))
    if query.topic not in ("", ALL):
        conditions.append(pl.col("topics").list.contains(query.topic))
    return conditions


def _tag_filter(features: pl.LazyFrame, query: PostQuery) -> pl.LazyFrame | None:
    conditions = _tag_conditions(query)
    if not conditions:
        return None
    if query.platform not in ("", ALL):
        conditions.append(pl.col("platform") == query.platform)
    return features.filter(pl.all_horizontal(conditions).fill_null(False)).select(_KEYS)


def matching(
    sources: Sources, query: PostQuery, allowed: frozenset[str] | None = None
) -> pl.LazyFrame:
    """The plan of every post matching ``query``: posts' columns plus whatever the sort needs.

    Nothing is read until the plan is collected. Filters on the posts' own columns go into the
    posts scan; hashtag and topic filters become a semi-join on the features; the agency filter
    and the viewer's restriction a semi-join on the (small) accounts frame; latest counters and
    overperformance are joined only when the engagement filter or the sort needs them.

    Args:
        sources: The tables.
        query: The viewer's filters and sort.
        allowed: Agencies the viewer may see (``None``: every one).

    Returns:
        A lazy frame of ``platform``, ``post_id``, ``account_id`` and ``created_at`` (and the
        sort's column), unsorted. The posts' other columns (text, URL,
        ...) are read later, for the page's rows only.
    """
    posts = sources.posts.filter(post_filter(query)).select(_MATCH_COLUMNS)
    tags = _tag_filter(sources.features, query)
    if tags is not None:
        posts = posts.join(tags, on=_KEYS, how="semi")
    if allowed is not None or query.agency not in ("", ALL):
        # A semi-join keeps the rows of the kept accounts; handles and agencies are joined to
        # the shown page only, so the sort runs on the posts' own columns.
        accounts = account_filter(sources.accounts, query.agency, allowed)
        posts = posts.join(
            accounts.lazy().select("platform", "account_id"),
            on=["platform", "account_id"],
            how="semi",
        )
    column, _ = SORTS.get(query.sort, SORTS[DEFAULT_SORT])
    if query.min_engagement > 0 or column in (*COUNTERS, "engagement"):
        counters = _posts_counters(sources, query, posts, _newest_counted(sources))
        posts = posts.join(counters, on=_KEYS, how="left")
        if query.min_engagement > 0:
            posts = posts.filter(pl.col("engagement") >= query.min_engagement)
    if column == "overperformance":
        over = latest_overperformance(
            sources.curves.join(posts.select(_KEYS), on=_KEYS, how="semi")
        )
        posts = posts.join(over, on=_KEYS, how="left")
    return posts


def _newest_counted(sources: Sources) -> dt.datetime | None:
    """The newest observation ``gold/post_counters`` holds (None: no table, or no rows)."""
    if sources.counters is None:
        return None
    newest: dt.datetime | None = (
        sources.counters.select(pl.col("last_observed_at").max()).collect().item()
    )
    return newest


def _posts_counters(
    sources: Sources, query: PostQuery, posts: pl.LazyFrame, newest: dt.datetime | None
) -> pl.LazyFrame:
    """The latest counters and engagement of ``posts`` (of the query's platform), and maybe of
    other posts.

    From ``gold/post_counters`` where the sources have it: its rows, except the posts observed
    since (``silver/post_metrics`` runs that end after its newest), whose latest counters are
    reduced from those runs: a post's newest run is among them when it has any. The rows are
    those of a reduction of every observation (:func:`latest_counters`), read from a table of a
    row per post instead. On the benchmark's large lake (2.2 M posts, 6.6 M runs), a search
    with a minimum engagement took 1.3-1.6 s instead of 4.2-6.5 s ("Most likes": 3.1-3.9 s
    instead of 5.9-7.9 s, 2.3-2.8 s with :func:`_top_by_counter`).
    Without the table (a lake whose gold was built before it), every run is reduced.
    ``newest``: :func:`_newest_counted`.
    """
    on_platform = (
        pl.col("platform") == query.platform if query.platform not in ("", ALL) else pl.lit(True)
    )
    metrics = sources.metrics.filter(on_platform)
    if sources.counters is None or newest is None:
        return latest_counters(metrics.join(posts.select(_KEYS), on=_KEYS, how="semi"))
    stored = sources.counters.filter(on_platform).select(*_KEYS, *COUNTERS, "engagement")
    # (the runs since are few: reduced whole, the matching posts are not searched twice)
    since = latest_counters(metrics.filter(pl.col("last_observed_at") > newest))
    return pl.concat([stored.join(since.select(_KEYS), on=_KEYS, how="anti"), since])


#: A page sorted by a counter is first looked for among this many times its rows' worth of the
#: posts with the largest counters (see :func:`_top_by_counter`).
TOP_CANDIDATES = 4


def _top_by_counter(
    sources: Sources,
    query: PostQuery,
    posts: pl.LazyFrame,
    offset: int,
    limit: int | None,
) -> pl.DataFrame | None:
    """The page of a sort by a counter found among the posts with the largest counters, or None
    when that cannot tell it (then every matching post is joined with its counters and sorted).

    The candidates are every post whose counter is at least the ``TOP_CANDIDATES`` x (offset +
    limit)-th largest (ties included). When at least offset + limit of them match the query,
    the page is theirs: every other matching post has a smaller counter, or none, and sorts
    after them. Only for queries without words, hashtag or topic, which keep few posts and cost
    a search of their own; and only from ``gold/post_counters``. ``posts``: the query's matches
    (:func:`matching` of :func:`_unsorted`).
    """
    column, _ = SORTS.get(query.sort, SORTS[DEFAULT_SORT])
    if (
        limit is None
        or sources.counters is None
        or column not in (*COUNTERS, "engagement")
        or query.min_engagement > 0
        or query.text.strip()
        or normalise_hashtag(query.hashtag)
        or query.topic not in ("", ALL)
    ):
        return None
    counters = _posts_counters(sources, query, posts, _newest_counted(sources))
    want = TOP_CANDIDATES * (offset + limit)
    least = (
        counters.select(pl.col(column).drop_nulls().top_k(want).min())
        .collect(engine=_ENGINE)
        .item()
    )
    if least is None:
        return None
    found = posts.join(counters.filter(pl.col(column) >= least), on=_KEYS).collect(engine=_ENGINE)
    if found.height < offset + limit:
        return None
    columns, descending = sort_keys(query.sort)
    return found.sort(columns, descending=descending, nulls_last=True).slice(offset, limit)


def _unsorted(query: PostQuery) -> PostQuery:
    """``query`` in the order that joins nothing to the posts (the same matches)."""
    return dataclasses.replace(query, sort=DEFAULT_SORT)


def sort_keys(sort: str) -> tuple[list[str], list[bool]]:
    """Columns and directions of a sort choice, with the tie-breaks every sort shares.

    Args:
        sort: A key of :data:`SORTS`.

    Returns:
        ``(columns, descending)`` for ``DataFrame.sort`` (nulls last).
    """
    column, descending = SORTS.get(sort, SORTS[DEFAULT_SORT])
    columns = [column, "created_at", "platform", "post_id"]
    order = [descending, True, False, False]
    if column == "created_at":
        columns, order = columns[:1] + columns[2:], order[:1] + order[2:]
    return columns, order


def _details(rows: pl.DataFrame, sources: Sources) -> pl.DataFrame:
    """Add the posts' content, features, latest counters and overperformance (read by key).

    A post's rows are found by key, which no file's statistics narrow down, so each read is also
    bounded by a clustered column (the tables' files each hold a range of it): the shown rows' own
    times, not their range, so that a page of posts from all over the history (sorted by likes)
    reads only the files holding those times. On the large benchmark lake:

    - ``silver/posts`` (clustered by ``last_seen_at``): the shown rows' ``last_seen_at``, read by
      the search from the same version of the table, so the bound is exact: 1.3 s -> 60 ms for a
      page of the newest posts, 0.5 -> 0.2 s for a page of the most liked;
    - ``silver/post_features`` (by ``source_last_seen_at``, the post's ``last_seen_at`` when it
      was enriched, which the pipeline does whenever a post is seen): the shown rows'
      ``last_seen_at``; ``silver/post_metrics`` (by ``last_observed_at``) from their publication
      on: 0.7 s -> 15-60 ms each. A post's counters are observed after it was published, and its
      latest run of counters ends last. Features or counters that the bounded read does not
      find (enriched at an earlier sighting, written some other way, or none) are then looked
      for by key alone, so the rows are those of a read by key whatever the times say;
    - ``gold/post_curves`` (by ``created_at``): the shown posts' publication times (71 -> 14 ms;
      0.44 -> 0.2 s for the most liked).

    The details of a page took 0.4-0.7 s instead of 1.5-1.9 s. A page sorted or filtered by
    counters has its rows' latest counters already (:func:`matching`), and reads no metrics.
    """
    if rows.is_empty():  # nothing to read (and no times to bound the reads by)
        return empty_rows()
    keys = rows.select(_KEYS).unique()
    by_key = pl.col("platform").is_in(keys["platform"].unique().to_list()) & pl.col(
        "post_id"
    ).is_in(keys["post_id"].to_list())
    seen = rows["last_seen_at"].unique().to_list()
    last_seen = pl.col("last_seen_at").is_in(seen)
    content = sources.posts.filter(by_key & last_seen).select(
        *_KEYS, *[c for c in POST_COLUMNS if c not in _MATCH_COLUMNS]
    )
    published = rows["created_at"].min()
    bounds = {
        "metrics": pl.col("last_observed_at") >= published,
        # enriched at the post's last sighting (the pipeline enriches a post whenever it is seen)
        "features": (
            pl.col("source_last_seen_at").is_in(seen)
            if "source_last_seen_at" in sources.features.collect_schema()
            else pl.lit(True)
        ),
    }
    plans = {
        "features": lambda where: sources.features.filter(where).select(FEATURE_COLUMNS),
        "metrics": lambda where: sources.metrics.filter(where).select(METRIC_COLUMNS),
    }
    times = pl.col("created_at").is_in(rows["created_at"].unique().to_list())
    over = latest_overperformance(sources.curves.filter(by_key & times).select(CURVE_COLUMNS))
    # A page sorted or filtered by counters has its rows' latest counters already.
    counted = all(c in rows.columns for c in (*COUNTERS, "engagement"))
    if counted:
        del plans["metrics"]
    content_df, over_df, *read = pl.collect_all(
        [content, over, *[plan(by_key & bounds[name]) for name, plan in plans.items()]],
        engine=_ENGINE,
    )
    found = dict(zip(plans, read, strict=True))
    missing = {
        name: keys.join(frame.select(_KEYS).unique(), on=_KEYS, how="anti")
        for name, frame in found.items()
    }
    rest = {name: left for name, left in missing.items() if not left.is_empty()}
    if rest:  # what the bounded reads did not find, by key alone
        again = pl.collect_all(
            [
                plans[name](
                    pl.col("platform").is_in(left["platform"].unique().to_list())
                    & pl.col("post_id").is_in(left["post_id"].to_list())
                ).join(left.lazy(), on=_KEYS, how="semi")
                for name, left in rest.items()
            ],
            engine=_ENGINE,
        )
        for name, frame in zip(rest, again, strict=True):
            found[name] = pl.concat([found[name], frame])
    features_df = found["features"]
    counters_df = (
        rows.select(*_KEYS, *COUNTERS, "engagement").unique(subset=_KEYS)
        if counted
        else latest_counters(found["metrics"].lazy()).collect()
    )
    accounts = sources.accounts.select(ACCOUNT_COLUMNS).unique(
        subset=["platform", "account_id"], keep="last"
    )
    base = rows.select("platform", "post_id", "account_id", "created_at")
    out = (
        base.join(accounts, on=["platform", "account_id"], how="left")
        .join(content_df.unique(subset=_KEYS, keep="last"), on=_KEYS, how="left")
        .join(features_df.unique(subset=_KEYS, keep="last"), on=_KEYS, how="left")
        .join(counters_df, on=_KEYS, how="left")
        .join(over_df, on=_KEYS, how="left")
    )
    return out.with_columns(
        pl.col("hashtags").fill_null([]),
        pl.col("topics").fill_null([]),
    ).select(RESULT_COLUMNS)


def search_posts(
    sources: Sources,
    query: PostQuery,
    *,
    allowed: frozenset[str] | None = None,
    limit: int | None = PAGE_SIZE,
) -> SearchResult:
    """One page of the posts matching ``query``, in the query's order, and the total count.

    Args:
        sources: The tables.
        query: Filters, sort and offset.
        allowed: Agencies the viewer may see (``None``: every one).
        limit: Rows of the page; ``None`` returns every match from the offset on.

    Returns:
        Rows of :data:`RESULT_COLUMNS`: ``created_at``, the account's ``agency`` and ``handle``,
        the post's fields, its hashtags and topics (silver/post_features), its latest counters
        and engagement (silver/post_metrics), and its overperformance at the oldest curve age
        (gold/post_curves); sorted by :func:`sort_keys`.
    """
    offset = max(query.offset, 0)
    unsorted = matching(sources, _unsorted(query), allowed)
    top = _top_by_counter(sources, query, unsorted, offset, limit)
    if top is not None:
        total_df, page_df = unsorted.select(pl.len()).collect(engine=_ENGINE), top
    else:
        plan = matching(sources, query, allowed)
        columns, descending = sort_keys(query.sort)
        page = plan.sort(columns, descending=descending, nulls_last=True).slice(offset, limit)
        # The sort's column is left-joined: the count needs no counters unless a filter reads
        # them.
        counted = plan if query.min_engagement > 0 else unsorted
        total_df, page_df = pl.collect_all([counted.select(pl.len()), page], engine=_ENGINE)
    rows = _details(page_df, sources)
    # The page keeps its order: the details are left-joined onto it.
    return SearchResult(rows=rows, total=int(total_df.item()), offset=offset, sort=query.sort)


#: Columns of a search index (:func:`build_index`): a search result's, whether the post's
#: account is in silver/accounts (a post of an unknown account has no agency, and is not one of
#: the registry's "unassigned" accounts), and its text and title for an ASCII search
#: (:func:`_search_text`).
INDEX_COLUMNS: tuple[str, ...] = (*RESULT_COLUMNS, "account_known", "search_text")
#: Separates the text from the title in ``search_text``; no searched text contains it.
_TITLE_SEPARATOR = "\x00"
#: The only characters that case folding ties to ASCII letters and lowercasing does not (ſ is an
#: s), or that lowercasing turns into an ASCII letter and case folding does not (İ, lowercased
#: to i and a combining dot): written so that ``search_text`` matches an ASCII word exactly
#: where :func:`_text_match` does. (The Kelvin sign both fold and lowercase to k.)
_ASCII_FOLDS = {"\u017f": "s", "\u0130": "\ufffd"}


def _search_text() -> pl.Expr:
    """The text and title, lowercased, as an ASCII search reads them (see :func:`index_filter`).

    Over 2.2 M posts, a literal search of a lowercase word in it took 60 ms, where the
    case-insensitive pattern over the text and the title took 170-220 ms.
    """
    body = pl.concat_str(
        pl.col("text").fill_null(""), pl.col("title").fill_null(""), separator=_TITLE_SEPARATOR
    )
    return (
        body.str.replace_many(list(_ASCII_FOLDS), list(_ASCII_FOLDS.values()))
        .str.to_lowercase()
        .alias("search_text")
    )


def build_index(sources: Sources) -> pl.DataFrame:
    """Every post's searchable and shown columns, in one frame held in memory.

    A search over the lake (:func:`search_posts`) scans silver/posts, joins the features, the
    counters and the curves by key, then reads the shown page's details by key: 0.1-0.45 s a
    search on the large benchmark lake (2.2 M posts), 0.8-0.9 s for a page of the most liked
    posts, whose rows lie all over the history. Over this frame the same search is filters, a
    count and a sort in memory (:func:`search_index`): 16-117 ms. It holds about 330 bytes a
    post (725 MB for 2.2 M posts, most of it the texts and URLs); making it there took 3.1-3.9 s,
    a platform at a time, and 1.4 GB more memory at the peak (2.1 GB all at once).

    Args:
        sources: The tables (lazy scans or frames), read once.

    Returns:
        One row per post of ``sources.posts``: :data:`INDEX_COLUMNS`, with the rows a search
        would show (hashtags and topics, latest counters and engagement, overperformance at the
        oldest curve age, the account's handle and agency).
    """
    platforms = sources.posts.select(pl.col("platform").unique()).collect()["platform"]
    accounts = account_filter(sources.accounts, ALL, None).with_columns(account_known=pl.lit(True))
    # a platform at a time: the peak memory is the index and one platform's reads
    newest = _newest_counted(sources)
    parts = [_index_part(sources, str(p), accounts, newest) for p in platforms.sort()]
    index = (
        pl.concat(parts)
        if parts
        else empty_rows().with_columns(account_known=pl.lit(False), search_text=pl.lit(""))
    )
    # the types a search over the lake gives (a join of empty frames can leave nulls untyped)
    return index.cast(dict(empty_rows().schema))  # type: ignore[arg-type]


def _index_part(
    sources: Sources, platform: str, accounts: pl.DataFrame, newest: dt.datetime | None
) -> pl.DataFrame:
    """The search index's rows of one platform (see :func:`build_index`)."""
    query = PostQuery(platform=platform)
    on_platform = pl.col("platform") == platform
    posts = sources.posts.filter(on_platform).select(POST_COLUMNS)
    # deduplicated in memory, only when needed: the streaming engine's unique took 4 s of 6
    features = sources.features.filter(on_platform).select(FEATURE_COLUMNS).collect()
    if features.select(pl.struct(_KEYS).n_unique()).item() < features.height:
        features = features.unique(subset=_KEYS, keep="last", maintain_order=True)
    counters = _posts_counters(sources, query, posts, newest)
    curves = sources.curves.filter(on_platform).select(*_KEYS, "age_hours", "overperformance")
    return (
        posts.join(features.lazy(), on=_KEYS, how="left")
        .join(counters, on=_KEYS, how="left")
        .join(latest_overperformance(curves), on=_KEYS, how="left")
        .join(accounts.lazy(), on=["platform", "account_id"], how="left")
        .with_columns(
            pl.col("hashtags").fill_null([]),
            pl.col("topics").fill_null([]),
            pl.col("account_known").fill_null(False),
            _search_text(),
        )
        .select(INDEX_COLUMNS)
        .collect(engine=_ENGINE)
    )


def index_filter(query: PostQuery, allowed: frozenset[str] | None = None) -> pl.Expr:
    """The conditions of ``query`` over a search index's columns (:func:`build_index`).

    They keep the posts :func:`matching` keeps: :func:`post_filter`, then hashtag and topic (a
    post without features has neither), agency and the viewer's restriction (a post whose
    account is not in silver/accounts has no agency: kept only when no agency is asked for and
    the viewer is not restricted), and the minimum engagement (a post never observed has none).
    Words in ASCII are looked for in ``search_text``, lowercased, which finds the posts that
    :func:`post_filter`'s case-insensitive pattern finds, in a third of its time; other words
    with that pattern.
    """
    conditions = _post_conditions(query)
    needle = query.text.strip()
    if needle and needle.isascii() and _TITLE_SEPARATOR not in needle:
        conditions.append(pl.col("search_text").str.contains(needle.lower(), literal=True))
    elif needle:
        conditions.append(_text_match(needle))
    conditions += _tag_conditions(query)
    agency = _agency_conditions(query.agency, allowed)
    if agency:  # those of account_filter, kept by a post of an account silver/accounts has
        conditions += [*agency, pl.col("account_known")]
    if query.min_engagement > 0:
        conditions.append(pl.col("engagement") >= query.min_engagement)
    return pl.all_horizontal(c.fill_null(False) for c in conditions)


def search_index(
    index: pl.DataFrame,
    query: PostQuery,
    *,
    allowed: frozenset[str] | None = None,
    limit: int | None = PAGE_SIZE,
) -> SearchResult:
    """:func:`search_posts` over a search index (:func:`build_index`): the same rows and total.

    Args:
        index: The frame of :func:`build_index`.
        query: Filters, sort and offset.
        allowed: Agencies the viewer may see (``None``: every one).
        limit: Rows of the page; ``None`` returns every match from the offset on.

    Returns:
        The page (rows of :data:`RESULT_COLUMNS`, sorted by :func:`sort_keys`) and the total.
    """
    offset = max(query.offset, 0)
    found = index.lazy().filter(index_filter(query, allowed))
    columns, descending = sort_keys(query.sort)
    page = found.sort(columns, descending=descending, nulls_last=True).slice(offset, limit)
    total, rows = pl.collect_all([found.select(pl.len()), page.select(RESULT_COLUMNS)])
    return SearchResult(rows=rows, total=int(total.item()), offset=offset, sort=query.sort)


def display_rows(rows: pl.DataFrame, chars: int = TEXT_CHARS) -> pl.DataFrame:
    """Search rows as the result table shows them.

    Args:
        rows: Rows of :data:`RESULT_COLUMNS`.
        chars: Characters of text kept; longer texts end with ``…``.

    Returns:
        ``created`` (``YYYY-MM-DD HH:MM`` UTC), the text (title when there is no text)
        truncated, hashtags and topics joined with ``", "``, ``link`` (the URL, only when it is
        http or https), ``link_label`` (``"open"`` for those), ``other_link`` (a URL that is not
        http(s), shown as text), ``deleted`` (``"deleted"`` or empty), ``post_id``, a ``key``
        (``platform:post_id``) and the counters.
    """
    body = pl.coalesce(pl.col("text"), pl.col("title"), pl.lit(""))
    text = (
        pl.when(body.str.len_chars() > chars)
        .then(body.str.slice(0, chars - 1) + pl.lit("…"))
        .otherwise(body)
    )
    web = is_web_url(pl.col("url"))
    return rows.select(
        pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M").alias("created"),
        pl.col("agency").fill_null(UNASSIGNED_AGENCY),
        "platform",
        "handle",
        "post_type",
        text.alias("text"),
        pl.col("hashtags").list.join(", "),
        pl.col("topics").list.join(", "),
        *COUNTERS,
        "engagement",
        "overperformance",
        pl.when(web).then(pl.col("url").str.strip_chars()).alias("link"),
        pl.when(web).then(pl.lit("open")).alias("link_label"),
        pl.when(~web).then(pl.col("url")).alias("other_link"),
        pl.when(pl.col("is_deleted"))
        .then(pl.lit("deleted"))
        .otherwise(pl.lit(""))
        .alias("deleted"),
        "post_id",
        pl.concat_str("platform", pl.lit(":"), "post_id").alias("key"),
    )


def export_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Search rows as exports write them: whole text, lists joined with ``", "`` (CSV-safe).

    Args:
        rows: Rows of :data:`RESULT_COLUMNS`.

    Returns:
        The same rows and columns, ``hashtags`` and ``topics`` as strings.
    """
    return rows.with_columns(pl.col("hashtags").list.join(", "), pl.col("topics").list.join(", "))


def curve_points(created_at: dt.datetime, observations: pl.DataFrame) -> pl.DataFrame:
    """A post's engagement by hours since publication, from its silver/post_metrics rows.

    A row of silver/post_metrics holds counters that stood from ``observed_at`` to
    ``last_observed_at``; both instants are points of the curve (once when they coincide), so
    the curve steps exactly where the counters changed.

    Args:
        created_at: When the post was published (UTC).
        observations: The post's silver/post_metrics rows.

    Returns:
        Columns ``observed_at``, ``hours`` (since publication, float), the counters of
        :data:`COUNTERS` and ``engagement``; one row per instant, oldest first.
    """
    cols = ["observed_at", *COUNTERS]
    starts = observations.select(cols)
    ends = observations.filter(pl.col("last_observed_at") > pl.col("observed_at")).select(
        pl.col("last_observed_at").alias("observed_at"), *COUNTERS
    )
    points = (
        pl.concat([starts, ends]).unique(subset=["observed_at"], keep="first").sort("observed_at")
    )
    created = pl.lit(created_at, dtype=pl.Datetime("us", "UTC"))
    return points.select(
        "observed_at",
        ((pl.col("observed_at") - created).dt.total_microseconds() / 3_600_000_000).alias("hours"),
        *COUNTERS,
        engagement_expr().alias("engagement"),
    )


def baseline_points(curves: pl.DataFrame) -> pl.DataFrame:
    """A post's gold/post_curves rows as chart points: engagement and baseline at fixed ages.

    Args:
        curves: The post's gold/post_curves rows.

    Returns:
        Columns ``hours`` (the age, float), ``engagement``, ``baseline`` and
        ``overperformance``, by age.
    """
    return curves.sort("age_hours").select(
        pl.col("age_hours").cast(pl.Float64).alias("hours"),
        "engagement",
        "baseline",
        "overperformance",
    )


def page_summary(result: SearchResult) -> str:
    """``"Showing 1–50 of 1,234 posts"`` (or ``"No posts match"``)."""
    if result.total == 0:
        return "No posts match these filters."
    noun = "post" if result.total == 1 else "posts"
    if not result.rows.height:
        return f"No posts on this page; {result.total:,} {noun} match."
    return f"Showing {result.first:,}–{result.last:,} of {result.total:,} {noun}"


__all__ = [
    "ACCOUNT_COLUMNS",
    "ALL",
    "COUNTERS",
    "CURVE_COLUMNS",
    "DEFAULT_SORT",
    "ENGAGEMENT_PARTS",
    "EXPORT_LIMIT",
    "FEATURE_COLUMNS",
    "INDEX_COLUMNS",
    "METRIC_COLUMNS",
    "PAGE_SIZE",
    "POST_COLUMNS",
    "RESULT_COLUMNS",
    "SORTS",
    "TEXT_CHARS",
    "UNASSIGNED_AGENCY",
    "PostQuery",
    "SearchResult",
    "Sources",
    "account_filter",
    "baseline_points",
    "build_index",
    "curve_points",
    "display_rows",
    "empty_rows",
    "engagement_expr",
    "export_rows",
    "index_filter",
    "is_web_url",
    "latest_counters",
    "latest_overperformance",
    "matching",
    "normalise_hashtag",
    "page_summary",
    "post_filter",
    "search_index",
    "search_posts",
    "sort_keys",
]
