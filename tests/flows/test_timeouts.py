"""Run control for real (``hhs collect`` processes on a Prefect test server, a slow simulated
platform): a run stopped by its timeout leaves no partial write and resumes to the result of an
uninterrupted run; two runs collecting one platform never fetch it at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from hhs_platform.lake import Lake
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import FaultProfile, SandboxThread
from schemas import CATALOGUE

KEY = "timeout-test-key-3a9c"
#: Columns that say when or by which response a row was seen: they differ between two runs.
WHEN = {"run_id", "response_id", "first_seen_at", "last_seen_at", "observed_at"}
WHEN |= {"last_observed_at", "deleted_at", "quarantined_at"}
SILVER = ["silver/accounts", "silver/account_snapshots", "silver/posts", "silver/post_metrics"]


def _collect(lake: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hhs_platform.cli", "collect", "--lake", str(lake), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    summary: dict[str, object] = json.loads(out[out.index("{") :])
    return summary


def _silver(lake: Lake) -> dict[str, pl.DataFrame]:
    out = {}
    for name in SILVER:
        df = lake.read(name)
        df = df.drop([c for c in df.columns if c in WHEN])
        out[name] = df.sort(df.columns, nulls_last=True)
    return out


@pytest.fixture(scope="module")
def slow(prefect_harness, tmp_path_factory):
    """A frozen world whose every request takes 150-250 ms, and the env of `hhs collect`."""
    from prefect.settings import PREFECT_API_URL

    tmp = tmp_path_factory.mktemp("timeouts")
    reg = load_registry()
    rows = pl.concat(
        [reg.filter(platform="bluesky").head(6), reg.filter(platform="youtube").head(4)]
    )
    accounts = tmp / "accounts.csv"
    rows.write_csv(accounts)
    faults = FaultProfile(latency=1.0, latency_ms=(150, 250), seed=2)
    with SandboxThread(accounts=rows, seed=11, faults=faults) as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HHS_")}
        env |= {
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "HHS_ACCOUNTS_FILE": str(accounts),
            "HHS_BLUESKY_API_BASE": sb.url("bluesky"),
            "HHS_YOUTUBE_API_BASE": sb.url("youtube"),
            "HHS_YOUTUBE_API_KEY": KEY,
            "HHS_DASK_PROCESSES": "false",
            "HHS_DASK_LOCAL_DASHBOARD": "false",
            "HHS_DASK_WORKERS": "1",
            "HHS_DASK_THREADS_PER_WORKER": "2",
            "HHS_BATCH_SIZE": "2",
            "HHS_HTTP_CONCURRENCY": "1",
        }
        yield sb, env, tmp


@pytest.mark.slow
def test_a_timed_out_run_leaves_no_partial_write_and_resumes(slow) -> None:
    from datetime import datetime
    from uuid import UUID

    from prefect.client.orchestration import get_client

    _sb, env, tmp = slow
    env = env | {"HHS_BATCH_SIZE": "1", "HHS_DASK_THREADS_PER_WORKER": "1"}  # one at a time
    whole = Lake(str(tmp / "whole"))
    summary = _finish(_collect(Path(whole.uri), env))
    assert summary["errors"] == [] and summary["accounts"] == 10
    # a timeout half-way through the fetch phase of the same run
    with get_client(sync_client=True) as client:
        started = client.read_flow_run(UUID(str(summary["run_id"]))).start_time
    assert started is not None
    fetch_from = datetime.fromisoformat(str(summary["fetch_started_at"]))
    fetch_to = datetime.fromisoformat(str(summary["fetch_ended_at"]))
    timeout = (fetch_from - started).total_seconds() + (fetch_to - fetch_from).total_seconds() / 2

    lake = Lake(str(tmp / "cut"))
    proc = _collect(Path(lake.uri), env, "--timeout", f"{timeout:.1f}")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, (out, err[-3000:])
    assert "timed out" in err and "--resume" in err
    # every table it touched is readable: each write was one Delta commit
    for name in CATALOGUE:
        if lake.exists(name):
            lake.read(name)
    fetched = lake.read("bronze/fetch_log")
    assert 0 < fetched["account_key"].n_unique() < 10, f"timeout {timeout:.1f} s not mid-fetch"
    bronze_ids = set(lake.read("bronze/raw_responses")["response_id"])
    for name in SILVER:
        if lake.exists(name):
            assert set(lake.read(name)["response_id"]) <= bronze_ids, name
    run_id = fetched["run_id"].unique().to_list()
    assert len(run_id) == 1

    resumed = _finish(_collect(Path(lake.uri), env, "--resume", run_id[0]))
    assert resumed["errors"] == [] and resumed["run_id"] == run_id[0]
    assert resumed["fetched_accounts"] == 10 - fetched["account_key"].n_unique()
    got, want = _silver(lake), _silver(whole)
    for name, df in want.items():
        assert df.height > 0, name
        assert got[name].equals(df), name


@pytest.mark.slow
def test_two_runs_never_fetch_one_platform_at_once(slow) -> None:
    """Tier-1-like and tier-2-like runs started together on bluesky: the second waits for the
    platform's concurrency limit, so their fetch windows (bronze/fetch_log) do not overlap."""
    _sb, env, tmp = slow
    env = env | {"HHS_PLATFORM_CONCURRENCY": "true"}  # as the deployments run
    lake = tmp / "both"
    first = _collect(lake, env, "--platform", "bluesky")
    second = _collect(lake, env, "--platform", "bluesky")
    a, b = _finish(first), _finish(second)
    log = Lake(str(lake)).read("bronze/fetch_log")
    spans = log.group_by("run_id").agg(
        pl.col("started_at").min().alias("lo"), pl.col("finished_at").max().alias("hi")
    )
    assert spans.height == 2 and set(spans["run_id"]) == {a["run_id"], b["run_id"]}
    (lo1, hi1), (lo2, hi2) = sorted(spans.select("lo", "hi").iter_rows())
    assert hi1 <= lo2, f"fetches overlapped: {lo1}..{hi1} and {lo2}..{hi2}"
    assert a["accounts"] == b["accounts"] > 0
