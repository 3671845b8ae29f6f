"""A lake written by an older version (a column its model has since gained is missing) keeps
working: the next collection adds the column, old rows read it as null, nothing else changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
from deltalake import write_deltalake
from landing import collect_from_sandbox, registry_rows

from hhs_platform.quality.accuracy import is_exact
from hhs_platform.sandbox import World

REGISTRY = registry_rows(
    [("HHS", "U.S. Department of Health and Human Services", None, "bluesky", "hhs.gov", None)]
)


def _settings(sb: Any) -> dict[str, Any]:
    return {"bluesky_api_base": sb.url("bluesky")}


def test_a_lake_from_before_a_new_column_takes_the_next_collection(tmp_path) -> None:
    world = World(REGISTRY, seed=4, deletion_rate=0.3)
    start = world.now()
    first = collect_from_sandbox(
        tmp_path, REGISTRY, _settings, run_id="run-1", sandbox_kwargs={"world": world}
    )
    lake = first.lake
    posts = lake.read("silver/posts")
    # rewrite silver/posts as an older version wrote it: without utc_offset_minutes
    write_deltalake(
        lake.path("silver/posts"),
        posts.drop("utc_offset_minutes").to_arrow(),
        mode="overwrite",
        schema_mode="overwrite",
        partition_by=["platform"],
    )
    assert "utc_offset_minutes" not in lake.read("silver/posts").columns

    world.clock.set(start + timedelta(days=3))  # posts get deleted: tombstones read old rows
    second = collect_from_sandbox(
        tmp_path, REGISTRY, _settings, run_id="run-2", sandbox_kwargs={"world": world}
    )
    assert all(not o.errors for o in second.outcomes)
    assert is_exact(second.report), second.report
    after = lake.read("silver/posts")
    gone = after.filter(pl.col("is_deleted"))
    assert gone.height > 0
    assert gone["utc_offset_minutes"].null_count() == gone.height  # old rows read null
    live = after.filter(~pl.col("is_deleted"))
    assert live["utc_offset_minutes"].to_list() == [0] * live.height  # seen again: filled
