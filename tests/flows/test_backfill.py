"""Backfill for real: a lake missing a range of days gets the posts published in that range
(compared with the simulated platforms' ground truth) and nothing outside it, no invented
account snapshot; and the window is checked before anything runs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from hhs_platform.backfill import backfill_window
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread

KEY = "backfill-test-key-7d1e"
FIRST, LAST = date(2026, 10, 18), date(2026, 10, 22)
START, END = datetime(2026, 10, 18, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC)


def test_backfill_window_is_checked() -> None:
    today = date(2026, 11, 29)
    w = backfill_window("2026-10-18", "2026-10-22", today)
    assert w is not None
    assert (w.start, w.end) == (
        datetime(2026, 10, 18, tzinfo=UTC),
        datetime(2026, 10, 23, tzinfo=UTC),
    )
    assert backfill_window(None, None, today) is None
    assert backfill_window("2026-11-29", "2026-11-29", today) is not None  # today is fine
    for first, last, why in [
        ("2026-10-22", "2026-10-18", "is after TO"),
        ("2026-11-01", "2026-11-30", "in the future"),
        ("2026-10-18", None, "needs both days"),
        ("18/10/2026", "2026-10-22", "not an ISO date"),
    ]:
        with pytest.raises(ConfigurationError, match=why):
            backfill_window(first, last, today)


def _keys(lake: Lake) -> set[tuple[str, str]]:
    return set(lake.read("silver/posts").select("platform", "post_id").iter_rows())


@pytest.mark.slow
def test_backfill_fills_the_missing_days_and_nothing_else(
    prefect_harness, tmp_path, monkeypatch
) -> None:
    from flows.collect import run_collect
    from hhs_platform.settings import Settings

    reg = load_registry()
    rows = pl.concat(
        [reg.filter(platform="bluesky").head(4), reg.filter(platform="youtube").head(3)]
    )
    accounts = tmp_path / "accounts.csv"
    # one registry account the platform does not know: a failure the artifacts must explain
    ghost = rows.head(1).with_columns(
        handle=pl.lit("no-such-account.bsky.social"), platform_id=pl.lit(None, pl.Utf8)
    )
    pl.concat([rows, ghost]).write_csv(accounts)
    lake = Lake(str(tmp_path / "lake"))
    with SandboxThread(accounts=rows, seed=5, platforms=("bluesky", "youtube")) as sb:
        for k, v in {
            "HHS_ACCOUNTS_FILE": str(accounts),
            "HHS_BLUESKY_API_BASE": sb.url("bluesky"),
            "HHS_YOUTUBE_API_BASE": sb.url("youtube"),
            "HHS_YOUTUBE_API_KEY": KEY,
            "HHS_DASK_PROCESSES": "false",
            "HHS_DASK_LOCAL_DASHBOARD": "false",
            "HHS_DASK_WORKERS": "1",
            "HHS_DASK_THREADS_PER_WORKER": "4",
        }.items():
            monkeypatch.setenv(k, v)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        # a late start: the lake knows only the posts since Oct 25
        first = run_collect(
            lake_uri=lake.uri, since=datetime(2026, 10, 25, tzinfo=UTC), settings=settings
        )
        # ... and lost the posts published Oct 18-22 (their metrics too)
        for name in ("silver/posts", "silver/post_metrics"):
            kept = lake.read(name)
            if name == "silver/posts":
                gone = kept.filter(pl.col("created_at").is_between(START, END, closed="left"))
            kept = kept.join(
                gone.select("platform", "post_id"), on=["platform", "post_id"], how="anti"
            )
            lake.overwrite(name, kept)
        before = _keys(lake)
        snapshots = lake.read("silver/account_snapshots").height
        metrics = lake.read("silver/post_metrics").height
        summary = run_collect(lake_uri=lake.uri, backfill=(FIRST, LAST), settings=settings)
        truth = sb.world.truth()["posts"]

    ghost_key = "bluesky:no-such-account.bsky.social"
    for run in (first, summary):
        assert [(e["account_key"], e["error"]) for e in run["errors"]] == [
            (ghost_key, "NotFoundError")
        ]
    assert summary["backfill"] == [str(FIRST), str(LAST)]
    start, end = START, END
    window = truth.filter(pl.col("created_at").is_between(start, end, closed="left"))
    wanted = set(window.select("platform", "post_id").iter_rows())
    assert len(wanted) > 30 and not wanted & before  # the range is missing
    after = _keys(lake)
    assert after == before | wanted  # every post of the range, nothing outside it
    posts = lake.read("silver/posts").filter(pl.col("run_id") == summary["run_id"])
    assert posts.height == len(wanted)
    assert posts["created_at"].min() >= start and posts["created_at"].max() < end
    # their current counters were observed (one row per post), no account figures invented
    new_metrics = lake.read("silver/post_metrics").filter(pl.col("run_id") == summary["run_id"])
    assert set(new_metrics.select("platform", "post_id").iter_rows()) <= wanted
    assert new_metrics.height > len(wanted) * 0.8  # reposts carry no counters of their own
    assert lake.read("silver/post_metrics").height == metrics + new_metrics.height
    assert lake.read("silver/account_snapshots").height == snapshots
    # gold now has the backfilled days' posts
    gold = lake.read("gold/daily_account_metrics").filter(pl.col("date").is_between(FIRST, LAST))
    own = lake.read("silver/posts").filter(
        pl.col("created_at").is_between(START, END, closed="left")
        & (pl.col("post_type") != "repost")
    )
    assert own.height > 30
    by_day = own.group_by(pl.col("created_at").dt.date().alias("date")).len()
    got = gold.group_by("date").agg(pl.col("posts_published").sum())
    assert dict(got.iter_rows()) == dict(by_day.iter_rows())
    assert datetime.now(UTC) - timedelta(days=1) < datetime.fromisoformat(summary["fetch_ended_at"])

    # the run's artifacts, read back from the Prefect server, say what happened
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(summary["run_id"])])
            )
        )
    by_key = {a.key: a for a in found}
    md = str(by_key["collection-summary"].data)
    assert f"Backfill of the posts published {FIRST} .. {LAST}" in md
    assert f"| {ghost_key} | NotFoundError |" in md and "| NotFoundError | 1 |" in md
    score = summary["quality_score"]["all"]
    assert score is not None and 0 < score <= 1
    assert f"quality score: **{score:.3f}**" in md
    table = json.loads(str(by_key["collection-by-platform"].data))
    per = {r["platform"]: r for r in table}
    assert set(per) == {"bluesky", "youtube"}
    assert per["bluesky"]["errors"] == 1 and per["youtube"]["errors"] == 0
    assert all(r["wall_seconds"] > 0 and r["posts"] > 0 for r in table)
