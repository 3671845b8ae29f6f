"""The world changes between runs (deletions, edits) and answers badly (schema drift, repeated
pages, dropped connections): the pipeline keeps silver exact against the ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from landing import Landed, collect_from_sandbox, registry_rows

from hhs_platform.quality.accuracy import compare_with_truth, is_exact
from hhs_platform.sandbox import FaultProfile, SandboxThread, World

HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
PLATFORMS = ("bluesky", "x", "youtube", "mastodon")
REGISTRY = registry_rows(
    [
        ("HHS", HHS, None, "bluesky", "hhs.gov", None),
        ("CDC", CDC, "HHS", "bluesky", "cdc.gov", None),
        ("HHS", HHS, None, "x", "HHSgov", None),
        ("CDC", CDC, "HHS", "x", "CDCgov", None),
        ("HHS", HHS, None, "youtube", "USGOVHHS", None),
        ("CDC", CDC, "HHS", "youtube", "UC1ZRVOl5MFHIXU4zZr-Oglg", "UC1ZRVOl5MFHIXU4zZr-Oglg"),
        ("HHS", HHS, None, "mastodon", "hhs", None),
        ("CDC", CDC, "HHS", "mastodon", "cdc", None),
    ]
)


def _settings(sb: SandboxThread) -> dict[str, Any]:
    return {
        "bluesky_api_base": sb.url("bluesky"),
        "youtube_api_base": sb.url("youtube"),
        "youtube_api_key": "world-changes-key",
        "x_api_base": sb.url("x"),
        "x_bearer_token": "world-changes-token",
        "mastodon_api_base": sb.url("mastodon"),
    }


def _run(tmp_path: Path, world: World, run_id: str, **sandbox: Any) -> Landed:
    landed = collect_from_sandbox(
        tmp_path,
        REGISTRY.filter(pl.col("platform").is_in(list(world_platforms(world)))),
        _settings,
        run_id=run_id,
        sandbox_kwargs={"world": world, **sandbox},
    )
    assert all(not o.errors for o in landed.outcomes), [
        e for o in landed.outcomes for e in o.errors
    ]
    return landed


def world_platforms(world: World) -> set[str]:
    return {a.platform for a in world.accounts}


def _changing_world() -> tuple[World, datetime, datetime]:
    """A world where posts get deleted and edited, and two instants between which an X post,
    already published at the first, is edited (X allows edits only within an hour)."""
    world = World(REGISTRY, seed=17, deletion_rate=0.3, edit_rate=0.3, platforms=PLATFORMS)
    epoch = world.now().timestamp()
    x_edit = max(
        (
            p
            for p in world.posts.values()
            if p.platform == "x" and p.edited_ts is not None and p.deleted_ts is None
            if p.ts < epoch
        ),
        key=lambda p: p.ts,
    )
    first = datetime.fromtimestamp(x_edit.ts + 1, UTC)
    return world, first, first + timedelta(days=5)


def test_deletions_become_tombstones_and_edits_keep_one_row(tmp_path: Path) -> None:
    world, first, second = _changing_world()
    world.clock.set(first)
    one = _run(tmp_path, world, "run-1")
    assert is_exact(one.report), one.report
    world.clock.set(second)
    two = _run(tmp_path, world, "run-2")
    assert is_exact(two.report), two.report  # tombstones are neither found nor extra

    posts = two.lake.read("silver/posts")
    assert posts.select("platform", "post_id").is_duplicated().sum() == 0
    # Deletions: exactly the posts the first run saw and the truth says are gone since.
    seen_first = one.truth["posts"].select("platform", "post_id")
    gone = two.truth["deleted"].join(seen_first, on=["platform", "post_id"], how="semi")
    tombs = posts.filter(pl.col("is_deleted"))
    for platform in PLATFORMS:
        expected = set(gone.filter(platform=platform)["post_id"])
        assert expected, f"the world should delete some {platform} posts between the runs"
        assert set(tombs.filter(platform=platform)["post_id"]) == expected, platform
    assert tombs["deleted_at"].null_count() == 0
    assert (tombs["deleted_at"] > tombs["last_seen_at"]).all()
    originals = tombs.filter(pl.col("post_type") != "repost")
    assert originals["text"].null_count() < originals.height  # content kept
    live = posts.filter(~pl.col("is_deleted"))
    assert live["deleted_at"].null_count() == live.height

    # Edits: one row per post (X keyed on the first id of the edit chain), with the new text.
    edited = [
        p
        for p in world.posts.values()
        if p.edited_ts is not None
        and p.ts <= first.timestamp() < p.edited_ts <= second.timestamp()
        and not world.is_deleted(p, second)
    ]
    assert {p.platform for p in edited} >= {"x", "youtube", "mastodon"}, edited
    by_key = {(r["platform"], r["post_id"]): r for r in posts.iter_rows(named=True)}
    for p in edited:
        row = by_key[(p.platform, p.post_id)]
        note = p.edited_text[len(p.text) :].strip()
        assert note in (row["text"] or ""), (p.platform, p.post_id, row["text"])
        assert row["first_seen_at"] < row["last_seen_at"]


def test_schema_drift_lands_nulls_and_is_reported(tmp_path: Path) -> None:
    world = World(REGISTRY, seed=3, platforms=["bluesky"])
    drift = FaultProfile(drift={"bluesky": ["feed[].post.likeCount"]})
    landed = _run(tmp_path, world, "drift", faults=drift)
    assert landed.sandbox_stats.faults[("bluesky", "drift")] > 0
    posts = landed.lake.read("silver/posts")
    assert posts.height == landed.truth["posts"].height
    metrics = landed.lake.read("silver/post_metrics")
    assert metrics.height > 0
    assert metrics["likes"].null_count() == metrics.height  # unknown, not 0
    assert metrics["reposts"].null_count() == 0
    report = landed.report[0]
    assert report["posts_missing"] == report["posts_extra"] == report["duplicate_keys"] == 0
    assert report["reposts_accuracy"] == report["replies_accuracy"] == 1.0
    drifted = landed.lake.read("quality/field_drift")
    assert set(drifted["field"]) == {"feed[].post.likeCount"}
    assert set(drifted["platform"]) == {"bluesky"}
    assert not landed.lake.exists("quarantine/rows") or (
        landed.lake.read("quarantine/rows").is_empty()
    )


def test_repeated_pages_and_dropped_connections_still_land_exactly(tmp_path: Path) -> None:
    world = World(REGISTRY, seed=5, platforms=PLATFORMS, history_days=120)
    faults = FaultProfile(duplicate_page=0.25, dropped_connection=0.1, seed=9)
    landed = _run(tmp_path, world, "chaos", faults=faults)
    stats = landed.sandbox_stats.faults
    assert sum(n for (_, kind), n in stats.items() if kind == "duplicate_page") > 0, stats
    assert sum(n for (_, kind), n in stats.items() if kind == "dropped_connection") > 0, stats
    assert is_exact(landed.report), landed.report
    assert all(r["duplicate_keys"] == 0 for r in landed.report)
    # The same world read again later, with repeats: nothing is called deleted wrongly.
    world.clock.advance(timedelta(hours=6))
    again = _run(tmp_path, world, "chaos-2", faults=faults)
    report = compare_with_truth(again.lake, again.truth)
    assert is_exact(report), report
    assert all(r["tombstones"] == 0 for r in report), report
