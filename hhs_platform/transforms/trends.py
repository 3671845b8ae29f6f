"""Trends (hashtags and topics per day and agency) and leaderboards (accounts and agencies side by
side), as gold tables.

Trends: for each day, agency (with every agency below it) and term, the posts using the term that
day, against its mean per day over the previous 7 days: ``lift = (posts + 1) / (baseline + 1)``
(the +1 keeps a term's first use from dividing by zero and damps one-off terms). Hashtags come
from ``silver/posts`` (lowercased, without ``#``); topics from ``silver/post_features`` when the
enrichment has run.

Leaderboards, per ISO week: accounts and agencies ranked by follower growth (change ÷ followers
at the week's start), engagement rate, and (accounts) median overperformance of the week's posts
at 24 hours (``gold/post_curves``). Rank 1 is the best; ties share the lower rank.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from hhs_platform.lake.store import AtLeast, Lake, WriteResult
from hhs_platform.transforms.rollups import ALL_PLATFORMS, agency_tree, week_start
from schemas import table_spec

BASELINE_DAYS = 7
#: The age of the post curves the overperformance board ranks (median a week and account).
BOARD_AGE_HOURS = 24


def trends(
    posts: pl.DataFrame, accounts: pl.DataFrame, features: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``gold/trends`` rows from silver posts (and post features for topics)."""
    spec = table_spec("gold/trends")
    own = posts.filter(~pl.col("is_deleted")) if "is_deleted" in posts.columns else posts
    tags = (
        own.select(
            "platform", "post_id", "account_id", "created_at", pl.col("hashtags").alias("term")
        )
        .explode("term")
        .filter(pl.col("term").is_not_null() & (pl.col("term") != ""))
    )
    tags = tags.with_columns(
        kind=pl.lit("hashtag"), term=pl.col("term").str.strip_chars_start("#").str.to_lowercase()
    )
    frames = [tags]
    if features is not None and not features.is_empty() and "topics" in features.columns:
        topics = (
            own.select("platform", "post_id", "account_id", "created_at")
            .join(
                features.select("platform", "post_id", pl.col("topics").alias("term")),
                on=["platform", "post_id"],
            )
            .explode("term")
            .filter(pl.col("term").is_not_null())
            .with_columns(kind=pl.lit("topic"))
        )
        frames.append(topics)
    used = pl.concat(frames, how="diagonal").unique(["platform", "post_id", "kind", "term"])
    if used.is_empty():
        return spec.empty()
    chains = agency_tree(accounts)
    links = pl.DataFrame(
        [(a, up) for a, chain in chains.items() for up in chain],
        schema={"agency": pl.Utf8, "rollup": pl.Utf8},
        orient="row",
    )
    owner = accounts.select("platform", "account_id", "agency").unique(["platform", "account_id"])
    daily = (
        used.join(owner, on=["platform", "account_id"])
        .join(links, on="agency")
        .with_columns(date=pl.col("created_at").dt.date())
        .group_by("date", "rollup", "kind", "term")
        .agg(
            pl.col("post_id").n_unique().cast(pl.Int64).alias("posts"),
            pl.col("platform").n_unique().cast(pl.Int64).alias("platforms"),
        )
        .rename({"rollup": "agency"})
    )
    # mean posts per day over the 7 days before, from the same term's earlier days
    earlier = daily.select(
        "agency", "kind", "term", pl.col("date").alias("d0"), pl.col("posts").alias("p0")
    )
    base = (
        daily.select("date", "agency", "kind", "term")
        .join(earlier, on=["agency", "kind", "term"])
        .filter(
            (pl.col("d0") < pl.col("date"))
            & (pl.col("d0") >= pl.col("date") - timedelta(days=BASELINE_DAYS))
        )
        .group_by("date", "agency", "kind", "term")
        .agg((pl.col("p0").sum() / BASELINE_DAYS).alias("baseline"))
    )
    out = (
        daily.join(base, on=["date", "agency", "kind", "term"], how="left")
        .with_columns(pl.col("baseline").fill_null(0.0))
        .with_columns(lift=(pl.col("posts") + 1) / (pl.col("baseline") + 1))
        .with_columns(
            rank=pl.struct(pl.col("lift"), pl.col("posts"))
            .rank("min", descending=True)
            .over("date", "agency", "kind")
            .cast(pl.Int64)
        )
        .sort("date", "agency", "kind", "rank", "term")
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def leaderboards(
    weekly: pl.DataFrame, agencies: pl.DataFrame, curves: pl.DataFrame
) -> pl.DataFrame:
    """``gold/leaderboards`` rows from the weekly account and agency figures and post curves."""
    spec = table_spec("gold/leaderboards")
    frames = []
    if not weekly.is_empty():
        acc = weekly.select(
            pl.col("week").alias("period_start"),
            pl.lit("account").alias("entity_type"),
            pl.col("account_id").alias("entity"),
            pl.col("handle").alias("label"),
            "platform",
            "agency",
            growth=_growth(),
            engagement_rate=pl.col("engagement_rate"),
        )
        if not curves.is_empty():
            over = (
                curves.filter(pl.col("age_hours") == BOARD_AGE_HOURS)
                .with_columns(period_start=pl.col("created_at").dt.date().dt.truncate("1w"))
                .group_by("period_start", "platform", pl.col("account_id").alias("entity"))
                .agg(pl.col("overperformance").median().alias("overperformance"))
            )
            acc = acc.join(over, on=["period_start", "platform", "entity"], how="left")
        else:
            acc = acc.with_columns(overperformance=pl.lit(None, pl.Float64))
        frames.append(acc)
    if not agencies.is_empty():
        ag = agencies.filter((pl.col("period") == "week") & (pl.col("platform") == ALL_PLATFORMS))
        frames.append(
            ag.select(
                "period_start",
                pl.lit("agency").alias("entity_type"),
                pl.col("agency").alias("entity"),
                pl.col("agency").alias("label"),
                "platform",
                "agency",
                growth=_growth(),
                engagement_rate=pl.col("engagement_rate"),
                overperformance=pl.lit(None, pl.Float64),
            )
        )
    if not frames:
        return spec.empty()
    wide = pl.concat(frames, how="diagonal")
    long = wide.unpivot(
        index=["period_start", "entity_type", "entity", "label", "platform", "agency"],
        on=["growth", "engagement_rate", "overperformance"],
        variable_name="board",
    ).filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
    out = long.with_columns(
        rank=pl.col("value")
        .rank("min", descending=True)
        .over("period_start", "entity_type", "board")
        .cast(pl.Int64)
    ).sort("period_start", "entity_type", "board", "rank", "entity")
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def build_trends(
    lake: Lake, accounts: pl.DataFrame, since: date | None = None
) -> dict[str, WriteResult]:
    """Rebuild ``gold/trends`` and ``gold/leaderboards``.

    ``since``: the first day whose gold or silver rows changed; only the trend days from it on
    (from the posts of those days and the ``BASELINE_DAYS`` before) and the leaderboard weeks
    from its week on are recomputed and replaced. None: all of them.
    """
    trend_table, board_table = "gold/trends", "gold/leaderboards"
    if not (lake.exists(trend_table) and lake.exists(board_table)):
        since = None
    posts = lake.scan("silver/posts").select(
        "platform", "post_id", "account_id", "created_at", "hashtags", "is_deleted"
    )
    features = (
        lake.scan("silver/post_features").select("platform", "post_id", "topics")
        if _has(lake, "silver/post_features")
        else None
    )
    weekly = lake.scan("gold/weekly_account_metrics")
    agencies = lake.scan("gold/agency_metrics")
    # the leaderboards read each post's curve at BOARD_AGE_HOURS only
    curves = (
        lake.scan("gold/post_curves")
        .filter(pl.col("age_hours") == BOARD_AGE_HOURS)
        .select("platform", "account_id", "created_at", "age_hours", "overperformance")
    )
    if since is not None:
        first, week = since - timedelta(days=BASELINE_DAYS), week_start(since)
        posts = posts.filter(pl.col("created_at") >= datetime.combine(first, time(0), tzinfo=UTC))
        if features is not None:
            features = features.join(
                posts.select("platform", "post_id"), on=["platform", "post_id"]
            )
        weekly = weekly.filter(pl.col("week") >= week)
        agencies = agencies.filter(pl.col("period_start") >= week)
        curves = curves.filter(pl.col("created_at") >= datetime.combine(week, time(0), tzinfo=UTC))
    found = trends(posts.collect(), accounts, None if features is None else features.collect())
    board = leaderboards(weekly.collect(), agencies.collect(), curves.collect())
    if since is None:
        return {
            trend_table: lake.overwrite(trend_table, found),
            board_table: lake.overwrite(board_table, board),
        }
    return {
        trend_table: lake.replace(
            trend_table, found.filter(pl.col("date") >= since), {"date": AtLeast(since)}
        ),
        board_table: lake.replace(board_table, board, {"period_start": AtLeast(week)}),
    }


def _growth() -> pl.Expr:
    start = pl.col("followers") - pl.col("followers_change")
    return pl.when(start > 0).then(pl.col("followers_change") / start)


def _has(lake: Lake, table: str) -> bool:
    try:
        table_spec(table)
    except Exception:  # the enrichment tables are optional here
        return False
    return lake.exists(table)
