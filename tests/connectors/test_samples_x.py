"""The X connector against the real recorded X API v2 responses in ../shared/api-samples/x.

Expected values were read off the sample files by eye: they are the ground truth here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import AccountRef, ParsedRows, RawResponse
from hhs_platform.connectors.x import (
    USER_BY_ID,
    USER_BY_USERNAME,
    USER_TWEETS,
    XConnector,
)
from hhs_platform.errors import (
    AuthError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    TerminalError,
)
from hhs_platform.http import HttpClient, classify_response, parse_rate_limit
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
X = SAMPLES / "x"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not X.is_dir(), reason=f"real X API samples not found at {X} (../shared absent)"
    ),
]
TOKEN = "AAAAAAAAAAAAAAAAAAAAAsample-x-bearer-token-0042"
TIMELINE_URL = "https://api.x.com/2/users/783214/tweets?max_results=100"
# A suspended user, as X answers it (200, errors only); the shape appears verbatim in several
# public clients' tests (e.g. "User has been suspended: [481186914]."), there is no sample file.
SUSPENDED = {
    "errors": [
        {
            "parameter": "username",
            "resource_id": "gone_acct",
            "value": "gone_acct",
            "detail": "User has been suspended: [gone_acct].",
            "title": "Forbidden",
            "resource_type": "user",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }
    ]
}


def sample(name: str) -> bytes:
    return (X / name).read_bytes()


def record(
    endpoint: str, body: bytes, status: int = 200, url: str = TIMELINE_URL
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "account_key": "x:TwitterDev",
        "request_url": url,
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def raw(endpoint: str, body: bytes, status: int) -> RawResponse:
    return RawResponse(
        platform="x",
        endpoint=endpoint,
        account_key="x:TwitterDev",
        request_url="https://api.x.com/2/users/by/username/TwitterDev",
        status=status,
        headers={},
        body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=0,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def one_post(tweet: dict[str, Any], includes: dict[str, Any] | None = None) -> ParsedRows:
    body: dict[str, Any] = {"data": [tweet], "meta": {"result_count": 1}}
    if includes is not None:
        body["includes"] = includes
    rows = XConnector.parse(record(USER_TWEETS, json.dumps(body).encode()))
    assert rows.problems == [] and len(rows.posts) == 1
    return rows


# --- profiles ----------------------------------------------------------------------------------


def test_profile_with_public_metrics() -> None:
    rows = XConnector.parse(
        record(USER_BY_USERNAME, sample("users_by_username_public_metrics_docs.json"))
    )
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": "2244994945",
            "handle": "TwitterDev",
            "display_name": "Twitter Dev",
            "description": "The voice of the #TwitterDev team and your official source for "
            "updates, news, and events, related to the #TwitterAPI.",
            "account_created_at": utc("2013-12-14T04:35:55"),
            "account_key": "x:TwitterDev",
        }
    ]
    assert rows.account_snapshots == [
        {"account_id": "2244994945", "followers": 514020, "following": 2038, "posts_count": 3639}
    ]
    assert rows.posts == [] and rows.post_metrics == []


def test_profile_with_default_fields_has_no_figures() -> None:
    rows = XConnector.parse(
        record(USER_BY_ID, sample("users_by_username_default_2021_tweepy.json"))
    )
    assert rows.problems == []
    assert rows.accounts[0]["account_id"] == "783214"
    assert rows.accounts[0]["handle"] == "Twitter"
    assert rows.accounts[0]["account_created_at"] is None
    assert rows.account_snapshots == [
        {"account_id": "783214", "followers": None, "following": None, "posts_count": None}
    ]


def test_profile_with_expansions_ignores_the_pinned_post() -> None:
    rows = XConnector.parse(
        record(USER_BY_USERNAME, sample("users_by_username_fields_expansions_2020.json"))
    )
    assert rows.problems == []
    assert [a["account_id"] for a in rows.accounts] == ["2244994945"]
    assert rows.posts == []


def test_user_not_found_200_is_a_problem_and_a_not_found_error() -> None:
    body = sample("error_users_by_username_not_found_200.json")
    rows = XConnector.parse(record(USER_BY_USERNAME, body))
    assert rows.accounts == [] and rows.account_snapshots == []
    assert rows.problems == [
        "x.users.by.username: no user: Could not find user with username: [TwitterDec]."
    ]
    error = XConnector.classify_error(raw(USER_BY_USERNAME, body, 200))
    assert isinstance(error, NotFoundError)
    assert "TwitterDec" in str(error)


def test_suspended_user_is_not_found_and_says_suspended() -> None:
    error = XConnector.classify_error(raw(USER_BY_USERNAME, json.dumps(SUSPENDED).encode(), 200))
    assert isinstance(error, NotFoundError)
    assert "suspended" in str(error)


# --- timelines ---------------------------------------------------------------------------------


def test_timeline_page_with_public_metrics() -> None:
    url = "https://api.x.com/2/users/2244994945/tweets?max_results=100&pagination_token=x"
    body = sample("users_id_tweets_public_metrics_created_at_next_token.json")
    rows = XConnector.parse(record(USER_TWEETS, body, url=url))
    assert rows.problems == []
    assert [p["post_id"] for p in rows.posts] == [
        "1364275610764201984",
        "1362876655061073928",
        "1362439338978467841",
        "1362439338169016324",
        "1362439336910675970",
    ]
    first = rows.posts[0]
    # No author_id was asked for in this recording: the owner comes from the request path.
    assert first["account_id"] == first["author_id"] == "2244994945"
    assert first["created_at"] == utc("2021-02-23T18:07:07")
    assert first["post_type"] == "original"
    assert first["text"].startswith("If you're newly approved for the Academic Research")
    assert first["url"] == "https://x.com/i/web/status/1364275610764201984"
    assert rows.post_metrics[0] == {
        "post_id": "1364275610764201984",
        "account_id": "2244994945",
        "likes": 37,
        "reposts": 10,
        "replies": 2,
        "quotes": 1,
        "views": None,  # impression_count was not in this recording
    }
    assert rows.post_metrics[4]["likes"] == 74 and rows.post_metrics[4]["replies"] == 9


def test_timeline_with_default_fields_reports_missing_created_at() -> None:
    rows = XConnector.parse(
        record(USER_TWEETS, sample("users_id_tweets_default_page_2022_tweepy.json"))
    )
    assert rows.posts == []
    assert rows.problems == [
        "x.users.tweets: data[0] skipped: post 1577730467436138524 without a valid 'created_at'",
        "x.users.tweets: data[1] skipped: post 1565318587736285184 without a valid 'created_at'",
    ]


def test_recorded_lookup_types_reposts_quotes_and_replies() -> None:
    rows = XConnector.parse(
        record(USER_TWEETS, sample("tweets_lookup_tweet_fields_entities_attachments_2020.json"))
    )
    # The partial "errors" (one tweet id not found) do not cost the 58 posts that came back.
    assert rows.problems == []
    assert len(rows.posts) == 58
    assert Counter(p["post_type"] for p in rows.posts) == {
        "original": 33,
        "repost": 16,
        "reply": 6,
        "quote": 3,
    }
    # Reposts carry no counters: 58 posts, 16 reposts.
    assert len(rows.post_metrics) == 42
    by_id = {p["post_id"]: p for p in rows.posts}

    first = by_id["20"]
    assert first["text"] == "just setting up my twttr"
    assert first["account_id"] == "12"
    assert first["created_at"] == utc("2006-03-21T20:50:14")

    rt = by_id["1274034244700930049"]
    assert rt["post_type"] == "repost"
    assert rt["reposted_post_id"] == "1274014870707437570"
    assert rt["account_id"] == "783214"
    assert rt["text"] is None and rt["hashtags"] == [] and rt["media_count"] == 0
    assert "1274034244700930049" not in {m["post_id"] for m in rows.post_metrics}

    # A retweet of a quote post is a repost (retweeted wins over quoted).
    both = by_id["1275561823471718401"]
    assert both["post_type"] == "repost"
    assert both["reposted_post_id"] == "1275556031876087808"

    quote = by_id["1276035881992740864"]
    assert quote["post_type"] == "quote"
    assert quote["quoted_post_id"] == "1276027533973020673"
    assert quote["links"] == ["https://twitter.com/ONEEsports/status/1276027533973020673"]

    reply = by_id["1274087695145332736"]
    assert reply["post_type"] == "reply"
    assert reply["reply_to_post_id"] == "1274087694105075714"
    assert reply["mentions"] == ["YoliZama"]
    # The attached photo's own pic.twitter.com link is not a link; 3_ keys are photos.
    assert reply["links"] == []
    assert (reply["media_type"], reply["media_count"]) == ("image", 1)

    original = by_id["1276312753393680384"]
    assert original["hashtags"] == ["ScalingSocialImpact"]
    assert original["mentions"] == ["d_lux_brand", "sfciti"]

    lists = by_id["1276501058211262464"]
    assert lists["links"] == ["https://twitter.com/i/lists/suggested"]
    assert (lists["media_type"], lists["media_count"]) == ("gif", 1)  # 16_ keys: animated GIFs


def test_retweets_2023_read_impression_count_as_views() -> None:
    url = "https://api.x.com/2/tweets/1460323737035677698/retweets"
    body = sample("tweets_retweets_public_metrics_impression_bookmark_2023.json")
    rows = XConnector.parse(record(USER_TWEETS, body, url=url))
    assert rows.problems == []
    assert len(rows.posts) == 8
    metrics = {m["post_id"]: m for m in rows.post_metrics}
    assert metrics["1721182049565081649"] == {
        "post_id": "1721182049565081649",
        "account_id": "1580496415",
        "likes": 0,
        "reposts": 49,
        "replies": 0,
        "quotes": 0,
        "views": 2,
    }
    assert metrics["1724975633908789418"]["views"] == 0
    # edit_history_tweet_ids of an unedited post is the post itself.
    assert rows.posts[0]["post_id"] == "1724975633908789418"


def test_full_tweet_object_reply_with_gif() -> None:
    tweet = json.loads(sample("tweet_object_full_fields.json"))
    rows = one_post(tweet)
    post = rows.posts[0]
    assert post["post_id"] == "1212092628029698048"
    assert post["account_id"] == "2244994945"
    assert post["post_type"] == "reply"
    assert post["reply_to_post_id"] == "1212092627178287104"
    assert post["lang"] == "en"
    assert post["links"] == []
    assert (post["media_type"], post["media_count"]) == ("gif", 1)
    assert rows.post_metrics[0]["likes"] == 40
    assert rows.post_metrics[0]["reposts"] == 8
    assert rows.post_metrics[0]["replies"] == 2
    assert rows.post_metrics[0]["quotes"] == 1


def test_media_from_includes() -> None:
    doc = json.loads(sample("tweet_attachments_includes_media.json"))
    # The doc example asks for default fields only; the timeline always asks for created_at.
    tweet = {**doc["data"], "created_at": "2018-11-26T16:37:10.000Z", "author_id": "2244994945"}
    post = one_post(tweet, doc["includes"]).posts[0]
    assert post["media_type"] == "video"
    assert post["media_count"] == 1
    assert post["duration_s"] == pytest.approx(136.637)

    media = json.loads(sample("media_object_public_metrics_view_count.json"))
    tweet = {**tweet, "attachments": {"media_keys": ["13_1263145212760805376"]}}
    post = one_post(tweet, {"media": [media]}).posts[0]
    assert post["media_type"] == "video"
    assert post["media_urls"] == ["https://pbs.twimg.com/media/EYeX7akWsAIP1_1.jpg"]
    assert post["duration_s"] == pytest.approx(46.947)


def test_search_page_with_user_and_tweet_includes() -> None:
    body = sample("search_recent_entities_attachments_includes.json")
    rows = XConnector.parse(record(USER_TWEETS, body))
    assert rows.problems == []
    assert [p["post_type"] for p in rows.posts] == ["reply"] * 4
    assert rows.posts[0]["mentions"] == ["snowman"]
    assert rows.posts[2]["lang"] is None  # "und"


def test_edited_post_keeps_the_chain_first_id() -> None:
    tweet = {
        "id": "1600000000000000002",
        "text": "fixed typo",
        "created_at": "2023-01-01T00:00:00.000Z",
        "author_id": "783214",
        "edit_history_tweet_ids": ["1600000000000000001", "1600000000000000002"],
        "public_metrics": {"like_count": 3},
    }
    rows = one_post(tweet)
    assert rows.posts[0]["post_id"] == "1600000000000000001"
    assert rows.posts[0]["url"] == "https://x.com/i/web/status/1600000000000000002"
    assert rows.posts[0]["text"] == "fixed typo"
    assert rows.post_metrics[0]["post_id"] == "1600000000000000001"


def test_empty_last_page_is_not_a_problem() -> None:
    rows = XConnector.parse(record(USER_TWEETS, b'{"meta": {"result_count": 0}}'))
    assert rows == ParsedRows()


# --- errors and rate limits ---------------------------------------------------------------------


def test_error_bodies_map_to_error_types() -> None:
    cases: list[tuple[str, int, type[Exception]]] = [
        ("error_429_too_many_requests_v2.json", 429, RateLimitedError),
        ("error_429_usage_capped_v2.json", 429, QuotaExhaustedError),
        ("error_429_users_by_username_2020_textplain.txt", 429, RateLimitedError),
        ("error_400_invalid_request_problem.json", 400, TerminalError),
        ("error_400_invalid_request_too_many_ids.json", 400, TerminalError),
    ]
    for name, status, expected in cases:
        error = classify_response(raw(USER_TWEETS, sample(name), status), XConnector.classify_error)
        assert type(error) is expected, (name, error)
    capped = classify_response(
        raw(USER_TWEETS, sample("error_429_usage_capped_v2.json"), 429), XConnector.classify_error
    )
    assert "Monthly" in str(capped)
    unauthorized = json.dumps(
        {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    ).encode()
    auth = classify_response(raw(USER_TWEETS, unauthorized, 401), XConnector.classify_error)
    assert isinstance(auth, AuthError) and "HHS_X_BEARER_TOKEN" in str(auth)
    server = classify_response(
        raw(USER_TWEETS, b"<html>down</html>", 503), XConnector.classify_error
    )
    assert isinstance(server, ServerError)
    # Partial errors next to data are no error at all.
    assert (
        XConnector.classify_error(
            raw(USER_TWEETS, sample("tweets_lookup_partial_error_200.json"), 200)
        )
        is None
    )


def test_recorded_rate_limit_headers_are_read() -> None:
    meta = json.loads(sample("users_id_tweets_default_page_2022_tweepy.meta.json"))
    headers = {k: v[0] for k, v in meta["headers"].items()}
    state = parse_rate_limit(headers, now=1665182598.0)
    assert state is not None
    # the header's whole-second epoch, plus the second it may be truncated by
    assert (state.limit, state.remaining, state.reset_at) == (1500, 1498, 1665183229.0)
    meta = json.loads(sample("error_429_users_by_username_2020_textplain.meta.json"))
    state = parse_rate_limit(dict(meta["headers"]), now=1593184703.0)
    assert state is not None and (state.limit, state.remaining) == (15, 0)
    assert state.reset_at == 1593185074.0


# --- collect and resolve over a real socket ----------------------------------------------------


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


class RecordedX:
    """Serves the recorded TwitterDev profile and a three-page timeline built from samples."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.queries: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.queries.append(dict(request.query))
        headers = {
            "x-rate-limit-limit": "1500",
            "x-rate-limit-remaining": "1498",
            "x-rate-limit-reset": str(int(datetime.now(UTC).timestamp()) + 900),
            "content-type": "application/json; charset=utf-8",
        }
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        path, q = request.path, request.query
        if path in ("/api/2/users/by/username/TwitterDev", "/api/2/users/2244994945"):
            body = sample("users_by_username_public_metrics_docs.json")
        elif path.startswith("/api/2/users/by/username/gone_acct"):
            body = json.dumps(SUSPENDED).encode()
        elif path.startswith("/api/2/users/by/username/"):
            body = sample("error_users_by_username_not_found_200.json")
        elif path == "/api/2/users/2244994945/tweets":
            token = q.get("pagination_token")
            if token is None:
                body = sample("users_id_tweets_public_metrics_created_at_next_token.json")
            elif token == "7140dibdnow9c7btw3w3itbygz8uu5pbs45oy6erjc2ls":
                body = sample("tweets_lookup_tweet_fields_entities_attachments_2020.json")
                page = json.loads(body)
                page["meta"] = {"result_count": 58, "next_token": "last"}
                body = json.dumps(page).encode()
            else:
                body = b'{"meta": {"result_count": 0}}'
        else:
            return web.json_response({"title": "Not Found Error", "status": 404}, status=404)
        return web.Response(body=body, headers=headers)


