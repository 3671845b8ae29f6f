"""The LinkedIn connector against the recorded/documented payloads in ../shared/api-samples/linkedin.

Expected values were read off the sample files by eye.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import AccountRef, RawResponse
from hhs_platform.connectors.linkedin import LinkedInConnector, vanity_name
from hhs_platform.errors import QuotaExhaustedError, RateLimitedError
from hhs_platform.http import HttpClient, classify_response
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
LI = SAMPLES / "linkedin"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not LI.is_dir(), reason=f"real API samples not found at {LI} (../shared absent)"
    ),
]
TOKEN = "samples-FAKE-linkedin-token-77"
POSTS = "linkedin.posts.author"


def record(endpoint: str, body: bytes, url: str = "https://api.linkedin.com/rest/posts") -> dict:
    return {
        "endpoint": endpoint,
        "account_key": "linkedin:nih",
        "request_url": url,
        "status": 200,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def raw(status: int, body: bytes) -> RawResponse:
    return RawResponse(
        platform="linkedin",
        endpoint=POSTS,
        account_key="linkedin:nih",
        request_url="https://api.linkedin.com/rest/posts",
        status=status,
        headers={},
        body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=1,
    )


def test_dark_sponsored_post_is_not_a_page_post() -> None:
    # The recorded post is a DSC ad (feedDistribution NONE): never shown on the page's feed.
    post = json.loads((LI / "rest_posts_post_object.json").read_bytes())
    rows = LinkedInConnector.parse(record(POSTS, json.dumps({"elements": [post]}).encode()))
    assert rows.posts == [] and rows.problems == []


def test_recorded_post_fields_when_in_the_feed() -> None:
    post = json.loads((LI / "rest_posts_post_object.json").read_bytes())
    del post["adContext"]
    post["distribution"]["feedDistribution"] = "MAIN_FEED"
    rows = LinkedInConnector.parse(record(POSTS, json.dumps({"elements": [post]}).encode()))
    assert rows.problems == []
    assert rows.posts == [
        {
            "post_id": "urn:li:share:6844785523593134080",
            "account_id": "5515715",
            "author_id": "5515715",
            "created_at": datetime(2021, 10, 21, 4, 36, 8, 774000, tzinfo=UTC),  # publishedAt
            "utc_offset_minutes": 0,  # epoch milliseconds are UTC
            "post_type": "original",
            "text": "comment on Oct 20",
            "title": None,
            "url": "https://www.linkedin.com/feed/update/urn:li:share:6844785523593134080/",
            "lang": None,
            "reply_to_post_id": None,
            "quoted_post_id": None,
            "reposted_post_id": None,
            "hashtags": [],
            "mentions": [],
            "links": [],
            "media_type": "video",
            "media_count": 1,
            "media_urls": [],
            "media": [
                {
                    "type": "video",
                    "url": None,
                    "width": None,
                    "height": None,
                    "duration_s": None,
                    "alt_text": None,
                }
            ],
            "duration_s": None,
            "is_deleted": False,
        }
    ]


def test_reshare_is_a_repost_without_metrics() -> None:
    post = json.loads((LI / "rest_posts_post_object.json").read_bytes())
    del post["adContext"], post["content"]
    post["distribution"]["feedDistribution"] = "MAIN_FEED"
    post["reshareContext"] = {"parent": "urn:li:share:1", "root": "urn:li:ugcPost:2"}
    post["commentary"] = "Read {hashtag|\\#|PublicHealth} by @[CDC](urn:li:organization:123)"
    rows = LinkedInConnector.parse(record(POSTS, json.dumps({"elements": [post]}).encode()))
    [row] = rows.posts
    assert row["post_type"] == "repost" and row["reposted_post_id"] == "urn:li:share:1"
    assert row["hashtags"] == ["PublicHealth"]
    assert row["mentions"] == ["urn:li:organization:123"]
    assert rows.post_metrics == []


def test_share_statistics_and_network_size() -> None:
    stats = {
        "paging": {"start": 0, "count": 10},
        "elements": [
            {
                "totalShareStatistics": {
                    "uniqueImpressionsCount": 7,
                    "shareCount": 2,
                    "engagement": 0.1,
                    "clickCount": 1,
                    "likeCount": 5,
                    "impressionCount": 40,
                    "commentCount": 3,
                },
                "share": "urn:li:share:6844785523593134080",
                "organizationalEntity": "urn:li:organization:5515715",
            }
        ],
    }
    rows = LinkedInConnector.parse(
        record("linkedin.organizationalEntityShareStatistics", json.dumps(stats).encode())
    )
    assert rows.post_metrics == [
        {
            "post_id": "urn:li:share:6844785523593134080",
            "account_id": "5515715",
            "likes": 5,
            "reposts": 2,
            "replies": 3,
            "quotes": None,
            "views": 40,
        }
    ]
    url = "https://api.linkedin.com/rest/networkSizes/urn%3Ali%3Aorganization%3A5515715?edgeType=X"
    rows = LinkedInConnector.parse(
        record("linkedin.networkSizes", b'{"firstDegreeSize": 987}', url)
    )
    assert rows.account_snapshots == [
        {"account_id": "5515715", "followers": 987, "following": None, "posts_count": None}
    ]


def test_429_day_limit_is_quota_and_throttle_is_rate_limit() -> None:
    day = classify_response(
        raw(429, (LI / "error_429_application_day_limit.json").read_bytes()),
        LinkedInConnector.classify_error,
    )
    assert isinstance(day, QuotaExhaustedError)
    nested = json.loads((LI / "error_429_throttle_in_decoration_docs.json").read_bytes())
    throttle = json.dumps(nested["profilePicture"]["displayImage!"]).encode()
    error = classify_response(raw(429, throttle), LinkedInConnector.classify_error)
    assert isinstance(error, RateLimitedError) and not isinstance(error, QuotaExhaustedError)
    # In a 200 the decoration error is one field's problem, not the response's.
    whole = (LI / "error_429_throttle_in_decoration_docs.json").read_bytes()
    assert LinkedInConnector.classify_error(raw(200, whole)) is None


def test_vanity_names_from_registry_urls() -> None:
    assert vanity_name("https://www.linkedin.com/company/cdc/") == "cdc"
    assert vanity_name("https://www.linkedin.com/showcase/nih-nci/about/") == "nih-nci"
    assert vanity_name("company/fda") == "fda"
    assert vanity_name("hhs") == "hhs"


def test_resolve_by_vanity_name() -> None:
    async def handle(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == f"Bearer {TOKEN}"
        assert request.headers.get("X-Restli-Protocol-Version") == "2.0.0"
        found = request.query.get("vanityName") == "nih"
        org = {"id": 165158, "vanityName": "nih", "localizedName": "National Institutes of Health"}
        return web.json_response({"elements": [org] if found else [], "paging": {"start": 0}})

    async def main() -> list[Any]:
        app = web.Application()
        app.router.add_route("GET", "/rest/organizations", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                linkedin_api_base=f"http://127.0.0.1:{runner.addresses[0][1]}",
                linkedin_access_token=TOKEN,
            )
            async with HttpClient(settings, lambda r: None) as http:
                connector = LinkedInConnector(http, settings)
                return [
                    await connector.resolve(AccountRef("linkedin", h))
                    for h in ("https://www.linkedin.com/company/nih/", "nobody-here")
                ]
        finally:
            await runner.cleanup()

    found, missing = asyncio.run(main())
    assert (found.status, found.account_id, found.current_handle, found.display_name) == (
        "active",
        "165158",
        "nih",
        "National Institutes of Health",
    )
    assert missing.status == "not_found"
