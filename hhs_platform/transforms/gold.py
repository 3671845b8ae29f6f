"""Silver → gold: daily figures per account (followers, posts published, engagement)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import polars as pl
from deltalake.exceptions import DeltaError

from hhs_platform.lake.store import AtLeast, Lake, Where, WriteResult
from hhs_platform.transforms.counters import POST_COUNTERS, latest_counters
from hhs_platform.transforms.curves import (
    BASELINE_GROUP,
    curve_points,
    last_posts,
    post_curves,
    with_baselines,
)
from hhs_platform.transforms.rollups import build_rollups
from hhs_platform.transforms.trends import build_trends
from schemas import table_spec

log = logging.getLogger(__name__)

_METRICS = ["likes", "reposts", "replies", "quotes", "views"]


def daily_account_metrics(
    accounts: pl.DataFrame,
    snapshots: pl.DataFrame,
    posts: pl.DataFrame,
    metrics: pl.DataFrame,
) -> pl.DataFrame:
    """Compute ``gold/daily_account_metrics`` from silver frames.

    * followers / following / posts_count: the values in force at the day's last observation;
      days inside a run of equal observations carry its values; days outside every run have none
      (gaps stay visible, nothing is carried forward past the last observation).
    * posts_published and engagement: posts (not reposts) created that day, with each post's
      latest counters ("lifetime of posts published in the period").
    * engagement_rate: engagement ÷ followers at the nearest observation of the account.
    """
    spec = table_spec("gold/daily_account_metrics")
    daily_snap = _daily_snapshots(snapshots)
    latest = (
        metrics.sort("observed_at")
        .group_by(["platform", "post_id"])
        .agg(pl.col(m).last() for m in _METRICS)
    )
    published = (
        posts.filter(pl.col("post_type") != "repost")
        .join(latest, on=["platform", "post_id"], how="left")
        .with_columns(date=pl.col("created_at").dt.date())
        .group_by(["platform", "account_id", "date"])
        .agg(
            pl.len().cast(pl.Int64).alias("posts_published"),
            *[pl.col(m).fill_null(0).sum().cast(pl.Int64) for m in _METRICS[:4]],
            pl.when(pl.col("views").is_not_null().any())
            .then(pl.col("views").sum())
            .otherwise(None)
            .cast(pl.Int64)
            .alias("views"),
        )
    )
    keys = ["platform", "account_id", "date"]
    activity = _daily_activity(posts, metrics)
    days = pl.concat(
        [daily_snap.select(keys), published.select(keys), activity.select(keys)]
    ).unique()
    if days.is_empty():
        return spec.empty()
    info = accounts.select("platform", "account_id", "handle", "agency", "parent_agency").unique(
        ["platform", "account_id"]
    )
    out = (
        days.join(daily_snap, on=keys, how="left")
        .join(published, on=keys, how="left")
        .join(activity, on=keys, how="left")
        .join(info, on=["platform", "account_id"], how="left")
        .sort(keys)
        .with_columns(
            pl.col("posts_published").fill_null(0),
            pl.col("engagement_activity").fill_null(0),
            *[pl.col(m).fill_null(0) for m in _METRICS[:4]],
        )
        .with_columns(
            engagement=pl.col("likes") + pl.col("reposts") + pl.col("replies") + pl.col("quotes"),
            followers_change=pl.col("followers")
            - pl.col("followers").forward_fill().shift(1).over(["platform", "account_id"]),
            _followers_near=pl.col("followers")
            .forward_fill()
            .backward_fill()
            .over(["platform", "account_id"]),
        )
        .with_columns(
            engagement_rate=pl.when(pl.col("_followers_near") > 0)
            .then(pl.col("engagement") / pl.col("_followers_near"))
            .otherwise(None)
        )
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def _daily_activity(posts: pl.DataFrame, metrics: pl.DataFrame) -> pl.DataFrame:
    """Interactions gained per account and day by all its posts (activity in the period).

    Each post's engagement in force at the end of every day its observation runs touch, then
    day-over-day differences. A post's first observed day counts in full when it was published
    that day or the day before (its engagement all came after publication, within the period);
    otherwise that day only sets the baseline, since when the earlier interactions came is unknown.
    Days between observations are not filled: a gain shows on the day it was observed.
    """
    out_schema = {
        "platform": pl.Utf8,
        "account_id": pl.Utf8,
        "date": pl.Date,
        "engagement_activity": pl.Int64,
    }
    if metrics.is_empty() or posts.is_empty():
        return pl.DataFrame(schema=out_schema)
    last = (
        pl.col("last_observed_at")
        if "last_observed_at" in metrics.columns
        else pl.col("observed_at")
    )
    runs = metrics.select(
        "platform",
        "post_id",
        "observed_at",
        pl.sum_horizontal(
            *[pl.col(m).fill_null(0) for m in ("likes", "reposts", "replies", "quotes")]
        ).alias("value"),
        pl.date_ranges(pl.col("observed_at").dt.date(), last.dt.date()).alias("date"),
    ).explode("date")
    per_day = (
        runs.sort("observed_at")
        .group_by("platform", "post_id", "date")
        .agg(pl.col("value").last())
        .join(
            posts.select("platform", "post_id", "account_id", "created_at"),
            on=["platform", "post_id"],
        )
        .sort("date")
    )
    fresh = (pl.col("date") - pl.col("created_at").dt.date()).dt.total_days() <= 1
    gained = per_day.with_columns(
        gain=pl.when(pl.col("value").shift(1).over("platform", "post_id").is_not_null())
        .then(pl.col("value") - pl.col("value").shift(1).over("platform", "post_id"))
        .when(fresh)
        .then(pl.col("value"))
        .otherwise(0)
    )
    return (
        gained.group_by("platform", "account_id", "date")
        .agg(pl.col("gain").sum().cast(pl.Int64).alias("engagement_activity"))
        .select(list(out_schema))
    )


def _daily_snapshots(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Per account and day with an observation: the figures in force at the day's last one."""
    cols = ["followers", "following", "posts_count"]
    if snapshots.is_empty():
        return pl.DataFrame(
            schema={"platform": pl.Utf8, "account_id": pl.Utf8, "date": pl.Date}
            | {c: pl.Int64 for c in cols}
        )
    # Each run covers [observed_at, last_observed_at]; expand it to the days it touches.
    runs = snapshots.select(
        "platform",
        "account_id",
        "observed_at",
        *cols,
        pl.date_ranges(pl.col("observed_at").dt.date(), pl.col("last_observed_at").dt.date()).alias(
            "date"
        ),
    ).explode("date")
    # Several runs may touch one day: the latest-starting one is in force at the day's end.
    return (
        runs.sort("observed_at")
        .group_by(["platform", "account_id", "date"])
        .agg(pl.col(c).last() for c in cols)
    )


