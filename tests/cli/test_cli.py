"""The `hhs` command as a user types it: real processes, real sockets, a real lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from sim_time import days_ago

HHS = str(Path(sys.executable).with_name("hhs"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HHS_")}
    return {**env, **extra}


def test_registry_validate_prints_counts_and_names_bad_rows(tmp_path) -> None:
    ok = subprocess.run([HHS, "registry", "validate"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "136 accounts" in ok.stdout and "bluesky      15" in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("agency,agency_name,platform,handle,url\nCDC,Centers,myspace,cdc,https://x\n")
    res = subprocess.run(
        [HHS, "registry", "validate", "--accounts-file", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "line 2 (myspace:cdc): platform = 'myspace'" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.fixture
def sandbox_process():
    """``hhs sandbox serve`` frozen two days back (``--at``), so that the posts are young enough
    for the engagement curves when the collector stamps its observations with the real time."""
    at = f"{days_ago(2).now():%Y-%m-%dT%H:%MZ}"
    port = _free_port()
    proc = subprocess.Popen(
        [HHS, "sandbox", "serve", "--port", str(port), "--seed", "5", "--frozen", "--at", at],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_clean_env(),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_sandbox/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("hhs sandbox serve did not start")
    with urllib.request.urlopen(f"{base}/_sandbox/clock", timeout=5) as r:
        clock = json.load(r)
    assert clock["now"].startswith(at[:16]), clock
    yield base
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.slow
def test_sandbox_serve_then_collect_through_the_cli(
    sandbox_process, prefect_harness, tmp_path
) -> None:
    from prefect.settings import PREFECT_API_URL

    base = sandbox_process
    with urllib.request.urlopen(
        f"{base}/bluesky/xrpc/app.bsky.actor.getProfile?actor=cdc.gov"
    ) as r:
        profile = json.load(r)
    assert profile["handle"] == "cdc.gov" and profile["followersCount"] > 0

    lake = tmp_path / "lake"
    env = _clean_env(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        HHS_BLUESKY_API_BASE=f"{base}/bluesky",
        HHS_DASK_PROCESSES="false",
        HHS_DASK_LOCAL_DASHBOARD="false",
        HHS_DASK_WORKERS="1",
    )
    res = subprocess.run(
        [HHS, "collect", "--platform", "bluesky", "--lake", str(lake)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["accounts"] == 15 and summary["errors"] == []
    with urllib.request.urlopen(f"{base}/_sandbox/truth") as r:
        truth = json.load(r)
    served = [p for p in truth["posts"] if p["platform"] == "bluesky"]
    posts = pl.read_delta(str(lake / "silver" / "posts"))
    assert posts.height == len(served) == summary["per_platform"][0]["posts"] > 0
    assert set(posts["post_id"].to_list()) == {p["post_id"] for p in served}
    # frozen near today: the posts were young enough when observed to have engagement curves
    curves = pl.read_delta(str(lake / "gold" / "post_curves"))
    assert curves.height > 0 and set(curves["post_id"]) <= set(posts["post_id"])

    listing = subprocess.run(
        [HHS, "tables", "--lake", str(lake)], capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    line = next(x for x in listing.stdout.splitlines() if "silver/posts" in x)
    assert f"{posts.height:,} rows" in line


def test_sandbox_serve_refuses_an_instant_it_cannot_read() -> None:
    from typer.testing import CliRunner

    from hhs_platform.cli import app

    bad = CliRunner().invoke(app, ["sandbox", "serve", "--frozen", "--at", "25/11/2026"])
    assert bad.exit_code == 2
    assert "'25/11/2026' is not an ISO 8601 date" in bad.output


def test_a_frozen_clock_far_behind_real_time_is_named_with_the_fix() -> None:
    from datetime import UTC, datetime

    from hhs_platform.instants import parse_instant
    from hhs_platform.sandbox import SimClock
    from hhs_platform.sandbox.server import stale_clock_warning

    now = datetime(2026, 12, 1, 18, tzinfo=UTC)
    old = stale_clock_warning(SimClock(datetime(2026, 11, 1, tzinfo=UTC)), now=now)
    assert old is not None and "30 days behind" in old and "--at" in old
    assert stale_clock_warning(SimClock(datetime(2026, 11, 20, tzinfo=UTC)), now=now) is None
    running = SimClock.running(datetime(2026, 1, 1, tzinfo=UTC))
    assert stale_clock_warning(running, now=now) is None  # a running world keeps up
    assert parse_instant("2026-11-25") == datetime(2026, 11, 25, tzinfo=UTC)
    assert parse_instant("2026-11-25T06:00+01:00") == datetime(2026, 11, 25, 5, tzinfo=UTC)


def test_collect_refuses_two_ways_of_choosing_posts() -> None:
    from typer.testing import CliRunner

    from hhs_platform.cli import app

    both = CliRunner().invoke(app, ["collect", "--lookback-days", "3", "--since", "2026-11-01"])
    assert both.exit_code == 2 and "give one of --since, --lookback-days or --backfill" in (
        both.output
    )
    zero = CliRunner().invoke(app, ["collect", "--lookback-days", "0"])
    assert zero.exit_code == 2 and "greater than or equal to 1" in zero.output
