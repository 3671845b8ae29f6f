"""The contract every connector keeps, run against a local server speaking the platform's shape.

Each platform has a small fake here, built by the test from the platform's documented shape
(paths, pagination, error bodies, rate-limit headers); the same battery runs over all of them.
A new connector in CONNECTORS fails this suite until it gets a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from hhs_platform.connectors import CONNECTORS, get_connector
from hhs_platform.connectors.base import AccountRef, Connector, ParsedRows, RawResponse
from hhs_platform.errors import ConfigurationError, NotFoundError
from hhs_platform.http import HttpClient
from hhs_platform.settings import Settings
from schemas.tables import Accounts, AccountSnapshots, PostMetrics, Posts

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
N_ITEMS = 10
PAGE_SIZE = 3
FAKE_KEY = "contract-FAKE-youtube-key-0042"


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def item_time(i: int) -> datetime:
    return T0 - timedelta(hours=i)


# --- fakes: one per platform -----------------------------------------------------------------


class Fake:
    """What the contract needs from a platform's fake."""

    platform: str
    account: AccountRef
    list_endpoint: str  # the paginated endpoint
    row_endpoints: tuple[str, ...]  # endpoints whose 2xx bodies carry rows

    def __init__(self) -> None:
        self.served: Counter[str] = Counter()  # item id -> times served
        self.list_pages = 0
        self.requests = 0
        self.inject_429_on_list_page: int | None = None
        self._429_done = False
        self.not_found = False

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        raise NotImplementedError

    def expected_metric_ids(self) -> set[str]:
        raise NotImplementedError

    def drift(self, body: bytes) -> tuple[bytes, int]:
        """A list-page body with one item missing its id and one its time; (body, items left)."""
        raise NotImplementedError

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def maybe_429(self) -> web.Response | None:
        if self.inject_429_on_list_page == self.list_pages and not self._429_done:
            self._429_done = True
            return self.too_many()
        return None

    def too_many(self) -> web.Response:
        raise NotImplementedError


