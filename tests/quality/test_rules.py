"""Social-data rules: hard rules quarantine exactly the rows that break them, soft rules flag
exactly the implausible observations and leave normal ones alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from hhs_platform import bronze
from hhs_platform.connectors.base import RawResponse
from hhs_platform.lake import Lake
from hhs_platform.quality.rules import apply_row_rules, flag_rows
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import parse_bronze
from schemas import table_spec

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
DAY = timedelta(days=1)
DID = "did:plc:abcdefghijklmnopqrstuvwx"
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows of ``table`` with lineage and the dull columns filled in."""
    schema = table_spec(table).schema
    base: dict[str, Any] = {"run_id": "r0", "response_id": "resp-0", "connector_version": "t/1"}
    if table == "silver/posts":
        base |= {"post_type": "original", "media_count": 0, "is_deleted": False}
    full = []
    for r in rows:
        row = {**base, **r}
        for start, end in (("observed_at", "last_observed_at"), ("first_seen_at", "last_seen_at")):
            if start in schema and start in row:
                row.setdefault(end, row[start])
        if table == "silver/posts":
            row.setdefault("author_id", row["account_id"])
            row.setdefault("created_at", row["first_seen_at"] - DAY)
        full.append({c: row.get(c) for c in schema})
    return pl.DataFrame(full, schema=schema)


# --- hard rules ---------------------------------------------------------------------------------


def _feed(created: list[str], fetched_at: datetime, page: int = 1) -> RawResponse:
    items = [
        {
            "post": {
                "uri": f"at://{DID}/app.bsky.feed.post/3k{i:011d}",
                "cid": f"bafy{i}",
                "author": {"did": DID, "handle": "cdc.gov"},
                "record": {"$type": "app.bsky.feed.post", "createdAt": ts, "text": f"hi {i}"},
                "likeCount": 5,
                "replyCount": 1,
                "repostCount": 2,
                "quoteCount": 0,
                "indexedAt": ts,
            }
        }
        for i, ts in enumerate(created)
    ]
    return RawResponse(
        platform="bluesky",
        endpoint="app.bsky.feed.getAuthorFeed",
        account_key="bluesky:cdc.gov",
        request_url=f"http://x/xrpc/app.bsky.feed.getAuthorFeed?actor={DID}&p={page}",
        status=200,
        headers={},
        body=json.dumps({"feed": items}).encode(),
        fetched_at=fetched_at,
        elapsed_ms=1.0,
        page=page,
    )


def test_post_created_after_its_fetch_is_quarantined_and_skew_is_tolerated() -> None:
    created = [
        "2026-11-01T10:00:00.000Z",  # a day before the fetch: fine
        "2026-11-02T12:04:00.000Z",  # 4 minutes ahead: inside the 300 s skew
        "2026-11-02T13:00:00.000Z",  # an hour ahead: impossible
    ]
    frame_ = bronze.to_frame([_feed(created, NOW)], run_id="r1", connector_versions={})
    batch = parse_bronze(frame_)
    posts = batch.tables["silver/posts"]
    assert sorted(posts["post_id"].str.slice(-3).to_list()) == ["000", "001"]
    q = batch.quarantine
    assert q.height == 1
    row = q.row(0, named=True)
    assert row["table"] == "silver/posts"
    assert row["response_id"] == frame_["response_id"][0]
    assert row["rules"] == [
        "created_at: future_timestamp (2026-11-02T13:00:00Z is after the fetch at "
        "2026-11-02T12:00:00Z + 300s skew)"
    ]
    assert json.loads(row["row"])["post_id"].endswith("3k00000000002")


def test_repeated_page_is_one_post_and_not_quarantined_twice() -> None:
    created = ["2026-11-01T10:00:00.000Z", "2026-11-03T10:00:00.000Z"]  # the 2nd is in the future
    responses = [_feed(created, NOW, page=1), _feed(created, NOW + timedelta(seconds=1), page=2)]
    batch = parse_bronze(bronze.to_frame(responses, run_id="r1", connector_versions={}))
    assert batch.tables["silver/posts"].height == 1  # the page served twice is one post
    assert batch.quarantine.height == 1  # and its bad post one rejection, not two
    assert batch.quarantine["rules"][0][0].startswith("created_at: future_timestamp")


