"""The Facebook Pages connector against the real recorded Graph API responses.

Expected values were read off the files in ../shared/api-samples/facebook by eye.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import AccountRef, RawResponse
from hhs_platform.connectors.facebook import PAGE, POSTS, FacebookConnector
from hhs_platform.connectors.graph import (
    GRAPH_VERSION,
    next_page_params,
    parse_usage_headers,
    usage_rate_limit_state,
)
from hhs_platform.errors import AuthError, NotFoundError, RateLimitedError, TerminalError
from hhs_platform.http import HttpClient, classify_response
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
FB = SAMPLES / "facebook"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not FB.is_dir(), reason=f"real Facebook samples not found at {FB} (../shared absent)"
    ),
]
TOKEN = "EAAGsampleFAKEpageTOKEN0123"


def record(endpoint: str, body: bytes, status: int = 200, key: str = "facebook:test") -> dict:
    return {
        "endpoint": endpoint,
        "account_key": key,
        "request_url": "https://example.invalid/",
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def raw(body: bytes, status: int, headers: dict[str, str] | None = None) -> RawResponse:
    return RawResponse(
        platform="facebook",
        endpoint=POSTS,
        account_key="facebook:test",
        request_url="https://example.invalid/",
        status=status,
        headers=headers or {},
        body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=1,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the page -------------------------------------------------------------------------------


def test_page_default_fields_keeps_fan_count_out_of_followers() -> None:
    body = (FB / "page_default_fields.json").read_bytes()
    rows = FacebookConnector.parse(record(PAGE, body, key="facebook:facebookapp"))
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": "20531316728",
            "handle": "facebookapp",
            "display_name": "Facebook",
            "description": "The Facebook Page celebrates how our friends inspire us, support us, "
            "and help us discover the world when we connect.",
            "account_created_at": None,
            "account_key": "facebook:facebookapp",
        }
    ]
    # fan_count (214507731) counts page likes; without followers_count the figure is unknown.
    assert rows.account_snapshots == [
        {"account_id": "20531316728", "followers": None, "following": None, "posts_count": None}
    ]


def test_page_with_followers_count_inside_a_third_party_wrapper() -> None:
    wrapped = json.loads((FB / "page_fields_fan_count_followers_count_WRAPPED.json").read_bytes())
    body = json.dumps(wrapped["page"]).encode()  # the API payload is the wrapper's "page"
    rows = FacebookConnector.parse(record(PAGE, body, key="facebook:ThumbForecast"))
    assert rows.problems == []
    [account] = rows.accounts
    assert account["account_id"] == "102907851890377"
    assert account["display_name"] == "Thumb Forecast"
    assert account["handle"] == "ThumbForecast"  # no username field: the registry handle
    assert rows.account_snapshots == [
        {
            "account_id": "102907851890377",
            "followers": 13514,
            "following": None,
            "posts_count": None,
        }
    ]
    # The wrapper's "insights" is a real (#100) error about a bad metric: a plain bad request.
    error_body = json.dumps(wrapped["insights"]).encode()
    error = classify_response(raw(error_body, 400), FacebookConnector.classify_error)
    assert type(error) is TerminalError


def test_page_fields_fan_count_only() -> None:
    rows = FacebookConnector.parse(record(PAGE, (FB / "page_fields_fan_count.json").read_bytes()))
    assert rows.problems == []
    assert rows.accounts[0]["handle"] == "facebookapp"
    assert rows.account_snapshots[0]["followers"] is None


# --- posts ----------------------------------------------------------------------------------


def test_feed_page1_posts_media_and_metrics() -> None:
    body = (FB / "page_feed_reactions_comments_shares_summary_p1.json").read_bytes()
    rows = FacebookConnector.parse(record(POSTS, body))
    assert rows.problems == []
    assert [p["post_id"] for p in rows.posts] == [
        "19292868552_10158349356748553",
        "19292868552_10158347294088553",
        "19292868552_10158345715593553",
        "19292868552_10158343840773553",
        "19292868552_10158333323653553",
    ]
    photo, link, *_, video = rows.posts
    assert photo["account_id"] == photo["author_id"] == "19292868552"
    assert photo["created_at"] == utc("2021-07-09T19:09:52")
    assert photo["post_type"] == "original"
    assert photo["url"] == "https://www.facebook.com/19292868552/posts/10158349356748553/"
    assert photo["text"].startswith("Singaporean logistics company Ninja Van Singapore")
    assert photo["media_type"] == "image" and photo["media_count"] == 1
    assert photo["media_urls"][0].startswith(
        "https://scontent-ssn1-1.xx.fbcdn.net/v/t1.6435-9/p720x720/211801276_"
    )
    assert photo["mentions"] == ["957138134486129", "602814669838217"]
    assert photo["links"] == ["https://fb.me/Ninja-Van-Success-Story"]
    # status_type "shared_story" here is the page's own link post: original, external media.
    assert link["post_type"] == "original" and link["reposted_post_id"] is None
    assert link["media_type"] == "external" and link["media_count"] == 1
    assert link["media_urls"] == [
        "https://engineering.fb.com/2021/05/20/networking-traffic/peering-automation/"
        "?utm_source=social-facebook&utm_medium=fb4d&utm_campaign=organic&utm_content=post-url"
        "&utm_offering=engineering&utm_product=Peering-automation-at-Facebook_07082021"
        "&eventSource=OrganicSocialFB4D&content_id=Py4ExKngmEFlnJN"
    ]
    assert link["links"] == ["https://fb.me/Facebook-Peering-automation", *link["media_urls"]]
    assert video["media_type"] == "video" and video["media_count"] == 1
    assert video["created_at"] == utc("2021-06-30T21:21:18")
    assert rows.post_metrics[0] == {
        "post_id": "19292868552_10158349356748553",
        "account_id": "19292868552",
        "likes": 125,
        "reposts": 10,
        "replies": 13,
        "quotes": None,
        "views": None,
    }
    assert [(m["likes"], m["replies"], m["reposts"]) for m in rows.post_metrics] == [
        (125, 13, 10),
        (131, 17, 6),
        (143, 15, 15),
        (178, 23, 16),
        (179, 49, 15),
    ]


def test_feed_page2_last_post() -> None:
    body = (FB / "page_feed_reactions_comments_shares_summary_p2.json").read_bytes()
    rows = FacebookConnector.parse(record(POSTS, body))
    assert rows.problems == [] and len(rows.posts) == 5
    last = rows.post_metrics[-1]
    assert last["post_id"] == "19292868552_10158316421783553"
    assert (last["likes"], last["replies"], last["reposts"]) == (26959, 82, 183)
    assert rows.posts[-1]["created_at"] == utc("2021-06-21T20:57:12")


def test_posts_without_engagement_fields_have_no_metrics() -> None:
    rows = FacebookConnector.parse(
        record(POSTS, (FB / "page_posts_time_paging_p1.json").read_bytes())
    )
    assert rows.problems == []
    assert [p["post_id"] for p in rows.posts][:2] == ["4_10113477241177441", "4_10113449068715281"]
    assert rows.posts[0]["text"] == "Happy July 4th! 🇺🇸"
    assert rows.posts[0]["account_id"] == "4"
    assert rows.posts[0]["media_type"] is None and rows.posts[0]["media_count"] == 0
    assert rows.post_metrics == []


def test_single_post_missing_shares_counts_zero() -> None:
    post = json.loads((FB / "post_single_reactions_summary.json").read_bytes())
    rows = FacebookConnector.parse(record(POSTS, json.dumps({"data": [post]}).encode()))
    assert rows.problems == []
    assert rows.posts[0]["text"] == "我测试一下 MyLife"
    assert rows.posts[0]["created_at"] == utc("2019-08-12T03:45:11")
    assert rows.post_metrics == [
        {
            "post_id": "175154750010052_424924701699721",
            "account_id": "175154750010052",
            "likes": 1,
            "reposts": 0,
            "replies": 0,
            "quotes": None,
            "views": None,
        }
    ]


def test_reshare_with_parent_id_is_a_repost_without_metrics() -> None:
    data = json.loads((FB / "page_feed_reactions_comments_shares_summary_p1.json").read_bytes())
    item = {**data["data"][1], "parent_id": "9445547199_10158000000000001"}
    rows = FacebookConnector.parse(record(POSTS, json.dumps({"data": [item]}).encode()))
    assert rows.problems == []
    [post] = rows.posts
    assert post["post_type"] == "repost"
    assert post["reposted_post_id"] == "9445547199_10158000000000001"
    assert rows.post_metrics == []


def test_drifted_post_is_reported_and_the_rest_parsed() -> None:
    data = json.loads((FB / "page_feed_reactions_comments_shares_summary_p1.json").read_bytes())
    del data["data"][0]["id"]
    data["data"][1]["created_time"] = "yesterday"
    data["data"][2]["reactions"] = {"summary": {"total_count": "many"}}
    rows = FacebookConnector.parse(record(POSTS, json.dumps(data).encode()))
    # A word where a count belongs is a malformed item: quarantined, not landed as a null.
    assert len(rows.problems) == 3
    assert "data[2] skipped: 'reactions.summary.total_count' is str" in rows.problems[2]
    assert len(rows.posts) == 2


# --- errors and usage headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        ("error_613_rate_limit_koala_issue642.json", 400, RateLimitedError),
        ("error_docs_generic_example.json", 400, AuthError),  # 190 / 460: token expired
        ("error_100_missing_permission.json", 400, AuthError),  # names the permission needed
        ("error_100_app_secret_proof.json", 400, AuthError),
    ],
)
def test_recorded_errors_are_classified(name: str, status: int, expected: type) -> None:
    error = FacebookConnector.classify_error(raw((FB / name).read_bytes(), status))
    assert type(error) is expected
    assert "facebook" in str(error)


def test_missing_alias_is_not_found() -> None:
    # Doc-shaped, not recorded: (#803) is what Graph answers for an unknown page username.
    body = b'{"error":{"message":"(#803) Some of the aliases you requested do not exist: nope",'
    body += b'"type":"OAuthException","code":803,"fbtrace_id":"x"}}'
    assert isinstance(FacebookConnector.classify_error(raw(body, 404)), NotFoundError)


def test_usage_headers_are_a_budget_signal() -> None:
    # Shapes from developers.facebook.com/docs/graph-api/overview/rate-limiting (no recording).
    headers = {
        "X-App-Usage": '{"call_count":28,"total_time":25,"total_cputime":25}',
        "X-Business-Use-Case-Usage": json.dumps(
            {
                "1234567": [
                    {
                        "type": "pages",
                        "call_count": 96,
                        "total_cputime": 20,
                        "total_time": 30,
                        "estimated_time_to_regain_access": 0,
                    }
                ]
            }
        ),
    }
    usage = parse_usage_headers(headers)
    assert usage is not None and usage.max_pct == 96.0 and usage.regain_s is None
    assert usage.parts["x-app-usage.call_count"] == 28.0
    assert usage.parts["x-business-use-case-usage.1234567.pages.call_count"] == 96.0
    state = usage_rate_limit_state(headers, now=1000.0)
    assert state is not None and state.remaining == 0 and state.reset_at == 1300.0
    assert usage_rate_limit_state({"X-App-Usage": '{"call_count":5}'}, now=0.0) is None
    throttled = {
        "x-business-use-case-usage": '{"1":[{"type":"pages","call_count":100,'
        '"estimated_time_to_regain_access":7}]}'
    }
    assert usage_rate_limit_state(throttled, now=0.0).reset_at == 420.0  # type: ignore[union-attr]
    error = FacebookConnector.classify_error(
        raw((FB / "error_613_rate_limit_koala_issue642.json").read_bytes(), 400, throttled)
    )
    assert isinstance(error, RateLimitedError) and error.retry_after == 420.0
    assert parse_usage_headers({"X-App-Usage": "not json"}) is None


def test_next_link_keeps_the_query_without_the_token() -> None:
    data = json.loads((FB / "page_feed_reactions_comments_shares_summary_p1.json").read_bytes())
    params = next_page_params(data["paging"]["next"])
    assert params is not None
    assert "access_token" not in params
    assert params["after"] == "after" and params["limit"] == "5"
    assert params["fields"].startswith("id,attachments{description,")
    assert next_page_params(None) is None


# --- collect over a local server replaying the recordings -----------------------------------


@contextlib.asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_collect_follows_the_recorded_paging_next() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.path, dict(request.query)))
        assert request.query.get("access_token") == TOKEN
        if request.path == f"/fb/{GRAPH_VERSION}/facebookapp":
            return web.Response(
                body=(FB / "page_default_fields.json").read_bytes(),
                content_type="application/json",
            )
        if request.path == f"/fb/{GRAPH_VERSION}/20531316728/posts":
            page = "p2" if request.query.get("after") else "p1"
            name = f"page_feed_reactions_comments_shares_summary_{page}.json"
            return web.Response(body=(FB / name).read_bytes(), content_type="application/json")
        return web.json_response({"error": {"code": 100, "message": "?"}}, status=400)

    archived: list[RawResponse] = []

    async def main() -> None:
        async with serve(handler) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, facebook_api_base=f"{url}/fb", facebook_access_token=TOKEN
            )
            async with HttpClient(settings, archived.append) as http:
                await FacebookConnector(http, settings).collect(
                    AccountRef("facebook", "facebookapp")
                )

    asyncio.run(main())
    assert [path for path, _ in seen] == [
        f"/fb/{GRAPH_VERSION}/facebookapp",
        f"/fb/{GRAPH_VERSION}/20531316728/posts",
        f"/fb/{GRAPH_VERSION}/20531316728/posts",
    ]
    assert seen[1][1]["limit"] == "100" and "parent_id" in seen[1][1]["fields"]
    assert seen[2][1]["after"] == "after"  # the recorded cursor, from the recorded next link
    assert all(TOKEN not in r.request_url and TOKEN.encode() not in r.body for r in archived)
    posts = [p for r in archived for p in FacebookConnector.parse(record(r.endpoint, r.body)).posts]
    assert len(posts) == 10 and len({p["post_id"] for p in posts}) == 10


def test_collect_without_a_token_names_the_setting() -> None:
    async def main() -> None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        async with HttpClient(settings, lambda _: None) as http:
            await FacebookConnector(http, settings).collect(AccountRef("facebook", "CDC"))

    with pytest.raises(AuthError, match="HHS_FACEBOOK_ACCESS_TOKEN"):
        asyncio.run(main())


def test_resolve_reports_the_page_and_a_missing_alias() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/facebookapp"):
            body = (FB / "page_default_fields.json").read_bytes()
            return web.Response(body=body, content_type="application/json")
        return web.json_response(
            {
                "error": {
                    "message": "(#803) Some of the aliases you requested do not exist: x",
                    "type": "OAuthException",
                    "code": 803,
                    "fbtrace_id": "x",
                }
            },
            status=404,
        )

    async def main() -> Any:
        async with serve(handler) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, facebook_api_base=f"{url}/fb", facebook_access_token=TOKEN
            )
            async with HttpClient(settings, lambda _: None) as http:
                connector = FacebookConnector(http, settings)
                ok = await connector.resolve(AccountRef("facebook", "facebookapp"))
                gone = await connector.resolve(AccountRef("facebook", "NoSuchPage"))
                return ok, gone

    ok, gone = asyncio.run(main())
    assert (ok.status, ok.account_id, ok.current_handle, ok.display_name, ok.verified) == (
        "active",
        "20531316728",
        "facebookapp",
        "Facebook",
        True,
    )
    assert gone.status == "not_found" and gone.account_id is None
