"""The metric model: a retired counter falls back to its replacement and the run records which."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hhs_platform import bronze
from hhs_platform.connectors.base import RawResponse
from hhs_platform.metrics import CANONICAL_METRICS, METRIC_SOURCES, sources
from hhs_platform.transforms.normalize import parse_bronze

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


def _tweet(i: int, impressions: int | None) -> dict:
    metrics = {"retweet_count": 1, "reply_count": 0, "like_count": 4, "quote_count": 0}
    if impressions is not None:
        metrics["impression_count"] = impressions
    return {
        "id": f"18000000000000000{i:02d}",
        "text": f"post {i}",
        "created_at": "2026-11-01T10:00:00.000Z",
        "author_id": "2244994945",
        "edit_history_tweet_ids": [f"18000000000000000{i:02d}"],
        "attachments": {"media_keys": [f"7_{i}"]},
        "public_metrics": metrics,
    }


def _frame(tweets: list[dict]) -> object:
    media = [
        {"media_key": f"7_{i}", "type": "video", "public_metrics": {"view_count": 100 + i}}
        for i in range(3)
    ]
    body = {"data": tweets, "includes": {"media": media}, "meta": {"result_count": len(tweets)}}
    raw = RawResponse(
        platform="x",
        endpoint="x.users.tweets",
        account_key="x:CDCgov",
        request_url="http://x/2/users/2244994945/tweets",
        status=200,
        headers={},
        body=json.dumps(body).encode(),
        fetched_at=NOW,
        elapsed_ms=1.0,
        page=1,
    )
    return bronze.to_frame([raw], run_id="r1", connector_versions={"x": "x/1"})


def test_views_fall_back_to_media_plays_and_the_run_records_the_field() -> None:
    # tweet 0 still has impressions; tweets 1 and 2 come from a platform that retired them
    batch = parse_bronze(_frame([_tweet(0, 5000), _tweet(1, None), _tweet(2, None)]))  # type: ignore[arg-type]
    views = dict(batch.tables["silver/post_metrics"].select("post_id", "views").iter_rows())
    assert views == {
        "1800000000000000000": 5000,
        "1800000000000000001": 101,
        "1800000000000000002": 102,
    }
    used = {
        (r["field"], r["status"]): r["rows"]
        for r in batch.metric_sources.filter(metric="views").iter_rows(named=True)
    }
    assert used == {
        ("public_metrics.impression_count", "current"): 1,
        ("includes.media[].public_metrics.view_count", "fallback"): 2,
    }
    assert batch.quarantine.height == 0


def test_the_model_speaks_only_of_canonical_metrics() -> None:
    assert {s.metric for s in METRIC_SOURCES} <= set(CANONICAL_METRICS)
    assert [s.status for s in sources("x", "views")] == ["current", "fallback"]


def test_batches_of_one_run_add_up() -> None:
    """A run's platform split over batches records the sum, not the last batch (a MERGE on the
    run's key would otherwise keep one batch's count)."""
    from hhs_platform.transforms.normalize import SilverBatch

    batches = [
        parse_bronze(_frame([_tweet(0, 5000), _tweet(1, None)])),  # type: ignore[arg-type]
        parse_bronze(_frame([_tweet(2, None), _tweet(3, 8), _tweet(4, 9)])),  # type: ignore[arg-type]
    ]
    run = SilverBatch.concat(batches)
    used = {
        (r["field"], r["status"]): r["rows"]
        for r in run.metric_sources.filter(metric="views").iter_rows(named=True)
    }
    assert used == {
        ("public_metrics.impression_count", "current"): 3,
        ("includes.media[].public_metrics.view_count", "fallback"): 2,
    }
    assert run.metric_sources.select("metric", "field").is_unique().all()
