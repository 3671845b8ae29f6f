"""The pipeline benchmark at a tiny scale: the bare baseline writes exactly the posts a simulated
Bluesky serves, and the report computes its ratios, speed-ups and checks from given results.
Nothing is timed."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks.baselines import BaselineResult  # noqa: E402
from benchmarks.pipeline import (  # noqa: E402
    Run,
    TaskGroup,
    baseline_status,
    comparison_rows,
    report,
    run_baseline,
    scale_rows,
    unlimited_config,
)
from benchmarks.worlds import registry  # noqa: E402
from hhs_platform.sandbox import SandboxThread, World  # noqa: E402


def test_bare_writes_every_post_the_world_serves_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the baseline runs as `python -m benchmarks.baselines.bare`
    world = World(registry(3, platforms=("bluesky",)), platforms=("bluesky",))
    truth = world.truth()["posts"]
    actors = tmp_path / "actors.txt"
    actors.write_text("".join(f"{a.handle}\n" for a in world.platform_accounts("bluesky")))
    with SandboxThread(world, config=unlimited_config()) as sandbox:
        # 40 items a page: every feed of the tiny world spans several pages
        result = run_baseline("bare", sandbox.url("bluesky"), actors, tmp_path, page_size=40)
        requests = sandbox.stats.requests[("bluesky", "app.bsky.feed.getAuthorFeed")]

    per_account = truth.group_by("account_id").len()["len"].to_list()
    assert result.pages == requests == sum(max(1, -(-n // 40)) for n in per_account)
    assert result.posts == result.rows_in_table == truth.height
    table = pl.read_delta(str(tmp_path / "bare" / "posts"))
    assert table["post_id"].n_unique() == table.height == truth.height
    columns = ["post_id", "account_id", "post_type", "created_at", "likes", "reposts", "replies"]
    assert table.select(columns).sort("post_id").equals(truth.select(columns).sort("post_id"))
    reposts = table.filter(pl.col("post_type") == "repost")
    assert reposts.height == truth.filter(pl.col("post_type") == "repost").height > 0
    assert reposts["reposted_post_id"].null_count() == 0


def test_every_baseline_is_known_and_a_missing_one_is_named() -> None:
    assert baseline_status("bare") is None
    assert baseline_status("no_such_baseline") == "not written"


def _run(workers: int, wall: float, rss: float, tasks: list[TaskGroup]) -> Run:
    return Run(
        label=f"{workers}w",
        workers=workers,
        threads_per_worker=2,
        platforms=None,
        posts=12_000,
        posts_by_platform={"bluesky": 5_000, "x": 7_000},
        wall_s=wall,
        cpu_s=24.0,
        worker_peak_rss_mib={f"tcp://w{i}": rss - i for i in range(workers)},
        silver_rows={"silver/posts": 12_000},
        tasks=tasks,
    )


def test_the_report_computes_ratios_speed_ups_and_checks() -> None:
    ours = _run(1, 6.0, 900.0, [])  # 2,000 posts/s, 2 CPU s per 1,000 posts
    ours.posts, ours.wall_s = 4_000, 2.0
    baselines: dict[str, BaselineResult | str] = {
        "bare": BaselineResult("bare", 4_000, 40, 1.0, 0.5, 4_000, 200.0),  # 4,000 posts/s
        "naive": BaselineResult("naive", 4_000, 40, 4.0, 2.0, 4_000, 150.0),  # 1,000 posts/s
        "dlt_rest": "not installed",
    }
    rows = comparison_rows(ours, baselines, served=4_000)
    by = {r["reader"]: r for r in rows}
    assert rows[0]["posts_per_s"] == 2_000 and rows[0]["cpu_per_1000"] == 6.0
    assert rows[0]["peak_mib"] == 900.0
    assert (by["bare"]["ours_over"], by["bare"]["target"], by["bare"]["met"]) == (0.5, 0.7, False)
    assert (by["naive"]["ours_over"], by["naive"]["met"]) == (2.0, True)
    assert by["bare"]["cpu_per_1000"] == 0.125
    assert by["dlt_rest: not installed"]["target"] == 5.0

    fetch = TaskGroup("collect-batch", 30, 0.0, 20.0, 60.0)
    build = [TaskGroup("write-silver", 1, 21.0, 25.0, 4.0), TaskGroup("build-gold", 1, 25, 30, 5)]
    runs = [_run(1, 40.0, 1500.0, [fetch, *build]), _run(2, 25.0, 2100.0, [fetch, *build])]
    scale = scale_rows(runs)
    assert [r["speed_up"] for r in scale] == [1.0, 1.6]
    assert [r["posts_per_s"] for r in scale] == [300.0, 480.0]
    assert [r["memory_met"] for r in scale] == [True, False]  # 2,100 MiB > 2 GiB
    assert scale[0]["peak_worker_mib"] == 1500.0
    assert (scale[0]["fetch_s"], scale[0]["fetch_parallelism"]) == (20.0, 3.0)
    assert (scale[0]["build_s"], scale[0]["build_busy_s"]) == (10.0, 9.0)

    payload = {
        "comparison": {
            "accounts": 30,
            "served": 4_000,
            "rows": rows,
            "ours": ours.to_json(),
        },
        "scale_out": {
            "accounts": 300,
            "served": {"bluesky": 5_000, "x": 7_100},
            "rows": scale,
            "runs": [r.to_json() for r in runs],
            "check": "silver rows: 12,000 in 1 tables, every lake",
        },
    }
    text = "\n".join(report(payload))
    assert "30 Bluesky accounts, 4,000 posts served" in text
    assert "dlt_rest: not installed" in text
    assert "300 accounts on 2 platforms, 12,100 posts served" in text
    assert "task timeline, 2 worker(s):" in text
    assert "x              7,000 /     7,100" in text
