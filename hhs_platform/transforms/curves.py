"""Engagement curves: each post's counters at fixed ages, and how it did against its account.

A post's counters are observed whenever a collection run reads it (``silver/post_metrics``, run
length encoded: a run of equal values spans ``observed_at``..``last_observed_at``). Its value at
age A (1 h, 6 h, 24 h, 72 h, 7 d, 28 d after publication) is the value in force at
``created_at + A`` when an observation run covers that instant; otherwise the nearest observation
within the tolerance (a tenth of the age, at least 30 minutes); otherwise the age is missing
(never guessed). ``overperformance`` is the post's engagement at that age divided by the median of
the same account's previous 20 posts of the same type at the same age (at least 5 needed): 2.0
means twice its usual.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from schemas import table_spec

AGES_H = (1, 6, 24, 72, 168, 672)
_METRICS = ["likes", "reposts", "replies", "quotes", "views"]
BASELINE_POSTS = 20
MIN_BASELINE = 5


def tolerance(age_h: int) -> timedelta:
    """How far from the exact age an observation may be and still stand for it."""
    return max(timedelta(minutes=30), timedelta(hours=age_h) / 10)


def post_curves(posts: pl.DataFrame, metrics: pl.DataFrame) -> pl.DataFrame:
    """``gold/post_curves`` rows from silver posts (non-reposts) and their metric series."""
    return with_baselines(curve_points(posts, metrics))


def curve_points(posts: pl.DataFrame, metrics: pl.DataFrame) -> pl.DataFrame:
    """Each post's counters and engagement at each age (``gold/post_curves`` without the
    baseline and overperformance columns, which depend on the account's earlier posts)."""
    spec = table_spec("gold/post_curves")
    own = posts.filter(pl.col("post_type") != "repost").select(
        "platform", "post_id", "account_id", "post_type", "created_at"
    )
    if own.is_empty() or metrics.is_empty():
        return spec.empty().drop("baseline", "overperformance")
    ages = pl.DataFrame({"age_hours": list(AGES_H)}, schema={"age_hours": pl.Int64})
    targets = (
        own.join(ages, how="cross")
        .with_columns(target=pl.col("created_at") + pl.duration(hours=pl.col("age_hours")))
        .with_columns(
            _tol=pl.max_horizontal(
                pl.duration(minutes=30), pl.duration(minutes=pl.col("age_hours") * 6)
            )
        )
        .sort("target")
    )
    series = metrics.select(
        "platform", "post_id", "observed_at", "last_observed_at", *_METRICS
    ).sort("observed_at")
    before = targets.join_asof(
        series, left_on="target", right_on="observed_at", by=["platform", "post_id"],
        strategy="backward", check_sortedness=False,  # sorted by target, so within groups
    )  # fmt: skip
    after = targets.join_asof(
        series.rename({c: f"{c}_next" for c in ["observed_at", "last_observed_at", *_METRICS]}),
        left_on="target", right_on="observed_at_next", by=["platform", "post_id"],
        strategy="forward", check_sortedness=False,
    ).select("platform", "post_id", "age_hours", *[f"{c}_next" for c in ["observed_at", *_METRICS]])  # fmt: skip
    both = before.join(after, on=["platform", "post_id", "age_hours"], how="left")
    # distance from the target to the run before (0 inside it) and to the next observation
    gap_before = pl.col("target") - pl.col("last_observed_at")
    gap_after = pl.col("observed_at_next") - pl.col("target")
    use_before = pl.col("observed_at").is_not_null() & (
        (gap_before <= pl.duration(seconds=0))
        | ((gap_before <= pl.col("_tol")) & (gap_after.is_null() | (gap_before <= gap_after)))
    )
    use_after = (
        ~use_before & pl.col("observed_at_next").is_not_null() & (gap_after <= pl.col("_tol"))
    )
    picked = both.with_columns(
        observed_at=pl.when(use_before)
        .then(pl.min_horizontal("target", "last_observed_at"))
        .when(use_after)
        .then(pl.col("observed_at_next")),
        **{
            m: pl.when(use_before).then(pl.col(m)).when(use_after).then(pl.col(f"{m}_next"))
            for m in _METRICS
        },
    ).filter(pl.col("observed_at").is_not_null())
    out = picked.with_columns(
        offset_minutes=((pl.col("observed_at") - pl.col("target")).dt.total_seconds() / 60)
        .round(0)
        .cast(pl.Int64),
        engagement=pl.sum_horizontal(
            *[pl.col(m).fill_null(0) for m in ("likes", "reposts", "replies", "quotes")]
        ).cast(pl.Int64),
    )
    return out.select(
        [pl.col(c).cast(t) for c, t in spec.schema.items() if c not in _BASELINE_COLUMNS]
    )


_BASELINE_COLUMNS = ("baseline", "overperformance")
#: What a post's baseline depends on: its account's earlier posts of its type, at its age.
BASELINE_GROUP = ["platform", "account_id", "post_type", "age_hours"]


def last_posts(n: int = BASELINE_POSTS) -> pl.Expr:
    """A filter keeping each baseline group's rows of its last ``n`` posts, and of every post
    published at the same instant as the n-th (posts further back do not change a baseline).

    Equal to ``created_at.rank("min", descending=True).over(BASELINE_GROUP) <= n``: a row whose
    time is at least the group's n-th newest time has fewer than n rows after it. It is a
    group's top-n and one comparison instead of a rank of every row.
    """
    newest = pl.col("created_at").top_k(n).min().over(BASELINE_GROUP)
    return pl.col("created_at") >= newest