class BlueskyFake(Fake):
    platform = "bluesky"
    did = "did:plc:hhscontracttest00000000aa"
    other = "did:plc:someoneelse0000000000000bb"
    account = AccountRef("bluesky", "hhs-contract.bsky.social")
    list_endpoint = "app.bsky.feed.getAuthorFeed"
    row_endpoints = ("app.bsky.actor.getProfile", "app.bsky.feed.getAuthorFeed")

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._item(i) for i in range(N_ITEMS)]
        self.cursors = {iso(item_time(i)): i + 1 for i in range(N_ITEMS)}

    def _item(self, i: int) -> tuple[str, dict[str, Any]]:
        kind = ("original", "reply", "quote", "repost")[i % 4]
        author = self.other if kind == "repost" else self.did
        uri = f"at://{author}/app.bsky.feed.post/3kcontract{i:04d}"
        created = iso(item_time(i))
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "createdAt": created if kind != "repost" else iso(item_time(i) - timedelta(days=3)),
            "text": f"post {i} #health",
            "langs": ["en"],
            "facets": [
                {
                    "index": {"byteStart": 7, "byteEnd": 14},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "health"}],
                }
            ],
        }
        post: dict[str, Any] = {
            "uri": uri,
            "cid": f"bafycontract{i}",
            "author": {"did": author, "handle": "hhs-contract.bsky.social"},
            "record": record,
            "replyCount": i,
            "repostCount": 2 * i,
            "likeCount": 10 * i,
            "quoteCount": 1,
            "indexedAt": created,
        }
        item: dict[str, Any] = {"post": post}
        post_id = uri
        if kind == "original":
            post["embed"] = {
                "$type": "app.bsky.embed.images#view",
                "images": [
                    {
                        "thumb": f"https://cdn.example/t{i}.jpg",
                        "fullsize": f"https://cdn.example/f{i}.jpg",
                        "alt": "",
                    }
                ],
            }
        elif kind == "reply":
            parent = {"uri": f"at://{self.other}/app.bsky.feed.post/3kparent{i}", "cid": "bafyp"}
            record["reply"] = {"parent": parent, "root": parent}
        elif kind == "quote":
            post["embed"] = {
                "$type": "app.bsky.embed.record#view",
                "record": {
                    "$type": "app.bsky.embed.record#viewRecord",
                    "uri": f"at://{self.other}/app.bsky.feed.post/3kquoted{i}",
                    "cid": "bafyq",
                },
            }
        else:
            reason: dict[str, Any] = {
                "$type": "app.bsky.feed.defs#reasonRepost",
                "by": {"did": self.did, "handle": "hhs-contract.bsky.social"},
                "indexedAt": created,
            }
            if i % 8 == 3:  # newer AppViews name the repost record itself
                reason["uri"] = f"at://{self.did}/app.bsky.feed.repost/3krepost{i}"
                post_id = reason["uri"]
            else:
                post_id = f"{uri}#repost-by-{self.did}"
            item["reason"] = reason
        return post_id, item

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            pid: item_time(i)
            for i, (pid, _) in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {pid for pid, item in self.items if "reason" not in item}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        originals = [it for it in data["feed"] if "reason" not in it]
        del originals[0]["post"]["uri"]
        del originals[1]["post"]["record"]["createdAt"]
        return json.dumps(data).encode(), len(data["feed"]) - 2

    def too_many(self) -> web.Response:
        reset = int(datetime.now(UTC).timestamp()) + 1
        return web.json_response(
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            status=429,
            headers={
                "RateLimit-Limit": "3000",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
                "RateLimit-Policy": "3000;w=300",
            },
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        headers = {"RateLimit-Limit": "3000", "RateLimit-Remaining": "2990"}
        if path == "/bluesky/xrpc/app.bsky.actor.getProfile":
            if self.not_found or q.get("actor") not in (self.did, self.account.handle):
                return web.json_response(
                    {"error": "InvalidRequest", "message": "Profile not found"}, status=400
                )
            return web.json_response(
                {
                    "did": self.did,
                    "handle": self.account.handle,
                    "displayName": "HHS contract",
                    "description": "test account",
                    "followersCount": 1234,
                    "followsCount": 12,
                    "postsCount": N_ITEMS,
                    "createdAt": "2023-04-12T04:53:57.057Z",
                },
                headers=headers,
            )
        if path == "/bluesky/xrpc/app.bsky.feed.getAuthorFeed":
            assert q.get("actor") == self.did, "the feed must be asked by DID"
            assert q.get("filter") == "posts_with_replies" and q.get("limit") == "100"
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            start = self.cursors[q["cursor"]] if "cursor" in q else 0
            chunk = self.items[start : start + PAGE_SIZE]
            for pid, _ in chunk:
                self.served[pid] += 1
            body: dict[str, Any] = {"feed": [item for _, item in chunk]}
            if start + PAGE_SIZE < N_ITEMS:
                body["cursor"] = iso(item_time(start + PAGE_SIZE - 1))
            return web.json_response(body, headers=headers)
        return web.json_response({"error": "MethodNotImplemented"}, status=501)


class YouTubeFake(Fake):
    platform = "youtube"
    channel = "UCcontractTESTchannel0042"[:24]
    account = AccountRef("youtube", "@hhscontract")
    list_endpoint = "youtube.playlistItems.list"
    row_endpoints = ("youtube.channels.list", "youtube.videos.list")

    def __init__(self) -> None:
        super().__init__()
        self.video_ids = [f"vid{i:08d}"[:11] for i in range(N_ITEMS)]
        self.playlist_served: Counter[str] = Counter()

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            v: item_time(i)
            for i, v in enumerate(self.video_ids)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return set(self.video_ids)

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        del data["items"][0]["id"]
        del data["items"][1]["snippet"]["publishedAt"]
        return json.dumps(data).encode(), len(data["items"]) - 2

    def too_many(self) -> web.Response:
        return web.json_response(
            {
                "error": {
                    "code": 429,
                    "message": "Too many requests",
                    "errors": [{"domain": "global", "reason": "rateLimitExceeded"}],
                }
            },
            status=429,
            headers={"Retry-After": "1"},
        )

    def _video(self, i: int) -> dict[str, Any]:
        vid = self.video_ids[i]
        return {
            "kind": "youtube#video",
            "id": vid,
            "snippet": {
                "publishedAt": iso(item_time(i)),
                "channelId": self.channel,
                "title": f"Video {i}",
                "description": f"Watch #vaccines https://www.hhs.gov/v/{i} .",
                "thumbnails": {"high": {"url": f"https://i.ytimg.com/vi/{vid}/hqdefault.jpg"}},
                "defaultLanguage": "en",
            },
            "contentDetails": {"duration": f"PT{i}M{i}S"},
            "statistics": {
                "viewCount": str(100 * i),
                "likeCount": str(i),
                "favoriteCount": "0",
                "commentCount": str(i // 2),
            },
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        if q.get("key") != FAKE_KEY:
            return web.json_response(
                {
                    "error": {
                        "code": 400,
                        "message": "Bad Request",
                        "errors": [{"domain": "usageLimits", "reason": "keyInvalid"}],
                    }
                },
                status=400,
            )
        if path == "/youtube/youtube/v3/channels":
            assert q.get("part") == "snippet,statistics,contentDetails"
            base = {"kind": "youtube#channelListResponse", "etag": "e"}
            if self.not_found or q.get("forHandle") != self.account.handle:
                return web.json_response(
                    {**base, "pageInfo": {"totalResults": 0, "resultsPerPage": 5}}
                )
            return web.json_response(
                {
                    **base,
                    "pageInfo": {"totalResults": 1, "resultsPerPage": 5},
                    "items": [
                        {
                            "kind": "youtube#channel",
                            "id": self.channel,
                            "snippet": {
                                "title": "HHS contract",
                                "description": "test channel",
                                "customUrl": "@hhscontract",
                                "publishedAt": "2007-08-23T00:34:43Z",
                            },
                            "contentDetails": {
                                "relatedPlaylists": {
                                    "likes": "",
                                    "uploads": "UU" + self.channel[2:],
                                }
                            },
                            "statistics": {
                                "viewCount": "1000",
                                "subscriberCount": "2260000",
                                "hiddenSubscriberCount": False,
                                "videoCount": str(N_ITEMS),
                            },
                        }
                    ],
                }
            )
        if path == "/youtube/youtube/v3/playlistItems":
            assert q.get("playlistId") == "UU" + self.channel[2:] and q.get("maxResults") == "50"
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            start = int(q["pageToken"].removeprefix("tok")) if "pageToken" in q else 0
            items = []
            for i in range(start, min(start + PAGE_SIZE, N_ITEMS)):
                self.playlist_served[self.video_ids[i]] += 1
                items.append(
                    {
                        "kind": "youtube#playlistItem",
                        "id": f"pl{i}",
                        "snippet": {
                            "publishedAt": iso(item_time(i)),
                            "resourceId": {"kind": "youtube#video", "videoId": self.video_ids[i]},
                        },
                        "contentDetails": {
                            "videoId": self.video_ids[i],
                            "videoPublishedAt": iso(item_time(i)),
                        },
                    }
                )
            body: dict[str, Any] = {
                "kind": "youtube#playlistItemListResponse",
                "pageInfo": {"totalResults": N_ITEMS, "resultsPerPage": PAGE_SIZE},
                "items": items,
            }
            if start + PAGE_SIZE < N_ITEMS:
                body["nextPageToken"] = f"tok{start + PAGE_SIZE}"
            return web.json_response(body)
        if path == "/youtube/youtube/v3/videos":
            ids = q["id"].split(",")
            assert len(ids) <= 50
            for vid in ids:
                self.served[vid] += 1
            items = [self._video(self.video_ids.index(v)) for v in ids if v in self.video_ids]
            return web.json_response({"kind": "youtube#videoListResponse", "items": items})
        return web.json_response({"error": {"code": 404, "message": "Not Found"}}, status=404)


FAKES: dict[str, Callable[[], Fake]] = {"bluesky": BlueskyFake, "youtube": YouTubeFake}


# --- harness -----------------------------------------------------------------------------------


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


def settings_for(fake: Fake, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        f"{fake.platform}_api_base": f"{url}/{fake.platform}",
        "youtube_api_key": FAKE_KEY,
        "http_max_retries": 3,
        "http_timeout_s": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def run_collect(
    fake: Fake, since: datetime | None = None, **overrides: Any
) -> tuple[Connector, list[RawResponse]]:
    archived: list[RawResponse] = []

    async def main() -> Connector:
        async with serve(fake.handle) as url:
            settings = settings_for(fake, url, **overrides)
            async with HttpClient(settings, archived.append, backoff_base_s=0.01) as http:
                connector = get_connector(fake.platform)(http, settings)
                await connector.collect(fake.account, since)
                return connector

    return asyncio.run(main()), archived


def record_of(raw: RawResponse) -> dict[str, Any]:
    return {
        "endpoint": raw.endpoint,
        "account_key": raw.account_key,
        "request_url": raw.request_url,
        "status": raw.status,
        "body": raw.body,
        "fetched_at": raw.fetched_at,
    }


def parse_all(cls: type[Connector], archived: list[RawResponse]) -> list[ParsedRows]:
    return [cls.parse(record_of(raw)) for raw in archived]


def with_pipeline_columns(
    model: Any, rows: list[dict[str, Any]], platform: str, version: str, response_id: str
) -> pl.DataFrame:
    """The rows as the pipeline would write them: plus platform, lineage and observation times."""
    now = datetime.now(UTC)
    added: dict[str, Any] = {
        "platform": platform,
        "run_id": "run-contract",
        "response_id": response_id,
        "connector_version": version,
        "observed_at": now,
        "last_observed_at": now,
        "first_seen_at": now,
        "last_seen_at": now,
        "agency": None,
        "agency_name": None,
        "parent_agency": None,
        "tier": None,
    }
    columns = model.to_schema().columns
    full = [{name: row[name] if name in row else added[name] for name in columns} for row in rows]
    extra = {k for row in rows for k in row} - set(columns)
    assert not extra, f"parse produced columns the silver table does not have: {extra}"
    return pl.DataFrame(full, schema={n: c.dtype.type for n, c in columns.items()}, orient="row")


@pytest.fixture(params=sorted(CONNECTORS))
def fake(request: pytest.FixtureRequest) -> Fake:
    platform = request.param
    assert platform in FAKES, f"connector {platform!r} has no fake in the contract suite: add one"
    return FAKES[platform]()


# --- the contract ------------------------------------------------------------------------------


def test_collect_fetches_every_item_exactly_once(fake: Fake) -> None:
    connector, archived = run_collect(fake)
    assert set(fake.served) == set(fake.expected_posts())
    assert all(n == 1 for n in fake.served.values()), fake.served
    assert fake.list_pages == -(-N_ITEMS // PAGE_SIZE)  # every page once, then it stopped
    assert connector.cap_hits == []
    parsed = parse_all(type(connector), archived)
    posts = [p for rows in parsed for p in rows.posts]
    assert sorted(p["post_id"] for p in posts) == sorted(fake.expected_posts())
    assert {
        m["post_id"] for rows in parsed for m in rows.post_metrics
    } == fake.expected_metric_ids()
    assert all(not rows.problems for rows in parsed), [r.problems for r in parsed]
    assert len([a for rows in parsed for a in rows.accounts]) == 1


def test_since_stops_early(fake: Fake) -> None:
    since = item_time(4)
    _, archived = run_collect(fake, since=since)
    full_pages = -(-N_ITEMS // PAGE_SIZE)
    assert fake.list_pages < full_pages
    cls = CONNECTORS[fake.platform]
    got = {p["post_id"] for rows in parse_all(cls, archived) for p in rows.posts}
    assert set(fake.expected_posts(since)) <= got


def test_rows_validate_against_silver_models(fake: Fake) -> None:
    connector, archived = run_collect(fake)
    cls = type(connector)
    frames: dict[str, list[pl.DataFrame]] = {"a": [], "s": [], "p": [], "m": []}
    for n, raw in enumerate(archived):
        rows = cls.parse(record_of(raw))
        page_ids = [p["post_id"] for p in rows.posts]
        assert len(page_ids) == len(set(page_ids)), "post ids must be unique within a page"
        for metrics in rows.post_metrics:
            for counter in ("likes", "reposts", "replies", "quotes", "views"):
                assert metrics[counter] is None or metrics[counter] >= 0
        for snap in rows.account_snapshots:
            for counter in ("followers", "following", "posts_count"):
                assert snap[counter] is None or snap[counter] >= 0
        for post in rows.posts:
            assert post["created_at"].tzinfo is not None
            assert post["post_type"] in ("original", "reply", "quote", "repost")
        rid = f"resp-{n}"
        args = (cls.platform, cls.version, rid)
        frames["a"].append(with_pipeline_columns(Accounts, rows.accounts, *args))
        frames["s"].append(with_pipeline_columns(AccountSnapshots, rows.account_snapshots, *args))
        frames["p"].append(with_pipeline_columns(Posts, rows.posts, *args))
        frames["m"].append(with_pipeline_columns(PostMetrics, rows.post_metrics, *args))
    for key, model in (("a", Accounts), ("s", AccountSnapshots), ("p", Posts), ("m", PostMetrics)):
        frame = pl.concat(frames[key])
        assert frame.height > 0, f"{model.__name__}: no rows"
        model.validate(frame, lazy=True)


def test_archive_gets_every_response_including_a_retried_429(fake: Fake) -> None:
    fake.inject_429_on_list_page = 2
    connector, archived = run_collect(fake)
    assert len(archived) == fake.requests, "every response the server sent is archived"
    statuses = [r.status for r in archived]
    assert statuses.count(429) == 1
    i = statuses.index(429)
    # The retry asks for the same page again and gets it.
    assert archived[i + 1].request_url == archived[i].request_url
    assert archived[i + 1].status == 200
    assert archived[i].body, "the 429 body is archived as received"
    assert all(r.fetched_at.tzinfo is not None and r.elapsed_ms >= 0 for r in archived)
    assert all(FAKE_KEY not in r.request_url for r in archived)
    # Rows come from the archive alone: everything was archived before anything was parsed.
    posts = [p for rows in parse_all(type(connector), archived) for p in rows.posts]
    assert sorted(p["post_id"] for p in posts) == sorted(fake.expected_posts())
    assert all(n == 1 for n in fake.served.values())


def test_max_pages_cap_is_recorded(fake: Fake) -> None:
    connector, _ = run_collect(fake, max_pages=2)
    assert fake.list_pages == 2
    assert connector.cap_hits == [(fake.account.key, fake.list_endpoint)]


def test_missing_account_is_not_found(fake: Fake) -> None:
    fake.not_found = True
    with pytest.raises(NotFoundError):
        run_collect(fake)
    assert fake.list_pages == 0


GARBAGE = [
    b"",
    b"not json at all",
    b'{"feed": [{"post": {"uri"',
    b"[]",
    b"null",
    b"\xff\xfe\x00",
    b'{"x": 1}',
]


def test_garbage_bodies_give_problems_not_exceptions(fake: Fake) -> None:
    cls = CONNECTORS[fake.platform]
    for endpoint in fake.row_endpoints:
        for body in GARBAGE:
            record = {
                "endpoint": endpoint,
                "account_key": fake.account.key,
                "request_url": "http://x",
                "status": 200,
                "body": body,
                "fetched_at": T0,
            }
            rows = cls.parse(record)
            assert rows.problems, (endpoint, body)
            assert not (rows.accounts or rows.account_snapshots or rows.posts or rows.post_metrics)
            # an error response is not a data problem: no rows, nothing to quarantine
            assert cls.parse({**record, "status": 503}) == ParsedRows()


def test_drifted_items_are_reported_and_the_rest_parsed(fake: Fake) -> None:
    _, archived = run_collect(fake)
    cls = CONNECTORS[fake.platform]
    page = next(
        r for r in archived if r.endpoint in fake.row_endpoints and r.page > 0 and r.status == 200
    )
    body, left = fake.drift(page.body)
    rows = cls.parse({**record_of(page), "body": body})
    assert len(rows.problems) == 2, rows.problems
    assert any("id" in p or "uri" in p for p in rows.problems)
    assert any("createdAt" in p or "publishedAt" in p for p in rows.problems)
    assert len(rows.posts) == left


# --- registry of connectors --------------------------------------------------------------------


def test_get_connector_names_the_supported_platforms() -> None:
    assert get_connector("bluesky") is CONNECTORS["bluesky"]
    with pytest.raises(ConfigurationError, match="bluesky, youtube"):
        get_connector("myspace")


def test_capabilities_table_has_one_row_per_connector() -> None:
    from hhs_platform.connectors.capabilities import capabilities_table

    table = capabilities_table()
    assert sorted(table["platform"].to_list()) == sorted(CONNECTORS)
    assert {"followers", "views", "rate_limit", "history", "auth"} <= set(table.columns)
    row = table.filter(pl.col("platform") == "bluesky").row(0, named=True)
    assert row["views"] is False and row["likes"] is True
