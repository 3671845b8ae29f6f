"""Incremental gold (only accounts whose silver changed) equals a full rebuild, run after run."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from landing import collect_from_sandbox, registry_rows
from sim_time import days_ago

from hhs_platform.analytics import changed_since
from hhs_platform.lake import Lake
from hhs_platform.pipeline import first_changed_day
from hhs_platform.sandbox import World
from hhs_platform.transforms import gold
from hhs_platform.transforms.gold import build_gold, silver_watermark
from hhs_platform.transforms.trends import leaderboards
from schemas import CATALOGUE, table_spec

HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
NCHS = "National Center for Health Statistics"
REGISTRY = registry_rows(
    [
        ("HHS", HHS, None, "bluesky", "hhs.gov", None),
        ("CDC", CDC, "HHS", "bluesky", "cdc.gov", None),
        ("CDC-NCHS", NCHS, "CDC", "mastodon", "nchs", None),
        ("HHS", HHS, None, "mastodon", "hhs", None),
    ]
)
#: What build_gold writes: not its build log, nor the definitions of users' custom tables.
GOLD = [
    n
    for n, s in CATALOGUE.items()
    if s.layer == "gold" and n not in ("gold/builds", "gold/custom_tables")
]


def _settings(sb: Any) -> dict[str, Any]:
    return {"bluesky_api_base": sb.url("bluesky"), "mastodon_api_base": sb.url("mastodon")}


def _gold(lake: Lake) -> dict[str, pl.DataFrame]:
    return {n: lake.read(n).sort(list(table_spec(n).keys)) for n in GOLD}


def test_incremental_gold_equals_a_full_rebuild(tmp_path: Path) -> None:
    # the runs move the world 3 days on: frozen 5 days back (tests/sim_time.py)
    clock = days_ago(5)
    world = World(REGISTRY, seed=5, deletion_rate=0.2, edit_rate=0.2, clock=clock)
    start = world.now()
    builds = []
    for n, days in enumerate([0, 1, 3]):
        world.clock.set(start + timedelta(days=days))
        # the second run sees one platform only: the other's accounts must not be recomputed
        registry = REGISTRY.filter(platform="bluesky") if n == 1 else REGISTRY
        landed = collect_from_sandbox(
            tmp_path, registry, _settings, run_id=f"run-{n}", sandbox_kwargs={"world": world}
        )
        assert all(not o.errors for o in landed.outcomes)
        build_gold(landed.lake)
        builds.append(landed.lake.read("gold/builds").sort("built_at").row(-1, named=True))
    lake = landed.lake
    assert [b["full"] for b in builds] == [True, False, False]
    assert builds[1]["accounts"] == 2  # the two Bluesky accounts only
    assert builds[2]["accounts"] == 4
    build_gold(lake)  # nothing changed since: nothing recomputed
    assert lake.read("gold/builds").sort("built_at")["accounts"][-1] == 0

    incremental = _gold(lake)
    full = Lake(str(tmp_path / "full"))
    shutil.copytree(lake.uri, full.uri)
    build_gold(full, full=True)
    rebuilt = _gold(full)
    for name in GOLD:
        assert incremental[name].height > 0, name
        assert incremental[name].equals(rebuilt[name]), name
    # the agency hierarchy rolls up: HHS's followers on all platforms include NCHS's
    agency = incremental["gold/agency_metrics"].filter(period="day", platform="all")
    last_day = agency["period_start"].max()
    by = {r["agency"]: r for r in agency.filter(period_start=last_day).iter_rows(named=True)}
    assert by["HHS"]["followers"] > by["CDC"]["followers"] > by["CDC-NCHS"]["followers"] > 0


def test_two_weeks_of_daily_incremental_builds_equal_a_full_rebuild(
    world_lake: str, tmp_path: Path
) -> None:
    """The world lake was built incrementally after each of 14 daily collections (rollups,
    trends and leaderboards recomputed only from each day's first change): rebuilding it whole
    gives the same gold, table for table."""
    lake = Lake(world_lake)
    builds = lake.read("gold/builds")
    assert builds["full"].sum() == 1 and builds.height == 14
    full = Lake(str(tmp_path / "full"))
    shutil.copytree(lake.uri, full.uri)
    build_gold(full, full=True)
    incremental, rebuilt = _gold(lake), _gold(full)
    for name in GOLD:
        assert incremental[name].height > 0, name
        assert incremental[name].equals(rebuilt[name]), name
    # the build reads only the curves at 24 hours for the leaderboards: the same as all of them
    boards = "gold/leaderboards"
    whole = leaderboards(
        full.read("gold/weekly_account_metrics"),
        full.read("gold/agency_metrics"),
        full.read("gold/post_curves"),
    )
    assert whole.filter(board="overperformance").height > 0
    assert rebuilt[boards].equals(whole.sort(list(table_spec(boards).keys)))
    # each post's latest counters, merged build after build: its newest run of observations
    metrics = lake.read("silver/post_metrics")
    newest = metrics.filter(
        pl.col("observed_at") == pl.col("observed_at").max().over("platform", "post_id")
    )
    counters = incremental["gold/post_counters"]
    assert counters.height == newest.height == metrics.select("platform", "post_id").n_unique()
    assert counters.drop("engagement").equals(
        newest.select(counters.drop("engagement").columns).sort("platform", "post_id")
    )
    parts = newest.select(pl.col("likes", "reposts", "replies", "quotes").fill_null(0))
    assert counters["engagement"].sum() == parts.sum().sum_horizontal().item() > 0
    assert metrics.height > counters.height  # counters that changed left older runs behind


def test_a_whole_rebuild_in_shares_of_accounts_equals_one_pass(
    world_lake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole rebuild computes a few accounts' posts at a time (its memory follows the share,
    not the lake): the rows equal those of one pass over every account, accounts missing from
    silver/accounts (posts and snapshots only) included."""
    lake = Lake(world_lake)
    accounts = lake.read("silver/accounts")
    posts = lake.read("silver/posts").group_by("platform", "account_id").len()
    share = 7
    assert posts.group_by("platform").agg(pl.col("len").sum())["len"].max() > 3 * share
    # two accounts known only by their posts and snapshots
    dropped = posts.sort("len").tail(2).select("platform", "account_id")
    known = accounts.join(dropped, on=["platform", "account_id"], how="anti")
    monkeypatch.setattr(gold, "WHOLE_BUILD_POSTS", share)
    daily, curves = gold._gold_whole(lake, known)
    one_daily, one_curves = gold._gold_for(lake, known, None)
    keys = list(table_spec("gold/daily_account_metrics").keys)
    assert daily.height == one_daily.height > 0
    assert daily.sort(keys).equals(one_daily.sort(keys))
    keys = list(table_spec("gold/post_curves").keys)
    assert curves.height == one_curves.height > 0
    assert curves.sort(keys).equals(one_curves.sort(keys))
    orphans = daily.join(dropped, on=["platform", "account_id"], how="semi")
    assert orphans.height > 0 and orphans["handle"].is_null().all()


@pytest.mark.parametrize("previous", ["recorded", "unreadable"])
def test_posts_whose_publication_time_moved_keep_one_curve_each(
    world_lake: str, tmp_path: Path, previous: str
) -> None:
    """An incremental build recomputes a changed post's old publication day too (read from the
    silver/posts version the previous build recorded; where it cannot be read, the post's
    account whole), and replaces a platform's post curves from its first changed post on (a
    bound on created_at, no list of ids): a post whose time moved forward has stored rows before
    that, replaced, not kept beside the new."""
    lake = Lake(str(tmp_path / "lake"))
    shutil.copytree(world_lake, lake.uri)
    if previous == "unreadable":  # e.g. vacuumed since
        builds = lake.read("gold/builds")
        lake.overwrite("gold/builds", builds.with_columns(posts_version=pl.lit(10**6)))
    curves = lake.read("gold/post_curves")
    platform = curves.group_by("platform").len().sort("len")["platform"][-1]
    published = (
        curves.filter(platform=platform)
        .select("post_id", "created_at")
        .unique()
        .sort("created_at", "post_id")
    )
    newest = published.row(-1, named=True)
    older = published.filter(pl.col("created_at") < newest["created_at"] - timedelta(days=9))
    old = older.row(-1, named=True)
    seen = silver_watermark(lake) + timedelta(hours=1)  # type: ignore[operator]
    moves = {  # the newest post five days back, a ten-day-old one six days forward
        newest["post_id"]: newest["created_at"] - timedelta(days=5),
        old["post_id"]: old["created_at"] + timedelta(days=6),
    }
    posts = lake.read("silver/posts").filter(
        pl.col("platform") == platform, pl.col("post_id").is_in(list(moves))
    )
    lake.merge(
        "silver/posts",
        posts.with_columns(
            created_at=pl.col("post_id").replace_strict(
                moves, return_dtype=posts["created_at"].dtype
            ),
            last_seen_at=pl.lit(seen),
        ),
    )
    # the watermark read from a previous one on is the one read from every row
    mark = silver_watermark(lake)
    assert mark is not None and mark == seen
    assert silver_watermark(lake, mark - timedelta(days=3)) == mark
    assert silver_watermark(lake, mark + timedelta(days=1)) == mark + timedelta(days=1)
    daily = "gold/daily_account_metrics"
    version, before = lake.version(daily), lake.read(daily)
    build_gold(lake)
    assert not lake.read("gold/builds").sort("built_at")["full"][-1]
    # the first changed day, found from the files the build rewrote, is the one a comparison of
    # the whole table finds: the moved post's old day, six days before its new one
    first = first_changed_day(lake, version)
    assert first == changed_since(before, lake.read(daily))
    assert first is not None and first <= old["created_at"].date()

    after = lake.read("gold/post_curves").filter(platform=platform)
    keys = list(table_spec("gold/post_curves").keys)
    assert after.select(keys).is_duplicated().sum() == 0
    moved = (
        after.filter(pl.col("post_id").is_in(list(moves)))
        .group_by("post_id")
        .agg(pl.col("created_at").unique())
    )
    # (the newest post's observations, five days older now, may lie past the curves' ages)
    assert old["post_id"] in moved["post_id"]
    assert {post: at for post, at in moved.iter_rows()} == {
        post: [moves[post]] for post in moved["post_id"]
    }
    full = Lake(str(tmp_path / "full"))
    shutil.copytree(lake.uri, full.uri)
    build_gold(full, full=True)
    incremental, rebuilt = _gold(lake), _gold(full)
    assert [n for n in GOLD if not incremental[n].equals(rebuilt[n])] == []


def test_a_lake_built_before_the_post_counters_existed_is_rebuilt_whole(
    world_lake: str, tmp_path: Path
) -> None:
    """A lake whose gold was built before gold/post_counters existed gets the whole table (a
    full build) from its next build, not only the posts observed since."""
    lake = Lake(str(tmp_path / "lake"))
    shutil.copytree(world_lake, lake.uri)
    expected = lake.read("gold/post_counters").sort("platform", "post_id")
    shutil.rmtree(Path(lake.uri) / "gold" / "post_counters")
    build_gold(lake)
    assert lake.read("gold/builds").sort("built_at")["full"][-1]
    assert lake.read("gold/post_counters").sort("platform", "post_id").equals(expected)
    observed = lake.read("silver/post_metrics").select("platform", "post_id").n_unique()
    assert expected.height == observed > 100
