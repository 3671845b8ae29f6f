"""Threads (a token per profile) and LinkedIn (the shipped rows) land exactly against truth."""

from __future__ import annotations

from typing import Any

import polars as pl
from landing import registry_rows

from hhs_platform.collect import collect_batch, plan_batches
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.quality.accuracy import compare_with_truth, is_exact
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch

HHS = "U.S. Department of Health and Human Services"
#: A Threads user token belongs to one profile: the agency's own token for each account.
THREADS_TOKENS = {"tok-hhs-41": "hhsgov", "tok-cdc-42": "cdcgov", "tok-nih-43": "nihgov"}
LINKEDIN_TOKEN = "tok-linkedin-admin-44"


def test_threads_and_linkedin_land_exactly(tmp_path) -> None:
    threads = registry_rows(
        [
            ("HHS", HHS, None, "threads", "@hhsgov", None),
            ("CDC", "Centers for Disease Control and Prevention", "HHS", "threads", "cdcgov",
             None),
            ("NIH", "National Institutes of Health", "HHS", "threads",
             "https://www.threads.net/@nihgov", "25123456789012345"),
        ]
    )  # fmt: skip
    linkedin = load_registry().filter(pl.col("platform") == "linkedin").select(threads.columns)
    registry = pl.concat([threads, linkedin.cast(threads.schema)])  # type: ignore[arg-type]
    limits = {
        "threads_access_tokens": THREADS_TOKENS,
        "linkedin_access_tokens": {LINKEDIN_TOKEN},
    }
    with SandboxThread(
        accounts=registry, seed=11, limits=limits, history_days=90, posts_per_day=1.5
    ) as sb:
        lake = Lake(str(tmp_path / "lake"))
        runs: list[tuple[pl.DataFrame, dict[str, Any]]] = [
            (linkedin, {"linkedin_api_base": sb.url("linkedin"),
                        "linkedin_access_token": LINKEDIN_TOKEN}),
        ]  # fmt: skip
        by_user = {user: token for token, user in THREADS_TOKENS.items()}
        for row in threads.iter_rows(named=True):
            user = str(row["handle"]).rstrip("/").rsplit("/", 1)[-1].lstrip("@")
            runs.append(
                (
                    threads.filter(pl.col("handle") == row["handle"]),
                    {"threads_api_base": sb.url("threads"),
                     "threads_access_token": by_user[user]},
                )
            )  # fmt: skip
        outcomes = []
        for n, (rows, extra) in enumerate(runs):
            settings = Settings(_env_file=None, lake_uri=lake.uri, **extra)  # type: ignore[call-arg]
            for i, batch in enumerate(plan_batches(rows, 10, settings)):
                outcomes.append(
                    collect_batch(batch, run_id="run-1", batch_id=f"{n}-{i}", lake=lake,
                                  settings=settings, registry=registry)
                )  # fmt: skip
        write_silver(lake, SilverBatch.concat([o.silver for o in outcomes]))
        truth = dict(sb.world.truth())
        stats = sb.stats
    assert all(not o.errors for o in outcomes), [e for o in outcomes for e in o.errors]
    report = compare_with_truth(lake, truth)
    assert {r["platform"] for r in report} == {"threads", "linkedin"}
    assert is_exact(report), report
    assert all(
        r["posts_found"] > 0 and r["accounts_found"] == r["accounts_expected"] for r in report
    )
    by_platform = {r["platform"]: r for r in report}
    assert by_platform["linkedin"]["accounts_expected"] == 23
    posts = truth["posts"]
    for platform in ("threads", "linkedin"):
        assert posts.filter(platform=platform, post_type="repost").height > 0
    assert posts.filter(platform="threads", post_type="quote").height > 0
    per_account = posts.filter(platform="threads").group_by("account_id").len()["len"].max()
    assert per_account > 100  # a Threads feed needed a second page (100 a page)
    assert stats.requests[("threads", "me")] >= 3
    assert stats.requests[("linkedin", "organizationalEntityShareStatistics")] >= 23
    accounts = lake.read("silver/accounts")
    assert sorted(accounts.filter(platform="threads")["agency"].to_list()) == ["CDC", "HHS", "NIH"]
    ids = set(accounts.filter(platform="threads")["account_id"].to_list())
    assert "25123456789012345" in ids  # the registry's platform_id is the profile's id
