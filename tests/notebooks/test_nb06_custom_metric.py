"""notebooks/06-custom-metric-as-gold-table.ipynb publishes weekly share of voice as a custom gold
table: what it wrote equals the metric computed here from the lake copy, the second publish
inserts nothing, the bad row is in quarantine with its rule, and the planted engagement spike
shows as its agency's lead in that week."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from dashboard_lakes import WORLD_ACCOUNTS, WORLD_PLANTED
from notebook_run import notebook, run_notebook
from polars.testing import assert_frame_equal

NAME = "gold/custom/weekly_share_of_voice"
KEYS = ["week", "platform", "agency"]


def ratio(num: str, den: str) -> pl.Expr:
    """num / den, null where den is 0."""
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den))


def expected_share_of_voice(lake: Path) -> pl.DataFrame:
    """The metric, from gold/daily_account_metrics as the notebook defines it in prose."""
    daily = pl.read_delta(str(lake / "gold" / "daily_account_metrics"))
    monday = pl.col("date") - pl.duration(days=pl.col("date").dt.weekday() - 1)
    weekly = (
        daily.with_columns(week=monday, agency=pl.col("agency").fill_null("(unassigned)"))
        .group_by(KEYS)
        .agg(
            accounts=pl.col("account_id").n_unique().cast(pl.Int64),
            posts_published=pl.col("posts_published").sum(),
            engagement=pl.col("engagement").sum(),
        )
    )
    totals = weekly.group_by("week", "platform").agg(
        all_posts=pl.col("posts_published").sum(), all_engagement=pl.col("engagement").sum()
    )
    return (
        weekly.join(totals, on=["week", "platform"])
        .select(
            *KEYS,
            "accounts",
            "posts_published",
            "engagement",
            share_of_posts=ratio("posts_published", "all_posts"),
            share_of_engagement=ratio("engagement", "all_engagement"),
            engagement_per_post=ratio("engagement", "posts_published"),
        )
        .sort(KEYS)
    )


@pytest.mark.slow
def test_custom_metric_notebook_publishes_share_of_voice(notebook_lake: Path) -> None:
    lake = notebook_lake.parent / "lake"
    ran = run_notebook(notebook("06-custom-metric-as-gold-table.ipynb"), notebook_lake)

    # The published table is the metric, row for row and value for value.
    expected = expected_share_of_voice(lake)
    assert expected.height > 0
    published = pl.read_delta(str(lake / NAME)).sort(KEYS)
    assert_frame_equal(published.select(expected.columns), expected)

    # First publish inserts every row; the same rows again insert none.
    n = expected.height
    assert f"{NAME}: {n:,} rows in, {n:,} inserted, 0 updated, 0 quarantined" in ran.tagged(
        "published"
    )
    assert f"{NAME}: {n:,} rows in, 0 inserted, {n:,} updated, 0 quarantined" in ran.tagged("again")
    assert f"Read back {n:,} rows; identical to the frame published: True" in ran.tagged("readback")

    # The bad row went to quarantine with the rule it broke, and not to the table.
    assert f"{n + 1:,} rows in, 0 inserted, {n:,} updated, 1 quarantined" in ran.tagged(
        "quarantine"
    )
    quarantined = pl.read_delta(str(lake / "quarantine" / "rows")).filter(pl.col("table") == NAME)
    assert quarantined.height == 1
    assert quarantined["rules"][0].to_list() == ["engagement: greater_than_or_equal_to(0)"]
    row = json.loads(quarantined["row"][0])
    assert (row["agency"], row["engagement"]) == ("TEST", -1)
    assert published.filter(pl.col("agency") == "TEST").height == 0
    assert f"Rows in {NAME}: {n:,}" in ran.tagged("quarantine")
    assert "missing: accounts" in ran.tagged("refused")

    # lake.tables() lists it among the gold tables; its dictionary comes from the model.
    assert NAME in ran.tagged("tables")
    definitions = pl.read_delta(str(lake / "gold" / "custom_tables"))
    assert definitions["name"].to_list() == [NAME]
    assert definitions["keys"][0].to_list() == KEYS
    assert "Monday of the ISO week (UTC)." in ran.tagged("dictionary")

    # The planted engagement spike makes its account's agency lead that week on its platform,
    # with a share of engagement far above its share of posts.
    spike = next(p for p in WORLD_PLANTED if p.kind == "engagement_spike")
    agency = next(
        a
        for a, _, _, platform, handle in WORLD_ACCOUNTS
        if (platform, handle) == (spike.platform, spike.handle)
    )
    week = spike.day - dt.timedelta(days=spike.day.weekday())
    that_week = published.filter(pl.col("week") == week, pl.col("platform") == spike.platform)
    leader = that_week.sort("share_of_engagement", descending=True).row(0, named=True)
    assert leader["agency"] == agency
    assert leader["share_of_engagement"] > 2 * leader["share_of_posts"]
    assert (
        f"Week of {week} on {spike.platform}: {agency} leads with "
        f"{leader['share_of_engagement']:.1%} of engagement" in ran.tagged("leaders")
    )
