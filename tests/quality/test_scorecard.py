"""The quality scorecard: numbers equal to hand-computed ones on a crafted lake, idempotent
re-runs, and a full, perfect card on a clean collection from the simulated platforms."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hhs_platform.connectors import CONNECTORS
from hhs_platform.lake import Lake
from hhs_platform.quality.scorecard import build_quality, build_scorecard, scorecard_rows
from hhs_platform.settings import Settings
from schemas import table_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from landing import collect_from_sandbox, registry_rows

DAY = date(2026, 11, 10)
S = datetime(2026, 11, 10, tzinfo=UTC)  # the day's first instant
H = timedelta(hours=1)
D1 = timedelta(days=1)
AT = S + D1 - timedelta(microseconds=1)  # a past day is scored as at its last instant
LATER = datetime(2026, 11, 20, 8, tzinfo=UTC)
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
FEED = "app.bsky.feed.getAuthorFeed"

_DEFAULTS: dict[str, dict[str, Any]] = {
    "silver/posts": {"post_type": "original", "media_count": 0, "is_deleted": False},
    "bronze/raw_responses": {
        "run_id": "r1",
        "endpoint": "e",
        "request_url": "u",
        "status": 200,
        "headers": "{}",
        "payload_hash": "h",
        "elapsed_ms": 1.0,
        "page": 0,
        "connector_version": "t/1",
    },
    "bronze/fetch_log": {"run_id": "r", "batch_id": "0", "terminal": False, "responses": 1},
}


def rows(table: str, items: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows of ``table``: lineage and dull columns filled in, the rest as given or null."""
    schema = table_spec(table).schema
    out = []
    for item in items:
        row = {"run_id": "r1", "connector_version": "t/1", **_DEFAULTS.get(table, {}), **item}
        for start, end in (("observed_at", "last_observed_at"), ("first_seen_at", "last_seen_at")):
            if start in row:
                row.setdefault(end, row[start])
        if table == "silver/posts":
            row.setdefault("author_id", row["account_id"])
        if table == "bronze/raw_responses":
            row.setdefault("fetched_date", row["fetched_at"].date())
        if table == "bronze/fetch_log":
            row.setdefault("started_at", row["finished_at"] - H)
        out.append({c: row.get(c) for c in schema})
    return pl.DataFrame(out, schema=schema)


def _post(pid: str, account: str, created: datetime, resp: str, **kw: Any) -> dict[str, Any]:
    seen = kw.pop("seen", S + 20 * H)
    row = {"platform": kw.pop("platform", "bluesky"), "post_id": pid, "account_id": account}
    return (
        row
        | {"created_at": created, "first_seen_at": created, "last_seen_at": seen}
        | {"response_id": resp}
        | kw
    )


