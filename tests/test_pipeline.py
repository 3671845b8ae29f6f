"""The whole path on real components: simulated platforms over sockets → bronze → silver → gold.

Silver is compared with the simulated platforms' ground truth: every post exactly once, and the
latest counters equal to what was served.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sim_time import days_ago

from hhs_platform.collect import collect_batch, plan_batches
from hhs_platform.enrich import enrich_posts, link_campaigns
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.ops.slo import build_slo
from hhs_platform.quality.accuracy import compare_with_truth, is_exact
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.registry import load_registry
from hhs_platform.reports.run_summary import run_summary_rows
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings
from hhs_platform.transforms.gold import build_gold
from hhs_platform.transforms.normalize import SilverBatch
from schemas import CATALOGUE
from schemas.catalogue import EMPTY_ON_CLEAN_DATA

KEY = "pipeline-test-key-5b1f0c9e"
X_TOKEN = "pipeline-test-x-token-77d02c"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    # the platforms this pipeline collects (the sandbox also serves X, Mastodon, Truth Social)
    # The shipped registry on the platforms with the most accounts; the others have their own
    # end-to-end tests in tests/pipeline/.
    # frozen shortly before the real time, which stamps the observations (tests/sim_time.py)
    clock = days_ago(2)
    with SandboxThread(
        accounts=load_registry(), seed=11, platforms=("bluesky", "x", "youtube"), clock=clock
    ) as sb:
        yield sb


def _settings(sandbox: SandboxThread, lake: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        lake_uri=lake,
        bluesky_api_base=sandbox.url("bluesky"),
        youtube_api_base=sandbox.url("youtube"),
        youtube_api_key=KEY,
        x_api_base=sandbox.url("x"),
        x_bearer_token=X_TOKEN,
    )


def _collect(sandbox: SandboxThread, lake: Lake, run_id: str) -> SilverBatch:
    settings = _settings(sandbox, lake.uri)
    registry = load_registry()
    outcomes = [
        collect_batch(
            b, run_id=run_id, batch_id=str(i), lake=lake, settings=settings, registry=registry
        )
        for i, b in enumerate(plan_batches(registry, 10, settings))
    ]
    assert all(not o.errors for o in outcomes), [e for o in outcomes for e in o.errors]
    batch = SilverBatch.concat([o.silver for o in outcomes])
    # What the flow keeps of the batches once written: every count and the drift, no rows.
    light = [o.summarised() for o in outcomes]
    assert [o.summary() for o in light] == [o.summary() for o in outcomes]
    assert run_summary_rows(light) == run_summary_rows(outcomes)
    assert all(not o.silver.tables and o.silver.quarantine.is_empty() for o in light)
    assert SilverBatch.concat([o.silver for o in light]).drift.equals(batch.drift)
    write_silver(lake, batch)
    enrich_posts(lake)
    link_campaigns(lake)
    build_gold(lake)
    build_quality(lake, run_id)
    build_slo(lake)  # what the collection flow runs last
    return batch


@pytest.fixture(scope="module")
def first_run(
    sandbox: SandboxThread, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, SilverBatch]:
    """The world's first collection ("run-1"), made once for the module: its lake (copy it to
    write) and its silver batch."""
    root = tmp_path_factory.mktemp("first-run") / "lake"
    batch = _collect(sandbox, Lake(str(root)), "run-1")
    return root, batch


def _first_lake(first_run: tuple[Path, SilverBatch], tmp_path: Path) -> Lake:
    """A copy of the first collection's lake in ``tmp_path``."""
    shutil.copytree(first_run[0], tmp_path / "lake")
    return Lake(str(tmp_path / "lake"))


def _latest_metrics(lake: Lake) -> pl.DataFrame:
    return (
        lake.read("silver/post_metrics")
        .sort("observed_at")
        .group_by("platform", "post_id")
        .agg(pl.col("likes", "reposts", "replies", "quotes", "views").last())
    )


