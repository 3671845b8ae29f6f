"""Silver → gold: daily figures per account (followers, posts published, engagement)."""

from __future__ import annotations

import polars as pl

from hhs_platform.lake.store import Lake, WriteResult
from schemas import table_spec

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
    days = pl.concat([daily_snap.select(keys), published.select(keys)]).unique()
    if days.is_empty():
        return spec.empty()
    info = accounts.select("platform", "account_id", "handle", "agency", "parent_agency").unique(
        ["platform", "account_id"]
    )
    out = (
        days.join(daily_snap, on=keys, how="left")
        .join(published, on=keys, how="left")
        .join(info, on=["platform", "account_id"], how="left")
        .sort(keys)
        .with_columns(
            pl.col("posts_published").fill_null(0),
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


def build_gold(lake: Lake) -> dict[str, WriteResult]:
    """Rebuild every gold table from silver."""
    df = daily_account_metrics(
        lake.read("silver/accounts"),
        lake.read("silver/account_snapshots"),
        lake.read(
            "silver/posts", columns=["platform", "post_id", "account_id", "created_at", "post_type"]
        ),
        lake.read("silver/post_metrics", columns=["platform", "post_id", "observed_at", *_METRICS]),
    )
    return {"gold/daily_account_metrics": lake.overwrite("gold/daily_account_metrics", df)}


__all__ = ["build_gold", "daily_account_metrics"]
