"""A collection killed at any point (mid-fetch, mid-write of silver) and resumed with
``hhs collect --resume`` ends with the tables an uninterrupted run gives, without requesting again
the accounts already archived.

The runs are real ``hhs collect`` processes (Prefect test server, Dask LocalCluster) killed with
SIGKILL, the hardest way to stop: no handler, no cleanup.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from hhs_platform.lake import Lake
from hhs_platform.quality.accuracy import compare_with_truth, is_exact
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import FaultProfile, SandboxThread
from schemas import CATALOGUE

KEY = "resume-test-key-51c0f2"
#: Columns that say when or by which response a row was seen: they differ between two runs.
WHEN = {
    "run_id",
    "response_id",
    "first_seen_at",
    "last_seen_at",
    "observed_at",
    "last_observed_at",
    "deleted_at",
    "quarantined_at",
    "enriched_at",
    "linked_at",
    "source_last_seen_at",
    "detected_at",
    "fitted_at",
    "built_at",
    "watermark",
}


def _registry(tmp_path: Path) -> Path:
    reg = load_registry()
    rows = pl.concat(
        [reg.filter(platform="bluesky").head(6), reg.filter(platform="youtube").head(6)]
    )
    path = tmp_path / "accounts.csv"
    rows.write_csv(path)
    return path


def _env(sb: SandboxThread, accounts: Path) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("HHS_")}
    env.update(
        {
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "HHS_ACCOUNTS_FILE": str(accounts),
            "HHS_BLUESKY_API_BASE": sb.url("bluesky"),
            "HHS_YOUTUBE_API_BASE": sb.url("youtube"),
            "HHS_YOUTUBE_API_KEY": KEY,
            "HHS_DASK_PROCESSES": "false",
            "HHS_DASK_LOCAL_DASHBOARD": "false",
            "HHS_DASK_WORKERS": "1",
            "HHS_DASK_THREADS_PER_WORKER": "3",
            "HHS_BATCH_SIZE": "2",
        }
    )
    return env


def _collect(lake: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hhs_platform.cli", "collect", "--lake", str(lake), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # one process group: the kill takes every thread and child
    )


def _finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    summary: dict[str, object] = json.loads(out[out.index("{") :])
    return summary


def _commits(table: Path) -> int:
    log = table / "_delta_log"
    return len(list(log.glob("*.json"))) if log.is_dir() else 0


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 240
    while not ready():
        assert proc.poll() is None, (
            "the run ended before the kill point: " + proc.stderr.read()[-2000:]
        )  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _content(lake: Lake) -> dict[str, pl.DataFrame]:
    out = {}
    for name, spec in CATALOGUE.items():
        if spec.layer not in ("silver", "gold") or not lake.exists(name):
            continue
        if name == "gold/post_curves":
            continue  # which ages a run observes depends on the instant it ran (docs/gold.md)
        if name == "gold/custom_tables":
            continue  # users' own tables: a collection leaves them alone
        df = lake.read(name)
        if name == "gold/leaderboards":
            df = df.filter(pl.col("board") != "overperformance")  # from the curves
        df = df.drop([c for c in df.columns if c in WHEN])
        out[name] = df.sort(df.columns, nulls_last=True)
    return out


@pytest.fixture(scope="module")
def world(prefect_harness, tmp_path_factory):
    """A frozen world served slowly enough (latency on every request) to be killed mid-run, and
    the lake of one uninterrupted run of it."""
    tmp = tmp_path_factory.mktemp("resume")
    accounts = _registry(tmp)
    slow = FaultProfile(latency=1.0, latency_ms=(20, 40), seed=1)
    with SandboxThread(accounts=load_registry(accounts), seed=11, faults=slow) as sb:
        env = _env(sb, accounts)
        whole = tmp / "whole"
        summary = _finish(_collect(whole, env))
        assert summary["errors"] == []
        yield sb, env, Lake(str(whole)), summary


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_point",
    [
        pytest.param("mid-fetch", id="mid-fetch"),
        pytest.param("mid-silver-write", id="mid-silver-write"),
    ],
)
def test_killed_run_resumes_to_the_uninterrupted_result(world, tmp_path, kill_point) -> None:
    sb, env, whole, _ = world
    lake_dir = tmp_path / "lake"
    proc = _collect(lake_dir, env)
    if kill_point == "mid-fetch":
        # two batches archived, the others still fetching (three run at once)
        _kill_when(proc, lambda: _commits(lake_dir / "bronze" / "fetch_log") >= 2)
    else:
        # every batch archived, silver being written table by table
        _kill_when(proc, lambda: _commits(lake_dir / "silver" / "accounts") >= 1)
    lake = Lake(str(lake_dir))
    before = lake.read("bronze/fetch_log")
    assert before.height > 0
    run_id = before["run_id"].unique().to_list()
    assert len(run_id) == 1
    done = set(before["account_key"])
    if kill_point == "mid-fetch":
        assert 0 < len(done) < 12, len(done)  # killed with accounts left to fetch
    else:
        assert len(done) == 12
        assert not lake.exists("gold/daily_account_metrics")  # killed before gold
    per_account = lake.read("bronze/raw_responses").group_by("account_key").len()
    archived = dict(per_account.filter(pl.col("account_key").is_in(list(done))).iter_rows())

    summary = _finish(_collect(lake_dir, env, "--resume", run_id[0]))

    assert summary["run_id"] == run_id[0]
    assert summary["errors"] == []
    assert summary["fetched_accounts"] == 12 - len(done)
    # nothing already archived was requested again: same responses for those accounts
    after = lake.read("bronze/raw_responses").group_by("account_key").len()
    assert dict(after.filter(pl.col("account_key").is_in(list(done))).iter_rows()) == archived
    assert set(after["account_key"]) == set(whole.read("bronze/fetch_log")["account_key"])
    # the tables equal the uninterrupted run's, row for row (times of sighting aside)
    got, want = _content(lake), _content(whole)
    assert set(got) == set(want)
    for name, df in want.items():
        assert df.height > 0, name
        assert got[name].equals(df), name
    # and both are exact against what was served
    truth = sb.world.truth()
    assert is_exact(compare_with_truth(lake, truth))
    assert is_exact(compare_with_truth(whole, truth))


@pytest.mark.slow
def test_a_worker_killed_mid_collection_loses_nothing(world, tmp_path, monkeypatch) -> None:
    """A Dask worker process dies (SIGKILL) while it runs a batch: Dask runs the batch again on
    the other worker, and the run completes with the uninterrupted run's tables."""
    from distributed import Client, LocalCluster

    sb, env, whole, _ = world
    for k, v in env.items():  # the workers are spawned from this process and read it
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HHS_GC_THRESHOLD", "12345")  # each task tunes its worker's collector
    lake_dir = tmp_path / "lake"
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        assert set(client.run(_gc_gen0).values()) == {700}  # Python's default, before any task
        proc = _collect(lake_dir, {**env, "HHS_DASK_ADDRESS": cluster.scheduler_address})
        victim: list[int] = []

        def busy_worker_found() -> bool:
            if _commits(lake_dir / "bronze" / "fetch_log") < 1:
                return False
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                victim.append(client.run(os.getpid, workers=[busy[0]])[busy[0]])
            return bool(busy)

        deadline = time.monotonic() + 240
        while not busy_worker_found():
            assert proc.poll() is None, "the run ended before a worker could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(victim[0], signal.SIGKILL)
        summary = _finish(proc)
        assert victim[0] not in client.run(os.getpid).values()  # that process is gone
        assert 12345 in client.run(_gc_gen0).values()  # the worker that finished the run

    assert summary["errors"] == []
    assert summary["accounts"] == 12
    lake = Lake(str(lake_dir))
    got, want = _content(lake), _content(whole)
    for name, df in want.items():
        assert got[name].equals(df), name
    assert is_exact(compare_with_truth(lake, sb.world.truth()))


def _gc_gen0() -> int:
    import gc

    return gc.get_threshold()[0]
