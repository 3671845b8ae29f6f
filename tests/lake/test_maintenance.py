"""Maintenance over a real Delta lake: compaction and Z-order keep every row, vacuum keeps the
time-travel window it is given and deletes the rest, and `hhs maintain` reports per table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.lake import Lake
from hhs_platform.lake.maintenance import ZORDER, maintain
from schemas import CATALOGUE, table_spec

GOLD = "gold/daily_account_metrics"


def _day(n: int) -> pl.DataFrame:
    """One day of figures for 30 accounts on two platforms."""
    rows = [
        {
            "date": dt.date(2026, 11, 1) + dt.timedelta(days=n),
            "platform": "bluesky" if i % 2 else "mastodon",
            "account_id": f"acct-{i:02d}",
            "handle": f"h{i}",
            "agency": ["CDC", "FDA", "NIH"][i % 3],
            "followers": 1000 * i + n,
            "posts_published": n % 3,
            "likes": i,
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
            "engagement": i,
            "engagement_activity": i,
        }
        for i in range(30)
    ]
    return pl.DataFrame(rows).match_to_schema(table_spec(GOLD).schema, missing_columns="insert")


def _parquet_files(lake: Lake, table: str) -> int:
    """Data files on disk (the log's checkpoint is Parquet too, and not data)."""
    return sum(1 for p in Path(lake.path(table)).rglob("*.parquet") if "_delta_log" not in p.parts)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    for n in range(6):  # six appends: six small files per partition
        lake.append(GOLD, _day(n))
    return lake


def test_compaction_and_zorder_keep_every_row_and_reduce_files(lake: Lake) -> None:
    before = lake.read(GOLD).sort("date", "platform", "account_id")
    files = len(lake.delta(GOLD).file_uris())  # type: ignore[union-attr]
    assert files == 12  # 6 appends x 2 platform partitions
    report = maintain(lake, [GOLD], retention_hours=168)
    entry = report.tables[0]
    assert entry.error is None
    assert entry.files_before == 12
    assert entry.files_after == 2  # one file per partition
    assert entry.zordered_by == ZORDER[GOLD]
    assert entry.files_vacuumed == 0  # every old file is inside the 7-day window
    assert lake.read(GOLD).sort("date", "platform", "account_id").equals(before)
    # statistics of the current files, from the log
    assert entry.rows == before.height
    on_disk = sum(
        Path(u.removeprefix("file://")).stat().st_size for u in lake.delta(GOLD).file_uris()
    )  # type: ignore[union-attr]
    assert entry.bytes_after == on_disk > 0
    # time travel still reads the first version
    assert lake.scan(GOLD, version=0).collect().height == 30


def test_vacuum_with_no_window_deletes_the_old_files(lake: Lake) -> None:
    before = lake.read(GOLD).sort("date", "platform", "account_id")
    assert _parquet_files(lake, GOLD) == 12
    report = maintain(lake, [GOLD], retention_hours=0, zorder=False)
    entry = report.tables[0]
    assert entry.error is None and entry.zordered_by == ()
    assert entry.files_vacuumed == 12
    assert _parquet_files(lake, GOLD) == 2
    assert lake.read(GOLD).sort("date", "platform", "account_id").equals(before)
    with pytest.raises(Exception):  # noqa: B017 - the first version's files are gone
        lake.scan(GOLD, version=0).collect()


def test_hhs_maintain_command(lake: Lake) -> None:
    result = CliRunner().invoke(app, ["maintain", "--lake", lake.uri, "--retention-hours", "200"])
    assert result.exit_code == 0, result.output
    assert f"{GOLD}" in result.output and "files     12 ->      2" in result.output
    bad = CliRunner().invoke(app, ["maintain", "--lake", lake.uri, "--table", "gold/nope"])
    assert bad.exit_code == 2 and "unknown table" in bad.output


def test_maintenance_keeps_every_clustered_table_in_its_order() -> None:
    # A clustered table's daily replace rewrites only its newest files while they hold ranges of
    # its first cluster column; a Z-order by any other column would scatter those ranges.
    clustered = {name: spec.cluster_by[0] for name, spec in CATALOGUE.items() if spec.cluster_by}
    assert len(clustered) >= 5
    assert {name: ZORDER.get(name) for name in clustered} == {
        name: (column,) for name, column in clustered.items()
    }


def _observations(posts: int, days: int, now: dt.datetime, seed: int = 5) -> pl.DataFrame:
    """Daily observations of ``posts`` posts published over ``days`` days before ``now``, each
    observed once a day for 15 days after publication (one run a day: the counts move)."""
    rng = np.random.default_rng(seed)
    published = rng.integers(0, days, posts)
    post = np.repeat(np.arange(posts), 15)
    age = np.tile(np.arange(15), posts)
    day = published[post] + age
    keep = day < days
    post, age, day = post[keep], age[keep], day[keep]
    start = now - dt.timedelta(days=days)
    at = pl.Series([start]).dt.cast_time_unit("us")[0] + pl.Series(day * 86_400_000_000).cast(
        pl.Duration("us")
    )
    likes = (rng.integers(1, 50, posts)[post] * (age + 1)).astype(np.int64)
    return _metrics_rows(
        pl.DataFrame(
            {
                "post_id": [f"p{p:06d}" for p in post],
                "observed_at": at,
                "likes": likes,
                "views": rng.integers(0, 10**6, post.size),
                "response_id": [f"resp-{d}-{p // 20}" for d, p in zip(day, post, strict=True)],
            }
        ).with_columns(last_observed_at=pl.col("observed_at"))
    )


def _metrics_rows(df: pl.DataFrame) -> pl.DataFrame:
    spec = table_spec("silver/post_metrics")
    return df.with_columns(
        run_id=pl.col("observed_at").dt.date().cast(pl.Utf8),
        connector_version=pl.lit("1"),
        platform=pl.lit("bluesky"),
        account_id=pl.lit("acct"),
        reposts=pl.col("likes") // 3,
        replies=pl.lit(1, pl.Int64),
        quotes=pl.lit(0, pl.Int64),
    ).select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def _last_commit(lake: Lake, table: str) -> dict[str, int]:
    delta = lake.delta(table)
    assert delta is not None
    return {k: int(v) for k, v in delta.history(1)[0]["operationMetrics"].items() if "num" in k}


def test_a_collections_merge_into_a_maintained_lake_rewrites_only_the_newest_files(
    tmp_path: Path,
) -> None:
    """After `hhs maintain`, the merged silver tables sit in files ordered by when each row was
    last touched: a day's MERGE (runs it extends, some of them months old, new runs, new posts)
    rewrites only the newest, and leaves the same rows as in the lake as it was written. Ordered
    by post and observation time instead, the months-old runs it extends are everywhere."""
    table = "silver/post_metrics"
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    yesterday = now - dt.timedelta(days=1)
    # posts whose counts settled months ago, still observed every day (a pinned post, a slow
    # account's feed): one run from then to yesterday
    settled = (
        _observations(posts=600, days=180, now=now - dt.timedelta(days=60), seed=6)
        .with_columns(pl.col("post_id").str.slice(1).cast(pl.Int64) * 50)
        .with_columns(post_id=pl.format("p{}s", pl.col("post_id").cast(pl.Utf8).str.zfill(6)))
        .filter(pl.col("observed_at") == pl.col("observed_at").max().over("post_id"))
        .with_columns(last_observed_at=pl.lit(yesterday))
    )
    history = pl.concat([_observations(posts=30_000, days=180, now=now), settled])
    latest = history.filter(pl.col("observed_at") == pl.col("observed_at").max().over("post_id"))
    active = latest.filter(pl.col("last_observed_at") == yesterday).sort("post_id")
    assert active.height > 500
    # the day's folded rows: half the active posts' runs extended (counts unchanged), half a new
    # run, and posts never seen before
    extended = active[::2].with_columns(last_observed_at=pl.lit(now))
    moved = active[1::2].with_columns(
        observed_at=pl.lit(now), last_observed_at=pl.lit(now), likes=pl.col("likes") + 7
    )
    new = _metrics_rows(
        pl.DataFrame({"post_id": [f"n{i:04d}" for i in range(300)], "likes": list(range(300))})
        .with_columns(views=pl.col("likes") * 40, response_id=pl.lit("resp-new"))
        .with_columns(observed_at=pl.lit(now), last_observed_at=pl.lit(now))
    )
    day = pl.concat([extended, _metrics_rows(moved), new])

    names = ("plain", "maintained", "post", "merged")
    plain, maintained, by_post, merged_lake = (Lake(str(tmp_path / n)) for n in names)
    for lake in (plain, maintained, by_post):
        months = history.with_columns(_month=pl.col("observed_at").dt.month())
        for month in months.partition_by("_month", include_key=False, maintain_order=True):
            lake.append(table, month)
    # a first MERGE of the whole history (as a first enrichment is) writes files of the table's
    # size in the cluster order too
    merged_lake.merge(table, history)
    merged_files = len(merged_lake.delta(table).file_uris())  # type: ignore[union-attr]
    assert merged_files >= 5
    report = maintain(maintained, [table], retention_hours=168)
    files = report.tables[0].files_after
    assert report.tables[0].zordered_by == ("last_observed_at",) and files >= 5
    # the order before this change: by post and time
    delta = by_post.delta(table)
    assert delta is not None
    delta.optimize.z_order(["post_id", "observed_at"], target_size=table_spec(table).file_bytes)
    by_post_files = len(by_post.delta(table).file_uris())  # type: ignore[union-attr]

    for lake in (plain, maintained, by_post, merged_lake):
        lake.merge(table, day)
    keys = ["post_id", "observed_at"]
    for lake in (maintained, by_post, merged_lake):
        assert lake.read(table).sort(keys).equals(plain.read(table).sort(keys))
    stored = history.height + moved.height + new.height
    assert maintained.read(table).height == stored

    merged, old = _last_commit(maintained, table), _last_commit(by_post, table)
    print(f"\nmaintained: {files} files, merge {merged}\nby post: {by_post_files} files, {old}")
    assert merged["num_target_files_removed"] <= 2
    assert merged["num_target_rows_copied"] < 0.1 * history.height
    assert merged["num_target_rows_updated"] == extended.height
    assert old["num_target_files_removed"] >= by_post_files // 2
    first = _last_commit(merged_lake, table)
    print(f"merged: {merged_files} files, {first}")
    # The whole-history MERGE's files come from the MERGE's parallel writers, so the rows a day
    # touches may sit in one to three of them (32,076 and 150,860 rows copied in two runs): a
    # part of the table, where the old order rewrote all of it.
    assert first["num_target_files_removed"] <= 3
    assert first["num_target_rows_copied"] < 0.6 * history.height


def test_a_table_written_before_it_was_clustered_gets_its_file_size(tmp_path: Path) -> None:
    """A lake from before the merged tables were clustered: their next MERGE sets the file
    size, once, and merges as before."""
    from deltalake import DeltaTable, write_deltalake

    table = "silver/post_metrics"
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    rows = _observations(posts=50, days=20, now=now)
    lake = Lake(str(tmp_path / "lake"))
    write_deltalake(lake.path(table), rows.to_arrow(), partition_by=["platform"])
    assert "delta.targetFileSize" not in DeltaTable(lake.path(table)).metadata().configuration
    fresh = _observations(posts=5, days=2, now=now + dt.timedelta(days=3), seed=9).with_columns(
        pl.col("post_id").str.replace("p", "q")
    )
    for _ in range(2):
        lake.merge(table, fresh)
        Lake(lake.uri).merge(table, fresh)  # a new Lake checks again and finds it set
    stored = DeltaTable(lake.path(table))
    assert stored.metadata().configuration["delta.targetFileSize"] == "2000000"
    properties = [c for c in stored.history() if c["operation"] == "SET TBLPROPERTIES"]
    assert len(properties) == 1
    assert lake.read(table).height == rows.height + fresh.height
