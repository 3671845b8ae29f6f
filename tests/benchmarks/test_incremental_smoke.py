"""Smoke test of the incremental-run benchmark on a few simulated accounts: the padded lake holds
the rows asked for, and the daily run lands the same observations in both lakes."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import incremental  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402

ROWS = 3_000


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    workdir = tmp_path_factory.mktemp("incremental")
    result = incremental.measure(
        rows=ROWS,
        accounts=5,
        days=10,
        seed=3,
        workdir=workdir,
        maintained=True,
        say=lambda _line: None,
    )
    return result, workdir


@pytest.mark.slow
def test_the_padded_lake_holds_the_requested_rows(measured: tuple[dict, Path]) -> None:
    result, workdir = measured
    full, empty = Lake(str(workdir / "full")), Lake(str(workdir / "empty"))
    metrics = full.read("silver/post_metrics")
    padded = metrics.filter(pl.col("post_id").str.starts_with(incremental.PAD_PREFIX))
    assert padded.height == ROWS == result["padded"]["silver/post_metrics"]
    # every padded row belongs to a collected account and is older than the collections
    accounts = full.read("silver/accounts", columns=["platform", "account_id"])
    assert padded.join(accounts, on=["platform", "account_id"], how="anti").is_empty()
    first_real = metrics.filter(~pl.col("post_id").str.starts_with(incremental.PAD_PREFIX))[
        "observed_at"
    ].min()
    assert padded["last_observed_at"].max() < first_real
    assert not empty.read("silver/post_metrics")["post_id"].str.starts_with("pad-").any()
    # before the run: the padding and the previous day's collection; the run adds rows
    held = result["full_lake_rows"]["silver/post_metrics"]
    assert ROWS < held < metrics.height


@pytest.mark.slow
def test_the_run_lands_the_same_observations_in_both_lakes(measured: tuple[dict, Path]) -> None:
    result, workdir = measured
    at = pl.Series([result["at"]]).str.to_datetime(time_zone="UTC")[0]
    full = incremental.day_rows(Lake(str(workdir / "full")), at)
    empty = incremental.day_rows(Lake(str(workdir / "empty")), at)
    for table in ("silver/post_metrics", "silver/account_snapshots", "silver/posts"):
        assert empty[table].height > 0, table
        assert empty[table].equals(full[table]), table
    # the day's observations are those the simulated platforms served at that instant
    assert set(empty["silver/account_snapshots"]["last_observed_at"].dt.date()) == {at.date()}
    assert result["day_rows_equal"] == {t: True for t in full}
    # both runs ran every step; the full lake's silver MERGEs report their files
    for lake in ("empty", "full"):
        steps = result["runs"][lake]["steps"]
        assert tuple(steps)[1:] == incremental.STEPS
    assert result["runs"]["full"]["commits"]["silver/post_metrics"]["commits"] >= 1
    # the full lake was maintained before the run (compacted: one file per platform)
    assert result["settings"]["maintained"]
    platforms = Lake(str(workdir / "full")).read("silver/post_metrics")["platform"].n_unique()
    assert result["files_after_maintenance"]["silver/post_metrics"] == platforms
