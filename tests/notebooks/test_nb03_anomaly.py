"""notebooks/03-investigating-an-anomaly.ipynb finds the follower drop planted in the demo world,
shows the account's figures, posts and fetches around it, and redoes the detector's arithmetic:
each printed figure is checked against the lake's tables read directly and the world's truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from dashboard_lakes import WORLD_OUTAGE, WORLD_PLANTED
from notebook_run import notebook, run_notebook


@pytest.mark.slow
def test_investigating_the_planted_follower_drop(notebook_lake: Path) -> None:
    lake = notebook_lake.parent / "lake"
    ran = run_notebook(notebook("03-investigating-an-anomaly.ipynb"), notebook_lake)
    planted = next(p for p in WORLD_PLANTED if p.kind == "follower_drop")
    day, before = planted.day, planted.day - dt.timedelta(days=1)

    anomalies = pl.read_delta(str(lake / "gold/anomalies"))
    listed = ran.tagged("events")
    assert f"{anomalies.height} anomalies" in listed
    for sentence in anomalies["sentence"]:
        assert sentence in listed
    assert f"{min(WORLD_OUTAGE)}  collection_gap      mastodon:hhs" in listed
    n = anomalies.height
    assert f"Sentences rebuilt by describe(): {n} of {n}" in ran.tagged("describe")

    # The largest drop is the planted one, about its planted size.
    event = anomalies.filter(
        (pl.col("kind") == "follower_drop")
        & (pl.col("platform") == planted.platform)
        & (pl.col("handle") == planted.handle)
        & (pl.col("date") == day)
    ).row(0, named=True)
    assert event["change_pct"] == pytest.approx(-100 * planted.size, abs=0.5)
    assert (
        f"Largest follower drop: {planted.platform}:{planted.handle} ({event['agency']}) on {day}: "
        f"{event['change']:+,.0f} followers ({event['change_pct']:+.2f}%)"
    ) in ran.tagged("pick")

    account = event["account_id"]
    daily = pl.read_delta(str(lake / "gold/daily_account_metrics")).filter(
        (pl.col("platform") == planted.platform) & (pl.col("account_id") == account)
    )
    around = ran.tagged("around")
    for d in (before, day):
        followers = daily.filter(pl.col("date") == d)["followers"].item()
        assert f"Followers on {d}: {followers:,}" in around

    posts = pl.read_delta(str(lake / "silver/posts")).filter(
        (pl.col("platform") == planted.platform) & (pl.col("account_id") == account)
    )
    for d in (before, day):
        n_posts = posts.filter(pl.col("created_at").dt.date() == d).height
        assert f"Posts by {planted.handle} on {planted.platform} on {d}: {n_posts}" in ran.tagged(
            "posts"
        )

    # Fetched every day around the drop (the outage was another account's): a real move.
    key = f"{planted.platform}:{planted.handle}"
    fetches = pl.read_delta(str(lake / "bronze/fetch_log")).filter(
        (pl.col("account_key") == key)
        & pl.col("started_at").dt.date().is_between(day - dt.timedelta(days=3), day)
    )
    collection = ran.tagged("collection")
    assert collection.count(f"Fetch of {key} at ") >= fetches.height >= 2
    assert "Verdict: a real move" in collection
    flags = pl.read_delta(str(lake / "quality/flags")).filter(
        (pl.col("entity_id") == account) & (pl.col("observed_at").dt.date() == day)
    )
    for detail in flags["detail"]:
        assert detail in collection

    score = ran.tagged("score")
    assert f"Score: {event['score']:+.1f} (stored: {event['score']:+.1f}" in score
    assert f"Confidence: {event['confidence']:.3f} = evidence" in score