def run(
    server: RecordedX,
    action: Callable[[XConnector], Awaitable[Any]],
    token: str | None = TOKEN,
    **overrides: Any,
) -> tuple[Any, XConnector, list[RawResponse]]:
    archived: list[RawResponse] = []

    async def main() -> tuple[Any, XConnector]:
        async with serve(server.handle) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                x_api_base=f"{url}/api",
                x_bearer_token=token,
                http_max_retries=1,
                **overrides,
            )
            async with HttpClient(settings, archived.append, backoff_base_s=0.01) as http:
                connector = XConnector(http, settings)
                return await action(connector), connector

    result, connector = asyncio.run(main())
    return result, connector, archived


def test_collect_follows_next_token_and_marks_the_3200_limit() -> None:
    server = RecordedX()
    _, connector, archived = run(server, lambda c: c.collect(AccountRef("x", "@TwitterDev")))
    assert [r.endpoint for r in archived] == [USER_BY_USERNAME] + [USER_TWEETS] * 3
    tokens = [q.get("pagination_token") for q in server.queries[1:]]
    assert tokens == [None, "7140dibdnow9c7btw3w3itbygz8uu5pbs45oy6erjc2ls", "last"]
    first = server.queries[1]
    assert first["max_results"] == "100"
    assert "edit_history_tweet_ids" in first["tweet.fields"]
    assert "attachments.media_keys" in first["expansions"]
    assert "duration_ms" in first["media.fields"]
    assert "start_time" not in first
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    # The token never reaches the archive.
    for response in archived:
        assert TOKEN not in response.request_url
        assert all(TOKEN not in v for v in response.headers.values())
        assert "x-rate-limit-remaining" in response.headers
    # TwitterDev has 3,639 posts: past the timeline's 3,200, so the read is never "complete".
    assert connector.cap_hits == [("x:@TwitterDev", USER_TWEETS)]
    posts = [p for r in archived for p in XConnector.parse(record_of(r)).posts]
    assert len(posts) == 5 + 58