def with_baselines(points: pl.DataFrame, earlier: pl.DataFrame | None = None) -> pl.DataFrame:
    """``gold/post_curves`` rows: ``points`` (from :func:`curve_points`) with each post's
    baseline (median engagement of the account's previous posts of its type at its age) and
    overperformance.

    ``earlier``: curve rows of posts published before every post of ``points`` (at least the
    last ``BASELINE_POSTS`` per account, type and age), whose engagement the first posts'
    baselines need; they are not returned.
    """
    spec = table_spec("gold/post_curves")
    cols = ["platform", "post_id", "account_id", "post_type", "created_at", "age_hours"]
    frame = points.with_columns(_new=pl.lit(True))
    if earlier is not None and not earlier.is_empty():
        frame = pl.concat(
            [
                frame,
                earlier.select(*cols, "engagement").with_columns(_new=pl.lit(False)),
            ],
            how="diagonal_relaxed",
        )
    out = (
        frame.sort("created_at", "post_id")
        .with_columns(
            baseline=pl.col("engagement")
            .cast(pl.Float64)
            .shift(1)
            .rolling_median(window_size=BASELINE_POSTS, min_samples=MIN_BASELINE)
            .over(BASELINE_GROUP)
        )
        .filter(pl.col("_new"))
        .with_columns(
            overperformance=pl.when(pl.col("baseline") > 0).then(
                pl.col("engagement") / pl.col("baseline")
            )
        )
        .sort("platform", "account_id", "post_id", "age_hours")
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def due_for_repoll(
    posts: pl.DataFrame,
    now: datetime,
    horizon: timedelta = timedelta(hours=1),
    observed: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Posts with a curve age falling due between ``now`` and ``now + horizon`` (or passed so
    recently that an observation now still stands for it): the accounts a re-poll run reads.

    Args:
        posts: ``silver/posts`` rows (platform, account_id, post_id, created_at, post_type and
            optionally is_deleted).
        now: The time of the re-poll run.
        horizon: How far ahead an age counts as due (the re-poll schedule's interval).
        observed: Optional ``platform``, ``post_id``, ``last_observed_at`` (the post's latest
            observation). An age that observation already stands for (it falls within the
            age's tolerance before it, or later) is not due again: without this, every passed
            age stays due for its whole catch-up window (67 h for the 28-day age), and an hourly
            re-poll reads almost every account every hour.

    Returns platform, account_id, post_id, age_hours and due_at, soonest first. A collection run
    every ``horizon`` (``hhs collect --repoll`` on a schedule) observes every age of every post.
    """
    cols = pl.Schema(
        {
            "platform": pl.String(),
            "account_id": pl.String(),
            "post_id": pl.String(),
            "age_hours": pl.Int64(),
            "due_at": pl.Datetime("us", "UTC"),
        }
    )
    own = posts.filter(pl.col("post_type") != "repost")
    if "is_deleted" in own.columns:
        own = own.filter(~pl.col("is_deleted"))
    if own.is_empty():
        return pl.DataFrame(schema=cols)
    ages = pl.DataFrame({"age_hours": list(AGES_H)}, schema={"age_hours": pl.Int64})
    tol = pl.max_horizontal(pl.duration(minutes=30), pl.duration(minutes=pl.col("age_hours") * 6))
    due = (
        own.select("platform", "account_id", "post_id", "created_at")
        .join(ages, how="cross")
        .with_columns(due_at=pl.col("created_at") + pl.duration(hours=pl.col("age_hours")))
        .filter((pl.col("due_at") <= now + horizon) & (pl.col("due_at") >= now - tol))
    )
    if observed is not None and not observed.is_empty():
        last = observed.group_by("platform", "post_id").agg(pl.col("last_observed_at").max())
        due = due.join(last, on=["platform", "post_id"], how="left").filter(
            pl.col("last_observed_at").is_null()
            | (pl.col("last_observed_at") < pl.col("due_at") - tol)
        )
    return due.select(cols.names()).sort("due_at", "platform", "post_id")


def repoll_accounts(lake: Any, now: datetime, horizon: timedelta = timedelta(hours=1)) -> set[str]:
    """Registry keys (``<platform>:<handle>``) of the accounts with a post age due (see
    :func:`due_for_repoll`), from the lake's silver tables."""
    if not lake.exists("silver/posts"):
        return set()
    posts = lake.read(
        "silver/posts",
        columns=["platform", "account_id", "post_id", "created_at", "post_type", "is_deleted"],
    )
    candidates = due_for_repoll(posts, now, horizon)
    observed = None
    if lake.exists("silver/post_metrics") and not candidates.is_empty():
        observed = (
            lake.scan("silver/post_metrics")
            .filter(pl.col("platform").is_in(candidates["platform"].unique().to_list()))
            .filter(pl.col("post_id").is_in(candidates["post_id"].unique().to_list()))
            .group_by("platform", "post_id")
            .agg(pl.col("last_observed_at").max())
            .collect()
        )
    due = due_for_repoll(posts, now, horizon, observed).select("platform", "account_id").unique()
    keys = lake.read("silver/accounts", columns=["platform", "account_id", "account_key"]).join(
        due, on=["platform", "account_id"]
    )
    return set(keys["account_key"].to_list())