def test_observation_after_its_fetch_or_after_now_is_rejected() -> None:
    snaps = frame(
        "silver/account_snapshots",
        [
            {"platform": "bluesky", "account_id": "a", "observed_at": NOW, "response_id": "r"},
            {"platform": "bluesky", "account_id": "b", "observed_at": NOW + timedelta(hours=2),
             "response_id": "r"},  # two hours after its response arrived
            {"platform": "bluesky", "account_id": "c", "observed_at": NOW + timedelta(hours=2),
             "response_id": "unknown"},  # no fetch time: judged against now
        ],
    ).with_columns(followers=pl.lit(1, pl.Int64))  # fmt: skip
    fetched = pl.DataFrame({"response_id": ["r"], "fetched_at": [NOW]})
    valid, bad = apply_row_rules("silver/account_snapshots", snaps, fetched, now=NOW + DAY)
    assert valid["account_id"].to_list() == ["a", "c"]
    assert bad["rules"].to_list() == [
        [
            "last_observed_at: future_timestamp (2026-11-02T14:00:00Z is after the fetch at "
            "2026-11-02T12:00:00Z + 300s skew)",
            "observed_at: future_timestamp (2026-11-02T14:00:00Z is after the fetch at "
            "2026-11-02T12:00:00Z + 300s skew)",
        ]
    ]
    valid, bad = apply_row_rules("silver/account_snapshots", snaps, fetched, now=NOW)
    assert valid["account_id"].to_list() == ["a"]
    assert bad["rules"].to_list()[1][1] == (
        "observed_at: future_timestamp (2026-11-02T14:00:00Z is after now, "
        "2026-11-02T12:00:00Z + 300s skew)"
    )


def test_observation_without_any_counter_its_platform_gives_is_rejected() -> None:
    t = "silver/post_metrics"
    metrics = frame(
        t,
        [
            # bluesky gives likes, reposts, replies, quotes: one of them is enough
            {"platform": "bluesky", "post_id": "b1", "account_id": "a", "likes": None, "quotes": 0},
            {"platform": "bluesky", "post_id": "b2", "account_id": "a"},  # nothing at all
            # flickr gives likes (faves), replies and views, never reposts
            {"platform": "flickr", "post_id": "f1", "account_id": "f", "reposts": 3},
            {"platform": "flickr", "post_id": "f2", "account_id": "f", "views": 10},
        ],
    ).with_columns(observed_at=pl.lit(NOW), last_observed_at=pl.lit(NOW))
    valid, bad = apply_row_rules(t, metrics, None, now=NOW)
    assert valid["post_id"].to_list() == ["b1", "f2"]
    assert bad["rules"].to_list() == [
        ["row: capability_counters (none of likes, reposts, replies, quotes, which bluesky gives)"],
        ["row: capability_counters (none of likes, replies, views, which flickr gives)"],
    ]
    assert [json.loads(r)["post_id"] for r in bad["row"]] == ["b2", "f1"]


def test_post_id_claimed_by_two_accounts_is_rejected_and_repeats_collapse() -> None:
    seen = NOW - DAY
    posts = frame(
        "silver/posts",
        [
            {"platform": "x", "post_id": "1", "account_id": "A", "first_seen_at": seen},
            {"platform": "x", "post_id": "1", "account_id": "A", "first_seen_at": NOW},
            {"platform": "x", "post_id": "2", "account_id": "A", "first_seen_at": NOW},
            {"platform": "x", "post_id": "2", "account_id": "B", "first_seen_at": NOW},
            {"platform": "bluesky", "post_id": "2", "account_id": "C", "first_seen_at": NOW},
        ],
    )
    valid, bad = apply_row_rules("silver/posts", posts, None, now=NOW)
    got = valid.sort("platform").select("platform", "post_id", "account_id", "first_seen_at")
    assert got.rows() == [("bluesky", "2", "C", NOW), ("x", "1", "A", seen)]
    assert valid.filter(post_id="1")["last_seen_at"].to_list() == [NOW]  # the latest sighting
    assert bad.height == 2
    assert sorted(json.loads(r)["account_id"] for r in bad["row"]) == ["A", "B"]
    assert (
        bad["rules"].to_list()
        == [["post_id: post_id_unique (the x post is claimed by accounts A, B)"]] * 2
    )


