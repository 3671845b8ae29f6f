"""Incremental gold (only accounts whose silver changed) equals a full rebuild, run after run."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
from landing import collect_from_sandbox, registry_rows

from hhs_platform.lake import Lake
from hhs_platform.sandbox import World
from hhs_platform.transforms.gold import build_gold
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
    world = World(REGISTRY, seed=5, deletion_rate=0.2, edit_rate=0.2)
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