def changed_accounts(lake: Lake, since: datetime) -> pl.DataFrame:
    """(platform, account_id) with silver rows written or refreshed after ``since``."""
    parts = [
        lake.scan("silver/accounts")
        .filter(pl.col("last_seen_at") > since)
        .select("platform", "account_id"),
        lake.scan("silver/account_snapshots")
        .filter(pl.col("last_observed_at") > since)
        .select("platform", "account_id"),
        lake.scan("silver/posts")
        .filter((pl.col("last_seen_at") > since) | (pl.col("deleted_at") > since))
        .select("platform", "account_id"),
        _of_posts(
            lake, lake.scan("silver/post_metrics").filter(pl.col("last_observed_at") > since)
        ).select("platform", "account_id"),
    ]
    return pl.concat([p.collect() for p in parts]).unique().sort("platform", "account_id")


def silver_watermark(lake: Lake, since: datetime | None = None) -> datetime | None:
    """The newest time any silver row was seen: what a gold build has taken into account.

    ``since``: a previous watermark; only rows seen after it are read (their times prune the
    older files), and the answer is never below it.
    """

    def newest(table: str, *columns: str) -> pl.LazyFrame:
        scan = lake.scan(table)
        if since is not None:
            scan = scan.filter(pl.any_horizontal(pl.col(c) > since for c in columns))
        return scan.select(pl.max_horizontal(pl.col(c).max() for c in columns))

    stamps = [
        newest("silver/accounts", "last_seen_at"),
        newest("silver/account_snapshots", "last_observed_at"),
        newest("silver/posts", "last_seen_at", "deleted_at"),
        newest("silver/post_metrics", "last_observed_at"),
    ]
    values = [v for p in pl.collect_all(stamps) if (v := p.item()) is not None]
    values += [since] if since is not None else []
    return max(values) if values else None


