"""The collection flow for real: Prefect (test server) on a Dask LocalCluster, simulated platforms."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from hhs_platform.lake import Lake
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread

KEY = "flow-test-key-93e1d7aa61"


@pytest.mark.slow
def test_flow_fills_every_table_and_publishes_a_summary(
    prefect_harness, tmp_path, monkeypatch
) -> None:
    from flows.collect import run_collect
    from hhs_platform.settings import Settings

    lake_uri = str(tmp_path / "lake")
    with SandboxThread(accounts=load_registry(), seed=3) as sb:
        for k, v in {
            "HHS_BLUESKY_API_BASE": sb.url("bluesky"),
            "HHS_YOUTUBE_API_BASE": sb.url("youtube"),
            "HHS_YOUTUBE_API_KEY": KEY,
            "HHS_DASK_PROCESSES": "false",
            "HHS_DASK_WORKERS": "1",
            "HHS_DASK_THREADS_PER_WORKER": "4",
        }.items():
            monkeypatch.setenv(k, v)
        summary = run_collect(lake_uri=lake_uri, settings=Settings(_env_file=None))  # type: ignore[call-arg]
        truth = sb.world.truth()

    assert summary["errors"] == []
    assert summary["accounts"] == 41  # 15 Bluesky + 26 YouTube accounts in the shipped registry
    per = {r["platform"]: r for r in summary["per_platform"]}
    assert per["bluesky"]["posts"] == truth["posts"].filter(platform="bluesky").height
    assert per["youtube"]["posts"] == truth["posts"].filter(platform="youtube").height
    assert summary["skipped_platforms"]["x"] == 32

    lake = Lake(lake_uri)
    assert lake.read("silver/posts").height == truth["posts"].height
    assert lake.read("silver/accounts").height == truth["accounts"].height
    gold = lake.read("gold/daily_account_metrics")
    assert gold.height > 0 and gold["agency"].null_count() == 0
    bronze = lake.read("bronze/raw_responses", columns=["run_id", "request_url"])
    assert bronze["run_id"].unique().to_list() == [summary["run_id"]]
    # the API key never reaches bronze
    assert not bronze["request_url"].str.contains(KEY).any()
    raw = pl.read_delta(lake.path("bronze/raw_responses"))
    assert not any(KEY.encode() in (b or b"") for b in raw["body"].to_list())

    # the run and its summary artifact are recorded by Prefect
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def artifacts() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["collection-summary"]))
            )

    found = asyncio.run(artifacts())
    assert found, "no collection-summary artifact"
    assert f"responses archived: **{summary['responses']}**" in str(found[-1].data)
