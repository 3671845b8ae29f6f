"""Gold rollups of the daily account figures: weeks, and agencies with their hierarchy.

An agency's figures include every agency below it (HHS → operating division → program office),
taken from the registry's ``agency`` → ``parent_agency`` links; ``platform`` is a platform name or
``all``. Followers are the sum of the accounts' followers at the end of the period (an account not
observed on a day counts with its last figure, for up to ``CARRY_DAYS`` days); posts and
engagement the sums over the period (engagement of posts published in it, lifetime to date).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from hhs_platform.lake.store import AtLeast, Lake, WriteResult
from schemas import table_spec

_SUMS = [
    "posts_published",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "engagement",
    "engagement_activity",
]
ALL_PLATFORMS = "all"
#: Days an account's last follower figure still counts in its agency's totals when it is not
#: observed (a failed collection): a total does not dip for a gap, nor keep a dropped account.
CARRY_DAYS = 7


def weekly_account_metrics(daily: pl.DataFrame) -> pl.DataFrame:
    """``gold/weekly_account_metrics``: ISO weeks (Monday start) of ``gold/daily_account_metrics``."""
    spec = table_spec("gold/weekly_account_metrics")
    if daily.is_empty():
        return spec.empty()
    keys = ["platform", "account_id", "week"]
    out = (
        daily.sort("date")
        .with_columns(week=pl.col("date").dt.truncate("1w"))
        .group_by(keys)
        .agg(
            pl.col("handle", "agency", "parent_agency").last(),
            pl.col("followers").drop_nulls().last(),
            pl.col("followers_change").sum(),
            pl.col("followers").is_not_null().sum().cast(pl.Int64).alias("days_observed"),
            *[pl.col(c).sum() for c in _SUMS],
            pl.when(pl.col("views").is_not_null().any())
            .then(pl.col("views").sum())
            .otherwise(None)
            .alias("views"),
        )
        .with_columns(engagement_rate=_rate())
        .sort(keys)
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def agency_tree(accounts: pl.DataFrame) -> dict[str, list[str]]:
    """Each agency and its ancestors, itself first (``CDC-NCHS`` → ``[CDC-NCHS, CDC, HHS]``)."""
    parent: dict[str, str | None] = {}
    for agency, up in accounts.select("agency", "parent_agency").unique().iter_rows():
        if agency is not None:
            parent[agency] = up or parent.get(agency)
    chains: dict[str, list[str]] = {}
    for agency in parent:
        chain, node = [agency], parent.get(agency)
        while node is not None and node not in chain:  # a cycle in the registry stops here
            chain.append(node)
            node = parent.get(node)
        chains[agency] = chain
    return chains


def agency_metrics(daily: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """``gold/agency_metrics``: per day and per week, per agency (with everything below it), per
    platform and for all platforms together."""
    spec = table_spec("gold/agency_metrics")
    if daily.is_empty():
        return spec.empty()
    chains = agency_tree(accounts)
    links = pl.DataFrame(
        [(a, up, len(chain) - 1 - i) for a, chain in chains.items() for i, up in enumerate(chain)],
        schema={"agency": pl.Utf8, "rollup": pl.Utf8, "level": pl.Int64},
        orient="row",
    )
    daily = _carry_followers(daily)
    per_day = daily.with_columns(period=pl.lit("day"), period_start=pl.col("date"))
    per_week = daily.with_columns(
        period=pl.lit("week"), period_start=pl.col("date").dt.truncate("1w")
    )
    frames = []
    for rows in (per_day, per_week):
        # the account's followers at the end of the period, then summed over accounts
        by_account = (
            rows.sort("date")
            .group_by("period", "period_start", "platform", "account_id")
            .agg(
                pl.col("agency").last(),
                pl.col("_observed").any(),
                pl.col("followers").drop_nulls().last(),
                pl.col("followers_change").sum(),
                *[pl.col(c).sum() for c in _SUMS],
                pl.when(pl.col("views").is_not_null().any())
                .then(pl.col("views").sum())
                .otherwise(None)
                .alias("views"),
            )
            .join(links, on="agency")
        )
        for platform in ("platform", None):
            group = ["period", "period_start", "rollup", "level"]
            agg = by_account.group_by([*group, platform] if platform else group).agg(
                pl.col("account_id")
                .filter(pl.col("_observed"))
                .n_unique()
                .cast(pl.Int64)
                .alias("accounts"),
                # null, not 0, before any of the accounts had a follower figure
                pl.when(pl.col("followers").is_not_null().any())
                .then(pl.col("followers").sum())
                .alias("followers"),
                pl.col("followers_change").sum(),
                *[pl.col(c).sum() for c in _SUMS],
                pl.when(pl.col("views").is_not_null().any())
                .then(pl.col("views").sum())
                .otherwise(None)
                .alias("views"),
            )
            if platform is None:
                agg = agg.with_columns(platform=pl.lit(ALL_PLATFORMS))
            frames.append(agg)
    out = (
        pl.concat(frames, how="diagonal")
        .rename({"rollup": "agency"})
        .with_columns(engagement_rate=_rate())
        .sort("period", "period_start", "agency", "platform")
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def _carry_followers(daily: pl.DataFrame) -> pl.DataFrame:
    """Every account on every day from its first row on, with its followers (and agency)
    carried forward from its last figure for up to ``CARRY_DAYS`` days (and at most to the
    newest day of the table): an account not observed one day (a failed collection, no posts)
    still counts in its agency's total instead of making it dip. Days added are marked
    unobserved and add nothing to the sums."""
    key = ["platform", "account_id"]
    newest = daily["date"].max()
    days = (
        daily.group_by(key)
        .agg(
            pl.date_ranges(
                pl.col("date").min(),
                pl.min_horizontal(
                    pl.col("date").max() + pl.duration(days=CARRY_DAYS), pl.lit(newest)
                ),
            )
            .first()
            .alias("date")
        )
        .explode("date")
    )
    full = (
        days.join(daily.with_columns(_observed=pl.lit(True)), on=[*key, "date"], how="left")
        .with_columns(pl.col("_observed").fill_null(False))
        .sort([*key, "date"])
    )
    return full.with_columns(pl.col("followers", "agency").forward_fill(limit=CARRY_DAYS).over(key))


def build_rollups(
    lake: Lake, accounts: pl.DataFrame | None = None, since: date | None = None
) -> dict[str, WriteResult]:
    """Rebuild the rollups from ``gold/daily_account_metrics`` (small: one row per account-day).

    ``since``: the first day whose daily figures changed; only the periods from its ISO week on
    are recomputed (from the daily rows of that week and the ``CARRY_DAYS`` before it, which is
    all they depend on) and replaced. None: every period.
    """
    accounts = accounts if accounts is not None else lake.read("silver/accounts")
    weekly_table, agency_table = "gold/weekly_account_metrics", "gold/agency_metrics"
    if since is None or not (lake.exists(weekly_table) and lake.exists(agency_table)):
        daily = lake.read("gold/daily_account_metrics")
        return {
            weekly_table: lake.overwrite(weekly_table, weekly_account_metrics(daily)),
            agency_table: lake.overwrite(agency_table, agency_metrics(daily, accounts)),
        }
    start = week_start(since)
    daily = (
        lake.scan("gold/daily_account_metrics")
        .filter(pl.col("date") >= start - timedelta(days=CARRY_DAYS))
        .collect()
    )
    weekly = weekly_account_metrics(daily.filter(pl.col("date") >= start))
    agencies = agency_metrics(daily, accounts).filter(pl.col("period_start") >= start)
    return {
        weekly_table: lake.replace(weekly_table, weekly, {"week": AtLeast(start)}),
        agency_table: lake.replace(agency_table, agencies, {"period_start": AtLeast(start)}),
    }


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def _rate() -> pl.Expr:
    return (
        pl.when(pl.col("followers") > 0)
        .then(pl.col("engagement") / pl.col("followers"))
        .otherwise(None)
    )