def test_clean_rows_pass_untouched() -> None:
    posts = frame(
        "silver/posts",
        [
            {"platform": "x", "post_id": str(i), "account_id": "A", "first_seen_at": NOW}
            for i in (1, 2)
        ],
    )
    fetched = {"resp-0": NOW}
    valid, bad = apply_row_rules("silver/posts", posts, fetched, now=NOW)
    assert valid.equals(posts) and bad.is_empty()


# --- soft rules ---------------------------------------------------------------------------------


def _snap(
    account: str, at: datetime, followers: int | None, posts_count: int | None = 500, **kw: Any
) -> dict:
    return {
        "platform": "bluesky",
        "account_id": account,
        "observed_at": at,
        "followers": followers,
        "following": kw.get("following", 400),
        "posts_count": posts_count,
    }


def _metric(post: str, account: str, at: datetime, **counters: int | None) -> dict[str, Any]:
    row = {"platform": "bluesky", "post_id": post, "account_id": account, "observed_at": at}
    return row | counters


def _stored_lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    t0 = NOW - DAY
    lake.merge(
        "silver/account_snapshots",
        frame(
            "silver/account_snapshots",
            [
                _snap("fall", t0, 10_000, 500, following=400),
                _snap("jump", t0, 10_000),
                _snap("small", t0, 200),
                _snap("slow", NOW - 4 * DAY, 10_000),
                _snap("eng", t0, 100),
            ],
        ),
    )
    lake.merge(
        "silver/post_metrics",
        frame(
            "silver/post_metrics",
            [
                _metric("p-fall", "eng", t0, likes=1000, views=100_000),
                _metric("p-small", "eng", t0, likes=50),
            ],
        ),
    )
    lake.merge(
        "silver/posts",
        frame(
            "silver/posts",
            [
                {"platform": "bluesky", "post_id": p, "account_id": "eng", "first_seen_at": t0}
                for p in ("p-fall", "p-small", "p-hot", "p-fine")
            ]
            + [
                {
                    "platform": "bluesky",
                    "post_id": "p-repost",
                    "account_id": "eng",
                    "first_seen_at": t0,
                    "post_type": "repost",
                }
            ],
        ),
    )
    return lake


def _new_batch() -> dict[str, pl.DataFrame]:
    return {
        "silver/account_snapshots": frame(
            "silver/account_snapshots",
            [
                _snap("fall", NOW, 9_850, 498, following=100),  # followers -1.5 %: flag
                _snap("jump", NOW, 13_000),  # +30 % in a day: flag
                _snap("small", NOW, 290),  # +45 % but only 90 followers: fine
                _snap("slow", NOW, 14_000),  # +40 % over 4 days = 10 % a day: fine
                _snap("eng", NOW, 100),
            ],
        ).with_columns(run_id=pl.lit("r1")),
        "silver/post_metrics": frame(
            "silver/post_metrics",
            [
                _metric("p-fall", "eng", NOW, likes=985, views=99_500),  # likes -15: flag
                _metric("p-small", "eng", NOW, likes=30),  # -20 likes, -40 %: flag
                _metric("p-hot", "eng", NOW, likes=4000, reposts=1001),  # 5001 > 50 x 100: flag
                _metric("p-fine", "eng", NOW, likes=4000, reposts=999),  # 4999: fine
                _metric("p-repost", "eng", NOW, likes=1_000_000),  # someone else's post: fine
            ],
        ).with_columns(run_id=pl.lit("r1")),
    }


EXPECTED = [
    ("account", "fall", "counter_fall", "followers", "warning", 9_850, 10_000),
    ("account", "jump", "day_change", "followers", "warning", 13_000, 10_000),
    ("post", "p-fall", "counter_fall", "likes", "warning", 985, 1000),
    ("post", "p-hot", "engagement_bound", "engagement", "warning", 5001, 100),
    ("post", "p-small", "counter_fall", "likes", "critical", 30, 50),
]
COLUMNS = ["entity", "entity_id", "rule", "metric", "severity", "value", "reference"]


