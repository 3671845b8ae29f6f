"""The flows' steps from a notebook: a collection on a Dask cluster the user already has, with no
Prefect, against the simulated platforms, checked against their ground truth."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sim_time import days_ago

from hhs_platform import pipeline
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings


@pytest.mark.slow
def test_collect_on_the_users_client_matches_the_truth(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    registry = load_registry(platforms=["bluesky"]).head(4)
    accounts = tmp_path / "accounts.csv"
    registry.write_csv(accounts)
    lines: list[str] = []
    with (
        SandboxThread(
            accounts=registry,
            seed=5,
            platforms=("bluesky",),
            clock=days_ago(2),  # see tests/sim_time.py
        ) as sb,
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, bluesky_api_base=sb.url("bluesky"), batch_size=2
        )
        lake = Lake(str(tmp_path / "lake"))
        summary = pipeline.collect(
            client, lake=lake, accounts_file=str(accounts), settings=settings, progress=lines.append
        )
        served = sum(sb.stats.requests.values())
        # the same run id again: everything comes from bronze, nothing is fetched twice
        again = pipeline.collect(
            client,
            lake=lake,
            accounts_file=str(accounts),
            settings=settings,
            run_id=summary["run_id"],
            progress=None,
        )
        truth = sb.world.truth()
        served_again = sum(sb.stats.requests.values()) - served

    assert summary["errors"] == [] and summary["accounts"] == 4
    assert again["fetched_accounts"] == 0 and again["accounts"] == 4
    posts = lake.read("silver/posts")
    expected = truth["posts"].filter(pl.col("platform") == "bluesky")
    assert posts.height == expected.height
    assert set(posts["post_id"]) == set(expected["post_id"])
    gold = lake.read("gold/daily_account_metrics")
    assert sorted(gold["handle"].unique()) == sorted(registry["handle"])
    # the one snapshot of each account (the day the collection ran)
    today = gold.filter(pl.col("followers").is_not_null())
    assert today.height == 4
    followers = dict(zip(today["handle"], today["followers"], strict=True))
    true_followers = truth["accounts"].filter(pl.col("platform") == "bluesky")
    assert followers == dict(
        zip(true_followers["handle"], true_followers["followers"], strict=True)
    )
    assert summary["gold"]["gold/daily_account_metrics"] == gold.height
    assert summary["quality"]  # the run's scorecard rows were written
    assert lines[0].startswith(f"run {summary['run_id']}: 4 accounts in 2 batches")
    assert sum(line.startswith("batch ") for line in lines) == 2
    assert served > 0 and served_again == 0


def test_collect_without_a_client_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no Dask client"):
        pipeline.collect(lake=str(tmp_path / "lake"), settings=Settings(_env_file=None))  # type: ignore[call-arg]


def test_refresh_without_a_client_rebuilds_gold_here(tmp_path: Path, world_lake: str) -> None:
    import shutil

    shutil.copytree(world_lake, tmp_path / "lake")
    lake = Lake(str(tmp_path / "lake"))
    before = lake.read("gold/daily_account_metrics").sort("date", "platform", "account_id")
    out = pipeline.refresh(lake, since=before["date"].min(), progress=None)
    after = lake.read("gold/daily_account_metrics").sort("date", "platform", "account_id")
    assert after.equals(before)  # nothing changed in silver: the same figures
    assert set(out) == {"enriched", "gold", "analytics", "quality", "slo_rows"}
    assert out["quality"] == {}
