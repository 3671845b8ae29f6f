"""Media metadata of Reddit, Flickr and LinkedIn posts: real samples where they carry media,
else small payloads in the documented shape (no Flickr samples; no Reddit video/gallery)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hhs_platform.connectors.flickr import PUBLIC_PHOTOS, FlickrConnector
from hhs_platform.connectors.linkedin import LinkedInConnector
from hhs_platform.connectors.reddit import SUBMITTED, RedditConnector

NOW = datetime(2026, 11, 2, tzinfo=UTC)
LI_POSTS = "linkedin.posts.author"


def _record(endpoint: str, body: object, url: str = "http://x/") -> dict:
    return {
        "endpoint": endpoint,
        "account_key": "test:acct",
        "request_url": url,
        "status": 200,
        "body": json.dumps(body).encode(),
        "fetched_at": NOW,
    }


def _m(
    kind: str | None,
    url: str | None,
    width: int | None = None,
    height: int | None = None,
    duration_s: float | None = None,
    alt_text: str | None = None,
) -> dict[str, Any]:
    return {
        "type": kind,
        "url": url,
        "width": width,
        "height": height,
        "duration_s": duration_s,
        "alt_text": alt_text,
    }


# --- Reddit ----------------------------------------------------------------------------------


def _reddit_posts(children: list[Any]) -> dict[str, dict[str, Any]]:
    rows = RedditConnector.parse(
        _record(SUBMITTED, {"kind": "Listing", "data": {"children": children, "after": None}})
    )
    assert rows.problems == []
    return {p["post_id"]: p for p in rows.posts}


def _t3(**fields: Any) -> dict[str, Any]:
    data = {
        "name": "t3_abc",
        "created_utc": 1_700_000_000.0,
        "author_fullname": "t2_x",
        "title": "t",
        "permalink": "/r/x/comments/abc/t/",
        "is_self": False,
        "score": 1,
        "num_comments": 0,
    }
    return {"kind": "t3", "data": data | fields}


@pytest.mark.shared
def test_reddit_spez_sample_links_and_self_posts(samples: Path) -> None:
    listing = json.loads(
        (samples / "reddit" / "user_submitted_listing_2016_spez_sort_new.json").read_text()
    )
    posts = _reddit_posts(listing["data"]["children"])
    # A link post: the linked page, no size.
    assert posts["t3_d294m"]["media"] == [_m("external", "http://www.hipmunk.com/")]
    assert posts["t3_3dk1jh"]["media"] == [
        _m("external", "https://en.wikipedia.org/wiki/Orville_Redenbacher?repost=true")
    ]
    # Self posts attach nothing, even t3_3tlcil whose preview (305x305) is a link thumbnail.
    assert posts["t3_434h6c"]["media"] == []
    assert posts["t3_3tlcil"]["media"] == []
    assert all(len(p["media"]) == p["media_count"] for p in posts.values())


@pytest.mark.shared
def test_reddit_2021_sample_self_posts_have_no_media(samples: Path) -> None:
    listing = json.loads(
        (samples / "reddit" / "user_overview_listing_2021_sort_new_limit4.json").read_text()
    )
    posts = _reddit_posts(listing["data"]["children"])
    assert len(posts) == 4 and all(p["media"] == [] for p in posts.values())


def test_reddit_image_uses_preview_size_and_unescapes() -> None:
    preview = {
        "images": [
            {
                "source": {
                    "url": "https://preview.redd.it/x.jpg?width=1080&amp;s=abc",
                    "width": 1080,
                    "height": 720,
                },
                "resolutions": [],
            }
        ]
    }
    posts = _reddit_posts(
        [
            _t3(post_hint="image", url="https://i.redd.it/x.jpg", preview=preview),
            _t3(name="t3_def", post_hint="image", url=None, preview=preview),
        ]
    )
    assert posts["t3_abc"]["media"] == [_m("image", "https://i.redd.it/x.jpg", 1080, 720)]
    assert posts["t3_def"]["media"] == []  # no url: not an image post (media_count 0)


def test_reddit_video_and_gallery() -> None:
    posts = _reddit_posts(
        [
            _t3(
                is_video=True,
                url="https://v.redd.it/abc",
                media={
                    "reddit_video": {
                        "fallback_url": "https://v.redd.it/abc/DASH_720.mp4?source=fallback",
                        "width": 1280,
                        "height": 720,
                        "duration": 31,
                    }
                },
            ),
            _t3(
                name="t3_gal",
                is_gallery=True,
                url="https://www.reddit.com/gallery/gal",
                gallery_data={"items": [{"media_id": "a"}, {"media_id": "b"}, {"media_id": "z"}]},
                media_metadata={
                    "a": {
                        "e": "Image",
                        "s": {"u": "https://preview.redd.it/a.jpg?a=1&amp;b=2", "x": 800, "y": 600},
                    },
                    "b": {
                        "e": "AnimatedImage",
                        "s": {"gif": "https://i.redd.it/b.gif", "x": 320, "y": 240},
                    },
                },
            ),
        ]
    )
    assert posts["t3_abc"]["media"] == [
        _m("video", "https://v.redd.it/abc/DASH_720.mp4?source=fallback", 1280, 720, 31.0)
    ]
    assert posts["t3_gal"]["media"] == [
        _m("image", "https://preview.redd.it/a.jpg?a=1&b=2", 800, 600),
        _m("gif", "https://i.redd.it/b.gif", 320, 240),
    ]


# --- Flickr (no recorded samples: the documented getPublicPhotos shape) ------------------------


def _flickr_posts(photos: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    body = {"photos": {"page": 1, "pages": 1, "photo": photos}, "stat": "ok"}
    rows = FlickrConnector.parse(_record(PUBLIC_PHOTOS, body))
    assert rows.problems == []
    return {p["post_id"]: p for p in rows.posts}


def _photo(photo_id: str, **extras: Any) -> dict[str, Any]:
    return {
        "id": photo_id,
        "owner": "54244393@N02",
        "title": "",
        "dateupload": "1767225600",
        "media": "photo",
    } | extras


def test_flickr_photo_is_its_own_media() -> None:
    posts = _flickr_posts(
        [
            _photo(
                "1",
                title="Lab scientist",
                url_o="https://live.staticflickr.com/65535/1_o.jpg",
                o_width="4000",
                o_height="3000",
                url_l="https://live.staticflickr.com/65535/1_b.jpg",
                width_l=1024,
                height_l=768,
            ),
            _photo(
                "2",
                url_l="https://live.staticflickr.com/65535/2_b.jpg",
                width_l="1024",
                height_l="683",
            ),
            _photo(
                "3",
                media="video",
                title="Flu shot PSA",
                url_o="https://live.staticflickr.com/65535/3_o.jpg",
                width_o=1920,
                height_o=1080,
            ),
            _photo("4"),
        ]
    )
    assert posts["1"]["media"] == [
        _m(
            "image",
            "https://live.staticflickr.com/65535/1_o.jpg",
            4000,
            3000,
            None,
            "Lab scientist",
        )
    ]
    assert posts["2"]["media"] == [
        _m("image", "https://live.staticflickr.com/65535/2_b.jpg", 1024, 683)
    ]
    assert posts["3"]["media"] == [
        _m("video", "https://live.staticflickr.com/65535/3_o.jpg", 1920, 1080, None, "Flu shot PSA")
    ]
    assert posts["4"]["media"] == [_m("image", None)]


# --- LinkedIn --------------------------------------------------------------------------------


def _li_post(content: Any, **fields: Any) -> dict[str, Any]:
    post = {
        "id": "urn:li:share:1",
        "author": "urn:li:organization:5515715",
        "publishedAt": 1634790968774,
        "lifecycleState": "PUBLISHED",
        "visibility": "PUBLIC",
        "commentary": "x",
    }
    if content is not None:
        post["content"] = content
    return post | fields


def _li_rows(posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = LinkedInConnector.parse(_record(LI_POSTS, {"elements": posts}))
    assert rows.problems == []
    return rows.posts


@pytest.mark.shared
def test_linkedin_sample_video_is_a_urn_without_url(samples: Path) -> None:
    post = json.loads((samples / "linkedin" / "rest_posts_post_object.json").read_text())
    del post["adContext"]
    post["distribution"]["feedDistribution"] = "MAIN_FEED"
    [row] = _li_rows([post])
    assert row["media"] == [_m("video", None)]


def test_linkedin_images_article_and_reshare() -> None:
    [single, multi, article, document, none, reshare] = _li_rows(
        [
            _li_post({"media": {"id": "urn:li:image:C4E", "altText": "A nurse giving a shot"}}),
            _li_post(
                {
                    "multiImage": {
                        "images": [
                            {"id": "urn:li:image:A", "altText": "Chart of flu cases"},
                            {"id": "urn:li:image:B"},
                        ]
                    }
                },
                id="urn:li:share:2",
            ),
            _li_post(
                {
                    "article": {
                        "source": "https://www.cdc.gov/flu/",
                        "title": "Flu season",
                        "thumbnail": "urn:li:image:T",
                    }
                },
                id="urn:li:share:3",
            ),
            _li_post(
                {"media": {"id": "urn:li:document:D", "title": "Report"}}, id="urn:li:share:4"
            ),
            _li_post(None, id="urn:li:share:5"),
            _li_post(
                {"media": {"id": "urn:li:image:R"}},
                id="urn:li:share:6",
                reshareContext={"parent": "urn:li:share:9"},
            ),
        ]
    )
    assert single["media"] == [_m("image", None, alt_text="A nurse giving a shot")]
    assert multi["media"] == [
        _m("image", None, alt_text="Chart of flu cases"),
        _m("image", None),
    ]
    assert article["media"] == [_m("external", "https://www.cdc.gov/flu/")]
    assert document["media"] == [_m(None, None)]
    assert none["media"] == []
    assert reshare["media"] == []
