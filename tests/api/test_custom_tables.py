"""Custom gold tables: published under a Pandera contract, quarantined by rule, idempotent, and
readable by a later process that only knows the lake."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import hhs_platform
from hhs_platform.errors import LakeError
from schemas.catalogue import CUSTOM

NAME = "gold/custom/weekly_reach"


class WeeklyReach(pa.DataFrameModel):
    """gold/custom/weekly_reach: engagement per account and ISO week."""

    week: pl.Date = pa.Field(description="Monday of the ISO week (UTC).")
    account_id: pl.Utf8 = pa.Field(description="The account.")
    engagement: pl.Int64 = pa.Field(ge=0, description="Likes, reposts, replies and quotes.")
    rate: pl.Float64 = pa.Field(nullable=True, ge=0, description="Engagement per follower.")


def _frame(n: int = 4) -> pl.DataFrame:
    monday = dt.date(2026, 11, 2)
    return pl.DataFrame(
        {
            "week": [monday + dt.timedelta(weeks=i // 2) for i in range(n)],
            "account_id": [f"acct-{i % 2}" for i in range(n)],
            "engagement": [10 * (i + 1) for i in range(n)],
            "rate": [0.01 * (i + 1) for i in range(n)],
        }
    )


@pytest.fixture(autouse=True)
def _forget_registrations() -> None:
    """Each test starts like a new process: no custom table registered."""
    CUSTOM.clear()


def test_publish_is_idempotent_and_quarantines_by_rule(tmp_path: Path) -> None:
    lake = hhs_platform.connect(str(tmp_path / "lake"))
    bad = pl.DataFrame(
        {
            "week": [dt.date(2026, 11, 2)],
            "account_id": ["acct-9"],
            "engagement": [-5],
            "rate": [None],
        }
    )
    dup = _frame(1).with_columns(engagement=pl.lit(99, pl.Int64))
    frame = pl.concat([_frame(), bad, _frame(1), dup], how="vertical_relaxed")

    first = lake.publish(NAME, frame, model=WeeklyReach, keys=["week", "account_id"])
    assert (first.rows_in, first.inserted, first.updated, first.quarantined) == (7, 3, 0, 4)
    again = lake.publish(NAME, frame, model=WeeklyReach, keys=["week", "account_id"])
    assert (again.inserted, again.quarantined) == (0, 4)

    stored = lake.table(NAME, lazy=False).sort("week", "account_id")
    assert_frame_equal(stored, _frame()[1:].sort("week", "account_id"), check_dtypes=True)
    quarantine = lake.table("quarantine/rows", lazy=False).filter(pl.col("table") == NAME)
    # 3 entries: two of the rows sharing a key are identical (one entry), and the second
    # publish quarantined the same entries again
    assert quarantine.height == 3
    rules = sorted(r for rs in quarantine["rules"] for r in rs)
    assert rules == [
        "engagement: greater_than_or_equal_to(0)",
        *["row: duplicate key (week, account_id)"] * 2,
    ]
    engagements = sorted(json.loads(r)["engagement"] for r in quarantine["row"])
    assert engagements == [-5, 10, 99]

    assert NAME in lake.tables()["name"].to_list()
    dictionary = lake.dictionary(NAME)
    assert dictionary["description"].to_list() == [
        "Monday of the ISO week (UTC).",
        "The account.",
        "Likes, reposts, replies and quotes.",
        "Engagement per follower.",
    ]
    defs = lake.custom_tables().row(0, named=True)
    assert (defs["name"], defs["keys"], defs["last_rows_in"], defs["last_quarantined"]) == (
        NAME,
        ["week", "account_id"],
        7,
        4,
    )
    assert defs["model"].endswith("WeeklyReach")


def test_a_new_process_reads_the_published_table(tmp_path: Path) -> None:
    uri = str(tmp_path / "lake")
    hhs_platform.connect(uri).publish(
        NAME, _frame(), model=WeeklyReach, keys=["week", "account_id"]
    )
    script = (
        "import json, sys, hhs_platform\n"
        "lake = hhs_platform.connect(sys.argv[1])\n"
        f"df = lake.table({NAME!r}, lazy=False)\n"
        f"d = lake.dictionary({NAME!r})\n"
        "print(json.dumps({'rows': df.height, 'sum': df['engagement'].sum(),"
        " 'schema': {k: str(v) for k, v in df.schema.items()},"
        " 'nullable': d['nullable'].to_list(), 'tables': lake.tables()['name'].to_list()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, uri], capture_output=True, text=True, check=True
    )
    seen = json.loads(out.stdout)
    assert seen["rows"] == 4 and seen["sum"] == _frame()["engagement"].sum()
    assert seen["schema"] == {k: str(v) for k, v in _frame().schema.items()}
    assert seen["nullable"] == [False, False, False, True]
    assert NAME in seen["tables"]


def test_bad_definitions_and_frames_fail_clearly(tmp_path: Path) -> None:
    lake = hhs_platform.connect(str(tmp_path / "lake"))
    with pytest.raises(LakeError, match="gold/custom/<snake_case>"):
        lake.publish("gold/WeeklyReach", _frame(), model=WeeklyReach, keys=["week"])
    with pytest.raises(LakeError, match=r"key column.*nope"):
        lake.publish(NAME, _frame(), model=WeeklyReach, keys=["nope"])
    with pytest.raises(LakeError, match="missing: rate; not in the model: extra"):
        lake.publish(
            NAME, _frame().drop("rate").with_columns(extra=1), model=WeeklyReach, keys=["week"]
        )
    lake.publish(NAME, _frame(), model=WeeklyReach, keys=["week", "account_id"])
    with pytest.raises(LakeError, match=r"another contract \(keys"):
        lake.publish(NAME, _frame(), model=WeeklyReach, keys=["week"])
    assert lake.table(NAME, lazy=False).height == 4


def test_backup_and_restore_carry_custom_tables(tmp_path: Path) -> None:
    from hhs_platform.lake.backup import backup, restore, verify

    uri = str(tmp_path / "lake")
    lake = hhs_platform.connect(uri)
    lake.publish(NAME, _frame(), model=WeeklyReach, keys=["week", "account_id"])
    CUSTOM.clear()  # the backup job runs in another process
    manifest = backup(lake.lake, str(tmp_path / "backup"))
    assert {NAME, "gold/custom_tables"} <= set(manifest.tables)
    CUSTOM.clear()
    restore(str(tmp_path / "backup"), str(tmp_path / "restored"))
    CUSTOM.clear()
    restored = hhs_platform.connect(str(tmp_path / "restored"))
    assert_frame_equal(restored.table(NAME, lazy=False).sort("week"), _frame().sort("week"))
    report = verify(lake.lake, restored.lake)
    assert NAME in {c.table for c in report.checks}
