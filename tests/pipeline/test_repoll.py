"""Re-poll planning on a collected lake: the accounts whose posts reach a curve age soon."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
from landing import collect_from_sandbox, registry_rows

from hhs_platform.transforms.curves import repoll_accounts

HHS = "U.S. Department of Health and Human Services"
REGISTRY = registry_rows(
    [
        ("HHS", HHS, None, "bluesky", "hhs.gov", None),
        ("CDC", "Centers for Disease Control and Prevention", "HHS", "bluesky", "cdc.gov", None),
    ]
)


def _settings(sb: Any) -> dict[str, Any]:
    return {"bluesky_api_base": sb.url("bluesky")}


def test_repoll_names_exactly_the_accounts_with_an_age_due(tmp_path) -> None:
    landed = collect_from_sandbox(tmp_path, REGISTRY, _settings)
    lake = landed.lake
    posts = lake.read("silver/posts").filter(pl.col("post_type") != "repost")
    # the simulated world's posts are weeks older than the collection; as if each post had been
    # observed five minutes after publication (an observation that stands for none of its ages)
    seen = posts.select("platform", "post_id", "created_at")
    metrics = lake.read("silver/post_metrics").join(seen, on=["platform", "post_id"])
    lake.overwrite(
        "silver/post_metrics",
        metrics.with_columns(
            observed_at=pl.col("created_at") + timedelta(minutes=5),
            last_observed_at=pl.col("created_at") + timedelta(minutes=5),
        ).drop("created_at"),
    )
    newest = posts.sort("created_at").row(-1, named=True)
    # ten minutes before the newest post turns 24 hours old, its account is due; at a time when
    # no post of either account reaches an age, none is
    now = newest["created_at"] + timedelta(hours=24) - timedelta(minutes=10)
    keys = repoll_accounts(lake, now)
    owner = lake.read("silver/accounts").filter(account_id=newest["account_id"])
    assert owner["account_key"].item() in keys

    def due(account_id: str, age: int) -> bool:
        at = now - timedelta(hours=age)  # created then, the post turns ``age`` hours old now
        tolerance = max(timedelta(minutes=30), timedelta(hours=age) / 10)
        window = pl.col("created_at").is_between(at - tolerance, at + timedelta(hours=1))
        return posts.filter((pl.col("account_id") == account_id) & window).height > 0

    expected = {
        r["account_key"]
        for r in lake.read("silver/accounts").iter_rows(named=True)
        if any(due(r["account_id"], age) for age in (1, 6, 24, 72, 168, 672))
    }
    assert keys == expected
    assert repoll_accounts(lake, now + timedelta(days=400)) == set()
    # observed again just now: the ages that observation stands for are no longer owed
    lake.overwrite(
        "silver/post_metrics",
        metrics.with_columns(observed_at=pl.lit(now), last_observed_at=pl.lit(now)).drop(
            "created_at"
        ),
    )

    def due_ahead(account_id: str, age: int) -> bool:
        at = now - timedelta(hours=age)
        tolerance = max(timedelta(minutes=30), timedelta(hours=age) / 10)
        # only an age still to come, beyond what the observation now stands for
        window = (pl.col("created_at") > at + tolerance) & (
            pl.col("created_at") <= at + timedelta(hours=1)
        )
        return posts.filter((pl.col("account_id") == account_id) & window).height > 0

    assert repoll_accounts(lake, now) < keys  # the 24 h age of the newest post was just seen
    assert repoll_accounts(lake, now) == {
        r["account_key"]
        for r in lake.read("silver/accounts").iter_rows(named=True)
        if any(due_ahead(r["account_id"], age) for age in (1, 6, 24, 72, 168, 672))
    }
