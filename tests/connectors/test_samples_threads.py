"""The Threads connector against the documented payloads in ../shared/api-samples/threads.

Expected values were read off the sample files by eye. The samples are doc examples; two are
copied verbatim with the docs' invalid JSON, which the parser must report, not crash on.
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
from hhs_platform.connectors.threads import ThreadsConnector
from hhs_platform.errors import AuthError, NotFoundError
from hhs_platform.http import HttpClient, classify_response
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
TH = SAMPLES / "threads"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not TH.is_dir(), reason=f"real API samples not found at {TH} (../shared absent)"
    ),
]
TOKEN = "samples-FAKE-threads-token-77"


def record(
    endpoint: str, body: bytes, url: str, key: str = "threads:threadsapitestuser"
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "account_key": key,
        "request_url": url,
        "status": 200,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_me_profile_is_the_account_only_when_it_is_the_registry_handle() -> None:
    body = (TH / "docs_me_profile_example.json").read_bytes()
    url = "https://graph.threads.net/v1.0/me?fields=id,username&access_token=***"
    rows = ThreadsConnector.parse(record("threads.me", body, url))
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": "1234567",
            "handle": "threadsapitestuser",
            "display_name": "Threads API Test User",
            "description": "This is my Threads bio.",
            "account_created_at": None,
            "account_key": "threads:threadsapitestuser",
        }
    ]
    other = ThreadsConnector.parse(record("threads.me", body, url, key="threads:cdcgov"))
    assert other.accounts == [] and other.problems == []


def test_me_threads_example() -> None:
    body = (TH / "docs_me_threads_example_fixed_trailing_comma.json").read_bytes()
    url = "https://graph.threads.net/v1.0/1234567/threads?fields=id&limit=100&access_token=***"
    rows = ThreadsConnector.parse(record("threads.threads", body, url))
    assert rows.problems == []
    assert rows.post_metrics == []  # counters come from the insights calls
    assert rows.posts == [
        {
            "post_id": "1234567",
            "account_id": "1234567",
            "author_id": "1234567",
            "created_at": utc("2023-10-17T05:42:03"),
            "utc_offset_minutes": 0,
            "post_type": "original",
            "text": "Today Is Monday",
            "title": None,
            "url": "https://www.threads.net/@threadsapitestuser/post/abcdefg",
            "lang": None,
            "reply_to_post_id": None,
            "quoted_post_id": None,
            "reposted_post_id": None,
            "hashtags": ["Mondays"],
            "mentions": [],
            "links": [],
            "media_type": None,
            "media_count": 0,
            "media_urls": [],
            "media": [],
            "duration_s": None,
            "is_deleted": False,
        }
    ]


def test_verbatim_invalid_doc_json_is_a_problem_not_a_crash() -> None:
    for name, endpoint in (
        ("docs_me_threads_example_VERBATIM.json", "threads.threads"),
        ("docs_profile_posts_example_VERBATIM.json", "threads.profile_posts"),
        ("docs_user_insights_total_value_example_VERBATIM.json", "threads.threads_insights"),
    ):
        rows = ThreadsConnector.parse(record(endpoint, (TH / name).read_bytes(), "https://x/"))
        assert len(rows.problems) == 1 and "not valid JSON" in rows.problems[0], name
        assert not rows.posts and not rows.account_snapshots


def test_profile_posts_quote_flag_without_the_quoted_id() -> None:
    text = (TH / "docs_profile_posts_example_VERBATIM.json").read_text()
    body = text.replace("},\n  ],", "}\n  ],").encode()  # the docs' trailing comma
    url = "https://graph.threads.net/v1.0/profile_posts?username=meta&fields=id&access_token=***"
    rows = ThreadsConnector.parse(record("threads.profile_posts", body, url, key="threads:meta"))
    assert rows.problems == []
    [post] = rows.posts
    assert post["post_id"] == "1234567"
    assert post["account_id"] == "meta"  # the discovery API has no user ids
    assert post["post_type"] == "quote" and post["quoted_post_id"] is None
    assert post["created_at"] == utc("2023-10-17T05:42:03")


def test_media_insights_example() -> None:
    body = (TH / "docs_media_insights_example.json").read_bytes()
    url = "https://graph.threads.net/v1.0/17890000000000001/insights?metric=views&access_token=***"
    rows = ThreadsConnector.parse(record("threads.media.insights", body, url))
    assert rows.problems == []
    # The doc's ids are "<media_id>/insights/...": the post id comes from the request path.
    assert rows.post_metrics == [
        {
            "post_id": "17890000000000001",
            "account_id": "threadsapitestuser",
            "likes": 100,
            "replies": 10,
            "reposts": None,
            "quotes": None,
            "views": None,
        }
    ]


def test_user_insights_time_series_is_not_followers() -> None:
    body = (TH / "docs_user_insights_time_series_example.json").read_bytes()
    url = "https://graph.threads.net/v1.0/37602215421583/threads_insights?metric=views"
    rows = ThreadsConnector.parse(record("threads.threads_insights", body, url))
    assert rows.account_snapshots == []
    assert rows.problems == ["threads.threads_insights: no 'followers_count' value"]
    followers = {
        "data": [
            {
                "name": "followers_count",
                "period": "day",
                "total_value": {"value": 4321},
                "id": "37602215421583/insights/followers_count/day",
            }
        ]
    }
    rows = ThreadsConnector.parse(
        record("threads.threads_insights", json.dumps(followers).encode(), url)
    )
    assert rows.account_snapshots == [
        {"account_id": "37602215421583", "followers": 4321, "following": None, "posts_count": None}
    ]


def test_profile_lookup_example() -> None:
    body = (TH / "docs_profile_lookup_example.json").read_bytes()
    url = "https://graph.threads.net/v1.0/profile_lookup?username=meta&access_token=***"
    rows = ThreadsConnector.parse(record("threads.profile_lookup", body, url, key="threads:meta"))
    assert rows.problems == []
    assert rows.accounts[0]["account_id"] == "meta"
    assert rows.accounts[0]["display_name"] == "Meta"
    assert rows.account_snapshots == [
        {"account_id": "meta", "followers": 1234567, "following": None, "posts_count": None}
    ]


def test_error_500_code_10_is_an_auth_error() -> None:
    raw = RawResponse(
        platform="threads",
        endpoint="threads.media.insights",
        account_key="threads:x",
        request_url="https://graph.threads.net/v1.0/1/insights",
        status=500,
        headers={},
        body=(TH / "error_500_code10_THApiException.json").read_bytes(),
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=1,
    )
    error = classify_response(raw, ThreadsConnector.classify_error)
    assert isinstance(error, AuthError)  # a 500 that retrying will not fix
    assert "code 10" in str(error)


def test_resolve_own_profile_and_public_profile() -> None:
    me = (TH / "docs_me_profile_example.json").read_bytes()
    lookup = (TH / "docs_profile_lookup_example.json").read_bytes()

    async def handle(request: web.Request) -> web.Response:
        assert request.query.get("access_token") == TOKEN
        if request.path == "/v1.0/me":
            return web.Response(body=me, content_type="application/json")
        if request.path == "/v1.0/profile_lookup":
            if request.query.get("username") == "meta":
                return web.Response(body=lookup, content_type="application/json")
            error = {"message": "does not exist", "type": "THApiException", "code": 100}
            return web.json_response({"error": error}, status=400)
        return web.json_response({"error": {"message": "?", "code": 100}}, status=400)

    async def main() -> list[Any]:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        archived: list[RawResponse] = []
        try:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, threads_api_base=url, threads_access_token=TOKEN
            )
            async with HttpClient(settings, archived.append) as http:
                connector = ThreadsConnector(http, settings)
                results = [
                    await connector.resolve(AccountRef("threads", h))
                    for h in ("@threadsapitestuser", "https://www.threads.net/@meta", "nobody")
                ]
        finally:
            await runner.cleanup()
        assert all(TOKEN not in r.request_url for r in archived)
        return results

    own, public, missing = asyncio.run(main())
    assert (own.status, own.account_id, own.current_handle, own.verified) == (
        "active",
        "1234567",
        "threadsapitestuser",
        False,
    )
    assert (public.status, public.account_id, public.display_name, public.verified) == (
        "active",
        "meta",
        "Meta",
        True,
    )
    assert missing.status == "not_found"


def test_not_found_on_profile_lookup_is_terminal() -> None:
    raw = RawResponse(
        platform="threads",
        endpoint="threads.profile_lookup",
        account_key="threads:x",
        request_url="https://graph.threads.net/v1.0/profile_lookup?username=x",
        status=400,
        headers={},
        body=b'{"error":{"message":"x","type":"THApiException","code":100,"error_subcode":33}}',
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=0,
    )
    assert isinstance(classify_response(raw, ThreadsConnector.classify_error), NotFoundError)
