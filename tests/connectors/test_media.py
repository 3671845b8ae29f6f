"""Media metadata (type, url, size, duration, alt text) from real payloads, per connector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hhs_platform.connectors.bluesky import BlueskyConnector
from hhs_platform.connectors.mastodon import MastodonConnector
from hhs_platform.connectors.x import XConnector

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def _record(endpoint: str, body: object, url: str = "http://x/") -> dict:
    return {
        "endpoint": endpoint,
        "account_key": "test:acct",
        "request_url": url,
        "status": 200,
        "body": json.dumps(body).encode(),
        "fetched_at": NOW,
    }


@pytest.mark.shared
def test_bluesky_image_keeps_size_and_alt(samples: Path) -> None:
    post = json.loads((samples / "bluesky" / "postView_images_embed.json").read_text())
    rows = BlueskyConnector.parse(
        _record("app.bsky.feed.getAuthorFeed", {"feed": [{"post": post}]})
    )
    (media,) = rows.posts[0]["media"]
    assert media["type"] == "image"
    assert (media["width"], media["height"]) == (1999, 1500)
    assert media["url"].startswith(
        "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:z7ja7uhcr5is6uqmnsjyn3k7/"
    )
    assert media["alt_text"] is None  # the sample's alt text is empty


@pytest.mark.shared
def test_mastodon_attachment_keeps_size_and_description(samples: Path) -> None:
    status = json.loads(
        (samples / "mastodon" / "status_with_media_attachments_post_response.json").read_text()
    )
    rows = MastodonConnector.parse(
        _record("mastodon.accounts.statuses", [status], "http://x/api/v1/accounts/1/statuses")
    )
    post = next(p for p in rows.posts if p["post_id"] == "117020576664345360")
    first = post["media"][0]
    assert first["type"] == "image" and (first["width"], first["height"]) == (600, 600)
    assert first["alt_text"] == "John Lennon doing a funny walk"
    assert len(post["media"]) == post["media_count"]


def test_x_video_duration_and_size_from_includes() -> None:
    page = {
        "data": [
            {
                "id": "1067094924124872705",
                "text": "Watch this video!",
                "created_at": "2026-11-01T10:00:00.000Z",
                "author_id": "2244994945",
                "edit_history_tweet_ids": ["1067094924124872705"],
                "attachments": {"media_keys": ["13_1064638969197977600"]},
                "public_metrics": {
                    "retweet_count": 1,
                    "reply_count": 2,
                    "like_count": 3,
                    "quote_count": 0,
                },
            }
        ],
        "includes": {
            "media": [
                {
                    "duration_ms": 136637,
                    "media_key": "13_1064638969197977600",
                    "type": "video",
                    "width": 1280,
                    "height": 720,
                    "alt_text": "A developer at a laptop",
                    "preview_image_url": "https://pbs.twimg.com/media/preview.jpg",
                }
            ]
        },
        "meta": {"result_count": 1},
    }
    rows = XConnector.parse(_record("x.users.tweets", page, "http://x/2/users/2244994945/tweets"))
    (media,) = rows.posts[0]["media"]
    assert media == {
        "type": "video",
        "url": "https://pbs.twimg.com/media/preview.jpg",
        "width": 1280,
        "height": 720,
        "duration_s": 136.637,
        "alt_text": "A developer at a laptop",
    }