def build_gold(lake: Lake, *, full: bool = False) -> dict[str, WriteResult]:
    """Bring every gold table up to date with silver.

    Incremental by default: only the accounts whose silver rows changed since the last build
    (its watermark in ``gold/builds``) are recomputed, and their rows replaced in one commit per
    table for every platform (``Lake.replace_many``); the result equals a full rebuild.
    ``full=True`` (or no previous build) rebuilds all.
    """
    lake.create_missing(["gold/builds", *_SILVER])
    last, last_started, last_posts = _last_build(lake)
    posts_version = lake.version("silver/posts")  # before the watermark: see _scope_changes
    watermark = silver_watermark(lake, None if full else last)
    started = datetime.now(UTC)
    accounts = lake.read("silver/accounts")
    # the first day the rollups, trends and leaderboards must be recomputed from (None: all)
    since: date | None = None
    unchanged = False  # nothing they read changed: they stand
    if full or last is None or not _current(lake):
        scope = None
        daily, curves = _gold_whole(lake, accounts)
        result = lake.overwrite("gold/daily_account_metrics", daily)
        curve_result = lake.overwrite("gold/post_curves", curves)
        counters = latest_counters(lake.scan("silver/post_metrics")).collect()
        counters_result = lake.overwrite(POST_COUNTERS, counters)
    else:
        scope = changed_accounts(lake, last)
        changes = _scope_changes(lake, scope, accounts, last, last_posts)
        # every platform's rows in one commit per table (fewer when the filters grow long)
        daily_parts: list[tuple[pl.DataFrame, Where]] = []
        curve_parts: list[tuple[pl.DataFrame, Where]] = []
        whole_accounts = False
        tails: list[_Tail] = []
        for (platform,), _ids in scope.group_by(["platform"], maintain_order=True):
            whole, tail = _split_scope(str(platform), changes, last, watermark)
            whole_accounts |= not whole.is_empty()
            if tail is not None:
                tails.append(tail)
            if not whole.is_empty():
                daily, curves = _gold_for(lake, accounts, whole)
                where = {"platform": [str(platform)], "account_id": whole["account_id"].to_list()}
                daily_parts.append((daily, where))
                curve_parts.append((curves, where))
        if tails:
            for daily, curves, daily_where, curve_where in _gold_tails(lake, accounts, tails):
                daily_parts.append((daily, daily_where))
                curve_parts.append((curves, curve_where))
        result = lake.replace_many("gold/daily_account_metrics", daily_parts)
        curve_result = lake.replace_many("gold/post_curves", curve_parts)
        # A post's newest run is among its runs observed since the last build, if it has any
        # (runs of one post follow each other): those posts' latest counters are merged in.
        observed = lake.scan("silver/post_metrics").filter(pl.col("last_observed_at") > last)
        counters_result = lake.merge(POST_COUNTERS, latest_counters(observed).collect())
        enriched = _enriched_since(lake, last_started)
        if not whole_accounts:
            starts = [t.start for t in tails] + ([enriched] if enriched else [])
            since = min(starts, default=None)
            unchanged = since is None
    results = {
        "gold/daily_account_metrics": result,
        "gold/post_curves": curve_result,
        POST_COUNTERS: counters_result,
    }
    if not unchanged:
        results.update(build_rollups(lake, accounts, since))
        results.update(build_trends(lake, accounts, since))
    lake.append(
        "gold/builds",
        pl.DataFrame(
            [
                {
                    "built_at": started,
                    "watermark": watermark,
                    "full": scope is None,
                    "accounts": accounts.height if scope is None else scope.height,
                    "posts_version": posts_version,
                }
            ],
            schema=table_spec("gold/builds").schema,
        ),
    )
    return results


_SILVER = ["silver/accounts", "silver/account_snapshots", "silver/posts", "silver/post_metrics"]


def _enriched_since(lake: Lake, since: datetime | None) -> date | None:
    """The first publication day of the posts whose features were enriched after ``since``, the
    previous build's start (the trends read their topics), or None. Both are the clock of the
    machines that process, not the silver rows' times of collection."""
    if since is None or not lake.exists("silver/post_features"):
        return None
    enriched = lake.scan("silver/post_features").filter(pl.col("enriched_at") > since)
    first = _of_posts(lake, enriched).select(pl.col("created_at").min()).collect().item()
    return first.date() if first is not None else None


