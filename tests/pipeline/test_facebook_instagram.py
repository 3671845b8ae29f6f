"""Facebook Pages and Instagram (the shipped registry rows) land exactly against ground truth."""

from __future__ import annotations

import polars as pl
from landing import collect_from_sandbox, registry_rows

from hhs_platform.quality.accuracy import compare_with_truth, is_exact
from hhs_platform.registry import load_registry
from hhs_platform.sandbox.platforms.instagram import likes_hidden

IG_ASKER = "17841400000000001"


def test_facebook_and_instagram_land_exactly(tmp_path) -> None:
    shipped = load_registry().filter(pl.col("platform").is_in(["facebook", "instagram"]))
    columns = registry_rows([]).columns
    registry = shipped.select(columns).cast(registry_rows([]).schema)  # type: ignore[arg-type]
    landed = collect_from_sandbox(
        tmp_path,
        registry,
        lambda sb: {
            "facebook_api_base": sb.url("facebook"),
            "facebook_access_token": "test-page-token",
            "instagram_api_base": sb.url("instagram"),
            "instagram_access_token": "test-ig-token",
            "instagram_business_account_id": IG_ASKER,
        },
        seed=11,
        # enough history that some pages need a second /posts page (100 a page)
        sandbox_kwargs={"history_days": 90},
    )
    assert all(not o.errors for o in landed.outcomes), [
        e for o in landed.outcomes for e in o.errors
    ]
    # What Graph does not serve (a page's post count, hidden like counts) is null in the truth
    # too, so the comparison is exact as it stands.
    truth = dict(landed.truth)
    hidden = [p for p in truth["posts"].filter(platform="instagram")["post_id"] if likes_hidden(p)]
    assert hidden, "the world should hide some like counts"
    assert truth["posts"].filter(pl.col("post_id").is_in(hidden))["likes"].null_count() == len(
        hidden
    )
    report = compare_with_truth(landed.lake, truth)
    assert {r["platform"] for r in report} == {"facebook", "instagram"}
    assert is_exact(report), report
    assert all(
        r["posts_found"] > 0 and r["accounts_found"] == r["accounts_expected"] for r in report
    )
    posts = landed.truth["posts"]
    assert posts.filter(platform="facebook", post_type="repost").height > 0  # shares
    assert posts.filter(platform="facebook")["reposts"].max() > 0  # shares.count
    assert hidden  # some like counts were hidden and landed as null
    per_page = posts.filter(platform="facebook").group_by("account_id").len()["len"].max()
    assert per_page > 100  # at least one page needed a second /posts page
    assert landed.sandbox_stats.requests[("facebook", "posts")] > 25
    assert landed.sandbox_stats.requests[("instagram", "business_discovery")] > 7
    accounts = landed.lake.read("silver/accounts")
    assert accounts.filter(platform="facebook").height == 25
    assert accounts.filter(platform="instagram").height == 7