def test_silver_equals_ground_truth_and_rerun_changes_nothing(
    sandbox: SandboxThread, first_run: tuple[Path, SilverBatch], tmp_path: Path
) -> None:
    lake = _first_lake(first_run, tmp_path)
    batch = first_run[1]
    truth = sandbox.world.truth()

    # every table of the catalogue was written and reads back with polars
    for name in CATALOGUE:
        table = pl.read_delta(lake.path(name))  # every table exists, even when empty
        assert table.schema == CATALOGUE[name].schema, name
        if name not in EMPTY_ON_CLEAN_DATA:
            assert table.height > 0, name
    assert lake.read("quality/flags").height == 0  # clean data raises no flag
    assert batch.quarantine.height == 0
    assert batch.drift.height == 0  # the simulated platforms send every field the parsers use

    posts = lake.read("silver/posts")
    t_posts = truth["posts"]
    assert posts.height == t_posts.height
    assert posts.select("platform", "post_id").is_duplicated().sum() == 0
    for platform in ("bluesky", "x", "youtube"):
        got = set(posts.filter(platform=platform)["post_id"].to_list())
        want = set(t_posts.filter(platform=platform)["post_id"].to_list())
        assert got == want, platform
    # post types and owners as served
    merged = t_posts.join(posts, on=["platform", "post_id"], suffix="_lake")
    assert (merged["post_type"] == merged["post_type_lake"]).all()
    assert (merged["account_id"] == merged["account_id_lake"]).all()
    assert (merged["created_at"] == merged["created_at_lake"]).all()

    # the latest counters equal the served counters exactly (reposts carry none)
    metrics = _latest_metrics(lake)
    want = t_posts.filter(pl.col("post_type") != "repost").select(
        "platform", "post_id", "likes", "reposts", "replies", "quotes", "views"
    )
    cmp = want.join(metrics, on=["platform", "post_id"], how="full", suffix="_lake", coalesce=True)
    assert cmp.height == want.height == metrics.height
    for m in ("likes", "reposts", "replies", "quotes", "views"):
        assert cmp[m].eq_missing(cmp[f"{m}_lake"]).all(), m

    # account figures equal the served ones
    snaps = lake.read("silver/account_snapshots")
    t_acc = truth["accounts"]
    acc = t_acc.join(snaps, on=["platform", "account_id"], suffix="_lake")
    assert acc.height == t_acc.height == snaps.height
    for m in ("followers", "following", "posts_count"):
        assert acc[m].eq_missing(acc[f"{m}_lake"]).all(), m
    accounts = lake.read("silver/accounts")
    assert accounts.height == t_acc.height
    assert accounts["agency"].null_count() == 0

    # gold: today's followers per account equal the snapshots
    gold = lake.read("gold/daily_account_metrics")
    latest_day = gold.filter(pl.col("followers").is_not_null())
    assert latest_day["followers"].sum() == snaps["followers"].sum()
    assert gold["posts_published"].sum() == t_posts.filter(pl.col("post_type") != "repost").height

    # the audit the demo prints agrees: everything found once, every field exact
    report = compare_with_truth(lake, truth)
    assert is_exact(report), report
    assert {r["platform"]: r["posts_found"] for r in report} == {
        p: t_posts.filter(platform=p).height for p in ("bluesky", "x", "youtube")
    }

    # a second collection of the same world at the same time leaves the same tables
    before = {
        n: lake.read(n).drop(
            "last_seen_at", "last_observed_at", "run_id", "response_id", strict=False
        )
        for n in (
            "silver/accounts",
            "silver/posts",
            "silver/account_snapshots",
            "silver/post_metrics",
        )
    }
    _collect(sandbox, lake, "run-2")
    for name, df in before.items():
        after = lake.read(name).drop(
            "last_seen_at", "last_observed_at", "run_id", "response_id", strict=False
        )
        keys = list(CATALOGUE[name].keys)
        assert after.height == df.height, name
        assert after.sort(keys).equals(df.sort(keys)), name
    # bronze kept both runs' responses
    bronze = lake.read("bronze/raw_responses", columns=["run_id"])
    assert set(bronze["run_id"].unique().to_list()) == {"run-1", "run-2"}


