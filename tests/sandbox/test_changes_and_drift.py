"""The simulated world changes (deletions, edits) and the change-like faults (drift, repeats)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from hhs_platform.sandbox import DEFAULT_EPOCH, FaultProfile, World
from hhs_platform.sandbox.faults import DROPPED_CONNECTION, DUPLICATE_PAGE, apply_drift
from hhs_platform.sandbox.model import Repost

ROWS = [
    {"platform": p, "handle": h, "agency": "HHS", "agency_name": "HHS", "platform_id": None}
    for p, h in (
        ("bluesky", "hhs.gov"),
        ("x", "HHSgov"),
        ("youtube", "USGOVHHS"),
        ("mastodon", "hhs"),
    )
]
PLATFORMS = ["bluesky", "x", "youtube", "mastodon"]


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_no_changes_by_default() -> None:
    world = World(ROWS, seed=4, platforms=PLATFORMS)
    assert all(p.deleted_ts is None and p.edited_ts is None for p in world.posts.values())
    assert world.truth()["deleted"].is_empty()


def test_deleted_posts_leave_feeds_counts_and_truth() -> None:
    world = World(ROWS, seed=4, deletion_rate=0.2, platforms=PLATFORMS)
    victims = [p for p in world.posts.values() if p.deleted_ts is not None]
    assert {p.platform for p in victims} == set(PLATFORMS)
    referenced = {r.subject for r in world.reposts.values()} | {
        r for p in world.posts.values() for r in (p.reply_parent, p.reply_root, p.quote_of) if r
    }
    assert not referenced & {p.post_id for p in victims}  # no payload refers to a gone post
    p = next(v for v in victims if v.deleted_ts and v.deleted_ts < DEFAULT_EPOCH.timestamp())
    assert p.deleted_ts is not None
    acc = world.account_by_id(p.account_id)
    before, after = _at(p.deleted_ts - 1), _at(p.deleted_ts)
    assert p in world.visible_feed(acc, before) and p not in world.visible_feed(acc, after)
    assert world.is_visible(p, before) and not world.is_visible(p, after)
    assert world.is_deleted(p, after) and world.deleted_at(p) == after
    assert world.posts_count(acc, after) < world.posts_count(acc, before) + 1
    truth = world.truth(after)
    assert p.post_id not in set(truth["posts"]["post_id"])
    assert p.post_id in set(truth["deleted"]["post_id"])
    assert truth["deleted"]["deleted_at"].max() <= after  # type: ignore[operator]
    assert set(truth["deleted"].columns) == {
        "platform",
        "post_id",
        "account_id",
        "created_at",
        "deleted_at",
    }
    # Every post in the truth is served, every deleted one is not.
    served = {
        e.uri if isinstance(e, Repost) else e.post_id
        for a in world.accounts
        for e in world.visible_feed(a, after)
    }
    assert set(truth["posts"]["post_id"]) == served


def test_edits_follow_each_platforms_rules() -> None:
    world = World(ROWS, seed=4, edit_rate=0.3, platforms=PLATFORMS)
    edited = [p for p in world.posts.values() if p.edited_ts is not None]
    assert {p.platform for p in edited} == {"x", "youtube", "mastodon"}  # Bluesky has no edits
    for p in edited:
        assert p.edited_ts is not None and p.edited_text.startswith(p.text)
        assert world.text(p, _at(p.edited_ts - 1)) == p.text
        assert world.text(p, _at(p.edited_ts)) == p.edited_text
        assert world.edited_at(p, _at(p.edited_ts)) == _at(p.edited_ts)
        if p.platform == "x":
            assert p.edited_ts - p.ts < 3600  # X: edits within an hour


def test_drift_removes_or_renames_fields() -> None:
    x = {"data": [{"id": "1", "public_metrics": {"like_count": 1, "impression_count": 9}}]}
    out = json.loads(
        apply_drift(json.dumps(x).encode(), ["data[].public_metrics.impression_count"])
    )
    assert out["data"][0]["public_metrics"] == {"like_count": 1}
    yt = {"items": [{"statistics": {"viewCount": "5", "commentCount": "2"}}]}
    body = json.dumps(yt, indent=2).encode()
    out_b = apply_drift(body, ["items[].statistics.commentCount->comments"])
    assert out_b.startswith(b"{\n")  # YouTube's pretty-printing kept
    assert json.loads(out_b)["items"][0]["statistics"] == {"viewCount": "5", "comments": "2"}
    masto = [{"id": "1", "favourites_count": 3}]
    out = json.loads(apply_drift(json.dumps(masto).encode(), ["[].favourites_count"]))
    assert out == [{"id": "1"}]
    assert apply_drift(b"not json", ["a"]) == b"not json"


def test_fault_profile_new_kinds_keep_old_decisions() -> None:
    old = FaultProfile(rate_limit=0.1, server_error=0.1, truncated=0.15, seed=5)
    new = FaultProfile(
        rate_limit=0.1,
        server_error=0.1,
        truncated=0.15,
        seed=5,
        dropped_connection=0.1,
        duplicate_page=0.1,
        drift={"bluesky": ["feed[].post.likeCount"]},
    )
    kinds = set()
    for n in range(500):
        a, b = old.decide("bluesky", n), new.decide("bluesky", n)
        if a.kind is not None:
            assert (a.kind, a.status) == (b.kind, b.status)
        kinds.add(b.kind)
        if b.kind not in ("rate_limit", "server_error"):  # an error body has nothing to drift
            assert b.drift == ("feed[].post.likeCount",)
        assert new.decide("youtube", n).drift == ()
    assert {DROPPED_CONNECTION, DUPLICATE_PAGE} <= kinds
    with pytest.raises(ValueError, match="probabilit"):
        FaultProfile(truncated=0.6, duplicate_page=0.5)


def test_truth_deleted_table_is_sorted_and_typed() -> None:
    world = World(ROWS, seed=4, deletion_rate=0.2, platforms=PLATFORMS)
    deleted = world.truth(DEFAULT_EPOCH + timedelta(days=3))["deleted"]
    assert deleted.height > 0
    assert deleted.schema["deleted_at"] == pl.Datetime("us", "UTC")
    assert (deleted["deleted_at"] > deleted["created_at"]).all()
