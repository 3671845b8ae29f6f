"""The order of a collection's batches: tier 1 first; within a tier each platform's batches are
spread evenly, the platform its documented rate limit keeps busiest first at a tie."""

from __future__ import annotations

import polars as pl

from hhs_platform.collect import limit_seconds, plan_batches
from hhs_platform.ratelimit import DEFAULT_RULES
from hhs_platform.settings import Settings


def registry(counts: dict[tuple[str, int], int]) -> pl.DataFrame:
    rows = [
        {"platform": p, "handle": f"{p}-{tier}-{n:03d}", "platform_id": None, "tier": tier}
        for (p, tier), count in counts.items()
        for n in range(count)
    ]
    return pl.DataFrame(rows, schema_overrides={"platform_id": pl.Utf8})


def test_platforms_are_spread_over_each_tier_the_busiest_first() -> None:
    # 400 X accounts need 400 user lookups at 300 per 15 min; 40 Mastodon accounts fit in the
    # burst of their 300 per 5 min; Bluesky's limit is far from reached
    counts = {
        ("x", 1): 25,
        ("bluesky", 1): 12,
        ("mastodon", 1): 5,
        ("x", 2): 375,
        ("bluesky", 2): 8,
    }
    counts |= {("mastodon", 2): 35}
    settings = Settings(_env_file=None, x_bearer_token="t")  # type: ignore[call-arg]
    batches = plan_batches(registry(counts), 10, settings)
    order = [(b[0]["tier"], b[0]["platform"], len(b)) for b in batches]
    # tier 1: X's 3 batches at 1/6, 3/6, 5/6 of the tier, Bluesky's 2 at 1/4, 3/4, Mastodon's
    # one at 1/2, after X's (X needs (400 - 30) x 3 s of its limit, Mastodon (40 - 30) x 1 s)
    assert order[:6] == [
        (1, "x", 10),
        (1, "bluesky", 10),
        (1, "x", 10),
        (1, "mastodon", 5),
        (1, "bluesky", 2),
        (1, "x", 5),
    ]
    # tier 2: 38 X batches, Mastodon's 4 in each quarter, Bluesky's one in the middle
    tier2 = [p for tier, p, _ in order if tier == 2]
    assert len(tier2) == 43
    assert [i for i, p in enumerate(tier2) if p == "mastodon"] == [5, 15, 27, 37]
    assert [i for i, p in enumerate(tier2) if p == "bluesky"] == [21]
    # every account once, tier 1 first, handles in order within a platform and tier
    handles = [a["handle"] for b in batches for a in b]
    assert sorted(handles) == sorted(registry(counts)["handle"])
    assert [b[0]["tier"] for b in batches] == sorted(b[0]["tier"] for b in batches)
    for p in ("x", "bluesky", "mastodon"):
        mine = [h for h in handles if h.startswith(p + "-")]
        assert mine == sorted(mine)


def test_limit_seconds_is_the_documented_rate_beyond_the_burst() -> None:
    x = DEFAULT_RULES["x"]
    assert limit_seconds("x", 400) == (400 - x.limit * x.burst) * x.window_s / x.limit
    assert limit_seconds("x", 400) == (400 - 30) * 3.0
    assert limit_seconds("mastodon", 40) == (40 - 30) * 1.0
    assert limit_seconds("mastodon", 20) == 0.0  # within the burst
    assert limit_seconds("facebook", 500) == 0.0  # Meta: no fixed limit