def _of_posts(lake: Lake, rows: pl.LazyFrame) -> pl.LazyFrame:
    """The silver posts (platform, post_id, account_id, created_at) that ``rows`` name."""
    keys = ["platform", "post_id"]
    posts = lake.scan("silver/posts").select(*keys, "account_id", "created_at")
    return rows.select(keys).join(posts, on=keys)


def _current(lake: Lake) -> bool:
    """True when the per-account and per-post gold tables exist with today's schema (else:
    rebuild in full)."""
    for name in ("gold/daily_account_metrics", "gold/post_curves", POST_COUNTERS):
        if not lake.exists(name) or lake.scan(name).collect_schema() != table_spec(name).schema:
            return False
    return True


def _last_build(lake: Lake) -> tuple[datetime | None, datetime | None, int | None]:
    """The newest watermark of the previous builds, when the latest of them started, and the
    version of silver/posts it read (None: none recorded)."""
    builds = lake.read("gold/builds").sort("built_at")
    marks = builds["watermark"].drop_nulls()
    last = marks.max() if marks.len() else None
    if builds.is_empty():
        return last, None, None  # type: ignore[return-value]
    latest = builds.row(-1, named=True)
    return last, latest["built_at"], latest.get("posts_version")  # type: ignore[return-value]


#: An incremental build recomputes an account's days from the first one its new silver rows
#: touch, when that day is at most this many days before the newest silver row; an older one
#: (an old post seen again, a follower count unchanged for months) recomputes the account whole.
TAIL_DAYS = 60
#: Observations of a post are taken to be at most this long before its publication (clock
#: skew): the window read for the observation preceding a recomputed day.
_EARLY_OBSERVATION = timedelta(days=1)


@dataclass(frozen=True)
class _Tail:
    """Accounts of one platform whose gold rows change from ``start`` on only, and whose post
    curves change for posts published from ``first_post`` on (None: no post changed)."""

    platform: str
    ids: pl.DataFrame
    start: date
    first_post: datetime | None