def _crafted_lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    w = lake.merge
    w(
        "silver/accounts",
        rows(
            "silver/accounts",
            [
                {"platform": "bluesky", "account_id": "did:a", "handle": "a.gov",
                 "account_key": "bluesky:a.gov", "agency": "CDC", "tier": 1,
                 "first_seen_at": S - 5 * D1, "last_seen_at": S + 20 * H,
                 "response_id": "r-a-prof"},
                {"platform": "facebook", "account_id": "fb1", "handle": "HHS",
                 "account_key": "facebook:HHS", "agency": "HHS", "tier": 3,
                 "first_seen_at": S - 10 * D1, "last_seen_at": S + 2 * H, "response_id": "r-b"},
                {"platform": "reddit", "account_id": "t2_c", "handle": "c",
                 "account_key": "reddit:c", "agency": "NIH", "tier": 2,
                 "first_seen_at": S - D1, "response_id": "r-c"},
                # known only after the day: no row
                {"platform": "x", "account_id": "9", "handle": "late", "account_key": "x:late",
                 "tier": 1, "first_seen_at": S + D1 + H, "response_id": "r-x"},
            ],
        ),
    )  # fmt: skip
    w(
        "silver/account_snapshots",
        rows(
            "silver/account_snapshots",
            [
                {"platform": "bluesky", "account_id": "did:a", "observed_at": S - 5 * D1,
                 "last_observed_at": S - D1, "posts_count": 3, "response_id": "r-old"},
                {"platform": "bluesky", "account_id": "did:a", "observed_at": S + 10 * H,
                 "last_observed_at": S + 20 * H, "posts_count": 5, "response_id": "r-a-prof"},
                {"platform": "facebook", "account_id": "fb1", "observed_at": S + 2 * H,
                 "followers": 1000, "response_id": "r-b"},
                {"platform": "reddit", "account_id": "t2_c", "observed_at": S - D1,
                 "followers": 50, "response_id": "r-c"},
            ],
        ),
    )  # fmt: skip
    feed = "r-a-feed"
    w(
        "silver/posts",
        rows(
            "silver/posts",
            [
                _post("p1", "did:a", S - 3 * D1, feed),
                _post("p2", "did:a", S - 2 * D1, feed, post_type="reply"),
                _post("p3", "did:a", S + 9 * H, feed, post_type="quote"),
                _post("p5", "did:a", S - D1, feed, post_type="repost"),  # not in Bluesky's count
                # deleted before the count was observed: not counted
                _post("p6", "did:a", S - 4 * D1, feed, is_deleted=True, deleted_at=S + 2 * H),
                # deleted after it: still there when the platform counted
                _post("p7", "did:a", S - 6 * D1, feed, is_deleted=True, deleted_at=S + 22 * H),
                # first collected after the day: not collected by then
                _post("p8", "did:a", S - 7 * D1, "r-next", seen=S + D1 + H)
                | {"first_seen_at": S + D1 + H},
                _post("q1", "fb1", S - 2 * D1, "r-b", platform="facebook", seen=S + 2 * H),
                _post("q2", "fb1", S - D1, "r-b", platform="facebook", seen=S + 2 * H),
                _post("q3", "fb1", S - D1, "r-b", platform="facebook", seen=S + 2 * H,
                      post_type="repost"),
            ],
        ),
    )  # fmt: skip
    w(
        "silver/post_metrics",
        rows(
            "silver/post_metrics",
            [
                {"platform": "bluesky", "post_id": "p1", "account_id": "did:a",
                 "observed_at": S - D1, "likes": 1, "response_id": "r-old"},
                {"platform": "bluesky", "post_id": "p1", "account_id": "did:a",
                 "observed_at": S + 10 * H, "last_observed_at": S + 20 * H, "likes": 2,
                 "response_id": feed},
                {"platform": "bluesky", "post_id": "p2", "account_id": "did:a",
                 "observed_at": S + 20 * H, "likes": 2, "response_id": feed},
            ],
        ),
    )  # fmt: skip
    w(
        "bronze/raw_responses",
        rows(
            "bronze/raw_responses",
            [
                {"response_id": "r-a-prof", "platform": "bluesky", "account_key": "bluesky:a.gov",
                 "fetched_at": S + 20 * H},
                {"response_id": feed, "platform": "bluesky", "account_key": "bluesky:a.gov",
                 "fetched_at": S + 20 * H},
                {"response_id": "r-old", "platform": "bluesky", "account_key": "bluesky:a.gov",
                 "fetched_at": S - D1},
                {"response_id": "r-b", "platform": "facebook", "account_key": "facebook:HHS",
                 "fetched_at": S + 2 * H},
                {"response_id": "r-c", "platform": "reddit", "account_key": "reddit:c",
                 "fetched_at": S - D1},
            ],
        ),
    )  # fmt: skip
    bad_post = '{"account_id": "did:a", "platform": "bluesky", "post_id": "bad1"}'
    q = {"response_id": feed, "platform": "bluesky", "rules": ["x"], "quarantined_at": S + 20 * H}
    w(
        "quarantine/rows",
        rows(
            "quarantine/rows",
            [
                # the same bad post rejected by two runs of the day is one rejected row
                q | {"table": "silver/posts", "row_hash": "h1", "run_id": "r1", "row": bad_post},
                q | {"table": "silver/posts", "row_hash": "h2", "run_id": "r2", "row": bad_post},
                q | {"table": "silver/post_metrics", "row_hash": "h3", "run_id": "r1",
                     "row": bad_post},
                q | {"table": "bronze/raw_responses", "row_hash": "h4", "run_id": "r1",
                     "row": f'{{"endpoint": "{FEED}", "reason": "items[3] skipped: odd"}}'},
                q | {"table": "silver/posts", "row_hash": "h5", "run_id": "r0", "row": bad_post,
                     "response_id": "r-old"},  # fetched the day before
            ],
        ),
    )  # fmt: skip
    drift = {"responses_missing": 1, "responses_checked": 1, "example_response_id": feed}
    w(
        "quality/field_drift",
        rows(
            "quality/field_drift",
            [
                {"platform": "bluesky", "endpoint": FEED, "run_id": "r1",
                 "field": "feed[].post.likeCount", "first_missing_at": S + 20 * H,
                 "last_missing_at": S + 20 * H, **drift},
                {"platform": "bluesky", "endpoint": FEED, "run_id": "r1",
                 "field": "feed[].post.bogus", "first_missing_at": S + 20 * H,
                 "last_missing_at": S + 20 * H, **drift},  # not a field the connector uses
                {"platform": "bluesky", "endpoint": "app.bsky.actor.getProfile", "run_id": "r0",
                 "field": "postsCount", "first_missing_at": S - 2 * D1,
                 "last_missing_at": S - 2 * D1, **drift},  # another day
            ],
        ),
    )  # fmt: skip
    flag = {"platform": "bluesky", "account_id": "did:a", "entity": "account", "rule": "counter_fall",
            "severity": "warning", "value": 1, "reference": 2, "detail": "d", "run_id": "r1"}  # fmt: skip
    w(
        "quality/flags",
        rows(
            "quality/flags",
            [
                flag | {"entity_id": "did:a", "metric": "followers", "observed_at": S + 10 * H},
                flag | {"entity_id": "did:a", "metric": "followers", "observed_at": S + 20 * H},
                flag | {"entity_id": "did:a", "metric": "followers", "observed_at": S - H},
            ],
        ),
    )
    w(
        "bronze/fetch_log",
        rows(
            "bronze/fetch_log",
            [
                {"platform": "facebook", "account_key": "facebook:HHS", "status": "partial",
                 "finished_at": S - D1},
                {"platform": "facebook", "account_key": "facebook:HHS", "status": "complete",
                 "finished_at": S + 2 * H},
                {"platform": "reddit", "account_key": "reddit:c", "status": "complete",
                 "finished_at": S - 2 * D1},
                {"platform": "reddit", "account_key": "reddit:c", "status": "partial",
                 "finished_at": S - D1},
            ],
        ),
    )  # fmt: skip
    return lake


