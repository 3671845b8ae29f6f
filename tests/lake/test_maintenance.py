"""Maintenance over a real Delta lake: compaction and Z-order keep every row, vacuum keeps the
time-travel window it is given and deletes the rest, and `hhs maintain` reports per table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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