def _scope_changes(
    lake: Lake,
    scope: pl.DataFrame,
    accounts: pl.DataFrame,
    since: datetime,
    posts_version: int | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For the changed accounts (``scope``): the first day their silver rows written after
    ``since`` touch and their earliest changed post (platform, account_id, day, first_post);
    and those to recompute whole whatever the day: new accounts and accounts whose handle or
    agency changed (it is on every row).

    A changed post's day is also the one it was published on as the previous build read it
    (``silver/posts`` at ``posts_version``): a post whose publication time moved leaves that
    day. Where that version cannot be read (none recorded, or vacuumed), the accounts of the
    changed posts are recomputed whole.
    """
    keys = ["platform", "account_id"]
    posts = lake.scan("silver/posts").select(*keys, "post_id", "created_at")
    changed = (
        lake.scan("silver/posts")
        .filter((pl.col("last_seen_at") > since) | (pl.col("deleted_at") > since))
        .select(*keys, "post_id", "created_at")
        .collect()
    )
    before = _published_before(lake, changed, posts_version)
    touched = pl.concat(
        [
            lake.scan("silver/post_metrics")
            .filter(pl.col("last_observed_at") > since)
            .select("platform", "post_id", "observed_at")
            .join(posts, on=["platform", "post_id"])
            .select(
                *keys,
                day=pl.min_horizontal("observed_at", "created_at").dt.date(),
                first_post=pl.col("created_at"),
            ),
            *(
                frame.lazy().select(
                    *keys, day=pl.col("created_at").dt.date(), first_post=pl.col("created_at")
                )
                for frame in (changed, before if before is not None else changed.head(0))
            ),
            lake.scan("silver/account_snapshots")
            .filter(pl.col("last_observed_at") > since)
            .select(
                *keys,
                day=pl.col("observed_at").dt.date(),
                first_post=pl.lit(None, pl.Datetime("us", "UTC")),
            ),
        ]
    )
    starts = (
        touched.group_by(keys)
        .agg(pl.col("day").min(), pl.col("first_post").min())
        .join(scope.lazy(), on=keys, how="semi")
        .collect()
    )
    info = ["platform", "account_id", "handle", "agency", "parent_agency"]
    stored = (
        lake.scan("gold/daily_account_metrics")
        .select(info)
        .join(scope.lazy(), on=keys, how="semi")
        .unique()
        .collect()
    )
    current = accounts.select(info).unique(keys).join(scope, on=keys, how="semi")
    renamed = pl.concat(
        [
            current.join(stored, on=info, how="anti", nulls_equal=True),
            stored.join(current, on=info, how="anti", nulls_equal=True),
        ]
    ).select(keys)
    if before is None:
        renamed = pl.concat([renamed, changed.select(keys).join(scope, on=keys, how="semi")])
    return starts, renamed.unique()


def _published_before(
    lake: Lake, changed: pl.DataFrame, version: int | None
) -> pl.DataFrame | None:
    """``changed`` posts (platform, account_id, post_id, created_at) as ``silver/posts`` held
    them at ``version``; None when that version cannot be read."""
    if changed.is_empty():
        return changed
    if version is None:
        return None
    key = ["platform", "post_id"]
    try:
        return (
            lake.scan("silver/posts", version=version)
            .filter(pl.col("platform").is_in(changed["platform"].unique().to_list()))
            .select(*changed.columns)
            .join(changed.lazy().select(key), on=key, how="semi")
            .collect()
        )
    except (DeltaError, pl.exceptions.PolarsError, OSError) as exc:  # e.g. vacuumed since
        log.warning("silver/posts version %d cannot be read (%s): whole accounts", version, exc)
        return None


def _split_scope(
    platform: str,
    changes: tuple[pl.DataFrame, pl.DataFrame],
    since: datetime,
    watermark: datetime | None,
) -> tuple[pl.DataFrame, _Tail | None]:
    """Split one platform's changed accounts (``changes`` from :func:`_scope_changes`) into
    those recomputed whole (new accounts, a new handle or agency, changes older than
    ``TAIL_DAYS``) and the rest, recomputed from the first day their new silver rows touch.
    Accounts whose only change is a refreshed ``silver/accounts`` row with the same handle and
    agency are in neither: their gold rows stay as they are."""
    keys = ["platform", "account_id"]
    on = pl.col("platform") == platform
    starts, renamed = changes[0].filter(on), changes[1].filter(on)
    horizon = (watermark or since).date() - timedelta(days=TAIL_DAYS)
    old = starts.filter(pl.col("day") < horizon).select(keys)
    whole = pl.concat([renamed, old]).unique().sort(keys)
    tail = starts.join(whole, on=keys, how="anti")
    if tail.is_empty():
        return whole, None
    return whole, _Tail(
        platform,
        tail.select(keys).sort(keys),
        tail["day"].min(),  # type: ignore[arg-type]
        tail["first_post"].min(),  # type: ignore[arg-type]
    )


def _gold_tails(
    lake: Lake, accounts: pl.DataFrame, tails: list[_Tail]
) -> list[tuple[pl.DataFrame, pl.DataFrame, Where, Where]]:
    """Per platform of ``tails``: the ``gold/daily_account_metrics`` rows of its accounts from
    the earliest tail's start day on and the ``gold/post_curves`` rows of their posts published
    from the platform's first changed post on, equal to a whole recompute's; with the rows each
    replaces (``Lake.replace`` filters).

    All platforms are read and computed together, in one query per table. Reads the accounts'
    posts, but of ``silver/post_metrics`` and ``silver/account_snapshots`` only the runs that
    reach the start day, plus each post's run just before it and each account's last followers.
    """
    keys = ["platform", "account_id"]
    post_key = ["platform", "post_id"]
    on = pl.col("platform").is_in([t.platform for t in tails])
    ids = pl.concat([t.ids for t in tails])
    first_day = min(t.start for t in tails)
    start = datetime.combine(first_day, time(0), tzinfo=UTC)
    posts = (
        lake.scan("silver/posts")
        .filter(on)
        .select("platform", "post_id", "account_id", "created_at", "post_type")
        .join(ids.lazy(), on=keys, how="semi")
        .collect()
    )
    columns = ["platform", "post_id", "observed_at", "last_observed_at", *_METRICS]
    metrics = lake.scan("silver/post_metrics").filter(on).select(columns)
    recent = (
        metrics.filter(pl.col("last_observed_at") >= start)
        .join(posts.lazy().select(post_key), on=post_key, how="semi")
        .collect()
    )
    # A post whose first run in the window starts on the start day or later needs the run
    # before it: its first day's gain is counted from that run's value.
    need = (
        recent.group_by(post_key)
        .agg(pl.col("observed_at").min())
        .filter(pl.col("observed_at") >= start)
        .select(post_key)
    )
    prior = recent.head(0)
    if not need.is_empty():
        earliest = posts.join(need, on=post_key, how="semi")["created_at"].min()
        window = metrics.filter(pl.col("last_observed_at") < start)
        if earliest is not None:
            window = window.filter(pl.col("observed_at") >= earliest - _EARLY_OBSERVATION)  # type: ignore[operator]
        prior = (
            window.join(need.lazy(), on=post_key, how="semi")
            .collect()
            .sort("observed_at")
            .group_by(post_key, maintain_order=True)
            .last()
            .select(columns)
        )
    touched = pl.concat(
        [
            posts.filter(pl.col("created_at") >= start),
            posts.join(recent.select(post_key), on=post_key, how="semi"),
        ]
    ).unique(post_key)
    # Of the snapshots, the runs that reach the start day, and each account's last run before it
    # that has followers: the days before the start day only carry that value forward (the
    # first day's change in followers and engagement rate read it).
    snapshots = (
        lake.scan("silver/account_snapshots").filter(on).join(ids.lazy(), on=keys, how="semi")
    )
    carried = (
        snapshots.filter((pl.col("last_observed_at") < start) & pl.col("followers").is_not_null())
        .sort("observed_at")
        .group_by(keys, maintain_order=True)
        .last()
        .select(snapshots.collect_schema().names())
    )
    daily = daily_account_metrics(
        accounts.join(ids, on=keys, how="semi"),
        pl.concat([snapshots.filter(pl.col("last_observed_at") >= start), carried]).collect(),
        touched,
        pl.concat([recent, prior]),
    ).filter(pl.col("date") >= first_day)
    # each platform's posts published from its first changed post on
    firsts = pl.DataFrame(
        [(t.platform, t.first_post) for t in tails if t.first_post is not None],
        schema={"platform": pl.Utf8, "_first": pl.Datetime("us", "UTC")},
        orient="row",
    )

    def stored_before(firsts: pl.DataFrame) -> pl.LazyFrame:
        """The stored curve rows of each platform's posts published before its first."""
        return (
            lake.scan("gold/post_curves")
            .filter(pl.col("platform").is_in(firsts["platform"].to_list()))
            .join(firsts.lazy(), on="platform")
            .filter(pl.col("created_at") < pl.col("_first"))
        )

    # A changed post whose stored rows say it was published earlier (its time moved) moves its
    # platform's first post back to there: every stored row from the first post on is then a
    # recomputed post's, and the rows are replaced by a bound on created_at, not a list of ids.
    changed = posts.join(firsts, on="platform").filter(pl.col("created_at") >= pl.col("_first"))
    moved = (
        stored_before(firsts)
        # the ids go into the scan's filter (a join is not pushed into it), the join makes it exact
        .filter(pl.col("post_id").is_in(changed["post_id"].unique().implode()))
        .select(*post_key, "created_at")
        .join(changed.lazy().select(post_key), on=post_key, how="semi")
        .group_by("platform")
        .agg(pl.col("created_at").min().alias("_moved"))
        .collect()
    )
    if not moved.is_empty():
        firsts = firsts.join(moved, on="platform", how="left").select(
            "platform", pl.min_horizontal("_first", "_moved").alias("_first")
        )
    fresh = (
        posts.join(firsts, on="platform")
        .filter(pl.col("created_at") >= pl.col("_first"))
        .drop("_first")
    )
    points = curve_points(fresh, recent.join(fresh.select(post_key), on=post_key, how="semi"))
    # each group's last posts before the first (with_baselines sorts them), of the groups of
    # the recomputed points only: the other groups' rows do not change a recomputed baseline
    groups = points.select(BASELINE_GROUP).unique()
    earlier = (
        stored_before(firsts)
        .select(*BASELINE_GROUP, "created_at", "post_id", "engagement")
        .join(groups.lazy(), on=BASELINE_GROUP, how="semi")
        .filter(last_posts())
        .collect()
    )
    curves = with_baselines(points, earlier)
    first_of = dict(firsts.iter_rows())
    out: list[tuple[pl.DataFrame, pl.DataFrame, Where, Where]] = []
    for tail in tails:
        p = tail.platform
        where: Where = {"platform": [p], "account_id": tail.ids["account_id"].to_list()}
        # stored rows end at the previous watermark at the latest, computed ones at the new one
        day_where: Where = {**where, "date": AtLeast(first_day)}
        day_rows = daily.filter(pl.col("platform") == p)
        if tail.first_post is None:
            out.append((day_rows, table_spec("gold/post_curves").empty(), day_where, {}))
        else:
            # the bound also spares the older files of the clustered table
            curve_where: Where = {**where, "created_at": AtLeast(first_of[p])}
            out.append((day_rows, curves.filter(pl.col("platform") == p), day_where, curve_where))
    return out


#: A whole rebuild computes the accounts of one platform at a time, at most about this many
#: of their posts at once (an account is never split): its memory follows the share, not the
#: lake. The incremental benchmark's lake (10 M observations of 207 k posts): 3.5 GiB peak and
#: 17 s in one pass; 0.76 GiB and 9.6 s in shares of 10,000 posts (1.0 GiB with 25,000).
WHOLE_BUILD_POSTS = 10_000


def _gold_whole(lake: Lake, accounts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """gold/daily_account_metrics and gold/post_curves rows of every account: those of
    silver/accounts and of every account with posts or snapshots, in shares of
    :data:`WHOLE_BUILD_POSTS` posts within a platform (gold rows are per account and post, so
    the shares' rows are those of one pass over everything)."""
    keys = ["platform", "account_id"]
    counts = (
        pl.concat(
            [
                accounts.lazy().select(*keys, _posts=pl.lit(0, pl.UInt32)),
                lake.scan("silver/account_snapshots").select(*keys, _posts=pl.lit(0, pl.UInt32)),
                lake.scan("silver/posts").select(*keys, _posts=pl.lit(1, pl.UInt32)),
            ]
        )
        .group_by(keys)
        .agg(pl.col("_posts").sum())
        .collect(engine="streaming")
        .sort(keys)
    )
    if counts["_posts"].sum() <= WHOLE_BUILD_POSTS:  # one share: one pass, one read a table
        return _gold_for(lake, accounts, None)
    # a new share where the platform changes or the running count would pass the budget
    before = pl.col("_posts").cum_sum().over("platform") - pl.col("_posts")
    shares = counts.with_columns(_share=before // WHOLE_BUILD_POSTS)
    parts = [
        _gold_for(lake, accounts, ids.select(keys))
        for _, ids in shares.group_by("platform", "_share", maintain_order=True)
    ]
    return pl.concat([d for d, _ in parts]), pl.concat([c for _, c in parts])


def _gold_for(
    lake: Lake, accounts: pl.DataFrame, ids: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """gold/daily_account_metrics and gold/post_curves rows of some accounts (``ids``: platform,
    account_id) or of all. The reads of some accounts read only their platforms' partitions and
    stream through the key filters, holding the matching rows only."""

    # some accounts: their platforms' partitions only
    on_platforms = (
        pl.lit(True)
        if ids is None
        else pl.col("platform").is_in(ids["platform"].unique().to_list())
    )

    def only(scan: pl.LazyFrame) -> pl.LazyFrame:
        if ids is None:
            return scan
        return scan.filter(on_platforms).join(ids.lazy(), on=["platform", "account_id"], how="semi")

    engine: Literal["auto", "streaming"] = "auto" if ids is None else "streaming"
    posts = only(
        lake.scan("silver/posts").select(
            "platform", "post_id", "account_id", "created_at", "post_type"
        )
    ).collect(engine=engine)
    metrics = lake.scan("silver/post_metrics").select(
        "platform", "post_id", "observed_at", "last_observed_at", *_METRICS
    )
    if ids is not None:
        metrics = metrics.filter(on_platforms).join(
            posts.lazy().select("platform", "post_id"), on=["platform", "post_id"], how="semi"
        )
    series = metrics.collect(engine=engine)
    daily = daily_account_metrics(
        accounts if ids is None else accounts.join(ids, on=["platform", "account_id"], how="semi"),
        only(lake.scan("silver/account_snapshots")).collect(engine=engine),
        posts,
        series,
    )
    return daily, post_curves(posts, series)


__all__ = ["build_gold", "daily_account_metrics"]
