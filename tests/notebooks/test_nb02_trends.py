"""notebooks/02-trends-across-agencies.ipynb compares agencies over the demo world's two weeks:
its coverage, growth, one-day moves and per-follower engagement are checked against the daily
figures read directly and against the world's planted events and outage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from dashboard_lakes import WORLD_ACCOUNTS, WORLD_OUTAGE, WORLD_PLANTED
from notebook_run import notebook, run_notebook


@pytest.mark.slow
def test_trends_across_agencies(notebook_lake: Path) -> None:
    lake = notebook_lake.parent / "lake"
    ran = run_notebook(notebook("02-trends-across-agencies.ipynb"), notebook_lake)
    daily = pl.read_delta(str(lake / "gold/daily_account_metrics"))
    observed = daily.filter(pl.col("followers").is_not_null())
    start, end = observed["date"].min(), observed["date"].max()
    n_days = observed["date"].n_unique()
    assert f"Period with follower figures: {start} to {end} ({n_days} days)" in ran.tagged("period")

    # The days mastodon:hhs was not collected are the incomplete ones, and only those.
    coverage = ran.tagged("coverage")
    assert coverage.count("Incomplete day:") == len(WORLD_OUTAGE)
    for day in sorted(WORLD_OUTAGE):
        n = len(WORLD_ACCOUNTS)
        assert f"Incomplete day: {day} has the followers of {n - 1} of {n} accounts" in coverage

    # Growth of each agency's own accounts, first to last figure of each account.
    ends = (
        observed.sort("date")
        .group_by("platform", "account_id")
        .agg(pl.col("agency").last(), pl.col("followers").first().alias("a"))
        .join(
            observed.sort("date")
            .group_by("platform", "account_id")
            .agg(pl.col("followers").last().alias("b")),
            on=["platform", "account_id"],
        )
    )
    growth = ran.tagged("growth")
    pcts = {}
    for agency, rows in ends.group_by("agency"):
        a, b = rows["a"].sum(), rows["b"].sum()
        pcts[agency[0]] = 100 * (b - a) / a
        assert (
            f"{agency[0]}: {a:,} → {b:,} followers ({b - a:+,}, {pcts[agency[0]]:+.2f}%)" in growth
        )
    fastest = max(pcts, key=lambda k: pcts[k])
    assert (
        f"Fastest-growing agency: {fastest} ({pcts[fastest]:+.2f}% over {(end - start).days} days)"
        in growth
    )

    # The largest one-day gain and loss are the planted follower jump and drop.
    moves = ran.tagged("moves")
    for kind, label in (("follower_jump", "gain"), ("follower_drop", "loss")):
        planted = next(p for p in WORLD_PLANTED if p.kind == kind)
        row = daily.filter(
            (pl.col("platform") == planted.platform)
            & (pl.col("handle") == planted.handle)
            & (pl.col("date") == planted.day)
        ).row(0, named=True)
        pct = 100 * row["followers_change"] / (row["followers"] - row["followers_change"])
        assert abs(pct) == pytest.approx(100 * planted.size, abs=0.5)
        assert (
            f"Largest one-day {label}: {row['agency']} {planted.platform} {planted.handle} on "
            f"{planted.day}: {row['followers_change']:+,} ({pct:+.2f}%)"
        ) in moves

    # Interactions per 1,000 followers a day, per agency and per platform.
    period = daily.filter(pl.col("date").is_between(start, end))
    for column, tag in (("agency", "engagement"), ("platform", "platforms")):
        text = ran.tagged(tag)
        for (key,), rows in period.group_by(column):
            mean_followers = rows.group_by("platform", "account_id").agg(pl.col("followers").mean())
            engagement = rows["engagement"].sum()
            rate = 1000 * engagement / (mean_followers["followers"].sum() * n_days)
            if column == "agency":
                posts = rows["posts_published"].sum()
                line = f"{key}: {engagement:,} interactions on {posts:,} posts, {rate:.2f} per"
            else:
                line = f"{key}: {rate:.2f} interactions per"
            assert f"{line} 1,000 followers a day" in text
        assert text.count("1,000 followers a day") == period[column].n_unique()
