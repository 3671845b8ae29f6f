"""Smoke test of the network-bound collection benchmark: ten accounts on two simulated platforms
with tight limits; its counts and bound agree with the sandbox's statistics and the lake."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import collection  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402

PLATFORMS = ("x", "bluesky")
#: Windows / 300: X 3 s, Bluesky 1 s; X lets 5 user lookups through per window.
TIME_SCALE = 300
X_LIMITS = {"users_by_username": 5, "users": 5, "users_tweets": 50}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[collection.Result, Path]:
    work = tmp_path_factory.mktemp("collection")
    result = collection.measure(
        10,
        platforms=PLATFORMS,
        latency_ms=(1, 5),
        time_scale=TIME_SCALE,
        workers=1,
        threads=2,
        batch_size=3,
        processes=False,
        config={"x_rate_limits": X_LIMITS, "bluesky_rate_limit": 4},
        work_dir=work,
    )
    return result, work


@pytest.mark.slow
def test_every_account_reaches_silver(measured: tuple[collection.Result, Path]) -> None:
    result, work = measured
    registry = collection.bench_registry(10, PLATFORMS, 7)
    silver = Lake(str(work / "lake")).read("silver/accounts")
    assert result.errors == []
    assert result.accounts == registry.height == 10
    assert result.silver_accounts == silver.height == 10
    assert sorted(silver["platform"].to_list()) == sorted(registry["platform"].to_list())
    assert {r.platform: r.accounts for r in result.rows} == dict(
        registry.group_by("platform").len().iter_rows()
    )


@pytest.mark.slow
def test_requests_are_the_sandbox_statistics_and_the_bronze_rows(
    measured: tuple[collection.Result, Path],
) -> None:
    result, work = measured
    stats = result.sandbox
    bronze = Lake(str(work / "lake")).read("bronze/raw_responses")
    for row in result.rows:
        limited = stats["rate_limited"].get(row.platform, 0)
        assert row.rate_limited == limited
        assert row.requests == stats["requests_by_platform"][row.platform] - limited
        mine = bronze.filter(pl.col("platform") == row.platform)
        # every request reached the platform and every answer is archived, 429s included
        assert row.responses == mine.height == row.requests + row.rate_limited
        assert mine.filter(pl.col("status") == 429).height == row.rate_limited
    x_lookups = stats["requests"]["x users_by_username"]
    assert x_lookups >= 7  # one per X account, and again after a 429


@pytest.mark.slow
def test_the_bound_is_the_formula_of_those_numbers(
    measured: tuple[collection.Result, Path],
) -> None:
    result, _ = measured
    rows = {r.platform: r for r in result.rows}
    assert result.windows["x_rate_window"] == 900 // TIME_SCALE
    assert result.windows["bluesky_rate_window"] == 300 // TIME_SCALE
    x = {lim["name"]: lim for lim in rows["x"].limits}
    assert x["users_by_username"]["limit"] == 5
    assert x["users_by_username"]["window_s"] == 3
    for platform, row in rows.items():
        for lim in row.limits:
            n, limit, window = lim["requests"], lim["limit"], lim["window_s"]
            assert lim["bound_s"] == (0 if n <= limit else pytest.approx(n * window / limit))
        assert row.rate_bound_s == max(lim["bound_s"] for lim in row.limits)
        mean_latency = (1 + 5) / 2000
        assert row.chain_bound_s == pytest.approx(row.max_chain * mean_latency)
        assert 1 <= row.max_chain <= row.responses
        assert row.bound_s == max(row.rate_bound_s, row.chain_bound_s), platform
    # 7 X accounts, 5 lookups a window: the lookups decide
    served_lookups = x["users_by_username"]["requests"]
    assert served_lookups == 7
    assert x["users_by_username"]["bound_s"] == pytest.approx(7 * 3 / 5)
    assert result.bound_s == max(r.bound_s for r in result.rows)
    assert result.deciding == "x"
    assert result.ratio == round(result.wall_s / result.bound_s, 2)
