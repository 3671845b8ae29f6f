"""notebooks/01-getting-started.ipynb runs over the demo world's lake and prints what the lake
holds: every figure is checked against the Delta tables read directly."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
from notebook_run import notebook, run_notebook


@pytest.mark.slow
def test_getting_started_reads_the_lake(notebook_lake: Path) -> None:
    lake = notebook_lake.parent / "lake"
    ran = run_notebook(notebook("01-getting-started.ipynb"), notebook_lake)

    written = sorted(p.parent.relative_to(lake).as_posix() for p in lake.glob("*/*/_delta_log"))
    tables = ran.tagged("tables")
    assert f"Lake: {lake}" in tables
    assert f"{len(written)} tables written" in tables
    for name in written:
        assert name in tables

    gold = pl.read_delta(str(lake / "gold/daily_account_metrics"))
    dictionary = ran.tagged("dictionary")
    assert f"gold/daily_account_metrics: {len(gold.columns)} columns" in dictionary
    for column in gold.columns:
        assert column in dictionary

    accounts = pl.read_delta(str(lake / "silver/accounts"))
    assert (
        f"{accounts.height} accounts of {accounts['agency'].n_unique()} agencies "
        f"on {accounts['platform'].n_unique()} platforms"
    ) in ran.tagged("accounts")

    observed = gold.filter(pl.col("followers").is_not_null())
    last_followers = observed.sort("date").group_by("platform", "account_id").last()
    latest = ran.tagged("latest")
    assert (
        f"Days with follower figures: {observed['date'].min()} to {observed['date'].max()}"
    ) in latest
    assert (
        f"Followers of all {last_followers.height} accounts at their latest figures: "
        f"{last_followers['followers'].sum():,}"
    ) in latest

    since = gold["date"].max() - dt.timedelta(days=6)
    cdc = pl.read_delta(str(lake / "silver/accounts")).filter(pl.col("agency") == "CDC")
    posts = (
        pl.read_delta(str(lake / "silver/posts"))
        .join(cdc.select("platform", "account_id"), on=["platform", "account_id"])
        .filter(pl.col("created_at").dt.date() >= since)
    )
    lazy = ran.tagged("lazy")
    assert "Filters pushed into the scan: True" in lazy
    counts = posts.group_by("platform").len()
    assert counts.height >= 2
    for platform, n in counts.iter_rows():
        assert f"CDC posts on {platform} from {since} on: {n:,}" in lazy

    travel = ran.tagged("time_travel")
    versions = [int(v) for v in re.findall(r"version (\d+): ", travel)]
    assert len(versions) == 2 and versions[0] < versions[1]
    for version in versions:
        then = pl.read_delta(str(lake / "gold/daily_account_metrics"), version=version)
        assert f"version {version}: {then.height:,} rows" in travel
    assert then.height == gold.height

    conversions = ran.tagged("conversions")
    assert f"pandas: {gold.filter(pl.col('agency') == 'CDC').height:,} rows" in conversions
    all_posts = pl.read_delta(str(lake / "silver/posts")).group_by("platform").len()
    for platform, n in all_posts.iter_rows():
        assert f"Dask: {n:,} posts on {platform}" in conversions
