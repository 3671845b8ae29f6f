"""Engagement curves on hand-made observation series with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from hhs_platform.transforms.curves import BASELINE_GROUP, last_posts, post_curves

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def _posts(rows: list[tuple[str, datetime, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"platform": "x", "post_id": p, "account_id": "a1", "post_type": t, "created_at": c}
            for p, c, t in rows
        ]
    )


def _obs(post: str, start: datetime, end: datetime, likes: int, replies: int = 0) -> dict:
    return {
        "platform": "x",
        "post_id": post,
        "observed_at": start,
        "last_observed_at": end,
        "likes": likes,
        "reposts": 0,
        "replies": replies,
        "quotes": 0,
        "views": None,
    }


def test_value_at_each_age_is_observed_or_missing_never_guessed() -> None:
    posts = _posts([("p1", T0, "post")])
    metrics = pl.DataFrame(
        [
            _obs("p1", T0 + 40 * M, T0 + 80 * M, likes=5),  # covers the 1 h instant
            _obs("p1", T0 + 6 * H + 20 * M, T0 + 6 * H + 20 * M, likes=9),  # 20 min after 6 h
            _obs("p1", T0 + 70 * H, T0 + 75 * H, likes=20, replies=2),  # covers 72 h
        ]
    )
    curves = post_curves(posts, metrics)
    got = {r["age_hours"]: r for r in curves.iter_rows(named=True)}
    assert sorted(got) == [1, 6, 72]  # 24 h, 7 d, 28 d: nothing near enough
    assert (got[1]["likes"], got[1]["offset_minutes"], got[1]["observed_at"]) == (5, 0, T0 + H)
    assert (got[6]["likes"], got[6]["offset_minutes"]) == (9, 20)
    assert (got[72]["likes"], got[72]["engagement"], got[72]["offset_minutes"]) == (20, 22, 0)
    assert got[1]["baseline"] is None and got[1]["overperformance"] is None


def test_overperformance_against_the_accounts_previous_posts_at_the_same_age() -> None:
    rows = [(f"p{i}", T0 + i * 10 * H, "post") for i in range(7)]
    rows.append(("v1", T0 + 75 * H, "video"))  # another type: not a comparable
    posts = _posts(rows)
    likes = [10, 12, 8, 10, 11, 9, 30]
    metrics = pl.DataFrame(
        [
            _obs(p, c + 50 * M, c + 70 * M, likes=n)
            for (p, c, _), n in zip(rows, [*likes, 99], strict=True)
        ]
    )
    curves = post_curves(posts, metrics).filter(age_hours=1).sort("created_at")
    by = {r["post_id"]: r for r in curves.iter_rows(named=True)}
    assert by["p4"]["baseline"] is None  # 4 previous posts: fewer than 5
    assert by["p5"]["baseline"] == 10.0  # median of 10, 12, 8, 10, 11
    assert by["p6"]["baseline"] == 10.0  # median of 10, 12, 8, 10, 11, 9
    assert by["p6"]["overperformance"] == 3.0
    assert by["v1"]["baseline"] is None


def test_repoll_picks_the_posts_with_an_age_due_in_the_next_hour() -> None:
    from hhs_platform.transforms.curves import due_for_repoll

    now = T0 + 100 * H
    posts = pl.DataFrame(
        {
            "platform": ["x", "x", "x", "x", "x"],
            "account_id": ["a1", "a1", "a2", "a3", "a4"],
            "post_id": ["p24", "p6", "p-none", "repost", "gone"],
            "created_at": [
                now - 24 * H + 20 * M,  # 24 h due in 20 min
                now - 6 * H - 20 * M,  # 6 h passed 20 min ago: within its 36 min tolerance
                now - 50 * H,  # 50 h: between 24 h and 72 h, nothing due
                now - 72 * H + 10 * M,  # a repost: no curve
                now - H + 5 * M,  # deleted
            ],
            "post_type": ["post", "post", "post", "repost", "post"],
            "is_deleted": [False, False, False, False, True],
        }
    )
    due = due_for_repoll(posts, now)
    assert due.select("post_id", "age_hours").rows() == [("p6", 6), ("p24", 24)]
    assert due["due_at"].to_list() == [now - 20 * M, now + 20 * M]
    later = due_for_repoll(posts, now + 48 * H - 30 * M)  # p24 reaches 72 h in 50 min
    assert later.select("post_id", "age_hours").rows() == [("p24", 72)]


def test_repoll_skips_ages_an_observation_already_stands_for() -> None:
    from hhs_platform.transforms.curves import due_for_repoll

    now = T0 + 2000 * H
    posts = pl.DataFrame(
        {
            "platform": ["x", "x", "x"],
            "account_id": ["a1", "a1", "a2"],
            "post_id": ["old28", "seen28", "p6"],
            # the 28-day age passed 20 h ago: still inside its 67 h catch-up window
            "created_at": [now - 672 * H - 20 * H, now - 672 * H - 20 * H, now - 6 * H - 10 * M],
            "post_type": ["post", "post", "post"],
        }
    )
    assert due_for_repoll(posts, now).select("post_id", "age_hours").rows() == [
        ("old28", 672),
        ("seen28", 672),
        ("p6", 6),
    ]
    observed = pl.DataFrame(
        {
            "platform": ["x", "x", "x"],
            "post_id": ["old28", "seen28", "p6"],
            "last_observed_at": [
                now - 672 * H,  # long before the age: the age is still owed
                now - 19 * H,  # after the age was reached: it already stands for it
                now - 7 * H,  # an hour before the 6 h age (tolerance 36 min): still owed
            ],
        },
        schema_overrides={"last_observed_at": pl.Datetime("us", "UTC")},
    )
    due = due_for_repoll(posts, now, observed=observed)
    assert due.select("post_id", "age_hours").rows() == [("old28", 672), ("p6", 6)]


@pytest.mark.parametrize("seed", range(5))
def test_last_posts_keeps_each_groups_newest_n_and_every_tie_of_the_nth(seed: int) -> None:
    """The baseline's earlier rows: each group's rows ranked n or better from the newest, ties
    ranked alike (the definition the incremental build's faster filter must equal)."""
    rng = np.random.default_rng(seed)
    rows = 4_000
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "platform": rng.choice(["x", "bluesky"], rows),
            "account_id": rng.choice(["a", "b", "c"], rows),
            "post_type": rng.choice(["post", "video"], rows),
            "age_hours": rng.choice([1, 24], rows),
            # few distinct instants, so ties at the n-th are common
            "created_at": [t0 + timedelta(hours=int(h)) for h in rng.integers(0, 60, rows)],
            "post_id": [f"p{i}" for i in range(rows)],
        }
    ).vstack(  # a group smaller than n keeps every row
        pl.DataFrame(
            {
                "platform": ["mastodon"] * 3,
                "account_id": ["z"] * 3,
                "post_type": ["post"] * 3,
                "age_hours": [1] * 3,
                "created_at": [t0, t0, t0 + timedelta(hours=1)],
                "post_id": ["m1", "m2", "m3"],
            }
        )
    )
    for n in (1, 5, 20):
        rank = pl.col("created_at").rank("min", descending=True).over(BASELINE_GROUP)
        want = frame.filter(rank <= n).sort("post_id")
        got = frame.filter(last_posts(n)).sort("post_id")
        assert got.equals(want), n
        assert got.height > frame.select(BASELINE_GROUP).n_unique()  # ties kept beyond one
        # the 3-row group: its newest alone for n = 1, then its two tied older rows as well
        assert got.filter(pl.col("platform") == "mastodon").height == (1 if n == 1 else 3)
