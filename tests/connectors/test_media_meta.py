"""Media entries (silver/posts ``media``) from Facebook, Instagram and Threads payloads.

Expected values were read off the files in ../shared/api-samples by eye; where the samples
carry no media (Threads, Instagram carousels, Facebook albums and reshares) a small payload in
the documented shape stands in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hhs_platform.connectors.facebook import POSTS, FacebookConnector
from hhs_platform.connectors.instagram import DISCOVERY, InstagramConnector
from hhs_platform.connectors.threads import THREADS, ThreadsConnector

NOW = datetime(2026, 11, 2, tzinfo=UTC)
THREADS_URL = "https://graph.threads.net/v1.0/1234567/threads?fields=id&limit=100"


def _record(endpoint: str, body: object, url: str = "https://example.invalid/") -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {
        "endpoint": endpoint,
        "account_key": "test:acct",
        "request_url": url,
        "status": 200,
        "body": raw,
        "fetched_at": NOW,
    }


def _media(kind: str | None, url: str | None, **extra: object) -> dict:
    entry: dict = dict.fromkeys(("width", "height", "duration_s", "alt_text"))
    entry.update(type=kind, url=url, **extra)
    return entry


# --- Facebook ---------------------------------------------------------------------------------


@pytest.mark.shared
def test_facebook_feed_media_from_sample(samples: Path) -> None:
    body = (
        samples / "facebook" / "page_feed_reactions_comments_shares_summary_p1.json"
    ).read_bytes()
    rows = FacebookConnector.parse(_record(POSTS, body))
    assert rows.problems == []
    photo, link, _, wide, video = rows.posts
    (m,) = photo["media"]
    assert (m["type"], m["width"], m["height"]) == ("image", 720, 720)
    assert m["url"].startswith(
        "https://scontent-ssn1-1.xx.fbcdn.net/v/t1.6435-9/p720x720/211801276_"
    )
    assert m["duration_s"] is None and m["alt_text"] is None
    (m,) = wide["media"]
    assert (m["type"], m["width"], m["height"]) == ("image", 720, 360)
    # A link share: the link itself, its title as the text, no size of the preview image.
    assert link["media"] == [
        _media(
            "external",
            "https://engineering.fb.com/2021/05/20/networking-traffic/peering-automation/"
            "?utm_source=social-facebook&utm_medium=fb4d&utm_campaign=organic"
            "&utm_content=post-url&utm_offering=engineering"
            "&utm_product=Peering-automation-at-Facebook_07082021"
            "&eventSource=OrganicSocialFB4D&content_id=Py4ExKngmEFlnJN",
            alt_text="Peering automation at Facebook - Facebook Engineering",
        )
    ]
    # No ``media.source`` was asked for in the recording: the video's still image stands in.
    (m,) = video["media"]
    assert (m["type"], m["width"], m["height"], m["duration_s"]) == ("video", 720, 720, None)
    assert m["url"].startswith(
        "https://scontent-ssn1-1.xx.fbcdn.net/v/t15.5256-10/p720x720/206860283_"
    )
    for post in rows.posts:
        assert len(post["media"]) == post["media_count"]


def test_facebook_album_subattachments_and_reshare() -> None:
    page = {
        "data": [
            {
                "id": "1_2",
                "created_time": "2026-10-01T12:00:00+0000",
                "attachments": {
                    "data": [
                        {
                            "media_type": "album",
                            "type": "album",
                            "subattachments": {
                                "data": [
                                    {
                                        "media_type": "photo",
                                        "type": "photo",
                                        "media": {
                                            "image": {
                                                "src": "https://cdn.example/a.jpg",
                                                "width": 960,
                                                "height": 640,
                                            }
                                        },
                                    },
                                    {
                                        "media_type": "video",
                                        "type": "video",
                                        "media": {
                                            "image": {
                                                "src": "https://cdn.example/b.jpg",
                                                "width": 1280,
                                                "height": 720,
                                            },
                                            "source": "https://video.example/b.mp4",
                                        },
                                    },
                                ]
                            },
                        }
                    ]
                },
            },
            {
                "id": "1_3",
                "created_time": "2026-10-02T12:00:00+0000",
                "parent_id": "9_9",
                "attachments": {
                    "data": [
                        {
                            "media_type": "photo",
                            "type": "photo",
                            "media": {"image": {"src": "https://cdn.example/c.jpg"}},
                        }
                    ]
                },
            },
        ]
    }
    rows = FacebookConnector.parse(_record(POSTS, page))
    assert rows.problems == []
    album, reshare = rows.posts
    assert album["media"] == [
        _media("image", "https://cdn.example/a.jpg", width=960, height=640),
        _media("video", "https://video.example/b.mp4", width=1280, height=720),
    ]
    assert reshare["post_type"] == "repost" and reshare["media"] == []


# --- Instagram --------------------------------------------------------------------------------


@pytest.mark.shared
def test_instagram_image_and_video_from_samples(samples: Path) -> None:
    body = (samples / "instagram" / "business_discovery_media_p1.json").read_bytes()
    rows = InstagramConnector.parse(_record(DISCOVERY, body))
    assert rows.problems == []
    (m,) = rows.posts[0]["media"]
    assert m["type"] == "image"
    assert m["url"].startswith(
        "https://scontent-nrt1-1.cdninstagram.com/v/t51.29350-15/238148161_1969671383189052_"
    )
    # Graph gives no sizes or alt text for business_discovery media.
    assert (m["width"], m["height"], m["duration_s"], m["alt_text"]) == (None,) * 4

    body = (samples / "instagram" / "business_discovery_media_video_p1.json").read_bytes()
    rows = InstagramConnector.parse(_record(DISCOVERY, body))
    assert rows.problems == []
    first = rows.posts[0]
    assert first["post_id"] == "17984016661384418"
    (m,) = first["media"]
    assert m["type"] == "video"
    assert m["url"].startswith(
        "https://video-ssn1-1.cdninstagram.com/v/t50.2886-16/247828045_1151876372011512_"
    )
    assert [p["media"][0]["type"] for p in rows.posts] == [
        "video" if p["media_type"] == "video" else "image" for p in rows.posts
    ]


def test_instagram_carousel_children() -> None:
    body = {
        "id": "17841406338772941",
        "business_discovery": {
            "id": "17841400000000001",
            "media": {
                "data": [
                    {
                        "id": "1801",
                        "timestamp": "2026-10-01T12:00:00+0000",
                        "media_type": "CAROUSEL_ALBUM",
                        "media_url": "https://cdn.example/cover.jpg",
                        "children": {
                            "data": [
                                {"media_type": "IMAGE", "media_url": "https://cdn.example/1.jpg"},
                                {"media_type": "VIDEO", "media_url": "https://cdn.example/2.mp4"},
                            ]
                        },
                    },
                    {
                        "id": "1802",
                        "timestamp": "2026-10-02T12:00:00+0000",
                        "media_type": "CAROUSEL_ALBUM",
                        "media_url": "https://cdn.example/cover2.jpg",
                    },
                ]
            },
        },
    }
    rows = InstagramConnector.parse(_record(DISCOVERY, body))
    assert rows.problems == []
    album, bare = rows.posts
    assert album["media"] == [
        _media("image", "https://cdn.example/1.jpg"),
        _media("video", "https://cdn.example/2.mp4"),
    ]
    assert bare["media"] == [_media("image", "https://cdn.example/cover2.jpg")]
    assert bare["media_count"] == 1


# --- Threads ----------------------------------------------------------------------------------


@pytest.mark.shared
def test_threads_text_post_sample_has_no_media(samples: Path) -> None:
    body = (samples / "threads" / "docs_me_threads_example_fixed_trailing_comma.json").read_bytes()
    rows = ThreadsConnector.parse(_record(THREADS, body, THREADS_URL))
    assert rows.problems == []
    assert rows.posts[0]["media_type"] is None and rows.posts[0]["media"] == []


def test_threads_image_video_carousel_link_and_repost() -> None:
    def post(media_id: str, **fields: object) -> dict:
        return {"id": media_id, "timestamp": "2026-10-01T12:00:00+0000", **fields}

    page = {
        "data": [
            post(
                "11",
                media_type="IMAGE",
                media_url="https://cdn.example/i.jpg",
                alt_text="A chart of flu cases",
            ),
            post(
                "12",
                media_type="VIDEO",
                media_url="https://cdn.example/v.mp4",
                thumbnail_url="https://cdn.example/v.jpg",
            ),
            post(
                "13",
                media_type="CAROUSEL_ALBUM",
                children={
                    "data": [
                        {
                            "id": "131",
                            "media_type": "IMAGE",
                            "media_url": "https://cdn.example/c1.jpg",
                            "alt_text": "First slide",
                        },
                        {
                            "id": "132",
                            "media_type": "VIDEO",
                            "thumbnail_url": "https://cdn.example/c2.jpg",
                        },
                    ]
                },
            ),
            post(
                "14",
                media_type="TEXT_POST",
                text="Read more",
                link_attachment_url="https://www.cdc.gov/flu/",
            ),
            post("15", media_type="REPOST_FACADE", reposted_post={"id": "99"}),
        ]
    }
    rows = ThreadsConnector.parse(_record(THREADS, page, THREADS_URL))
    assert rows.problems == []
    image, video, album, link, repost = rows.posts
    assert image["media"] == [
        _media("image", "https://cdn.example/i.jpg", alt_text="A chart of flu cases")
    ]
    assert video["media"] == [_media("video", "https://cdn.example/v.mp4")]
    assert album["media"] == [
        _media("image", "https://cdn.example/c1.jpg", alt_text="First slide"),
        _media("video", "https://cdn.example/c2.jpg"),
    ]
    assert link["media"] == [_media("external", "https://www.cdc.gov/flu/")]
    assert repost["post_type"] == "repost" and repost["media"] == []
    for p in rows.posts:
        assert len(p["media"]) == p["media_count"]
