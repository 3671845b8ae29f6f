"""Format drift: a field removed by the platform is recorded, the rest of the payload still lands."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hhs_platform import bronze
from hhs_platform.connectors.base import RawResponse
from hhs_platform.quality.drift import missing_fields
from hhs_platform.transforms.normalize import parse_bronze

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
DID = "did:plc:abcdefghijklmnopqrstuvwx"


def _item(i: int, likes: bool) -> dict:
    post = {
        "uri": f"at://{DID}/app.bsky.feed.post/3k{i:011d}",
        "cid": f"bafy{i}",
        "author": {"did": DID, "handle": "cdc.gov"},
        "record": {
            "$type": "app.bsky.feed.post",
            "createdAt": "2026-11-01T10:00:00.000Z",
            "text": f"hi {i}",
        },
        "replyCount": 1,
        "repostCount": 2,
        "quoteCount": 0,
        "indexedAt": "2026-11-01T10:00:01.000Z",
    }
    if likes:
        post["likeCount"] = 5
    return {"post": post}


def _response(items: list[dict]) -> RawResponse:
    return RawResponse(
        platform="bluesky",
        endpoint="app.bsky.feed.getAuthorFeed",
        account_key="bluesky:cdc.gov",
        request_url=f"http://x/xrpc/app.bsky.feed.getAuthorFeed?actor={DID}",
        status=200,
        headers={},
        body=json.dumps({"feed": items}).encode(),
        fetched_at=NOW,
        elapsed_ms=1.0,
        page=1,
    )


def test_missing_fields_needs_every_item_to_lack_it() -> None:
    fields = ("feed[].post.likeCount", "feed[].post.uri")
    some = json.dumps({"feed": [_item(1, True), _item(2, False)]}).encode()
    none = json.dumps({"feed": [_item(1, False), _item(2, False)]}).encode()
    assert missing_fields(some, fields) == []  # a hidden count on one post is not drift
    assert missing_fields(none, fields) == ["feed[].post.likeCount"]
    assert missing_fields(json.dumps({"feed": []}).encode(), fields) == []  # nothing to judge
    assert missing_fields(b"{not json", fields) == []


def test_drifted_field_is_recorded_and_posts_still_land() -> None:
    frame = bronze.to_frame(
        [_response([_item(1, False), _item(2, False)])],
        run_id="r1",
        connector_versions={"bluesky": "bluesky/1"},
    )
    batch = parse_bronze(frame)
    posts = batch.tables["silver/posts"]
    metrics = batch.tables["silver/post_metrics"]
    assert posts.height == 2 and metrics.height == 2
    assert metrics["likes"].null_count() == 2  # marked missing, not zero
    assert metrics["reposts"].to_list() == [2, 2]
    drift = batch.drift
    assert drift.height == 1
    row = drift.row(0, named=True)
    assert row["field"] == "feed[].post.likeCount"
    assert row["responses_missing"] == 1 and row["responses_checked"] == 1
    assert row["example_response_id"] == frame["response_id"][0]


def test_bare_array_payloads_fan_out_at_the_root() -> None:
    body = json.dumps([{"id": "1", "favourites_count": 3}, {"id": "2"}]).encode()
    assert missing_fields(body, ("[].id", "[].favourites_count", "[].reblogs_count")) == [
        "[].reblogs_count"
    ]


def test_drift_of_one_run_adds_up_over_its_batches() -> None:
    """Batch 1 drifts in one response of two, batch 2 in none of three: the run says 1 of 5."""
    from hhs_platform.transforms.normalize import SilverBatch

    def batch(items: list[list[dict]]) -> SilverBatch:
        frame = bronze.to_frame(
            [_response(i) for i in items], run_id="r1", connector_versions={"bluesky": "bluesky/1"}
        )
        return parse_bronze(frame)

    one = batch([[_item(1, False)], [_item(2, True)]])
    two = batch([[_item(3, True)], [_item(4, True)], [_item(5, True)]])
    run = SilverBatch.concat([one, two])
    assert run.drift.height == 1
    row = run.drift.row(0, named=True)
    assert (row["responses_missing"], row["responses_checked"]) == (1, 5)