def record_of(response: RawResponse) -> dict[str, Any]:
    return {
        "endpoint": response.endpoint,
        "account_key": response.account_key,
        "request_url": response.request_url,
        "status": response.status,
        "body": response.body,
        "fetched_at": response.fetched_at,
    }


def test_collect_by_platform_id_with_since_sends_start_time_and_stops_at_the_watermark() -> None:
    server = RecordedX()
    since = datetime(2021, 2, 19, 0, 0, 0, 500000, tzinfo=UTC)
    _, connector, archived = run(
        server,
        lambda c: c.collect(AccountRef("x", "TwitterDev", platform_id="2244994945"), since),
    )
    assert server.requests[0].path == "/api/2/users/2244994945"
    assert archived[0].endpoint == USER_BY_ID
    assert server.queries[1]["start_time"] == "2021-02-19T00:00:00Z"
    # The recorded server ignores start_time; page 2 (2020 posts) is all older: stop there.
    assert len(server.queries) == 3
    assert connector.cap_hits == []


def test_collect_stops_at_max_pages() -> None:
    server = RecordedX()
    _, connector, _ = run(server, lambda c: c.collect(AccountRef("x", "TwitterDev")), max_pages=1)
    assert len(server.queries) == 2
    assert connector.cap_hits == [("x:TwitterDev", USER_TWEETS)]


