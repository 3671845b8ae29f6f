"""Mastodon and Truth Social (no shipped registry rows yet) land exactly against ground truth."""

from __future__ import annotations

from landing import collect_from_sandbox, registry_rows

from hhs_platform.quality.accuracy import is_exact


def test_mastodon_and_truth_social_land_exactly(tmp_path) -> None:
    registry = registry_rows(
        [
            ("HHS", "U.S. Department of Health and Human Services", None, "mastodon", "hhs", None),
            ("CDC", "Centers for Disease Control and Prevention", "HHS", "mastodon", "cdc", None),
            (
                "HHS",
                "U.S. Department of Health and Human Services",
                None,
                "truthsocial",
                "seckennedy",
                None,
            ),
        ]
    )
    landed = collect_from_sandbox(
        tmp_path,
        registry,
        lambda sb: {
            "mastodon_api_base": sb.url("mastodon"),
            "truthsocial_api_base": sb.url("truthsocial"),
        },
        seed=21,
    )
    assert all(not o.errors for o in landed.outcomes), [
        e for o in landed.outcomes for e in o.errors
    ]
    assert {r["platform"] for r in landed.report} == {"mastodon", "truthsocial"}
    assert is_exact(landed.report), landed.report
    assert all(
        r["posts_found"] > 0 and r["accounts_found"] == r["accounts_expected"]
        for r in landed.report
    )
    accounts = landed.lake.read("silver/accounts")
    assert sorted(accounts["agency"].to_list()) == ["CDC", "HHS", "HHS"]
