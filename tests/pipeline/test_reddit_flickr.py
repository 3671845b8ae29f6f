"""Reddit (no shipped registry rows) and Flickr (the shipped rows) land exactly against truth."""

from __future__ import annotations

import polars as pl
from landing import collect_from_sandbox, registry_rows

from hhs_platform.quality.accuracy import compare_with_truth, is_exact
from hhs_platform.registry import load_registry

HHS = "U.S. Department of Health and Human Services"


def test_reddit_and_flickr_land_exactly(tmp_path) -> None:
    reddit = registry_rows(
        [
            ("HHS", HHS, None, "reddit", "u/HHSgov", None),
            ("NIH", "National Institutes of Health", "HHS", "reddit", "NIHgov", None),
            ("CDC", "Centers for Disease Control and Prevention", "HHS", "reddit", "CDCgov",
             "t2_4k2f0x9q"),
        ]
    )  # fmt: skip
    flickr = load_registry().filter(pl.col("platform") == "flickr").select(reddit.columns)
    registry = pl.concat([reddit, flickr.cast(reddit.schema)])  # type: ignore[arg-type]
    landed = collect_from_sandbox(
        tmp_path,
        registry,
        lambda sb: {
            "reddit_api_base": sb.url("reddit"),
            "reddit_access_token": "test-token",
            "flickr_api_base": sb.url("flickr"),
            "flickr_api_key": "test-key",
        },
        seed=5,
        # enough history that Reddit pages (100 a page) and Flickr pages (500) both turn
        sandbox_kwargs={"history_days": 240, "posts_per_day": 1.5},
    )
    assert all(not o.errors for o in landed.outcomes), [
        e for o in landed.outcomes for e in o.errors
    ]
    truth = dict(landed.truth)
    report = compare_with_truth(landed.lake, truth)
    assert {r["platform"] for r in report} == {"reddit", "flickr"}
    assert is_exact(report), report
    assert all(
        r["posts_found"] > 0 and r["accounts_found"] == r["accounts_expected"] for r in report
    )
    posts = landed.truth["posts"]
    assert posts.filter(platform="reddit", post_type="quote").height > 0  # crossposts
    assert posts.filter(platform="reddit")["reposts"].max() > 0  # num_crossposts
    per_account = posts.filter(platform="reddit").group_by("account_id").len()["len"].max()
    assert per_account > 100  # at least one Reddit account needed a second page
    assert landed.sandbox_stats.requests[("reddit", "submitted")] > 3
    assert landed.sandbox_stats.requests[("flickr", "flickr.urls.lookupUser")] == 2  # aliases
    accounts = landed.lake.read("silver/accounts")
    assert sorted(accounts.filter(platform="reddit")["agency"].to_list()) == ["CDC", "HHS", "NIH"]
