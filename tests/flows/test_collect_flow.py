"""The collection flow for real: Prefect (test server) on a Dask LocalCluster, simulated platforms."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from hhs_platform.lake import Lake
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread

KEY = "flow-test-key-93e1d7aa61"
X_TOKEN = "flow-test-x-token-0c4b9e21"


@pytest.mark.slow
def test_flow_fills_every_table_and_publishes_a_summary(
    prefect_harness, tmp_path, monkeypatch, caplog
) -> None:
    import logging

    from flows.collect import run_collect
    from hhs_platform.settings import Settings

    caplog.set_level(logging.DEBUG)
    lake_uri = str(tmp_path / "lake")
    from datetime import UTC, datetime

    from hhs_platform.sandbox.clock import SimClock

    # a world whose "now" is the real now: its newest posts still have curve ages to come
    with SandboxThread(
        accounts=load_registry(),
        seed=3,
        platforms=("bluesky", "x", "youtube"),
        clock=SimClock(datetime.now(UTC)),
    ) as sb:
        for k, v in {
            "HHS_BLUESKY_API_BASE": sb.url("bluesky"),
            "HHS_YOUTUBE_API_BASE": sb.url("youtube"),
            "HHS_YOUTUBE_API_KEY": KEY,
            "HHS_X_API_BASE": sb.url("x"),
            "HHS_X_BEARER_TOKEN": X_TOKEN,
            "HHS_DASK_PROCESSES": "false",
            "HHS_DASK_LOCAL_DASHBOARD": "false",
            "HHS_DASK_WORKERS": "1",
            "HHS_DASK_THREADS_PER_WORKER": "4",
        }.items():
            monkeypatch.setenv(k, v)
        summary = run_collect(lake_uri=lake_uri, settings=Settings(_env_file=None))  # type: ignore[call-arg]
        truth = sb.world.truth()
        # a re-poll run reads only the accounts with a post reaching a curve age soon
        from datetime import timedelta

        from hhs_platform.transforms.curves import repoll_accounts

        monkeypatch.setenv("HHS_REPOLL_HORIZON_MINUTES", "600")
        horizon = timedelta(minutes=600)
        due_before = repoll_accounts(Lake(lake_uri), datetime.now(UTC), horizon)
        repolled = run_collect(
            lake_uri=lake_uri,
            settings=Settings(_env_file=None),  # type: ignore[call-arg]
            repoll=True,
        )
        due_after = repoll_accounts(Lake(lake_uri), datetime.now(UTC), horizon)

    assert summary["errors"] == []
    assert 0 < len(due_before) < summary["accounts"]
    assert repolled["accounts"] in (len(due_before), len(due_after)), (repolled, due_before)
    assert (
        summary["accounts"] == 73
    )  # 15 Bluesky + 32 X + 26 YouTube accounts in the shipped registry
    per = {r["platform"]: r for r in summary["per_platform"]}
    assert per["bluesky"]["posts"] == truth["posts"].filter(platform="bluesky").height
    assert per["youtube"]["posts"] == truth["posts"].filter(platform="youtube").height
    # platforms without credentials are left out with the fix, not failed account by account
    assert summary["skipped_platforms"]["facebook"] == {
        "accounts": 25,
        "reason": "set HHS_FACEBOOK_ACCESS_TOKEN",
    }
    assert per["x"]["posts"] == truth["posts"].filter(platform="x").height
    assert summary["skipped_platforms"]["pinterest"] == {
        "accounts": 3,
        "reason": "no connector yet",
    }

    lake = Lake(lake_uri)
    assert lake.read("silver/posts").height == truth["posts"].height
    assert lake.read("silver/accounts").height == truth["accounts"].height
    gold = lake.read("gold/daily_account_metrics")
    assert gold.height > 0 and gold["agency"].null_count() == 0
    bronze = lake.read("bronze/raw_responses", columns=["run_id", "request_url"])
    assert set(bronze["run_id"]) == {summary["run_id"], repolled["run_id"]}
    # the API key never reaches any table: every value of every table, bodies included
    from schemas import CATALOGUE

    for name in CATALOGUE:
        table = pl.read_delta(lake.path(name))
        for col in table.columns:
            values = table[col].to_list()
            text = "\n".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
            )
            assert KEY not in text, f"{name}.{col} holds the API key"
            assert X_TOKEN not in text, f"{name}.{col} holds the X token"
    # ... nor any log line of the run, as recorded by Prefect (flow and task logs from the workers)
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async def logs() -> list:
        async with get_client() as client:
            flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(summary["run_id"])]))
            return await client.read_logs(log_filter=flt)

    logged = "\n".join(r.message for r in asyncio.run(logs()))
    logged += "\n".join(r.getMessage() for r in caplog.records)
    assert "batch youtube-" in logged and KEY not in logged and X_TOKEN not in logged

    # the run and its summary artifact are recorded by Prefect
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async def artifacts() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["collection-summary"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(summary["run_id"])]),
                )
            )

    found = asyncio.run(artifacts())
    assert len(found) == 1, "one collection-summary artifact for the run"
    assert f"responses archived: **{summary['responses']}**" in str(found[-1].data)
    assert all(KEY not in str(a.data) and X_TOKEN not in str(a.data) for a in found)
