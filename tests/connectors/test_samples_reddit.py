"""The Reddit connector against the recorded responses in ../shared/api-samples.

Expected values were read off the sample files by eye: they are the ground truth here.
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

from hhs_platform.connectors import CONNECTORS
from hhs_platform.connectors.base import AccountRef, ParsedRows, RawResponse
from hhs_platform.connectors.reddit import (
    ABOUT,
    SUBMITTED,
    USER_AGENT,
    RedditConnector,
    normalize_username,
)
from hhs_platform.errors import AuthError, NotFoundError, RateLimitedError, ServerError
from hhs_platform.http import HttpClient, classify_response, parse_rate_limit
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
REDDIT = SAMPLES / "reddit"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not SAMPLES.is_dir(), reason=f"real API samples not found at {SAMPLES} (../shared absent)"
    ),
]
TOKEN = "reddit-sample-token-0042"
SPEZ = "user_submitted_listing_2016_spez_sort_new.json"
PINS = "user_overview_listing_2021_sort_new_limit4.json"


def record(
    endpoint: str, body: bytes, status: int = 200, key: str = "reddit:test"
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "account_key": key,
        "request_url": "https://example.invalid/",
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def sample(name: str) -> Any:
    return json.loads((REDDIT / name).read_bytes())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def listing(*children: Any, after: str | None = None) -> bytes:
    return json.dumps(
        {"kind": "Listing", "data": {"after": after, "children": list(children)}}
    ).encode()


def submission(**fields: Any) -> dict[str, Any]:
    """The first recorded 2021 submission with ``fields`` changed."""
    child = sample(PINS)["data"]["children"][0]
    child["data"].update(fields)
    return child


def one(child: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = RedditConnector.parse(record(SUBMITTED, listing(child)))
    assert rows.problems == [] and len(rows.posts) == len(rows.post_metrics) == 1
    return rows.posts[0], rows.post_metrics[0]


# --- about -----------------------------------------------------------------------------------


def test_about_2022() -> None:
    body = (REDDIT / "user_about_2022_Watchful1.json").read_bytes()
    rows = RedditConnector.parse(record(ABOUT, body, key="reddit:Watchful1"))
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": "t2_d0z23",
            "handle": "Watchful1",
            "display_name": None,  # the profile's title is empty
            "description": (
                "Runs u/RemindMeBot and u/UpdateMeBot, moderates r/CompetitiveOverwatch. "
                "Happy to answer any python/praw questions"
            ),
            "account_created_at": utc("2013-09-05T23:38:17"),
            "account_key": "reddit:Watchful1",
        }
    ]
    assert rows.account_snapshots == [
        {"account_id": "t2_d0z23", "followers": 156, "following": None, "posts_count": None}
    ]


def test_about_2025() -> None:
    rows = RedditConnector.parse(
        record(ABOUT, (REDDIT / "user_about_2025_Lil_SpazBot.json").read_bytes())
    )
    assert rows.problems == []
    account = rows.accounts[0]
    assert (account["account_id"], account["handle"], account["display_name"]) == (
        "t2_3ebyblla",
        "Lil_SpazBot",
        "x",
    )
    assert account["account_created_at"] == utc("2019-03-12T23:30:44")
    assert rows.account_snapshots[0]["followers"] == 0


def test_suspended_about_gives_no_rows_and_no_problem() -> None:
    body = json.dumps({"kind": "t2", "data": {"name": "gone_user", "is_suspended": True}})
    assert RedditConnector.parse(record(ABOUT, body.encode())) == ParsedRows()


# --- submissions -----------------------------------------------------------------------------


def test_submitted_listing_2016() -> None:
    rows = RedditConnector.parse(record(SUBMITTED, (REDDIT / SPEZ).read_bytes()))
    assert rows.problems == []
    assert len(rows.posts) == len(rows.post_metrics) == 100
    first, last = rows.posts[0], rows.posts[-1]
    assert first["post_id"] == "t3_434h6c"
    assert first["account_id"] == "spez"  # 2016 listings have no author_fullname
    assert first["title"] == "Reddit in 2016"
    assert first["text"].startswith("Hi All,\n\nNow that 2015 is in the books")
    assert first["url"] == "https://www.reddit.com/r/announcements/comments/434h6c/reddit_in_2016/"
    assert first["created_at"] == utc("2016-01-28T18:05:43")
    assert first["post_type"] == "original"
    assert (first["media_type"], first["media_count"]) == (None, 0)
    assert "https://www.reddit.com/jobs" in first["links"]
    assert rows.post_metrics[0] == {
        "post_id": "t3_434h6c",
        "account_id": "spez",
        "likes": 2079,
        "reposts": None,  # num_crossposts did not exist yet
        "replies": 5771,
        "quotes": None,
        "views": None,
    }
    assert last["post_id"] == "t3_21oo"
    assert last["created_at"] == utc("2006-02-19T08:15:31")
    assert last["text"] is None  # a link post has no selftext
    til = next(p for p in rows.posts if p["post_id"] == "t3_3dk1jh")
    wiki = "https://en.wikipedia.org/wiki/Orville_Redenbacher?repost=true"
    assert (til["media_type"], til["media_urls"], til["links"]) == ("external", [wiki], [wiki])
    metrics = {m["post_id"]: m for m in rows.post_metrics}
    assert (metrics["t3_3dk1jh"]["likes"], metrics["t3_3dk1jh"]["replies"]) == (239, 301)


def test_listing_2021_modern_fields_and_pinned_posts() -> None:
    rows = RedditConnector.parse(record(SUBMITTED, (REDDIT / PINS).read_bytes()))
    assert rows.problems == []
    assert [p["post_id"] for p in rows.posts] == [
        "t3_qxzsno",
        "t3_qxzsnm",
        "t3_qxzsng",
        "t3_qxzsnc",
    ]
    assert {p["account_id"] for p in rows.posts} == {"t2_3f0r70yc"}
    assert rows.posts[2]["text"] == "Testing .pin method 2"
    assert rows.posts[0]["created_at"] == utc("2021-11-20T06:39:48")
    assert rows.post_metrics[0]["reposts"] == 0  # num_crossposts
    assert rows.post_metrics[0]["likes"] == 1


def test_crosspost_is_a_quote_with_its_own_metrics() -> None:
    post, metrics = one(submission(crosspost_parent="t3_abc123", num_crossposts=0, score=7))
    assert post["post_type"] == "quote" and post["quoted_post_id"] == "t3_abc123"
    assert post["reposted_post_id"] is None
    assert metrics["likes"] == 7


def test_media_kinds() -> None:
    video, _ = one(
        submission(
            is_self=False,
            is_video=True,
            url="https://v.redd.it/abc",
            media={
                "reddit_video": {"fallback_url": "https://v.redd.it/abc/720.mp4", "duration": 31}
            },
        )
    )
    assert (video["media_type"], video["media_urls"], video["duration_s"]) == (
        "video",
        ["https://v.redd.it/abc/720.mp4"],
        31.0,
    )
    image, _ = one(submission(is_self=False, post_hint="image", url="https://i.redd.it/x.jpg"))
    assert (image["media_type"], image["media_urls"]) == ("image", ["https://i.redd.it/x.jpg"])
    gif, _ = one(submission(is_self=False, post_hint="image", url="https://i.redd.it/x.gif"))
    assert gif["media_type"] == "gif"
    gallery, _ = one(
        submission(
            is_self=False,
            is_gallery=True,
            gallery_data={"items": [{"media_id": "a"}, {"media_id": "b"}]},
            media_metadata={
                "a": {"s": {"u": "https://preview.redd.it/a.jpg"}},
                "b": {"s": {"u": "https://preview.redd.it/b.jpg"}},
            },
        )
    )
    assert (gallery["media_type"], gallery["media_count"]) == ("image", 2)
    assert gallery["media_urls"] == [
        "https://preview.redd.it/a.jpg",
        "https://preview.redd.it/b.jpg",
    ]


def test_mentions_and_links_from_selftext() -> None:
    post, _ = one(
        submission(selftext="Thanks u/HHSgov and /u/CDCgov, see https://www.cdc.gov/flu.")
    )
    assert post["mentions"] == ["HHSgov", "CDCgov"]
    assert post["links"] == ["https://www.cdc.gov/flu"]


def test_a_broken_child_costs_only_itself() -> None:
    data = sample(PINS)
    del data["data"]["children"][1]["data"]["created_utc"]
    data["data"]["children"][2] = "junk"
    rows = RedditConnector.parse(record(SUBMITTED, json.dumps(data).encode()))
    assert len(rows.posts) == 2 and len(rows.problems) == 2
    assert "created_utc" in rows.problems[0]


def test_a_429_body_in_a_200_is_a_problem_not_rows() -> None:
    body = (REDDIT / "error_429_too_many_requests.json").read_bytes()
    rows = RedditConnector.parse(record(SUBMITTED, body))
    assert rows.problems and not rows.posts


@pytest.mark.parametrize(
    ("handle", "expected"),
    [
        ("HHSgov", "HHSgov"),
        ("u/HHSgov", "HHSgov"),
        ("/u/HHSgov/", "HHSgov"),
        ("https://www.reddit.com/user/HHSgov/", "HHSgov"),
        ("https://old.reddit.com/u/HHSgov", "HHSgov"),
    ],
)
def test_normalize_username(handle: str, expected: str) -> None:
    assert normalize_username(handle) == expected


# --- errors and rate limits ------------------------------------------------------------------


def raw(status: int, body: bytes) -> RawResponse:
    return RawResponse(
        platform="reddit",
        endpoint=ABOUT,
        account_key="reddit:someone",
        request_url="https://oauth.reddit.com/user/someone/about?raw_json=1",
        status=status,
        headers={},
        body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=0,
    )


def test_recorded_error_bodies_classify() -> None:
    classify = RedditConnector.classify_error

    def error(status: int, name: str) -> Any:
        return classify_response(raw(status, (REDDIT / name).read_bytes()), classify)

    missing = error(400, "error_400_user_doesnt_exist.json")
    assert isinstance(missing, NotFoundError) and "USER_DOESNT_EXIST" in str(missing)
    forbidden = error(403, "error_403_forbidden.json")
    assert isinstance(forbidden, NotFoundError) and "suspended" in str(forbidden)
    assert isinstance(error(404, "error_404_not_found.json"), NotFoundError)
    assert isinstance(error(429, "error_429_too_many_requests.json"), RateLimitedError)
    # Reddit sometimes throttles with a 200 that carries the 429 body.
    assert isinstance(error(200, "error_429_too_many_requests.json"), RateLimitedError)
    expired = classify_response(raw(401, b'{"message": "Unauthorized", "error": 401}'), classify)
    assert isinstance(expired, AuthError) and "HHS_REDDIT_ACCESS_TOKEN" in str(expired)
    assert isinstance(classify_response(raw(503, b"<html>"), classify), ServerError)
    assert classify(raw(200, (REDDIT / "user_about_2022_Watchful1.json").read_bytes())) is None


def test_recorded_rate_limit_headers() -> None:
    headers = {
        k: v[0] for k, v in sample("user_about_2025_Lil_SpazBot.meta.json")["headers"].items()
    }
    state = parse_rate_limit(headers, now=1000.0)
    assert state is not None
    assert state.remaining == 996  # "996.0": a float string
    assert state.reset_at == 1343.0  # seconds until the reset (342, whole: +1), not an epoch


# --- collect and resolve over a local server -------------------------------------------------


@contextlib.asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)  # the fake server's own log is not ours
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class Recorded:
    """about (Watchful1) → the 2016 listing (after t3_21oo) → the 2021 listing → an empty end."""

    def __init__(self) -> None:
        self.afters: list[str | None] = []
        self.agents: set[str] = set()
        self.auth: set[str] = set()
        self.about_body = (REDDIT / "user_about_2022_Watchful1.json").read_bytes()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.agents.add(request.headers.get("User-Agent", ""))
        self.auth.add(request.headers.get("Authorization", ""))
        headers = {
            "x-ratelimit-remaining": "593.0",
            "x-ratelimit-used": "7",
            "x-ratelimit-reset": "300",
        }
        q = request.query
        assert q["raw_json"] == "1"
        if request.path == "/rd/user/Watchful1/about":
            return web.Response(
                body=self.about_body, headers=headers, content_type="application/json"
            )
        if request.path == "/rd/user/Watchful1/submitted":
            assert (q["sort"], q["limit"]) == ("new", "100")
            after = q.get("after")
            self.afters.append(after)
            name = {None: SPEZ, "t3_21oo": PINS}.get(after)
            body = (REDDIT / name).read_bytes() if name else listing()
            return web.Response(body=body, headers=headers, content_type="application/json")
        return web.json_response({"message": "Not Found", "error": 404}, status=404)


def run(
    coro: Callable[[RedditConnector], Awaitable[Any]], handler: Any, **settings: Any
) -> tuple[Any, list[RawResponse]]:
    archived: list[RawResponse] = []

    async def main() -> Any:
        async with serve(handler) as url:
            values: dict[str, Any] = {"reddit_api_base": f"{url}/rd", "reddit_access_token": TOKEN}
            conf = Settings(_env_file=None, **{**values, **settings})  # type: ignore[arg-type]
            async with HttpClient(conf, archived.append) as http:
                return await coro(RedditConnector(http, conf))

    return asyncio.run(main()), archived


def test_collect_follows_after_to_the_end_with_a_user_agent_and_token() -> None:
    server = Recorded()
    _, archived = run(lambda c: c.collect(AccountRef("reddit", "u/Watchful1")), server.handle)
    assert server.afters == [None, "t3_21oo", "t3_qxzsnc"]
    assert server.agents == {USER_AGENT}
    assert server.auth == {f"bearer {TOKEN}"}
    assert [r.endpoint for r in archived] == [ABOUT, SUBMITTED, SUBMITTED, SUBMITTED]
    assert all(TOKEN not in r.request_url and TOKEN not in str(r.headers) for r in archived)
    assert archived[1].headers["x-ratelimit-remaining"] == "593.0"
    posts = [p for r in archived for p in RedditConnector.parse(record(r.endpoint, r.body)).posts]
    assert len(posts) == 104


def test_collect_stops_at_since() -> None:
    server = Recorded()
    since = utc("2010-01-01T00:00:00")
    run(lambda c: c.collect(AccountRef("reddit", "Watchful1"), since), server.handle)
    assert server.afters == [None]


def test_collect_respects_max_pages() -> None:
    server = Recorded()
    connector_holder: list[RedditConnector] = []

    async def go(c: RedditConnector) -> None:
        connector_holder.append(c)
        await c.collect(AccountRef("reddit", "Watchful1"))

    run(go, server.handle, max_pages=1)
    assert server.afters == [None]
    assert connector_holder[0].cap_hits == [("reddit:Watchful1", SUBMITTED)]


def test_collect_without_a_token_fails_before_any_request() -> None:
    server = Recorded()
    with pytest.raises(AuthError, match="HHS_REDDIT_ACCESS_TOKEN"):
        run(
            lambda c: c.collect(AccountRef("reddit", "Watchful1")),
            server.handle,
            reddit_access_token=None,
        )
    assert server.agents == set()


def test_collect_of_a_suspended_user_stops_after_about() -> None:
    server = Recorded()
    server.about_body = b'{"kind": "t2", "data": {"name": "Watchful1", "is_suspended": true}}'
    with pytest.raises(NotFoundError, match="suspended"):
        run(lambda c: c.collect(AccountRef("reddit", "Watchful1")), server.handle)
    assert server.afters == []


def test_resolve() -> None:
    active, _ = run(lambda c: c.resolve(AccountRef("reddit", "Watchful1")), Recorded().handle)
    assert (active.status, active.account_id, active.current_handle) == (
        "active",
        "t2_d0z23",
        "Watchful1",
    )
    assert active.verified is None
    missing, _ = run(lambda c: c.resolve(AccountRef("reddit", "nobody")), Recorded().handle)
    assert missing.status == "not_found"
    server = Recorded()
    server.about_body = b'{"kind": "t2", "data": {"name": "Watchful1", "is_suspended": true}}'
    suspended, _ = run(lambda c: c.resolve(AccountRef("reddit", "Watchful1")), server.handle)
    assert suspended.status == "suspended"

    async def forbidden(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": 403}, status=403)

    private, _ = run(lambda c: c.resolve(AccountRef("reddit", "Watchful1")), forbidden)
    assert private.status == "suspended"


def test_registered() -> None:
    assert CONNECTORS["reddit"] is RedditConnector


def test_expected_fields_hold_on_the_modern_recordings() -> None:
    from hhs_platform.quality.drift import missing_fields

    fields = RedditConnector.expected_fields
    about = (REDDIT / "user_about_2022_Watchful1.json").read_bytes()
    assert missing_fields(about, fields[ABOUT]) == []
    assert missing_fields((REDDIT / PINS).read_bytes(), fields[SUBMITTED]) == []
    # The 2016 listing predates author_fullname: exactly what drift is meant to notice.
    old = missing_fields((REDDIT / SPEZ).read_bytes(), fields[SUBMITTED])
    assert old == ["data.children[].data.author_fullname"]
