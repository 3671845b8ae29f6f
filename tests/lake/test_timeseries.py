"""Run-length encoded observations: new rows only on change, replays change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from hhs_platform.lake.timeseries import compact_observations

T = datetime(2026, 11, 1, tzinfo=UTC)
KEYS = ["platform", "post_id"]


def _obs(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "platform": ["x"] * len(rows),
            "post_id": [r[0] for r in rows],
            "observed_at": [T + timedelta(hours=r[1]) for r in rows],
            "last_observed_at": [T + timedelta(hours=r[1]) for r in rows],
            "likes": [r[2] for r in rows],
        }
    )


def test_equal_consecutive_observations_fold_into_one_run() -> None:
    out = compact_observations(
        _obs([("a", 0, 5), ("a", 1, 5), ("a", 2, 7), ("a", 3, 5)]), _obs([]), KEYS, ["likes"]
    )
    out = out.sort("observed_at")
    assert out["likes"].to_list() == [5, 7, 5]
    assert out["observed_at"].to_list() == [T, T + timedelta(hours=2), T + timedelta(hours=3)]
    assert out["last_observed_at"].to_list()[0] == T + timedelta(hours=1)


def test_observation_equal_to_stored_extends_its_run() -> None:
    stored = _obs([("a", 0, 5)])
    out = compact_observations(_obs([("a", 4, 5)]), stored, KEYS, ["likes"])
    assert out.height == 1
    row = out.row(0, named=True)
    assert row["observed_at"] == T and row["last_observed_at"] == T + timedelta(hours=4)


def test_replaying_stored_observations_writes_nothing() -> None:
    incoming = _obs([("a", 0, 5), ("a", 1, 5), ("b", 0, 1), ("a", 2, 6)])
    stored = compact_observations(incoming, _obs([]), KEYS, ["likes"])
    assert compact_observations(incoming, stored, KEYS, ["likes"]).height == 0


def test_nulls_compare_equal() -> None:
    df = _obs([("a", 0, 1), ("a", 1, 1)]).with_columns(pl.lit(None, pl.Int64).alias("likes"))
    assert compact_observations(df, df.clear(), KEYS, ["likes"]).height == 1