def test_soft_rules_flag_exactly_the_implausible_observations(tmp_path: Path) -> None:
    lake = _stored_lake(tmp_path)
    flags = flag_rows(lake, _new_batch(), "r1", settings=SETTINGS)
    assert sorted(flags.select(COLUMNS).rows()) == EXPECTED
    assert set(flags["observed_at"]) == {NOW} and set(flags["run_id"]) == {"r1"}
    by = {(r["entity_id"], r["rule"]): r for r in flags.iter_rows(named=True)}
    assert by[("fall", "counter_fall")]["detail"] == (
        "followers fell from 10000 to 9850 (-150, -1.5%); tolerated: 10 and 1.0%"
    )
    assert by[("jump", "day_change")]["detail"] == (
        "followers went from 10000 to 13000 in 1.0 day(s): 30.0% a day; allowed: 25.0% a day "
        "(changes of at most 100 never flagged)"
    )
    assert by[("p-hot", "engagement_bound")]["detail"] == (
        "engagement 5001 (likes + reposts + replies + quotes) is 50.01x the account's 100 "
        "followers; allowed: 50.0x"
    )
    assert flags.filter(entity="post")["account_id"].unique().to_list() == ["eng"]
    # Thresholds are settings: a looser fall tolerance lets the small falls pass.
    loose = Settings(_env_file=None, quality_fall_tolerance_units=20)  # type: ignore[call-arg]
    again = flag_rows(lake, _new_batch(), "r1", settings=loose)
    assert ("p-fall", "counter_fall") not in {(r[1], r[2]) for r in again.select(COLUMNS).rows()}
    assert ("p-small", "counter_fall") not in {(r[1], r[2]) for r in again.select(COLUMNS).rows()}


def test_flags_from_silver_history_match_and_rerun_adds_nothing(tmp_path: Path) -> None:
    lake = _stored_lake(tmp_path)
    for name, df in _new_batch().items():
        lake.merge(name, df)
    flags = flag_rows(lake, None, "r1", settings=SETTINGS)
    assert sorted(flags.select(COLUMNS).rows()) == EXPECTED
    first = build_quality(lake, "r1", settings=SETTINGS)
    assert first["quality/flags"].inserted == len(EXPECTED)
    second = build_quality(lake, "r1", settings=SETTINGS)
    assert second["quality/flags"].rows_in == 0
    stored = lake.read("quality/flags")
    assert stored.height == len(EXPECTED)
    assert sorted(stored.select(COLUMNS).rows()) == EXPECTED


def test_falls_are_judged_against_observations_older_than_the_recent_ones(
    tmp_path: Path,
) -> None:
    # The stored observations of the last days are read first; a post whose previous value of
    # a counter lies further back is read whole. Each fall here is only visible against it.
    lake = Lake(str(tmp_path / "lake"))
    old, recent = NOW - 60 * DAY, NOW - DAY
    lake.merge(
        "silver/post_metrics",
        frame(
            "silver/post_metrics",
            [
                _metric("p-quiet", "eng", old, likes=1000),  # not observed since
                _metric("p-views", "eng", old, likes=10, views=90_000),
                _metric("p-views", "eng", recent, likes=10),  # views no longer given
                _metric("p-new", "eng", recent, likes=40),  # first seen recently
            ],
        ),
    )
    lake.merge(
        "silver/posts",
        frame(
            "silver/posts",
            [
                {"platform": "bluesky", "post_id": p, "account_id": "eng", "first_seen_at": at}
                for p, at in (("p-quiet", old), ("p-views", old), ("p-new", recent))
            ],
        ),
    )
    batch = {
        "silver/post_metrics": frame(
            "silver/post_metrics",
            [
                _metric("p-quiet", "eng", NOW, likes=900),
                _metric("p-views", "eng", NOW, likes=10, views=50_000),
                _metric("p-new", "eng", NOW, likes=10),
            ],
        ).with_columns(run_id=pl.lit("r1"))
    }
    flags = flag_rows(lake, batch, "r1", settings=SETTINGS)
    assert sorted(flags.select("entity_id", "rule", "metric", "value", "reference").rows()) == [
        ("p-new", "counter_fall", "likes", 10, 40),
        ("p-quiet", "counter_fall", "likes", 900, 1000),
        ("p-views", "counter_fall", "views", 50_000, 90_000),
    ]


