"""YouTube's keyless fallback: the channel's Atom feed, parsed and collected over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import AccountRef, ParsedRows, RawResponse
from hhs_platform.connectors.youtube import CHANNELS, FEED, YouTubeConnector
from hhs_platform.errors import AuthError, NotFoundError
from hhs_platform.http import HttpClient
from hhs_platform.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
FEED_XML = SAMPLES / "youtube" / "feeds_videos.xml_channel_id.xml"
needs_sample = pytest.mark.skipif(
    not FEED_XML.is_file(), reason=f"real YouTube RSS sample not found at {FEED_XML}"
)
CHANNEL = "UC9PBzalIcEQCsiIkq36PyUA"
ATOM = (
    '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
    'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
)


def record(body: bytes, status: int = 200) -> dict[str, Any]:
    return {
        "endpoint": FEED,
        "account_key": "youtube:@digitalfoundry",
        "request_url": f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}",
        "status": status,
        "body": body,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def entry(video_id: str | None, published: str | None, likes: str = "7") -> str:
    parts = ["<entry>"]
    if video_id:
        parts.append(f"<yt:videoId>{video_id}</yt:videoId>")
    parts.append(f"<yt:channelId>{CHANNEL}</yt:channelId><title>t {video_id}</title>")
    if published:
        parts.append(f"<published>{published}</published>")
    parts.append(
        "<media:group><media:description>d #flu https://cdc.gov/x</media:description>"
        f'<media:community><media:starRating count="{likes}" average="5.00" min="1" max="5"/>'
        '<media:statistics views="70"/></media:community></media:group></entry>'
    )
    return "".join(parts)


# --- parse -------------------------------------------------------------------------------------


@needs_sample
def test_recorded_feed() -> None:
    rows = YouTubeConnector.parse(record(FEED_XML.read_bytes()))
    assert rows.problems == []
    # The feed-level <yt:channelId> is "9PBzalIcEQCsiIkq36PyUA": the "UC" is put back.
    assert rows.accounts == [
        {
            "account_id": CHANNEL,
            "handle": "@digitalfoundry",
            "display_name": "Digital Foundry",
            "description": None,
            "account_created_at": utc("2008-02-16T12:15:11"),
            "account_key": "youtube:@digitalfoundry",
        }
    ]
    assert rows.account_snapshots == []  # no subscriber count in the feed
    assert len(rows.posts) == 15 and len(rows.post_metrics) == 15
    first = rows.posts[0]
    assert first["post_id"] == "W_S7iKZZdHw"
    assert first["account_id"] == first["author_id"] == CHANNEL
    assert first["created_at"] == utc("2025-01-01T16:07:24")
    assert first["title"] == "Digital Foundry Games of 2024: The Oliver Mackenzie Collection!"
    assert first["text"].startswith("As the holiday period begins to unwind")
    assert first["url"] == "https://www.youtube.com/watch?v=W_S7iKZZdHw"
    assert first["media_type"] == "video" and first["media_count"] == 1
    assert first["media_urls"] == ["https://i4.ytimg.com/vi/W_S7iKZZdHw/hqdefault.jpg"]
    assert first["duration_s"] is None
    assert "https://store.digitalfoundry.net" in first["links"]
    assert first["hashtags"] == []  # "#5: Final Fantasy" is a rank, not a hashtag
    assert rows.post_metrics[0] == {
        "post_id": "W_S7iKZZdHw",
        "account_id": CHANNEL,
        "likes": 1580,
        "reposts": None,
        "replies": None,
        "quotes": None,
        "views": 23088,
    }
    metrics = {m["post_id"]: m for m in rows.post_metrics}
    assert (metrics["E1EhcFMKoIU"]["likes"], metrics["E1EhcFMKoIU"]["views"]) == (10100, 163787)
    last = rows.posts[-1]
    assert (last["post_id"], last["created_at"]) == ("araZUoSOPmM", utc("2024-12-14T17:20:43"))
    assert (metrics["araZUoSOPmM"]["likes"], metrics["araZUoSOPmM"]["views"]) == (8340, 193479)


def test_drifted_entries_are_reported_and_the_rest_parsed() -> None:
    body = (
        ATOM
        + f"<yt:channelId>{CHANNEL[2:]}</yt:channelId><title>C</title>"
        + entry("aaaaaaaaaaa", "2025-01-01T00:00:00+00:00")
        + entry(None, "2025-01-01T00:00:00+00:00")
        + entry("ccccccccccc", None)
        + entry("ddddddddddd", "2025-01-02T00:00:00+00:00", likes="lots")
        + "</feed>"
    )
    rows = YouTubeConnector.parse(record(body.encode()))
    assert len(rows.problems) == 2, rows.problems
    assert any("yt:videoId" in p for p in rows.problems)
    assert any("ccccccccccc" in p and "published" in p for p in rows.problems)
    assert [p["post_id"] for p in rows.posts] == ["aaaaaaaaaaa", "ddddddddddd"]
    assert rows.posts[0]["hashtags"] == ["flu"] and rows.posts[0]["links"] == ["https://cdc.gov/x"]
    assert rows.post_metrics[1]["likes"] is None and rows.post_metrics[1]["views"] == 70
    assert rows.accounts[0]["account_id"] == CHANNEL


GARBAGE = [
    b"",
    b"not xml at all",
    b'{"items": []}',
    b"<feed><entry>",
    b"<!DOCTYPE html><html><body>Before you continue to YouTube</body></html>",
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><feed>&lol;</feed>',
    b"<rss><channel/></rss>",
    b"\xff\xfe\x00",
]


def test_garbage_bodies_give_problems_not_exceptions() -> None:
    for body in GARBAGE:
        rows = YouTubeConnector.parse(record(body))
        assert rows.problems, body
        assert not (rows.accounts or rows.posts or rows.post_metrics), body
        assert YouTubeConnector.parse(record(body, status=404)) == ParsedRows()


# --- collect over a real socket -----------------------------------------------------------------


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


class FeedServer:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.seen: list[tuple[str, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, dict(request.query)))
        if request.path == "/yt/feeds/videos.xml" and request.query.get("channel_id") == CHANNEL:
            return web.Response(body=self.body, content_type="application/atom+xml")
        return web.Response(status=404, text="<html>404 Not Found</html>", content_type="text/html")


def collect(
    server: FeedServer, account: AccountRef, **overrides: Any
) -> tuple[YouTubeConnector, list[RawResponse]]:
    archived: list[RawResponse] = []

    async def main() -> YouTubeConnector:
        async with serve(server.handle) as url:
            values: dict[str, Any] = {
                "youtube_rss_base": f"{url}/yt",
                "youtube_api_base": f"{url}/api",
                "http_max_retries": 0,
                **overrides,
            }
            settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            async with HttpClient(settings, archived.append) as http:
                connector = YouTubeConnector(http, settings)
                await connector.collect(account)
                return connector

    return asyncio.run(main()), archived


def feed_body() -> bytes:
    if FEED_XML.is_file():
        return FEED_XML.read_bytes()
    return (ATOM + entry("W_S7iKZZdHw", "2025-01-01T16:07:24+00:00") + "</feed>").encode()


def test_without_a_key_the_feed_is_collected_and_marked_partial() -> None:
    server = FeedServer(feed_body())
    account = AccountRef("youtube", "@digitalfoundry", platform_id=CHANNEL)
    connector, archived = collect(server, account, youtube_api_key=None)
    assert server.seen == [("/yt/feeds/videos.xml", {"channel_id": CHANNEL})]
    assert [(r.endpoint, r.status, r.page) for r in archived] == [(FEED, 200, 0)]
    assert archived[0].headers["content-type"].startswith("application/atom+xml")
    rows = YouTubeConnector.parse(
        {
            "endpoint": archived[0].endpoint,
            "account_key": archived[0].account_key,
            "request_url": archived[0].request_url,
            "status": archived[0].status,
            "body": archived[0].body,
            "fetched_at": archived[0].fetched_at,
        }
    )
    assert rows.problems == []
    assert rows.posts[0]["post_id"] == "W_S7iKZZdHw"
    assert rows.accounts[0]["account_id"] == CHANNEL
    # Only the latest 15 videos: the read must never count as complete (no false tombstones).
    assert connector.cap_hits == [(account.key, FEED)]


def test_channel_id_as_handle_is_enough() -> None:
    server = FeedServer(feed_body())
    _, archived = collect(server, AccountRef("youtube", CHANNEL), youtube_api_key=None)
    assert [r.endpoint for r in archived] == [FEED]


def test_without_a_key_or_channel_id_the_error_names_both_fixes() -> None:
    server = FeedServer(feed_body())
    with pytest.raises(AuthError, match=r"HHS_YOUTUBE_API_KEY.*platform_id"):
        collect(server, AccountRef("youtube", "USGOVHHS"), youtube_api_key=None)
    assert server.seen == []


def test_unknown_channel_feed_is_not_found() -> None:
    server = FeedServer(feed_body())
    other = "UC" + "x" * 22
    with pytest.raises(NotFoundError):
        collect(server, AccountRef("youtube", other), youtube_api_key=None)
    assert server.seen == [("/yt/feeds/videos.xml", {"channel_id": other})]


def test_with_a_key_the_data_api_is_used_not_the_feed() -> None:
    server = FeedServer(feed_body())
    with pytest.raises(NotFoundError):
        collect(server, AccountRef("youtube", CHANNEL), youtube_api_key="k-0042-test")
    assert [path for path, _ in server.seen] == ["/api/youtube/v3/channels"]
    assert CHANNELS == "youtube.channels.list"
