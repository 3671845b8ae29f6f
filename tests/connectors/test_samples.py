"""The connectors against the real recorded responses in ../shared/api-samples.

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

from hhs_platform.connectors import BlueskyConnector, YouTubeConnector
from hhs_platform.connectors.base import AccountRef, ParsedRows, RawResponse
from hhs_platform.errors import (
    AuthError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
)
from hhs_platform.http import HttpClient, classify_response, parse_rate_limit
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not SAMPLES.is_dir(), reason=f"real API samples not found at {SAMPLES} (../shared absent)"
    ),
]
BSKY = SAMPLES / "bluesky"
YT = SAMPLES / "youtube"
FEED = "app.bsky.feed.getAuthorFeed"


def record(endpoint: str, body: bytes, status: int = 200, key: str = "x:test") -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "account_key": key,
        "request_url": "https://example.invalid/",
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def feed_of(*items: Any) -> bytes:
    return json.dumps({"feed": list(items)}).encode()


def post_view(name: str) -> ParsedRows:
    """A recorded PostView, parsed as the only item of an author feed."""
    post = json.loads((BSKY / name).read_bytes())
    rows = BlueskyConnector.parse(record(FEED, feed_of({"post": post})))
    assert not rows.problems and len(rows.posts) == 1
    return rows


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Bluesky ---------------------------------------------------------------------------------


def test_bluesky_profile() -> None:
    body = (BSKY / "app.bsky.actor.getProfile_bsky.app_authenticated.json").read_bytes()
    rows = BlueskyConnector.parse(record("app.bsky.actor.getProfile", body, key="bluesky:bsky.app"))
    assert rows.problems == []
    assert rows.accounts == [
        {
            "account_id": "did:plc:z72i7hdynmk6r22z27h6tvur",
            "handle": "bsky.app",
            "display_name": "Bluesky",
            "description": "official Bluesky account (check username👆)\n\n"
            "Bugs, feature requests, feedback: support@bsky.app",
            "account_created_at": utc("2023-04-12T04:53:57.057"),
            "account_key": "bluesky:bsky.app",
        }
    ]
    assert rows.account_snapshots == [
        {
            "account_id": "did:plc:z72i7hdynmk6r22z27h6tvur",
            "followers": 20356754,
            "following": 2,
            "posts_count": 485,
        }
    ]


def test_bluesky_author_feed() -> None:
    body = (BSKY / "app.bsky.feed.getAuthorFeed_bsky.app_1item_cursor.json").read_bytes()
    rows = BlueskyConnector.parse(record(FEED, body))
    assert rows.problems == []
    uri = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lfxpbo2kss24"
    [post] = rows.posts
    assert post["post_id"] == uri
    assert post["account_id"] == post["author_id"] == "did:plc:z72i7hdynmk6r22z27h6tvur"
    assert post["created_at"] == utc("2025-01-17T21:08:17.119")
    assert post["post_type"] == "original"
    assert post["lang"] == "en"
    assert post["text"].startswith("📢 Bluesky 1.96.5 rolling out now")
    assert post["url"] == "https://bsky.app/profile/bsky.app/post/3lfxpbo2kss24"
    assert post["media_type"] is None and post["media_count"] == 0
    assert post["is_deleted"] is False
    assert rows.post_metrics == [
        {
            "post_id": uri,
            "account_id": "did:plc:z72i7hdynmk6r22z27h6tvur",
            "likes": 29092,
            "reposts": 3119,
            "replies": 1226,
            "quotes": 247,
            "views": None,
        }
    ]


def test_bluesky_repost_is_typed_repost_without_metrics() -> None:
    item = json.loads((BSKY / "feedViewPost_reasonRepost_quote_embed.json").read_bytes())
    rows = BlueskyConnector.parse(record(FEED, feed_of(item)))
    assert rows.problems == []
    original = "at://did:plc:niay7ajcptgklwrhknvnhk44/app.bsky.feed.post/3lhjnkjle5s2o"
    [post] = rows.posts
    assert post["post_type"] == "repost"
    assert post["reposted_post_id"] == original
    assert post["post_id"] == f"{original}#repost-by-did:plc:lw5dadzkguntwgkj2jxmulxk"
    assert post["account_id"] == "did:plc:lw5dadzkguntwgkj2jxmulxk"
    assert post["author_id"] == "did:plc:niay7ajcptgklwrhknvnhk44"
    assert post["created_at"] == utc("2025-02-06T17:58:31.348")
    assert rows.post_metrics == []


def test_bluesky_pinned_post_is_the_authors_own_and_not_duplicated() -> None:
    item = json.loads(
        (BSKY / "app.bsky.feed.getAuthorFeed_bsky.app_1item_cursor.json").read_bytes()
    )
    plain = item["feed"][0]
    pinned = {**plain, "reason": {"$type": "app.bsky.feed.defs#reasonPin"}}
    rows = BlueskyConnector.parse(record(FEED, feed_of(pinned, plain)))
    assert rows.problems == []
    assert len(rows.posts) == 1 and rows.posts[0]["post_type"] == "original"
    assert len(rows.post_metrics) == 1


def test_bluesky_quote_embed() -> None:
    post = post_view("postView_record_quote_embed.json").posts[0]
    assert post["post_type"] == "quote"
    assert post["quoted_post_id"] == (
        "at://did:plc:6y3jllixhqf3vjupdvzdtxsf/app.bsky.feed.post/3lhmdqmtrj22m"
    )
    assert post["media_type"] is None and post["media_count"] == 0


def test_bluesky_record_with_media_embed() -> None:
    post = post_view("postView_recordWithMedia_embed.json").posts[0]
    assert post["post_type"] == "quote"
    assert post["quoted_post_id"] == (
        "at://did:plc:ab5inzxnpw4j2zvzlxupr5ut/app.bsky.feed.post/3lhnuqw5cms2h"
    )
    assert post["media_type"] == "image" and post["media_count"] == 1
    assert post["media_urls"] == [
        "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:64fyz6rpsagabcfqzdxykwgg/"
        "bafkreibkxgznhp42mnr6dgxkfylsu53nkjlzte4mhmgvspx4ib55jfes3e@jpeg"
    ]


def test_bluesky_thread_record_with_media() -> None:
    thread = json.loads((BSKY / "getPostThread_thread_view_post_recordWithMedia.json").read_bytes())
    rows = BlueskyConnector.parse(record(FEED, feed_of({"post": thread["thread"]["post"]})))
    [post] = rows.posts
    assert post["post_type"] == "quote" and post["media_type"] == "image"
    assert post["quoted_post_id"] == (
        "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kahesw26il2z"
    )
    assert post["text"] == ""


def test_bluesky_reply() -> None:
    post = post_view("postView_reply_no_embed.json").posts[0]
    assert post["post_type"] == "reply"
    assert post["reply_to_post_id"] == (
        "at://did:plc:x2rfmy3ldn2k6d2diyp7ofi2/app.bsky.feed.post/3lhmfcfualc2s"
    )
    assert post["media_type"] is None


def test_bluesky_images_embed() -> None:
    post = post_view("postView_images_embed.json").posts[0]
    assert post["post_type"] == "original"
    assert post["media_type"] == "image" and post["media_count"] == 1
    assert post["media_urls"] == [
        "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:z7ja7uhcr5is6uqmnsjyn3k7/"
        "bafkreicjr5ezdgwv6z4zcxv2egqjmaox6ocplsrhvubmmfqyuh6dybhfma@jpeg"
    ]


def test_bluesky_external_embed() -> None:
    post = post_view("postView_external_embed.json").posts[0]
    link = (
        "https://www.createwithswift.com/"
        "designing-for-application-states-creating-seamless-user-experiences/"
    )
    assert post["post_type"] == "original"
    assert post["media_type"] == "external" and post["media_count"] == 1
    assert post["media_urls"] == [link]
    assert post["links"] == [link]
    assert post["lang"] is None  # this record has no langs


def test_bluesky_video_embed_and_tags() -> None:
    rows = post_view("postView_video_embed.json")
    post = rows.posts[0]
    assert post["media_type"] == "video" and post["media_count"] == 1
    assert post["media_urls"] == [
        "https://video.bsky.app/watch/did%3Aplc%3Al7mosai5i2u562b5qbosw6c7/"
        "bafkreic3uqlah5pnqzq4tx2r5cg6kyj2uziq4jn4uatuwdhvl33sx2qkgm/playlist.m3u8"
    ]
    assert post["duration_s"] is None
    assert post["hashtags"] == ["swiftUI", "iOS", "beginner", "code", "keeplearning"]
    assert post["url"] == "https://bsky.app/profile/kamhoyung.bsky.social/post/3lhnr2o6kb22h"


def test_bluesky_mentions_come_from_facets() -> None:
    quote = json.loads((BSKY / "postView_record_quote_embed.json").read_bytes())
    quoted = quote["embed"]["record"]  # the quoted post carries five mention facets
    post = {**quoted, "record": quoted["value"], "embed": quoted["embeds"][0]}
    rows = BlueskyConnector.parse(record(FEED, feed_of({"post": post})))
    assert rows.posts[0]["mentions"] == [
        "did:plc:aglxlci7cqa7x5wqt2d2w2ai",
        "did:plc:tjdma6qyt2cyzztg2j5yofua",
        "did:plc:34y5wrg6qo7pjdtcpk7sahpc",
        "did:plc:r632gtijxu7rm7d47ma6mv7o",
        "did:plc:grjqrmpcr7bcrwxmll7weidf",
    ]
    assert rows.posts[0]["media_type"] == "image"


# --- YouTube ---------------------------------------------------------------------------------


def test_youtube_channels() -> None:
    body = (
        YT / "channels.list_snippet_statistics_contentDetails_brandingSettings.json"
    ).read_bytes()
    rows = YouTubeConnector.parse(record("youtube.channels.list", body, key="youtube:@google"))
    assert rows.problems == []
    assert [a["account_id"] for a in rows.accounts] == [
        "UCK8sQmJBp8GCxrOtXWBpyEA",
        "UC_x5XG1OV2P6uZZ5FSM9Ttw",
    ]
    assert rows.accounts[0]["handle"] == "@google"
    assert rows.accounts[0]["display_name"] == "Google"
    assert rows.accounts[0]["account_created_at"] == utc("2005-09-18T22:37:10")
    assert rows.account_snapshots == [
        {
            "account_id": "UCK8sQmJBp8GCxrOtXWBpyEA",
            "followers": 10700000,
            "following": None,
            "posts_count": 2678,
        },
        {
            "account_id": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            "followers": 2260000,
            "following": None,
            "posts_count": 5652,
        },
    ]


def test_youtube_channels_older_format_and_hidden_subscribers() -> None:
    body = (YT / "channels.list_snippet_statistics.json").read_bytes()
    rows = YouTubeConnector.parse(record("youtube.channels.list", body))
    assert rows.account_snapshots[0]["followers"] == 1927873
    assert rows.account_snapshots[0]["posts_count"] == 5026
    assert rows.accounts[0]["account_created_at"] == utc("2007-08-23T00:34:43")
    data = json.loads(body)
    stats = data["items"][0]["statistics"]
    stats["hiddenSubscriberCount"] = True
    del stats["subscriberCount"]
    hidden = YouTubeConnector.parse(record("youtube.channels.list", json.dumps(data).encode()))
    assert hidden.account_snapshots[0]["followers"] is None
    assert hidden.account_snapshots[0]["posts_count"] == 5026


def test_youtube_videos() -> None:
    body = (YT / "videos.list_snippet_contentDetails_status_statistics.json").read_bytes()
    rows = YouTubeConnector.parse(record("youtube.videos.list", body))
    assert rows.problems == []
    [post] = rows.posts
    assert post["post_id"] == "D-lhorsDlUQ"
    assert post["account_id"] == post["author_id"] == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    assert post["created_at"] == utc("2019-03-21T20:37:49")
    assert post["title"] == "What are Actions on Google (Assistant on Air)"
    assert post["url"] == "https://www.youtube.com/watch?v=D-lhorsDlUQ"
    assert post["post_type"] == "original"
    assert post["duration_s"] == 1267.0  # PT21M7S
    assert post["media_type"] == "video" and post["media_count"] == 1
    assert post["links"] == ["http://bit.ly/2YabdS5", "https://bit.ly/googledevs"]
    assert post["lang"] == "en"
    assert rows.post_metrics == [
        {
            "post_id": "D-lhorsDlUQ",
            "account_id": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            "likes": 190,
            "reposts": None,
            "replies": 32,
            "quotes": None,
            "views": 7920,
        }
    ]


def test_youtube_videos_without_statistics_part() -> None:
    body = (YT / "videos.list_chart_page1.json").read_bytes()
    rows = YouTubeConnector.parse(record("youtube.videos.list", body))
    assert rows.problems == []
    assert [p["post_id"] for p in rows.posts][:2] == ["hDeuSfo_Ys0", "Ukd8dJNBvOA"]
    assert len(rows.posts) == 5
    assert rows.posts[1]["hashtags"] == ["ThePrinceFamily"]
    assert all(p["duration_s"] is None for p in rows.posts)
    assert all(m["views"] is None and m["likes"] is None for m in rows.post_metrics)


def test_youtube_playlist_items_give_no_rows() -> None:
    for name in ("playlistItems.list_page1.json", "playlistItems.list_page2.json"):
        rows = YouTubeConnector.parse(
            record("youtube.playlistItems.list", (YT / name).read_bytes())
        )
        assert rows == ParsedRows()


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


def test_youtube_collect_follows_the_recorded_page_token_chain() -> None:
    """channels (no contentDetails: uploads derived) → playlistItems p1 → p2 (CAoQAA) → stop."""
    tokens: list[str | None] = []
    video_batches: list[list[str]] = []
    playlists: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        q = request.query
        if request.path == "/yt/youtube/v3/channels":
            assert q["forUsername"] == "GoogleDevelopers"
            return web.Response(
                body=(YT / "channels.list_snippet_statistics.json").read_bytes(),
                content_type="application/json",
            )
        if request.path == "/yt/youtube/v3/playlistItems":
            tokens.append(q.get("pageToken"))
            playlists.append(q["playlistId"])
            page = (
                "playlistItems.list_page2.json"
                if "pageToken" in q
                else "playlistItems.list_page1.json"
            )
            return web.Response(body=(YT / page).read_bytes(), content_type="application/json")
        if request.path == "/yt/youtube/v3/videos":
            video_batches.append(q["id"].split(","))
            return web.Response(
                body=(
                    YT / "videos.list_snippet_contentDetails_status_statistics.json"
                ).read_bytes(),
                content_type="application/json",
            )
        return web.Response(status=404)

    archived: list[RawResponse] = []

    async def main() -> None:
        async with serve(handler) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, youtube_api_base=f"{url}/yt", youtube_api_key="sample-test-key-77"
            )
            async with HttpClient(settings, archived.append) as http:
                await YouTubeConnector(http, settings).collect(
                    AccountRef("youtube", "GoogleDevelopers")
                )

    asyncio.run(main())
    assert tokens == [None, "CAoQAA"]
    assert playlists == ["UU_x5XG1OV2P6uZZ5FSM9Ttw", "UU_x5XG1OV2P6uZZ5FSM9Ttw"]
    assert [len(b) for b in video_batches] == [10, 3]
    assert video_batches[0][0] == "CvTApw9X8aA"
    assert video_batches[1] == ["6aSG8SdvkoU", "ECGpZCFUL8s", "Fu2bldybpkA"]
    assert [r.endpoint for r in archived] == [
        "youtube.channels.list",
        "youtube.playlistItems.list",
        "youtube.videos.list",
        "youtube.playlistItems.list",
        "youtube.videos.list",
    ]
    assert all("sample-test-key-77" not in r.request_url for r in archived)


# --- errors ----------------------------------------------------------------------------------


def raw_of(platform: str, status: int, path: Path) -> RawResponse:
    return RawResponse(
        platform=platform,
        endpoint="e",
        account_key=f"{platform}:x",
        request_url="https://example.invalid/",
        status=status,
        headers={},
        body=path.read_bytes(),
        fetched_at=datetime.now(UTC),
        elapsed_ms=1.0,
        page=0,
    )


@pytest.mark.parametrize(
    ("platform", "status", "name", "expected"),
    [
        ("youtube", 403, "youtube/error_403_quotaExceeded.json", QuotaExhaustedError),
        ("youtube", 400, "youtube/error_400_keyInvalid.json", AuthError),
        ("youtube", 403, "youtube/error_403_permission.json", AuthError),
        ("bluesky", 400, "bluesky/error_400_profile_not_found.json", NotFoundError),
        ("bluesky", 429, "bluesky/error_429_rate_limit_exceeded.json", RateLimitedError),
    ],
)
def test_error_samples_classify(platform: str, status: int, name: str, expected: type) -> None:
    classify = {"youtube": YouTubeConnector, "bluesky": BlueskyConnector}[platform].classify_error
    error = classify_response(raw_of(platform, status, SAMPLES / name), classify)
    assert type(error) is expected


def test_quota_sample_through_http_is_not_retried() -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        body = (YT / "error_403_quotaExceeded.json").read_bytes()
        return web.Response(status=403, body=body, content_type="application/json")

    async def main() -> None:
        async with serve(handler) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, youtube_api_base=url, youtube_api_key="quota-test-key-99"
            )
            async with HttpClient(settings, lambda raw: None) as http:
                await YouTubeConnector(http, settings).collect(AccountRef("youtube", "@x"))

    with pytest.raises(QuotaExhaustedError) as info:
        asyncio.run(main())
    assert calls == 1
    assert "quota-test-key-99" not in str(info.value)


# --- recorded rate-limit headers of other platforms ------------------------------------------


def _headers(meta: Path) -> dict[str, str]:
    raw = json.loads(meta.read_bytes())["headers"]
    pairs = raw if isinstance(raw, list) else [(k, v[0]) for k, v in raw.items()]
    return {k: v for k, v in pairs}


def test_recorded_rate_limit_headers() -> None:
    now = 1_700_000_000.0
    mastodon = parse_rate_limit(_headers(SAMPLES / "mastodon/accounts_lookup_200.meta.json"), now)
    assert mastodon is not None
    assert (mastodon.limit, mastodon.remaining) == (300, 299)
    assert mastodon.reset_at == datetime(2026, 8, 1, 13, 50, 0, 924992, tzinfo=UTC).timestamp()
    reddit = parse_rate_limit(_headers(SAMPLES / "reddit/user_about_2022_Watchful1.meta.json"), now)
    assert reddit is not None
    assert (reddit.remaining, reddit.reset_at) == (599, now + 587)  # 586 s, whole: +1
    x = parse_rate_limit(
        _headers(SAMPLES / "x/error_429_users_by_username_2020_textplain.meta.json"), now
    )
    assert x is not None
    assert (x.limit, x.remaining, x.reset_at) == (15, 0, 1593185074)  # whole seconds: +1
