"""YouTube without an API key: the channel feed gives the 15 newest uploads, exactly as served."""

from __future__ import annotations

import polars as pl
from landing import collect_from_sandbox

from hhs_platform.registry import load_registry
from hhs_platform.sandbox.youtube import FEED_ENTRIES


def test_rss_fallback_lands_the_newest_uploads_exactly(tmp_path) -> None:
    registry = (
        load_registry(platforms=["youtube"]).filter(pl.col("platform_id").is_not_null()).head(4)
    )
    landed = collect_from_sandbox(
        tmp_path,
        registry,
        lambda sb: {"youtube_rss_base": sb.url("youtube"), "youtube_api_base": sb.url("youtube")},
        seed=5,
    )
    assert all(not o.errors for o in landed.outcomes), [
        e for o in landed.outcomes for e in o.errors
    ]
    truth = landed.truth["posts"].filter(platform="youtube")
    newest = truth.sort("created_at", descending=True).group_by("account_id").head(FEED_ENTRIES)
    posts = landed.lake.read("silver/posts")
    assert set(posts["post_id"]) == set(newest["post_id"])
    assert posts.height == newest.height == FEED_ENTRIES * registry.height
    metrics = landed.lake.read("silver/post_metrics")
    cmp = newest.join(metrics, on=["platform", "post_id"], suffix="_lake")
    assert cmp.height == newest.height
    assert (cmp["likes"] == cmp["likes_lake"]).all() and (cmp["views"] == cmp["views_lake"]).all()
    assert cmp["replies_lake"].null_count() == cmp.height  # the feed has no comment count
    # a partial view of the channel: nothing older is called deleted, no account figures invented
    assert not posts["is_deleted"].any()
    assert (
        landed.lake.read("silver/account_snapshots")
        .filter(pl.col("followers").is_not_null())
        .height
        == 0
    )