def test_scorecard_equals_hand_computed_scores(tmp_path: Path) -> None:
    lake = _crafted_lake(tmp_path)
    card = scorecard_rows(lake, DAY, now=LATER, settings=SETTINGS)
    assert card["account_id"].to_list() == ["did:a", "fb1", "t2_c"]  # x:late came later
    a, b, c = card.iter_rows(named=True)
    bluesky_fields = sum(len(f) for f in CONNECTORS["bluesky"].expected_fields.values())
    reddit_fields = sum(len(f) for f in CONNECTORS["reddit"].expected_fields.values())

    # Bluesky: 5 posts counted by the platform; p1, p2, p3 and p7 (deleted later) match its
    # count, the repost p5 and p6 (deleted before the count) do not, p8 came after the day.
    assert (a["completeness_basis"], a["posts_expected"], a["posts_collected"]) == (
        "posts_count",
        5,
        4,
    )
    assert a["completeness"] == pytest.approx(0.8)
    age_a = (AT - (S + 20 * H)).total_seconds() / 3600
    assert a["newest_observation_at"] == S + 20 * H
    assert a["age_hours"] == pytest.approx(age_a)
    assert a["cadence_hours"] == 1.0
    assert a["freshness"] == pytest.approx((1 + 1) / age_a)  # hourly + 1 h grace, 4 h old
    # valid: the account, its snapshot, 6 posts served that day, 2 posts' counters = 10;
    # rejected: bad1's post and counters, one unreadable item = 3 (the day before's not counted)
    assert (a["rows_valid"], a["rows_quarantined"]) == (10, 3)
    assert a["validity"] == pytest.approx(10 / 13)
    assert (a["fields_expected"], a["fields_missing"]) == (bluesky_fields, 1)
    assert a["drift"] == pytest.approx(1 - 1 / bluesky_fields)
    assert a["flags"] == 2
    want = 0.3 * 0.8 + 0.3 * (2 / age_a) + 0.25 * (10 / 13) + 0.15 * (1 - 1 / bluesky_fields)
    assert a["overall"] == pytest.approx(want)
    assert (a["account_key"], a["agency"], a["tier"]) == ("bluesky:a.gov", "CDC", 1)
    assert a["date"] == DAY and a["computed_at"] == AT

    # Facebook serves no post count; the day's fetch read the whole feed: complete.
    assert (b["completeness_basis"], b["posts_expected"], b["posts_collected"]) == (
        "full_read",
        None,
        3,
    )
    assert b["completeness"] == 1.0
    assert b["age_hours"] == pytest.approx(22 - 1 / 3.6e9)
    assert b["cadence_hours"] == 24.0 and b["freshness"] == 1.0
    assert (b["rows_valid"], b["rows_quarantined"], b["validity"]) == (5, 0, 1.0)
    assert (b["fields_expected"], b["drift"]) == (0, None)  # no field checks for Facebook
    assert b["flags"] == 0
    assert b["overall"] == pytest.approx(1.0)

    # Reddit: no count and the latest fetch was partial: completeness cannot be judged.
    assert (c["completeness_basis"], c["completeness"], c["posts_collected"]) == (
        "unknown",
        None,
        0,
    )
    age_c = (AT - (S - D1)).total_seconds() / 3600
    assert c["age_hours"] == pytest.approx(age_c)
    assert c["freshness"] == pytest.approx((6 + 1) / age_c)
    assert (c["rows_valid"], c["rows_quarantined"], c["validity"]) == (0, 0, None)
    assert (c["fields_expected"], c["fields_missing"], c["drift"]) == (reddit_fields, 0, 1.0)
    assert c["overall"] == pytest.approx((0.3 * 7 / age_c + 0.15) / 0.45)