def test_collect_unknown_user_raises_not_found_before_the_timeline() -> None:
    server = RecordedX()
    with pytest.raises(NotFoundError, match="TwitterDec"):
        run(server, lambda c: c.collect(AccountRef("x", "TwitterDec")))
    assert len(server.queries) == 1


def test_collect_without_token_names_the_setting() -> None:
    server = RecordedX()
    with pytest.raises(AuthError, match="HHS_X_BEARER_TOKEN"):
        run(server, lambda c: c.collect(AccountRef("x", "TwitterDev")), token=None)
    assert server.requests == []


def test_resolve_active_not_found_and_suspended() -> None:
    server = RecordedX()
    active, _, _ = run(server, lambda c: c.resolve(AccountRef("x", "TwitterDev")))
    assert (active.status, active.account_id, active.current_handle) == (
        "active",
        "2244994945",
        "TwitterDev",
    )
    assert active.display_name == "Twitter Dev" and active.verified is True
    missing, _, _ = run(server, lambda c: c.resolve(AccountRef("x", "TwitterDec")))
    assert missing.status == "not_found" and "TwitterDec" in missing.detail
    gone, _, _ = run(server, lambda c: c.resolve(AccountRef("x", "gone_acct")))
    assert gone.status == "suspended" and "suspended" in gone.detail
