"""The Instagram business_discovery connector against the real recorded Graph API responses.

Expected values were read off the files in ../shared/api-samples/instagram by eye.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import AccountRef, RawResponse
from hhs_platform.connectors.graph import GRAPH_VERSION
from hhs_platform.connectors.instagram import DISCOVERY, InstagramConnector, discovery_fields
from hhs_platform.errors import (
    AuthError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
)
from hhs_platform.http import HttpClient
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
IG = SAMPLES / "instagram"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not IG.is_dir(), reason=f"real Instagram samples not found at {IG} (../shared absent)"
    ),
]
TOKEN = "EAAGsampleFAKEigTOKEN4567"
ASKER = "17841406338772941"  # the asking account of the recordings (their top-level "id")


def record(body: bytes, status: int = 200, key: str = "instagram:facebookfordevelopers") -> dict:
    return {
        "endpoint": DISCOVERY,
        "account_key": key,
        "request_url": "https://example.invalid/",
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def sample(name: str) -> Any:
    return json.loads((IG / name).read_bytes())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def raw(body: bytes, status: int) -> RawResponse:
    return RawResponse(
        platform="instagram",
        endpoint=DISCOVERY,
        account_key="instagram:test",
        request_url="https://example.invalid/",
        status=status,
        headers={},
        body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        elapsed_ms=1.0,
        page=1,
    )


def test_user_fields() -> None:
    rows = InstagramConnector.parse(
        record((IG / "business_discovery_user_fields.json").read_bytes())
    )
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": "17841407673135339",
            "handle": "facebookfordevelopers",
            "display_name": "Facebook for Developers",
            "description": "Follow us for updates on Facebook’s business tools, AI, AR, VR, "
            "and more.",
            "account_created_at": None,
            "account_key": "instagram:facebookfordevelopers",
        }
    ]
    assert rows.account_snapshots == [
        {
            "account_id": "17841407673135339",
            "followers": 64976,
            "following": None,  # follows_count was not asked for in this recording
            "posts_count": 436,
        }
    ]
    assert rows.posts == []


def test_own_user_fields_have_the_same_shape() -> None:
    # /{ig-user-id}?fields=... returns the fields business_discovery nests: same parser.
    body = json.dumps({"business_discovery": sample("ig_user_fields_followers_count.json")})
    rows = InstagramConnector.parse(record(body.encode()))
    assert rows.problems == []
    assert rows.account_snapshots[0]["followers"] == 64363
    assert rows.account_snapshots[0]["posts_count"] == 427


def test_media_page1() -> None:
    rows = InstagramConnector.parse(record((IG / "business_discovery_media_p1.json").read_bytes()))
    assert rows.problems == []
    assert rows.accounts == []  # a media page without profile fields adds no account row
    first, second = rows.posts
    assert first["post_id"] == "17885103395504675"
    assert first["account_id"] == first["author_id"] == "17841407673135339"
    assert first["created_at"] == utc("2021-08-17T19:00:42")
    assert first["post_type"] == "original"
    assert first["url"] == "https://www.instagram.com/p/CSr71Gzlqo4/"
    assert first["text"].startswith("To attract new players, the team behind state_of_survival")
    assert first["media_type"] == "image" and first["media_count"] == 1
    assert first["media_urls"][0].startswith(
        "https://scontent-nrt1-1.cdninstagram.com/v/t51.29350-15/238148161_"
    )
    assert second["post_id"] == "17886271043461692"
    assert second["created_at"] == utc("2021-08-16T17:35:10")
    assert rows.post_metrics == [
        {
            "post_id": "17885103395504675",
            "account_id": "17841407673135339",
            "likes": 87,
            "reposts": None,
            "replies": 11,
            "quotes": None,
            "views": None,
        },
        {
            "post_id": "17886271043461692",
            "account_id": "17841407673135339",
            "likes": 186,
            "reposts": None,
            "replies": 16,
            "quotes": None,
            "views": None,
        },
    ]


def test_media_page2_video() -> None:
    rows = InstagramConnector.parse(record((IG / "business_discovery_media_p2.json").read_bytes()))
    assert rows.problems == []
    image, video = rows.posts
    assert image["post_id"] == "17939347456563225" and image["media_type"] == "image"
    assert video["post_id"] == "18165241603086291"
    assert video["media_type"] == "video" and video["media_count"] == 1
    assert video["media_urls"][0].startswith("https://video-nrt1-1.cdninstagram.com/")
    assert video["created_at"] == utc("2021-08-10T16:57:42")
    assert [(m["likes"], m["replies"]) for m in rows.post_metrics] == [(50, 3), (86, 5)]


def test_video_page() -> None:
    rows = InstagramConnector.parse(
        record((IG / "business_discovery_media_video_p1.json").read_bytes())
    )
    assert rows.problems == []
    assert [p["media_type"] for p in rows.posts] == ["video", "video", "video", "image", "video"]
    assert [(m["likes"], m["replies"]) for m in rows.post_metrics] == [
        (958, 333),
        (1284, 182),
        (1278, 331),
        (8008, 976),
        (1514, 241),
    ]
    assert rows.posts[3]["created_at"] == utc("2021-10-05T00:34:47")


def test_hidden_likes_carousel_and_caption_entities() -> None:
    data = sample("business_discovery_media_p1.json")
    item = data["business_discovery"]["media"]["data"][0]
    del item["like_count"]  # the owner hid the like count
    item["caption"] = "Get vaccinated #flu #FluSeason with @cdcgov. https://www.cdc.gov/flu."
    item["media_type"] = "CAROUSEL_ALBUM"
    item["children"] = {
        "data": [
            {"media_type": "IMAGE", "media_url": "https://c.example/a.jpg", "id": "1"},
            {"media_type": "VIDEO", "media_url": "https://c.example/b.mp4", "id": "2"},
            {"media_type": "IMAGE", "media_url": "https://c.example/c.jpg", "id": "3"},
        ]
    }
    rows = InstagramConnector.parse(record(json.dumps(data).encode()))
    assert rows.problems == []
    post, metrics = rows.posts[0], rows.post_metrics[0]
    assert metrics["likes"] is None and metrics["replies"] == 11
    assert post["media_type"] == "video" and post["media_count"] == 3
    assert post["media_urls"] == [
        "https://c.example/a.jpg",
        "https://c.example/b.mp4",
        "https://c.example/c.jpg",
    ]
    assert post["hashtags"] == ["flu", "FluSeason"]
    assert post["mentions"] == ["cdcgov"]
    assert post["links"] == ["https://www.cdc.gov/flu"]


def test_drifted_media_are_reported_and_the_rest_parsed() -> None:
    data = sample("business_discovery_media_video_p1.json")
    media = data["business_discovery"]["media"]["data"]
    del media[0]["id"]
    media[1]["timestamp"] = 1634856239
    media[2]["comments_count"] = "n/a"
    rows = InstagramConnector.parse(record(json.dumps(data).encode()))
    # A word where a count belongs is a malformed item: quarantined, not landed as a null.
    assert len(rows.problems) == 3
    assert "media.data[2] skipped: 'comments_count' is str" in rows.problems[2]
    assert len(rows.posts) == 2


def test_errors_are_classified() -> None:
    # Doc-shaped, not recorded: what business_discovery answers for an unknown username.
    not_found = {
        "error": {
            "message": "Invalid user id",
            "type": "OAuthException",
            "code": 110,
            "error_subcode": 2207013,
            "error_user_title": "Cannot find User",
            "fbtrace_id": "x",
        }
    }
    error = InstagramConnector.classify_error(raw(json.dumps(not_found).encode(), 400))
    assert isinstance(error, NotFoundError)
    throttled = {"error": {"message": "(#80002) too many calls", "code": 80002, "type": "x"}}
    error = InstagramConnector.classify_error(raw(json.dumps(throttled).encode(), 403))
    assert isinstance(error, RateLimitedError)
    expired = {"error": {"message": "Error validating access token", "code": 190}}
    error = InstagramConnector.classify_error(raw(json.dumps(expired).encode(), 400))
    assert isinstance(error, AuthError) and "HHS_INSTAGRAM_ACCESS_TOKEN" in str(error)


def test_discovery_fields_nest_the_cursor() -> None:
    first = discovery_fields("cdcgov")
    assert first.startswith("business_discovery.username(cdcgov){id,username,name,biography,")
    assert "media.limit(50){id,caption," in first and first.endswith("}}")
    later = discovery_fields("cdcgov", "QVFIabc", profile=False)
    assert later.startswith("business_discovery.username(cdcgov){id,media.limit(50).after(QVFIabc)")
    assert "followers_count" not in later


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


def collect(handle: str, **settings_kw: Any) -> tuple[list[str], list[RawResponse]]:
    fields_seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.path == f"/ig/{GRAPH_VERSION}/{ASKER}"
        assert request.query.get("access_token") == TOKEN
        fields = request.query["fields"]
        fields_seen.append(fields)
        if "username(facebookfordevelopers)" not in fields:
            return web.json_response(
                {"error": {"message": "Invalid user id", "code": 110, "error_subcode": 2207013}},
                status=400,
            )
        if re.search(r"\.after\(after\)", fields):
            return web.json_response(sample("business_discovery_media_p2.json"))
        # First page: the recorded profile with the recorded first media page nested in it.
        body = sample("business_discovery_user_fields.json")
        body["business_discovery"]["media"] = sample("business_discovery_media_p1.json")[
            "business_discovery"
        ]["media"]
        return web.json_response(body)

    archived: list[RawResponse] = []

    async def main() -> None:
        async with serve(handler) as url:
            values = {
                "instagram_api_base": f"{url}/ig",
                "instagram_access_token": TOKEN,
                "instagram_business_account_id": ASKER,
                **settings_kw,
            }
            settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            async with HttpClient(settings, archived.append) as http:
                await InstagramConnector(http, settings).collect(AccountRef("instagram", handle))

    asyncio.run(main())
    return fields_seen, archived


def test_collect_pages_with_the_nested_cursor_and_stops_on_a_repeat() -> None:
    fields_seen, archived = collect("@facebookfordevelopers")
    # p2 answers the same "after" cursor again (redacted in the recording): the loop stops.
    assert len(fields_seen) == 2
    assert "followers_count" in fields_seen[0] and ".after(" not in fields_seen[0]
    assert ".after(after)" in fields_seen[1] and "followers_count" not in fields_seen[1]
    assert all(TOKEN not in r.request_url for r in archived)
    parsed = [InstagramConnector.parse(record(r.body)) for r in archived]
    assert [len(p.accounts) for p in parsed] == [1, 0]
    assert [p["post_id"] for rows in parsed for p in rows.posts] == [
        "17885103395504675",
        "17886271043461692",
        "17939347456563225",
        "18165241603086291",
    ]


def test_collect_unknown_username_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        collect("nobody_here")


def test_collect_needs_the_asking_account_id() -> None:
    with pytest.raises(ConfigurationError, match="HHS_INSTAGRAM_BUSINESS_ACCOUNT_ID"):
        collect("facebookfordevelopers", instagram_business_account_id="")


def test_resolve_reports_the_account() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = sample("business_discovery_user_fields.json")
        return web.json_response(body)

    async def main() -> Any:
        async with serve(handler) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                instagram_api_base=f"{url}/ig",
                instagram_access_token=TOKEN,
                instagram_business_account_id=ASKER,
            )
            async with HttpClient(settings, lambda _: None) as http:
                connector = InstagramConnector(http, settings)
                ok = await connector.resolve(AccountRef("instagram", "facebookfordevelopers"))
                bad = await connector.resolve(AccountRef("instagram", "not a username!"))
                return ok, bad

    ok, bad = asyncio.run(main())
    assert (ok.status, ok.account_id, ok.current_handle, ok.display_name) == (
        "active",
        "17841407673135339",
        "facebookfordevelopers",
        "Facebook for Developers",
    )
    assert bad.status == "not_found"