def test_steady_series_raise_no_flag(tmp_path: Path) -> None:
    lake = _stored_lake(tmp_path)
    steady = {
        "silver/account_snapshots": frame(
            "silver/account_snapshots",
            [_snap("fall", NOW, 10_050), _snap("jump", NOW, 9_995), _snap("eng", NOW, 100)],
        ),
        "silver/post_metrics": frame(
            "silver/post_metrics",
            [
                _metric("p-fall", "eng", NOW, likes=995, views=100_000),  # -5 likes: normal
                _metric("p-small", "eng", NOW, likes=60),
            ],
        ),
    }
    assert flag_rows(lake, steady, "r2", settings=SETTINGS).is_empty()


def _random_history(seed: int) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """Four months of runs of observations per account and post (gaps of up to 40 days, counters
    that stop and come back, falls), and a new batch at NOW, some of it for new entities."""
    import random

    rng = random.Random(seed)

    def runs(n: int) -> list[tuple[datetime, datetime]]:
        at, out = NOW - 120 * DAY, []
        for _ in range(n):
            at += timedelta(hours=rng.choice([6, 20, 30, 24 * 9, 24 * 40]))
            if at >= NOW - DAY:
                break
            end = at + timedelta(hours=rng.choice([0, 5, 26]))
            out.append((at, min(end, NOW - DAY)))
            at = end
        return out

    def value(prev: int) -> int | None:
        return None if rng.random() < 0.15 else max(0, prev + rng.choice([-400, -30, 5, 60, 900]))

    snaps, metrics, posts = [], [], []
    for a in range(25):
        account, followers, count = f"acct-{a}", rng.choice([40, 5000]), 300
        for at, end in runs(rng.randint(0, 12)):
            f, c = value(followers), value(count)
            followers, count = f or followers, c or count
            snaps.append(_snap(account, at, f, c) | {"last_observed_at": end})
        for k in range(2):
            post, likes = f"p-{a}-{k}", rng.choice([200, 3000])
            post_runs = runs(rng.randint(0, 8))
            for at, end in post_runs:
                n = value(likes)
                likes = n or likes
                metrics.append(
                    _metric(post, account, at, likes=n, views=value(9000))
                    | {"last_observed_at": end}
                )
            if post_runs:
                posts.append(
                    {
                        "platform": "bluesky",
                        "post_id": post,
                        "account_id": account,
                        "first_seen_at": post_runs[0][0],
                    }
                )
    stored = {
        "silver/account_snapshots": frame("silver/account_snapshots", snaps),
        "silver/post_metrics": frame("silver/post_metrics", metrics),
        "silver/posts": frame("silver/posts", posts),
    }
    new_snaps = [_snap(f"acct-{a}", NOW, value(60), value(300)) for a in range(0, 30, 2)]
    new_metrics = [
        _metric(f"p-{a}-{k}", f"acct-{a}", NOW, likes=value(3000), views=value(9000))
        for a in range(30)
        for k in range(2)
    ]
    batch = {
        "silver/account_snapshots": frame("silver/account_snapshots", new_snaps),
        "silver/post_metrics": frame("silver/post_metrics", new_metrics),
    }
    return stored, {k: v.with_columns(run_id=pl.lit("r1")) for k, v in batch.items()}


def test_flags_from_the_recent_observations_equal_those_from_the_whole_history(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The rules read each entity's last days of observations and go back further only where
    a counter's previous value may lie beyond them: the flags equal those judged against every
    stored observation (``_RECENT`` longer than the history), over random histories."""
    import hhs_platform.quality.rules as rules

    raised: dict[str, int] = {}
    for seed in range(6):
        lake = Lake(str(tmp_path / f"lake-{seed}"))
        stored, batch = _random_history(seed)
        for name, df in stored.items():
            lake.merge(name, df)
        recent = flag_rows(lake, batch, "r1", settings=SETTINGS)
        with monkeypatch.context() as m:
            m.setattr(rules, "_RECENT", timedelta(days=3650))
            whole = flag_rows(lake, batch, "r1", settings=SETTINGS)
        assert recent.equals(whole), seed
        for rule, n in recent.group_by("rule").len().iter_rows():
            raised[rule] = raised.get(rule, 0) + n
    assert raised.keys() == {"counter_fall", "day_change", "engagement_bound"}, raised