def test_counters_that_grow_add_observations(
    sandbox: SandboxThread, first_run: tuple[Path, SilverBatch], tmp_path: Path
) -> None:
    lake = _first_lake(first_run, tmp_path)
    n_before = lake.read("silver/post_metrics").height
    sandbox.world.clock.advance(timedelta(days=1))
    try:
        _collect(sandbox, lake, "run-2")
        truth = sandbox.world.truth()
    finally:
        sandbox.world.clock.advance(timedelta(days=-1))
    metrics = _latest_metrics(lake)
    want = truth["posts"].filter(pl.col("post_type") != "repost")
    cmp = want.join(metrics, on=["platform", "post_id"], suffix="_lake")
    assert cmp.height == want.height
    assert cmp["likes"].eq_missing(cmp["likes_lake"]).all()
    assert lake.read("silver/post_metrics").height > n_before
    # each post's series never goes down
    series = lake.read("silver/post_metrics").sort("observed_at")
    drops = series.with_columns(d=pl.col("likes").diff().over("platform", "post_id")).filter(
        pl.col("d") < 0
    )
    assert drops.height == 0


def test_audit_catches_a_wrong_counter_and_a_missing_post(
    sandbox: SandboxThread, first_run: tuple[Path, SilverBatch], tmp_path: Path
) -> None:
    from hhs_platform.quality.accuracy import latest_post_metrics

    lake = _first_lake(first_run, tmp_path)
    truth = sandbox.world.truth()
    # a later, wrong observation of one Bluesky post's likes
    victim = lake.read("silver/post_metrics").filter(platform="bluesky").head(1)
    wrong = victim.with_columns(
        likes=pl.col("likes") + 1,
        observed_at=pl.col("observed_at") + timedelta(minutes=5),
        last_observed_at=pl.col("observed_at") + timedelta(minutes=5),
    )
    lake.merge("silver/post_metrics", wrong)
    assert (
        latest_post_metrics(lake).filter(post_id=victim["post_id"][0])["likes"][0]
        == victim["likes"][0] + 1
    )
    # and one YouTube post lost
    truth_plus = {
        "accounts": truth["accounts"],
        "posts": pl.concat(
            [
                truth["posts"],
                truth["posts"]
                .filter(platform="youtube")
                .head(1)
                .with_columns(post_id=pl.lit("missingvid0")),
            ]
        ),
    }
    report = {r["platform"]: r for r in compare_with_truth(lake, truth_plus)}
    assert not is_exact(list(report.values()))
    n_bsky = truth["posts"].filter(platform="bluesky", post_type="original").height
    assert report["bluesky"]["likes_accuracy"] < 1.0
    assert report["bluesky"]["reposts_accuracy"] == 1.0
    assert report["youtube"]["posts_missing"] == 1 and report["youtube"]["recall"] < 1.0
    assert n_bsky > 0


def test_faults_do_not_change_what_lands(tmp_path) -> None:
    """429s with the platform's headers, 5xx and truncated bodies: retried, nothing lost or doubled."""
    from hhs_platform.quality.accuracy import compare_with_truth, is_exact
    from hhs_platform.sandbox import FaultProfile

    registry = load_registry()
    accounts = pl.concat(
        [registry.filter(platform="bluesky").head(4), registry.filter(platform="youtube").head(4)]
    )
    faults = FaultProfile(rate_limit=0.1, server_error=0.1, truncated=0.15, seed=5)
    with SandboxThread(accounts=accounts, seed=13, faults=faults) as sb:
        lake = Lake(str(tmp_path / "lake"))
        settings = _settings(sb, lake.uri)
        outcomes = [
            collect_batch(
                b, run_id="chaos", batch_id=str(i), lake=lake, settings=settings, registry=accounts
            )
            for i, b in enumerate(plan_batches(accounts, 10, settings))
        ]
        assert all(not o.errors for o in outcomes), [e for o in outcomes for e in o.errors]
        silver = SilverBatch.concat([o.silver for o in outcomes])
        write_silver(lake, silver)
        truth = sb.world.truth()
        stats = sb.stats
    report = compare_with_truth(lake, truth)
    assert is_exact(report), report
    bronze = lake.read("bronze/raw_responses", columns=["status"])
    # the failed attempts were archived too
    assert bronze.filter(pl.col("status") != 200).height > 0, stats
    # every truncated 200 body in bronze is quarantined with a reason, nothing else is
    import json

    raw = lake.read("bronze/raw_responses", columns=["response_id", "status", "body"])
    broken = set()
    for rid, status, body in raw.iter_rows():
        if status == 200:
            try:
                json.loads(body)
            except ValueError:
                broken.add(rid)
    assert broken, "the fault profile should have truncated some bodies"
    quarantined = lake.read("quarantine/rows")
    assert set(quarantined["response_id"].to_list()) == broken
    assert quarantined["rules"].list.len().min() >= 1