def test_scorecard_rerun_is_idempotent_and_future_days_refused(tmp_path: Path) -> None:
    lake = _crafted_lake(tmp_path)
    first = build_scorecard(lake, DAY, now=LATER, settings=SETTINGS)
    assert first.inserted == 3
    stored = lake.read("quality/scorecard").sort("account_id")
    again = build_scorecard(lake, DAY, now=LATER, settings=SETTINGS)
    assert again.inserted == 0
    assert lake.read("quality/scorecard").sort("account_id").equals(stored)
    with pytest.raises(ValueError, match="after today"):
        scorecard_rows(lake, date(2026, 11, 21), now=LATER, settings=SETTINGS)


def test_weights_and_cadences_are_settings(tmp_path: Path) -> None:
    lake = _crafted_lake(tmp_path)
    only_fresh = Settings(  # type: ignore[call-arg]
        _env_file=None,
        quality_weights={"freshness": 1.0},
        quality_cadence_hours={1: 4, 2: 48, 3: 24},
    )
    card = scorecard_rows(lake, DAY, now=LATER, settings=only_fresh)
    assert card["freshness"].to_list() == [1.0, 1.0, 1.0]  # 4 h + 1 h grace covers did:a now
    assert card["overall"].to_list() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="HHS_QUALITY_WEIGHTS"):
        Settings(_env_file=None, quality_weights={"completness": 1.0})  # type: ignore[call-arg]


HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
SANDBOX_REGISTRY = registry_rows(
    [
        ("HHS", HHS, None, "bluesky", "hhs.gov", None),
        ("CDC", CDC, "HHS", "bluesky", "cdc.gov", None),
        ("HHS", HHS, None, "x", "HHSgov", None),
        ("HHS", HHS, None, "youtube", "USGOVHHS", None),
        ("HHS", HHS, None, "mastodon", "hhs", None),
        ("HHS", HHS, None, "reddit", "hhs", None),
        ("HHS", HHS, None, "flickr", "hhsgov", None),
    ]
)


def test_clean_sandbox_collection_scores_perfectly(tmp_path: Path) -> None:
    landed = collect_from_sandbox(
        tmp_path,
        SANDBOX_REGISTRY,
        lambda sb: {
            "bluesky_api_base": sb.url("bluesky"),
            "youtube_api_base": sb.url("youtube"),
            "youtube_api_key": "scorecard-key",
            "x_api_base": sb.url("x"),
            "x_bearer_token": "scorecard-token",
            "mastodon_api_base": sb.url("mastodon"),
            "reddit_api_base": sb.url("reddit"),
            "reddit_access_token": "scorecard-token",
            "flickr_api_base": sb.url("flickr"),
            "flickr_api_key": "scorecard-key",
        },
        seed=7,
    )
    lake = landed.lake
    assert all(not o.errors for o in landed.outcomes)
    assert all(o.silver.quarantine.is_empty() for o in landed.outcomes)  # no hard-rule rejection
    results = build_quality(lake, "run-1", settings=SETTINGS)
    assert lake.read("quality/flags").is_empty()
    card = lake.read("quality/scorecard")
    assert results["quality/scorecard"].inserted == card.height == SANDBOX_REGISTRY.height
    truth = landed.truth["accounts"].select("platform", "account_id")
    assert (
        card.select("platform", "account_id")
        .sort("platform", "account_id")
        .equals(truth.sort("platform", "account_id"))
    )
    assert card["completeness"].to_list() == [1.0] * card.height
    basis = dict(card.select("platform", "completeness_basis").unique().iter_rows())
    assert basis["reddit"] == "full_read"  # Reddit serves no post count
    assert {basis[p] for p in ("bluesky", "x", "youtube", "mastodon", "flickr")} == {"posts_count"}
    counted = landed.truth["accounts"].filter(pl.col("posts_count").is_not_null())
    counts = card.join(counted, on=["platform", "account_id"])
    assert counts.height == 6  # every account but Reddit's
    assert counts["posts_expected"].to_list() == counts["posts_count"].to_list()
    assert card["freshness"].to_list() == [1.0] * card.height
    assert card["validity"].to_list() == [1.0] * card.height
    assert card["flags"].sum() == 0
    assert set(card["drift"].drop_nulls()) == {1.0}
    assert card["overall"].to_list() == [1.0] * card.height
    again = build_quality(lake, "run-1", settings=SETTINGS)
    assert again["quality/flags"].rows_in == 0
    assert lake.read("quality/scorecard").height == card.height
