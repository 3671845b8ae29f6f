"""A post that a complete read of its feed no longer holds becomes a tombstone, not a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.transforms.normalize import SilverBatch
from schemas import table_spec

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _posts(ids: list[str], seen: datetime, account: str = "A") -> pl.DataFrame:
    rows = [
        {
            "run_id": "r",
            "response_id": "x",
            "connector_version": "t/1",
            "platform": "bluesky",
            "post_id": i,
            "account_id": account,
            "author_id": account,
            "created_at": T0 - timedelta(days=1),
            "post_type": "original",
            "text": f"post {i}",
            "media_count": 0,
            "is_deleted": False,
            "first_seen_at": seen,
            "last_seen_at": seen,
        }
        for i in ids
    ]
    return pl.DataFrame(rows, schema=table_spec("silver/posts").schema, strict=False)


def _batch(posts: pl.DataFrame, complete: set[tuple[str, str]]) -> SilverBatch:
    batch = SilverBatch.concat([])
    batch.tables["silver/posts"] = posts
    batch.complete_feeds = complete
    return batch


def test_vanished_post_becomes_tombstone_and_comes_back(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    feed = {("bluesky", "A")}
    write_silver(
        lake, _batch(pl.concat([_posts(["p1", "p2", "p3"], T0), _posts(["b1"], T0, "B")]), feed)
    )
    later = T0 + timedelta(hours=6)
    # p2 is gone from A's complete feed; B's feed was not read completely this time
    write_silver(lake, _batch(_posts(["p1", "p3"], later), feed))
    posts = lake.read("silver/posts").sort("post_id")
    gone = posts.filter(post_id="p2").row(0, named=True)
    assert gone["is_deleted"] and gone["deleted_at"] == later
    assert gone["last_seen_at"] == T0 and gone["text"] == "post p2"  # content kept
    assert posts.filter(pl.col("is_deleted"))["post_id"].to_list() == ["p2"]
    assert posts.height == 4  # nothing dropped, nothing doubled
    # replaying the same run changes nothing
    write_silver(lake, _batch(_posts(["p1", "p3"], later), feed))
    assert lake.read("silver/posts").sort("post_id").equals(posts)
    # the post is served again: the tombstone clears
    again = T0 + timedelta(hours=12)
    write_silver(lake, _batch(_posts(["p1", "p2", "p3"], again), feed))
    back = lake.read("silver/posts").filter(post_id="p2").row(0, named=True)
    assert not back["is_deleted"] and back["deleted_at"] is None and back["last_seen_at"] == again


def test_incomplete_feed_marks_nothing(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_silver(lake, _batch(_posts(["p1", "p2"], T0), {("bluesky", "A")}))
    write_silver(lake, _batch(_posts(["p1"], T0 + timedelta(hours=1)), set()))
    assert not lake.read("silver/posts")["is_deleted"].any()
