"""The Mastodon / Truth Social connector against the recorded responses in ../shared/api-samples.

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
from hhs_platform.connectors.mastodon import (
    ACCOUNT,
    LOOKUP,
    STATUSES,
    MastodonConnector,
    TruthSocialConnector,
    html_to_text,
    next_max_id,
    normalize_acct,
)
from hhs_platform.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TerminalError,
)
from hhs_platform.http import HttpClient, classify_response, parse_rate_limit
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
MASTO = SAMPLES / "mastodon"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not SAMPLES.is_dir(), reason=f"real API samples not found at {SAMPLES} (../shared absent)"
    ),
]
ACCOUNT_ID = "117020565966271181"
PAGE1_IDS = [
    "117020580518794573",
    "117020580511453871",
    "117020580503743669",
    "117020580496489811",
    "117020580489281910",
]
PAGE2_IDS = [
    "117020580481736214",
    "117020580474454464",
    "117020580467310235",
    "117020580459855703",
    "117020580452511285",
]


def record(
    endpoint: str, body: bytes, status: int = 200, key: str = "mastodon:test"
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "account_key": key,
        "request_url": "https://example.invalid/",
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 8, 1, tzinfo=UTC),
    }


def sample(name: str) -> Any:
    return json.loads((MASTO / name).read_bytes())


def meta_headers(name: str) -> dict[str, str]:
    headers = sample(name)["headers"]
    return {k: v[0] for k, v in headers.items()}


def statuses(*items: Any) -> ParsedRows:
    rows = MastodonConnector.parse(record(STATUSES, json.dumps(list(items)).encode()))
    assert rows.problems == []
    return rows


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- accounts --------------------------------------------------------------------------------


def test_lookup_account() -> None:
    body = (MASTO / "accounts_lookup_200.json").read_bytes()
    rows = MastodonConnector.parse(record(LOOKUP, body, key="mastodon:mastodonpy_test"))
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": ACCOUNT_ID,
            "handle": "mastodonpy_test",
            "display_name": "John Lennon",
            "description": "I walk funny",
            "account_created_at": utc("2026-08-01T00:00:00"),
            "account_key": "mastodon:mastodonpy_test",
        }
    ]
    assert rows.account_snapshots == [
        {"account_id": ACCOUNT_ID, "followers": 0, "following": 0, "posts_count": 0}
    ]


def test_docs_account_example_remote_acct_and_html_note() -> None:
    rows = MastodonConnector.parse(
        record(LOOKUP, (MASTO / "docs_entity_account_example.json").read_bytes())
    )
    assert rows.problems == []
    account = rows.accounts[0]
    assert account["account_id"] == "23634"
    assert account["handle"] == "noiob@awoo.space"
    assert account["display_name"] == "ikea shark fan account"
    assert account["description"].startswith(":ms_rainbow_flag:")
    assert "#awoo.space #admin ~ #bi ~ #nonbinary ~ compsci student" in account["description"]
    assert account["description"].endswith("avatar by @dzuk")
    assert rows.account_snapshots == [
        {"account_id": "23634", "followers": 547, "following": 404, "posts_count": 28468}
    ]


def test_suspended_account_gives_no_snapshot() -> None:
    data = {**sample("accounts_lookup_200.json"), "suspended": True}
    rows = MastodonConnector.parse(record(LOOKUP, json.dumps(data).encode()))
    assert [a["account_id"] for a in rows.accounts] == [ACCOUNT_ID]
    assert rows.account_snapshots == []  # a suspended account reports zeros, not figures


# --- statuses --------------------------------------------------------------------------------


def test_recorded_statuses_page() -> None:
    body = (MASTO / "accounts_id_statuses_page1_limit5.json").read_bytes()
    rows = MastodonConnector.parse(record(STATUSES, body))
    assert rows.problems == []
    assert [p["post_id"] for p in rows.posts] == PAGE1_IDS
    assert [p["text"] for p in rows.posts] == [f"Toot number {n}!" for n in (9, 8, 7, 6, 5)]
    first = rows.posts[0]
    assert first == {
        "post_id": "117020580518794573",
        "account_id": ACCOUNT_ID,
        "author_id": ACCOUNT_ID,
        "created_at": utc("2026-08-01T13:52:34.108"),
        "utc_offset_minutes": 0,
        "post_type": "original",
        "text": "Toot number 9!",
        "title": None,
        "url": "http://localhost:3000/@mastodonpy_test/117020580518794573",
        "lang": "en",
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": None,
        "hashtags": [],
        "mentions": [],
        "links": [],
        "media_type": None,
        "media_count": 0,
        "media_urls": [],
        "media": [],
        "duration_s": None,
        "is_deleted": False,
    }
    assert rows.post_metrics[0] == {
        "post_id": "117020580518794573",
        "account_id": ACCOUNT_ID,
        "likes": 0,
        "reposts": 0,
        "replies": 0,
        "quotes": 0,
        "views": None,
    }
    assert len(rows.post_metrics) == 5


def test_docs_status_example_html_link_and_card() -> None:
    status = sample("docs_entity_status_example.json")
    rows = statuses(status)
    post = rows.posts[0]
    guardian = (
        "https://www.theguardian.com/money/2019/dec/07/"
        "i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code"
    )
    # &quot; decoded, paragraphs kept as a blank line, the invisible URL spans joined back.
    assert post["text"] == (
        '"I lost my inheritance with one wrong digit on my sort code"\n\n' + guardian
    )
    assert post["links"] == [guardian]  # the anchor and the card are the same link
    assert post["media_type"] == "external"
    assert post["media_urls"] == [guardian]
    assert post["account_id"] == "1"
    assert post["created_at"] == utc("2019-12-08T03:48:33.901")
    assert rows.post_metrics == [
        {
            "post_id": "103270115826048975",
            "account_id": "1",
            "likes": 11,
            "reposts": 6,
            "replies": 5,
            "quotes": 2,
            "views": None,
        }
    ]


def test_status_with_two_images() -> None:
    rows = statuses(sample("status_with_media_attachments_post_response.json"))
    post = rows.posts[0]
    assert post["text"] == "LOL check this out"
    assert post["media_type"] == "image"
    assert post["media_count"] == 2
    assert post["media_urls"] == [
        "http://localhost:3000/system/media_attachments/files/117/020/576/646/493/592/original/963111bc1b0bd6b6.jpg",
        "http://localhost:3000/system/media_attachments/files/117/020/576/661/238/952/original/c71a1b53ce29a852.jpg",
    ]
    assert post["duration_s"] is None


def test_video_attachment_duration_and_precedence() -> None:
    status = sample("docs_entity_status_example.json")
    status["card"] = None
    status["media_attachments"] = [
        sample("docs_entity_media_attachment_image.json"),
        sample("docs_entity_media_attachment_video.json"),
    ]
    post = statuses(status).posts[0]
    assert post["media_type"] == "video"  # a video outranks an image
    assert post["media_count"] == 2
    assert post["duration_s"] == 88.654  # meta.original.duration, the precise one
    assert post["media_urls"][1].endswith("/original/dab9a597f68b9745.mp4")


def test_boost_is_a_repost_without_metrics() -> None:
    original = sample("docs_entity_status_example.json")
    own = sample("accounts_lookup_200.json")
    boost = {
        "id": "117020599999999999",
        "created_at": "2026-08-01T14:00:00.000Z",
        "in_reply_to_id": None,
        "content": "",
        "url": None,
        "uri": "http://localhost:3000/users/mastodonpy_test/statuses/117020599999999999/activity",
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "account": own,
        "reblog": original,
        "media_attachments": [],
        "tags": [],
        "mentions": [],
    }
    rows = statuses(boost)
    assert rows.post_metrics == []  # engagement belongs to the original
    post = rows.posts[0]
    assert post["post_id"] == "117020599999999999"
    assert post["post_type"] == "repost"
    assert post["account_id"] == ACCOUNT_ID
    assert post["author_id"] == "1"
    assert post["reposted_post_id"] == "103270115826048975"
    assert post["created_at"] == utc("2026-08-01T14:00:00")  # the boost time
    assert post["url"] == "https://mastodon.social/@Gargron/103270115826048975"


def test_reply_tags_mentions_and_edit() -> None:
    status = sample("accounts_id_statuses_page1_limit5.json")[0]
    status.update(
        in_reply_to_id="117020580511453871",
        content=(
            '<p><span class="h-card"><a href="http://localhost:3000/@Gargron" '
            'class="u-url mention">@<span>Gargron</span></a></span> see '
            '<a href="https://www.cdc.gov/flu" rel="nofollow noopener">cdc.gov/flu</a><br>'
            'line two <a href="http://localhost:3000/tags/flu" class="mention hashtag" '
            'rel="tag">#<span>flu</span></a></p>'
        ),
        mentions=[{"id": "1", "acct": "Gargron", "username": "Gargron"}],
        tags=[{"name": "flu", "url": "http://localhost:3000/tags/flu"}],
        spoiler_text="flu season",
        edited_at="2026-08-01T14:00:00.000Z",
    )
    rows = statuses(status)
    post = rows.posts[0]
    assert post["post_type"] == "reply"
    assert post["reply_to_post_id"] == "117020580511453871"
    assert post["text"] == "@Gargron see cdc.gov/flu\nline two #flu"
    assert post["hashtags"] == ["flu"]
    assert post["mentions"] == ["Gargron"]
    assert post["links"] == ["https://www.cdc.gov/flu"]  # mention/hashtag anchors are not links
    assert post["title"] == "flu season"  # the content warning
    assert rows.post_metrics[0]["post_id"] == post["post_id"]


@pytest.mark.parametrize(
    "fields",
    [
        {"quote": {"state": "accepted", "quoted_status": {"id": "42", "content": "<p>q</p>"}}},
        {"quote": {"state": "accepted", "quoted_status_id": "42"}},  # ShallowQuote
        {"quote_id": "42", "quote": {"id": "42", "content": "<p>q</p>"}},  # Truth Social
    ],
)
def test_quote_shapes(fields: dict[str, Any]) -> None:
    status = {**sample("accounts_id_statuses_page1_limit5.json")[0], **fields}
    rows = statuses(status)
    assert rows.posts[0]["post_type"] == "quote"
    assert rows.posts[0]["quoted_post_id"] == "42"
    assert len(rows.post_metrics) == 1


def test_a_broken_status_costs_only_itself() -> None:
    page = sample("accounts_id_statuses_page1_limit5.json")
    page[1]["created_at"] = "yesterday"
    page[2] = "not a status"
    rows = MastodonConnector.parse(record(STATUSES, json.dumps(page).encode()))
    assert len(rows.posts) == 3
    assert len(rows.problems) == 2
    assert "created_at" in rows.problems[0]


# --- pure helpers ----------------------------------------------------------------------------


def test_link_header_next_max_id_from_the_recordings() -> None:
    page1 = meta_headers("accounts_id_statuses_page1_limit5.meta.json")["link"]
    page2 = meta_headers("accounts_id_statuses_page2_max_id.meta.json")["link"]
    assert next_max_id(page1) == "117020580489281910"
    assert next_max_id(page2) == "117020580452511285"
    only_prev = '<http://x/api/v1/accounts/1/statuses?min_id=5>; rel="prev"'
    assert next_max_id(only_prev) is None
    assert next_max_id(None) is None


def test_recorded_rate_limit_headers_have_an_iso_reset() -> None:
    headers = meta_headers("accounts_id_statuses_page1_limit5.meta.json")
    state = parse_rate_limit(headers, now=utc("2026-08-01T13:52:34").timestamp())
    assert state is not None
    assert state.limit == 300 and state.remaining == 299
    assert state.reset_at == utc("2026-08-01T13:55:00.212100").timestamp()


@pytest.mark.parametrize(
    ("handle", "base", "expected"),
    [
        ("@CDCgov", "https://mastodon.social", "CDCgov"),
        ("CDCgov", "https://mastodon.social", "CDCgov"),
        ("CDCgov@mastodon.social", "https://mastodon.social", "CDCgov"),
        ("@nih@mastodon.example", "https://mastodon.social", "nih@mastodon.example"),
        ("https://www.truthsocial.com/@seckennedy", "https://truthsocial.com", "seckennedy"),
        ("https://mastodon.example/@nih", "https://mastodon.social", "nih@mastodon.example"),
    ],
)
def test_normalize_acct(handle: str, base: str, expected: str) -> None:
    assert normalize_acct(handle, base) == expected


def test_profile_url_on_the_documented_instance_is_local_behind_a_proxy() -> None:
    handle = "https://www.truthsocial.com/@seckennedy"
    assert (
        normalize_acct(handle, "http://127.0.0.1:9/ts", "https://truthsocial.com") == "seckennedy"
    )


def test_html_to_text_keeps_line_breaks_and_decodes_entities() -> None:
    text, links = html_to_text("<p>a &amp; b<br/>c</p><p>d</p><ul><li>e</li><li>f</li></ul>")
    assert text == "a & b\nc\n\nd\ne\nf"
    assert links == []
    assert html_to_text("") == (None, [])
    assert html_to_text(None) == (None, [])


# --- errors ----------------------------------------------------------------------------------


def raw(status: int, body: bytes, platform: str = "mastodon") -> RawResponse:
    return RawResponse(
        platform=platform,
        endpoint=LOOKUP,
        account_key=f"{platform}:someone",
        request_url="https://example.invalid/api/v1/accounts/lookup?acct=someone",
        status=status,
        headers={},
        body=body,
        fetched_at=datetime(2026, 8, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=0,
    )


def test_recorded_error_bodies_classify() -> None:
    not_found = (MASTO / "error_accounts_lookup_404.json").read_bytes()
    limited = (MASTO / "error_429_rate_limited_docs.json").read_bytes()
    classify = MastodonConnector.classify_error
    assert isinstance(classify_response(raw(404, not_found), classify), NotFoundError)
    assert isinstance(classify_response(raw(429, limited), classify), RateLimitedError)
    gone = classify_response(raw(410, b'{"error":"Gone"}'), classify)
    assert isinstance(gone, NotFoundError) and "suspended" in str(gone)
    denied = classify_response(
        raw(401, b'{"error":"The access token is invalid"}', "truthsocial"), classify
    )
    assert isinstance(denied, AuthError) and "HHS_TRUTHSOCIAL_ACCESS_TOKEN" in str(denied)
    unprocessable = classify_response(raw(422, b'{"error":"Validation failed"}'), classify)
    assert isinstance(unprocessable, TerminalError)
    assert isinstance(classify_response(raw(503, b"<html>down</html>"), classify), ServerError)
    assert MastodonConnector.parse(record(LOOKUP, not_found, status=404)) == ParsedRows()


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


def recorded(name: str, origin: str, status: int = 200) -> web.Response:
    """A recorded body with its recorded Link and X-RateLimit headers, moved to ``origin``."""
    headers = meta_headers(name.replace(".json", ".meta.json"))
    kept = {k: v for k, v in headers.items() if k == "link" or k.startswith("x-ratelimit")}
    if "link" in kept:
        kept["link"] = kept["link"].replace("http://localhost:3000", f"{origin}/masto")
    kept["x-ratelimit-reset"] = "2099-01-01T00:00:00.000000Z"  # far from spent: never waits
    return web.Response(
        body=(MASTO / name).read_bytes(),
        status=status,
        headers=kept,
        content_type="application/json",
    )


class Recorded:
    """Serves the recorded lookup and the two recorded statuses pages, then an empty page."""

    def __init__(self) -> None:
        self.max_ids: list[str | None] = []
        self.authorization: list[str | None] = []
        self.lookups: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        origin = str(request.url.origin())
        self.authorization.append(request.headers.get("Authorization"))
        if request.path == "/masto/api/v1/accounts/lookup":
            self.lookups.append(request.query["acct"])
            if request.query["acct"] != "mastodonpy_test":
                return recorded("error_accounts_lookup_404.json", origin, 404)
            return recorded("accounts_lookup_200.json", origin)
        if request.path == f"/masto/api/v1/accounts/{ACCOUNT_ID}":
            return recorded("accounts_lookup_200.json", origin)
        if request.path == f"/masto/api/v1/accounts/{ACCOUNT_ID}/statuses":
            assert request.query["limit"] == "40"
            max_id = request.query.get("max_id")
            self.max_ids.append(max_id)
            if max_id is None:
                return recorded("accounts_id_statuses_page1_limit5.json", origin)
            if max_id == PAGE1_IDS[-1]:
                return recorded("accounts_id_statuses_page2_max_id.json", origin)
            return web.json_response([])
        return web.json_response({"error": "Record not found"}, status=404)


def collect(
    handle: str, since: datetime | None = None, platform_id: str | None = None, **settings: Any
) -> tuple[Recorded, list[RawResponse]]:
    server = Recorded()
    archived: list[RawResponse] = []

    async def main() -> None:
        async with serve(server.handle) as url:
            conf = Settings(_env_file=None, mastodon_api_base=f"{url}/masto", **settings)  # type: ignore[call-arg]
            async with HttpClient(conf, archived.append) as http:
                await MastodonConnector(http, conf).collect(
                    AccountRef("mastodon", handle, platform_id), since
                )

    asyncio.run(main())
    return server, archived


def test_collect_follows_the_recorded_link_headers_to_the_end() -> None:
    server, archived = collect("@mastodonpy_test")
    assert server.lookups == ["mastodonpy_test"]
    assert server.max_ids == [None, "117020580489281910", "117020580452511285"]
    assert [r.endpoint for r in archived] == [LOOKUP, STATUSES, STATUSES, STATUSES]
    assert "link" in archived[1].headers and "x-ratelimit-remaining" in archived[1].headers
    assert server.authorization == [None] * 4  # public accounts: no credential sent
    posts = [p for r in archived for p in MastodonConnector.parse(record(r.endpoint, r.body)).posts]
    assert [p["post_id"] for p in posts] == PAGE1_IDS + PAGE2_IDS


def test_collect_stops_at_since() -> None:
    server, _ = collect("mastodonpy_test", since=utc("2026-08-01T13:52:33.700"))
    assert server.max_ids == [None]  # page 1 already reaches back past the watermark


def test_collect_sends_an_optional_token_and_archives_none_of_it() -> None:
    token = "masto-secret-token-0042"
    server, archived = collect("mastodonpy_test", max_pages=1, mastodon_access_token=token)
    assert server.authorization == [f"Bearer {token}"] * 2
    assert all(token not in r.request_url and token not in str(r.headers) for r in archived)


def test_collect_of_an_unknown_handle_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        collect("nobody")


def resolve(
    handle: str,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    platform: str = "mastodon",
) -> Any:
    async def main() -> Any:
        async with serve(handler) as url:
            conf = Settings(_env_file=None, **{f"{platform}_api_base": f"{url}/masto"})  # type: ignore[arg-type]
            async with HttpClient(conf, lambda _: None) as http:
                return await CONNECTORS[platform](http, conf).resolve(AccountRef(platform, handle))

    return asyncio.run(main())


def test_resolve_active_and_not_found() -> None:
    active = resolve("mastodonpy_test", Recorded().handle)
    assert (active.status, active.account_id, active.current_handle) == (
        "active",
        ACCOUNT_ID,
        "mastodonpy_test",
    )
    assert active.display_name == "John Lennon" and active.verified is None
    missing = resolve("nobody", Recorded().handle)
    assert missing.status == "not_found" and missing.account_id is None


def test_resolve_suspended_and_truthsocial_verified_mark() -> None:
    async def suspended(request: web.Request) -> web.StreamResponse:
        return web.json_response({**sample("accounts_lookup_200.json"), "suspended": True})

    async def gone(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "Gone"}, status=410)

    async def truth(request: web.Request) -> web.StreamResponse:
        assert request.query["acct"] == "seckennedy"
        return web.json_response({**sample("accounts_lookup_200.json"), "verified": True})

    assert resolve("x", suspended).status == "suspended"
    assert resolve("x", gone).status == "suspended"
    verified = resolve("https://www.truthsocial.com/@seckennedy", truth, "truthsocial")
    assert verified.status == "active" and verified.verified is True


def test_truthsocial_is_registered_with_its_own_version() -> None:
    assert CONNECTORS["truthsocial"] is TruthSocialConnector
    assert TruthSocialConnector.version == "truthsocial/1"
    assert issubclass(TruthSocialConnector, MastodonConnector)


def test_expected_fields_hold_on_the_recorded_account() -> None:
    from hhs_platform.quality.drift import missing_fields

    fields = MastodonConnector.expected_fields[LOOKUP]
    assert missing_fields((MASTO / "accounts_lookup_200.json").read_bytes(), fields) == []
    assert missing_fields(b'{"id": "1"}', fields) == [f for f in fields if f != "id"]


def test_collect_by_platform_id_reads_the_account_by_id() -> None:
    server, archived = collect("renamed_since", platform_id=ACCOUNT_ID, max_pages=1)
    assert server.lookups == []
    assert [r.endpoint for r in archived] == [ACCOUNT, STATUSES]
    rows = MastodonConnector.parse(record(ACCOUNT, archived[0].body))
    assert [a["handle"] for a in rows.accounts] == ["mastodonpy_test"]
    assert rows.account_snapshots[0]["posts_count"] == 0
