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
FAKE_X_TOKEN = "contract-FAKE-x-bearer-0042"
REDDIT_TOKEN = "contract-FAKE-reddit-token-0042"


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
    #: (endpoint, GARBAGE body) pairs that are a valid, empty answer on this platform.
    valid_empty: frozenset[tuple[str, bytes]] = frozenset()
    throttle_status = 429  # the HTTP status of the platform's "slow down" (Meta: 400/403)

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


class XFake(Fake):
    platform = "x"
    user_id = "1000000000000000042"
    other = "2000000000000000077"
    account = AccountRef("x", "HHScontract")
    list_endpoint = "x.users.tweets"
    row_endpoints = ("x.users.by.username", "x.users.tweets")

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._item(i) for i in range(N_ITEMS)]

    def _item(self, i: int) -> tuple[str, dict[str, Any]]:
        kind = ("original", "reply", "quote", "repost", "edited")[i % 5]
        tid = str(1_800_000_000_000_000_000 + 1000 * (N_ITEMS - i))
        tweet: dict[str, Any] = {
            "id": tid,
            "text": f"post {i} #health @someone https://t.co/abc{i}",
            "author_id": self.user_id,
            "created_at": iso(item_time(i)),
            "conversation_id": tid,
            "lang": "en",
            "edit_history_tweet_ids": [tid],
            "entities": {
                "hashtags": [{"start": 7, "end": 14, "tag": "health"}],
                "mentions": [{"start": 15, "end": 23, "username": "someone", "id": self.other}],
                "urls": [
                    {
                        "start": 24,
                        "end": 47,
                        "url": f"https://t.co/abc{i}",
                        "expanded_url": f"https://www.hhs.gov/p/{i}",
                        "display_url": f"hhs.gov/p/{i}",
                    }
                ],
            },
            "public_metrics": {
                "retweet_count": 2 * i,
                "reply_count": i,
                "like_count": 10 * i,
                "quote_count": 1,
                "bookmark_count": 0,
                "impression_count": 100 * i,
            },
        }
        post_id = tid
        if kind == "original":
            tweet["attachments"] = {"media_keys": [f"3_{tid}"]}
        elif kind == "reply":
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": f"{tid}9"}]
        elif kind == "quote":
            tweet["referenced_tweets"] = [{"type": "quoted", "id": f"{tid}8"}]
        elif kind == "repost":
            tweet["text"] = f"RT @someone: post {i}"
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": f"{tid}7"}]
        else:  # edited: the timeline serves the newest version; the chain's first id is the key
            post_id = f"{tid}0"
            tweet["edit_history_tweet_ids"] = [post_id, tid]
            tweet["attachments"] = {"media_keys": [f"7_{tid}"]}
        return post_id, tweet

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            pid: item_time(i)
            for i, (pid, _) in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {
            pid
            for pid, t in self.items
            if not any(r["type"] == "retweeted" for r in t.get("referenced_tweets", []))
        }

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        del data["data"][0]["id"]
        del data["data"][1]["created_at"]
        return json.dumps(data).encode(), len(data["data"]) - 2

    def rate_headers(self, remaining: int) -> dict[str, str]:
        reset = int(datetime.now(UTC).timestamp()) + (1 if remaining == 0 else 900)
        return {
            "x-rate-limit-limit": "10000",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset),
        }

    def too_many(self) -> web.Response:
        return web.json_response(
            {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            status=429,
            headers=self.rate_headers(0),
        )

    def _includes(self, chunk: list[dict[str, Any]]) -> dict[str, Any]:
        media: list[dict[str, Any]] = []
        tweets: list[dict[str, Any]] = []
        for t in chunk:
            for key in t.get("attachments", {}).get("media_keys", []):
                if key.startswith("3_"):
                    media.append(
                        {
                            "media_key": key,
                            "type": "photo",
                            "url": f"https://pbs.twimg.com/{key}.jpg",
                        }
                    )
                else:
                    media.append(
                        {
                            "media_key": key,
                            "type": "video",
                            "duration_ms": 30500,
                            "preview_image_url": f"https://pbs.twimg.com/{key}.jpg",
                            "public_metrics": {"view_count": 7},
                        }
                    )
            for ref in t.get("referenced_tweets", []):
                tweets.append({"id": ref["id"], "text": "theirs", "author_id": self.other})
        users = [{"id": self.other, "name": "Someone", "username": "someone"}]
        return {"media": media, "tweets": tweets, "users": users}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        if request.headers.get("Authorization") != f"Bearer {FAKE_X_TOKEN}":
            return web.json_response(
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
                status=401,
            )
        headers = self.rate_headers(9990)
        if path == f"/x/2/users/by/username/{self.account.handle}" and not self.not_found:
            assert "public_metrics" in q.get("user.fields", "")
            return web.json_response(
                {
                    "data": {
                        "id": self.user_id,
                        "username": self.account.handle,
                        "name": "HHS contract",
                        "description": "test account",
                        "created_at": "2009-04-01T14:00:00.000Z",
                        "verified": True,
                        "verified_type": "government",
                        "protected": False,
                        "public_metrics": {
                            "followers_count": 1234,
                            "following_count": 12,
                            "tweet_count": N_ITEMS,
                            "listed_count": 3,
                        },
                    }
                },
                headers=headers,
            )
        if path.startswith("/x/2/users/by/username/"):
            name = path.rsplit("/", 1)[-1]
            return web.json_response(
                {
                    "errors": [
                        {
                            "value": name,
                            "detail": f"Could not find user with username: [{name}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "username",
                            "resource_id": name,
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
                headers=headers,
            )
        if path == f"/x/2/users/{self.user_id}/tweets":
            assert q.get("max_results") == "100"
            assert (
                "public_metrics" in q["tweet.fields"] and "referenced_tweets.id" in q["expansions"]
            )
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            items = self.items
            if "start_time" in q:
                start_time = datetime.fromisoformat(q["start_time"].replace("Z", "+00:00"))
                items = [(p, t) for i, (p, t) in enumerate(items) if item_time(i) >= start_time]
            start = int(q["pagination_token"].removeprefix("tok")) if "pagination_token" in q else 0
            chunk = items[start : start + PAGE_SIZE]
            for pid, _ in chunk:
                self.served[pid] += 1
            tweets = [t for _, t in chunk]
            meta: dict[str, Any] = {"result_count": len(tweets)}
            body: dict[str, Any] = {"meta": meta}
            if tweets:
                body["data"] = tweets
                body["includes"] = self._includes(tweets)
                meta["newest_id"], meta["oldest_id"] = tweets[0]["id"], tweets[-1]["id"]
            if start + PAGE_SIZE < len(items):
                meta["next_token"] = f"tok{start + PAGE_SIZE}"
            return web.json_response(body, headers=headers)
        return web.json_response(
            {
                "title": "Not Found Error",
                "detail": "no route",
                "type": "about:blank",
                "status": 404,
            },
            status=404,
        )


FAKE_THREADS_TOKEN = "contract-FAKE-threads-token-0042"
FAKE_LINKEDIN_TOKEN = "contract-FAKE-linkedin-token-0042"
FAKE_FLICKR_KEY = "contract-FAKE-flickr-key-0042"


def meta_ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


class ThreadsFake(Fake):
    platform = "threads"
    user_id = "17841400000000042"
    account = AccountRef("threads", "hhs_contract")
    list_endpoint = "threads.threads"
    throttle_status = 403  # Meta signals an exhausted budget with code 4, not a 429
    row_endpoints = (
        "threads.me",
        "threads.threads_insights",
        "threads.threads",
        "threads.media.insights",
        "threads.profile_lookup",
    )

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._item(i) for i in range(N_ITEMS)]
        self.insights_served: Counter[str] = Counter()

    def _item(self, i: int) -> dict[str, Any]:
        kind = ("original", "quote", "repost", "carousel")[i % 4]
        item: dict[str, Any] = {
            "id": f"1790000000{i:04d}",
            "media_product_type": "THREADS",
            "media_type": "TEXT_POST",
            "permalink": f"https://www.threads.net/@hhs_contract/post/C{i:04d}",
            "owner": {"id": self.user_id},
            "username": "hhs_contract",
            "text": f"thread {i} #health https://www.hhs.gov/t/{i}",
            "timestamp": meta_ts(item_time(i)),
            "shortcode": f"C{i:04d}",
            "is_quote_post": kind == "quote",
        }
        if kind == "original":
            item["media_type"] = "IMAGE"
            item["media_url"] = f"https://scontent.cdn.example/{i}.jpg"
        elif kind == "quote":
            item["quoted_post"] = {"id": f"1780000000{i:04d}"}
        elif kind == "repost":
            item["media_type"] = "REPOST_FACADE"
            item["reposted_post"] = {"id": f"1770000000{i:04d}"}
            del item["owner"], item["text"]
        else:
            item["media_type"] = "CAROUSEL_ALBUM"
            item["children"] = {"data": [{"id": f"c{i}a"}, {"id": f"c{i}b"}]}
        return item

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            it["id"]: item_time(i)
            for i, it in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {it["id"] for it in self.items if it["media_type"] != "REPOST_FACADE"}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        del data["data"][0]["id"]
        del data["data"][1]["timestamp"]
        return json.dumps(data).encode(), len(data["data"]) - 2

    def too_many(self) -> web.Response:
        # Meta answers an exhausted call budget with code 4 (not a 429 status).
        return web.json_response(
            {
                "error": {
                    "message": "Application request limit reached",
                    "type": "THApiException",
                    "code": 4,
                    "fbtrace_id": "AcontractTrace",
                }
            },
            status=403,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        if q.get("access_token") != FAKE_THREADS_TOKEN:
            return web.json_response(
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
                status=400,
            )
        base = "/threads/v1.0/"
        if path == base + "me":
            assert q.get("fields", "").startswith("id,username")
            username = "someone_else" if self.not_found else self.account.handle
            return web.json_response(
                {
                    "id": self.user_id if not self.not_found else "1111",
                    "username": username,
                    "name": "HHS contract",
                    "threads_profile_picture_url": "https://scontent.cdn.example/p.jpg",
                    "threads_biography": "test profile",
                    "is_verified": True,
                }
            )
        if path == base + "profile_lookup":
            return web.json_response(
                {
                    "error": {
                        "message": "Requested user does not exist",
                        "type": "THApiException",
                        "code": 100,
                        "error_subcode": 33,
                    }
                },
                status=400,
            )
        if path == f"{base}{self.user_id}/threads_insights":
            assert q.get("metric") == "followers_count"
            return web.json_response(
                {
                    "data": [
                        {
                            "name": "followers_count",
                            "period": "day",
                            "title": "followers_count",
                            "description": "Your followers on Threads.",
                            "total_value": {"value": 4321},
                            "id": f"{self.user_id}/insights/followers_count/day",
                        }
                    ]
                }
            )
        if path == f"{base}{self.user_id}/threads":
            assert q.get("limit") == "100" and "reposted_post" in q.get("fields", "")
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            pool = self.items
            if "since" in q:
                pool = [
                    it
                    for i, it in enumerate(self.items)
                    if item_time(i).timestamp() >= int(q["since"])
                ]
            start = int(q["after"].removeprefix("c")) if "after" in q else 0
            chunk = pool[start : start + PAGE_SIZE]
            for it in chunk:
                self.served[it["id"]] += 1
            paging: dict[str, Any] = {
                "cursors": {"before": f"c{start}", "after": f"c{start + len(chunk)}"}
            }
            if start + PAGE_SIZE < len(pool):
                paging["next"] = f"https://graph.threads.net/v1.0/{self.user_id}/threads?after=x"
            return web.json_response({"data": chunk, "paging": paging})
        if path.startswith(base) and path.endswith("/insights"):
            media_id = path[len(base) : -len("/insights")]
            assert q.get("metric") == "views,likes,replies,reposts,quotes"
            self.insights_served[media_id] += 1
            i = next(n for n, it in enumerate(self.items) if it["id"] == media_id)
            values = {
                "views": 100 * i,
                "likes": 10 * i,
                "replies": i,
                "reposts": 2 * i,
                "quotes": 1,
            }
            return web.json_response(
                {
                    "data": [
                        {
                            "name": name,
                            "period": "lifetime",
                            "values": [{"value": value}],
                            "title": name.title(),
                            "description": f"The number of {name} on your post.",
                            "id": f"{media_id}/insights/{name}/lifetime",
                        }
                        for name, value in values.items()
                    ]
                }
            )
        return web.json_response(
            {
                "error": {
                    "message": "Unsupported get request",
                    "type": "THApiException",
                    "code": 100,
                }
            },
            status=400,
        )


class LinkedInFake(Fake):
    platform = "linkedin"
    org_id = 90000042
    account = AccountRef("linkedin", "https://www.linkedin.com/company/hhs-contract/")
    list_endpoint = "linkedin.posts.author"
    row_endpoints = (
        "linkedin.organizations.vanityName",
        "linkedin.networkSizes",
        "linkedin.posts.author",
        "linkedin.organizationalEntityShareStatistics",
    )

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._item(i) for i in range(N_ITEMS)]
        self.stats_served: Counter[str] = Counter()

    @property
    def urn(self) -> str:
        return f"urn:li:organization:{self.org_id}"

    def _item(self, i: int) -> dict[str, Any]:
        kind = ("share", "ugc_article", "reshare", "multi")[i % 4]
        ms = int(item_time(i).timestamp() * 1000)
        prefix = "urn:li:ugcPost:" if kind == "ugc_article" else "urn:li:share:"
        post: dict[str, Any] = {
            "id": f"{prefix}70000000000000{i:04d}",
            "author": self.urn,
            "commentary": f"post {i} {{hashtag|\\#|PublicHealth}} https://www.hhs.gov/l/{i}",
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
            "createdAt": ms - 5,
            "publishedAt": ms,
            "lastModifiedAt": ms,
            "lifecycleStateInfo": {"isEditedByAuthor": False},
        }
        if kind == "share":
            post["content"] = {"media": {"id": f"urn:li:image:C4E{i}", "altText": ""}}
        elif kind == "ugc_article":
            post["content"] = {
                "article": {"source": f"https://www.hhs.gov/a/{i}", "title": f"Article {i}"}
            }
        elif kind == "reshare":
            post["commentary"] = ""
            post["reshareContext"] = {
                "parent": f"urn:li:share:69{i:04d}",
                "root": f"urn:li:share:69{i:04d}",
            }
        else:
            post["content"] = {
                "multiImage": {
                    "images": [{"id": f"urn:li:image:A{i}"}, {"id": f"urn:li:image:B{i}"}]
                }
            }
        return post

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            p["id"]: item_time(i)
            for i, p in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {p["id"] for p in self.items if "reshareContext" not in p}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        del data["elements"][0]["id"]
        del data["elements"][1]["publishedAt"], data["elements"][1]["createdAt"]
        return json.dumps(data).encode(), len(data["elements"]) - 2

    def too_many(self) -> web.Response:
        return web.json_response(
            {
                "serviceErrorCode": 101,
                "message": "Resource level throttle limit for calls to this resource is reached.",
                "status": 429,
            },
            status=429,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q, h = request.path, request.query, request.headers
        if h.get("Authorization") != f"Bearer {FAKE_LINKEDIN_TOKEN}":
            return web.json_response(
                {"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401},
                status=401,
            )
        assert h.get("X-Restli-Protocol-Version") == "2.0.0"
        assert (h.get("LinkedIn-Version") or "").isdigit()
        if path == "/linkedin/rest/organizations":
            assert q.get("q") == "vanityName"
            found = not self.not_found and q.get("vanityName") == "hhs-contract"
            org = {
                "id": self.org_id,
                "vanityName": "hhs-contract",
                "localizedName": "HHS Contract",
                "localizedDescription": "test page",
                "name": {"localized": {"en_US": "HHS Contract"}},
            }
            return web.json_response(
                {"elements": [org] if found else [], "paging": {"start": 0, "count": 10}}
            )
        if path == f"/linkedin/rest/networkSizes/{self.urn}":
            assert q.get("edgeType") == "COMPANY_FOLLOWED_BY_MEMBER"
            return web.json_response({"firstDegreeSize": 5678})
        if path == "/linkedin/rest/posts":
            assert q.get("q") == "author" and q.get("author") == self.urn
            assert q.get("count") == "100"
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            start = int(q.get("start", "0"))
            chunk = self.items[start : start + PAGE_SIZE]
            for p in chunk:
                self.served[p["id"]] += 1
            links = []
            if start + PAGE_SIZE < N_ITEMS:
                links.append(
                    {
                        "type": "application/json",
                        "rel": "next",
                        "href": f"/rest/posts?q=author&start={start + PAGE_SIZE}&count=100",
                    }
                )
            return web.json_response(
                {
                    "paging": {"start": start, "count": 100, "links": links, "total": N_ITEMS},
                    "elements": chunk,
                }
            )
        if path == "/linkedin/rest/organizationalEntityShareStatistics":
            assert (
                q.get("q") == "organizationalEntity" and q.get("organizationalEntity") == self.urn
            )
            elements = []
            for param, field in (("shares", "share"), ("ugcPosts", "ugcPost")):
                if param not in q:
                    continue
                value = q[param]
                assert value.startswith("List(") and value.endswith(")")
                for post_id in value[5:-1].split(","):
                    self.stats_served[post_id] += 1
                    i = next(n for n, p in enumerate(self.items) if p["id"] == post_id)
                    elements.append(
                        {
                            field: post_id,
                            "organizationalEntity": self.urn,
                            "totalShareStatistics": {
                                "uniqueImpressionsCount": 50 * i,
                                "shareCount": i,
                                "engagement": 0.01,
                                "clickCount": 3,
                                "likeCount": 10 * i,
                                "impressionCount": 100 * i,
                                "commentCount": i // 2,
                            },
                        }
                    )
            return web.json_response({"paging": {"start": 0, "count": 10}, "elements": elements})
        return web.json_response({"status": 404, "message": "Not Found"}, status=404)


class FlickrFake(Fake):
    platform = "flickr"
    nsid = "99990042@N02"
    account = AccountRef("flickr", "hhscontract")
    list_endpoint = "flickr.people.getPublicPhotos"
    row_endpoints = ("flickr.people.getInfo", "flickr.people.getPublicPhotos")

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._photo(i) for i in range(N_ITEMS)]

    def _photo(self, i: int) -> dict[str, Any]:
        video = i % 5 == 4
        return {
            "id": f"5300000{i:04d}",
            "owner": self.nsid,
            "secret": "abc",
            "server": "65535",
            "farm": 66,
            "title": f"Photo {i}",
            "ispublic": 1,
            "isfriend": 0,
            "isfamily": 0,
            "description": {"_content": f"Description {i}"},
            "dateupload": str(int(item_time(i).timestamp())),
            "datetaken": item_time(i).strftime("%Y-%m-%d %H:%M:%S"),
            "datetakengranularity": 0,
            "datetakenunknown": "0",
            "views": str(100 * i),
            "tags": "publichealth vaccines",
            "media": "video" if video else "photo",
            "media_status": "ready",
            "url_l": f"https://live.staticflickr.com/65535/5300000{i:04d}_abc_b.jpg",
            "height_l": 683,
            "width_l": 1024,
            "count_faves": str(i),
            "count_comments": str(i // 3),
        }

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            p["id"]: item_time(i)
            for i, p in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {p["id"] for p in self.items}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        del data["photos"]["photo"][0]["id"]
        del data["photos"]["photo"][1]["dateupload"]
        return json.dumps(data).encode(), len(data["photos"]["photo"]) - 2

    def too_many(self) -> web.Response:
        return web.json_response(
            {"stat": "fail", "code": 429, "message": "Too Many Requests"}, status=429
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        assert path == "/flickr/services/rest/"
        assert q.get("format") == "json" and q.get("nojsoncallback") == "1"
        if q.get("api_key") != FAKE_FLICKR_KEY:
            return web.json_response(
                {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}
            )
        method = q.get("method")
        if method == "flickr.urls.lookupUser":
            if self.not_found or q.get("url") != "https://www.flickr.com/photos/hhscontract/":
                return web.json_response({"stat": "fail", "code": 1, "message": "User not found"})
            return web.json_response(
                {"user": {"id": self.nsid, "username": {"_content": "HHS contract"}}, "stat": "ok"}
            )
        if method == "flickr.people.getInfo":
            assert q.get("user_id") == self.nsid
            return web.json_response(
                {
                    "person": {
                        "id": self.nsid,
                        "nsid": self.nsid,
                        "ispro": 1,
                        "path_alias": "hhscontract",
                        "username": {"_content": "HHS contract"},
                        "realname": {"_content": "HHS Contract Test"},
                        "description": {"_content": "test stream"},
                        "photosurl": {"_content": "https://www.flickr.com/photos/hhscontract/"},
                        "photos": {
                            "firstdatetaken": {"_content": "2009-01-01 00:00:00"},
                            "firstdate": {"_content": "1230768000"},
                            "count": {"_content": N_ITEMS},
                        },
                    },
                    "stat": "ok",
                }
            )
        if method == "flickr.people.getPublicPhotos":
            assert q.get("user_id") == self.nsid and q.get("per_page") == "500"
            assert "count_faves" in q.get("extras", "")
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            page = int(q.get("page", "1"))
            start = (page - 1) * PAGE_SIZE
            chunk = self.items[start : start + PAGE_SIZE]
            for p in chunk:
                self.served[p["id"]] += 1
            return web.json_response(
                {
                    "photos": {
                        "page": page,
                        "pages": -(-N_ITEMS // PAGE_SIZE),
                        "perpage": PAGE_SIZE,
                        "total": N_ITEMS,
                        "photo": chunk,
                    },
                    "stat": "ok",
                }
            )
        return web.json_response(
            {"stat": "fail", "code": 112, "message": f"Method {method} not found"}
        )


FAKES: dict[str, Callable[[], Fake]] = {"bluesky": BlueskyFake, "youtube": YouTubeFake}
FAKES["threads"] = ThreadsFake
FAKES["linkedin"] = LinkedInFake
FAKES["flickr"] = FlickrFake
FAKES["x"] = XFake


def graph_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


def graph_error(code: int, message: str, status: int = 400, **extra: Any) -> web.Response:
    error = {"message": message, "type": "OAuthException", "code": code, **extra}
    return web.json_response({"error": {**error, "fbtrace_id": "AContractTrace"}}, status=status)


class FacebookFake(Fake):
    """Graph API Pages: ``/{page}`` then ``/{page-id}/posts`` with ``paging.next`` + ``after``."""

    platform = "facebook"
    page_id = "100000000000042"
    account = AccountRef("facebook", "HHSContract")
    list_endpoint = "facebook.page.posts"
    row_endpoints = ("facebook.page", "facebook.page.posts")
    throttle_status = 400  # Meta throttles with 400/403 and an error code, never 429

    def __init__(self) -> None:
        super().__init__()
        self.ids = [f"{self.page_id}_{7000 + i}" for i in range(N_ITEMS)]

    def _post(self, i: int) -> dict[str, Any]:
        kind = ("photo", "link", "video", "repost")[i % 4]
        post: dict[str, Any] = {
            "id": self.ids[i],
            "created_time": graph_time(item_time(i)),
            "message": f"Post {i} #health https://www.hhs.gov/p/{i}",
            "permalink_url": f"https://www.facebook.com/{self.page_id}/posts/{7000 + i}/",
            "status_type": {"photo": "added_photos", "video": "added_video"}.get(
                kind, "shared_story"
            ),
            "reactions": {"data": [], "summary": {"total_count": 10 * i}},
            "comments": {"data": [], "summary": {"total_count": i}},
        }
        if i % 2 == 0:  # Graph leaves ``shares`` out when nobody shared
            post["shares"] = {"count": i}
        if kind == "photo":
            image = {"height": 720, "src": f"https://scontent.example/{i}.jpg", "width": 720}
            post["attachments"] = {
                "data": [{"media": {"image": image}, "media_type": "photo", "type": "photo"}]
            }
        elif kind == "link":
            post["attachments"] = {
                "data": [
                    {
                        "media_type": "link",
                        "type": "share",
                        "unshimmed_url": f"https://www.cdc.gov/a/{i}",
                        "url": f"https://l.facebook.com/l.php?u=cdc{i}",
                    }
                ]
            }
        elif kind == "video":
            post["attachments"] = {"data": [{"media_type": "video", "type": "video_autoplay"}]}
        else:
            post["parent_id"] = f"200000000000099_{9000 + i}"
        return post

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            pid: item_time(i)
            for i, pid in enumerate(self.ids)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {pid for i, pid in enumerate(self.ids) if i % 4 != 3}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        del data["data"][0]["id"]
        del data["data"][1]["created_time"]
        return json.dumps(data).encode(), len(data["data"]) - 2

    def too_many(self) -> web.Response:
        response = graph_error(4, "(#4) Application request limit reached", is_transient=True)
        response.headers["X-App-Usage"] = '{"call_count":100,"total_cputime":7,"total_time":9}'
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        if q.get("access_token") != FAKE_KEY:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        if path == f"/facebook/v21.0/{self.account.handle}":
            if self.not_found:
                return graph_error(
                    803, f"(#803) Some of the aliases you requested do not exist: {path}"
                )
            assert "followers_count" in q["fields"]
            return web.json_response(
                {
                    "id": self.page_id,
                    "name": "HHS contract",
                    "username": self.account.handle,
                    "about": "test page",
                    "fan_count": 1000,
                    "followers_count": 1234,
                    "link": "https://www.facebook.com/HHSContract",
                    "verification_status": "blue_verified",
                    "category": "Government organization",
                }
            )
        if path == f"/facebook/v21.0/{self.page_id}/posts":
            assert "reactions.summary(total_count).limit(0)" in q["fields"]
            assert q.get("limit") == "100"
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            since = int(q["since"]) if q.get("since") else None
            wanted = [
                i for i in range(N_ITEMS) if since is None or item_time(i).timestamp() >= since
            ]
            start = int(q["after"].removeprefix("QVFIU")) if "after" in q else 0
            chunk = wanted[start : start + PAGE_SIZE]
            for i in chunk:
                self.served[self.ids[i]] += 1
            body: dict[str, Any] = {"data": [self._post(i) for i in chunk]}
            if chunk:
                body["paging"] = {"cursors": {"before": "QVFIUb", "after": "QVFIUa"}}
            if start + PAGE_SIZE < len(wanted):
                after = f"QVFIU{start + PAGE_SIZE}"
                body["paging"]["cursors"]["after"] = after
                since_part = f"&since={since}" if since is not None else ""
                body["paging"]["next"] = (
                    f"https://graph.facebook.com/v21.0/{self.page_id}/posts?"
                    f"access_token={FAKE_KEY}&fields=id%2Ccreated_time%2Creactions.summary"
                    f"%28total_count%29.limit%280%29&limit=100{since_part}&after={after}"
                )
            return web.json_response(body)
        return graph_error(100, "Unsupported get request.", error_subcode=33)


class InstagramFake(Fake):
    """Graph API business_discovery: profile and media in ``fields``, nested ``media.after``."""

    platform = "instagram"
    asker = "17841400000000001"
    user_id = "17841400000000042"
    account = AccountRef("instagram", "hhs_contract")
    list_endpoint = "instagram.business_discovery"
    row_endpoints = ("instagram.business_discovery",)
    throttle_status = 403

    def __init__(self) -> None:
        super().__init__()
        self.ids = [f"1790000000000{i:04d}" for i in range(N_ITEMS)]

    def _media(self, i: int) -> dict[str, Any]:
        kind = ("IMAGE", "VIDEO", "CAROUSEL_ALBUM")[i % 3]
        item: dict[str, Any] = {
            "id": self.ids[i],
            "caption": f"Media {i} #vaccines with @cdcgov",
            "media_type": kind,
            "media_product_type": "REELS" if kind == "VIDEO" else "FEED",
            "media_url": f"https://scontent.cdninstagram.example/{i}",
            "permalink": f"https://www.instagram.com/p/Contract{i}/",
            "timestamp": graph_time(item_time(i)),
            "comments_count": i,
        }
        if i != 4:  # the owner hid the likes of one post
            item["like_count"] = 10 * i
        if kind == "CAROUSEL_ALBUM":
            item["children"] = {
                "data": [
                    {"media_type": "IMAGE", "media_url": f"https://c.example/{i}a", "id": "1"},
                    {"media_type": "IMAGE", "media_url": f"https://c.example/{i}b", "id": "2"},
                ]
            }
        return item

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            pid: item_time(i)
            for i, pid in enumerate(self.ids)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return set(self.ids)

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        media = data["business_discovery"]["media"]["data"]
        del media[0]["id"]
        del media[1]["timestamp"]
        return json.dumps(data).encode(), len(media) - 2

    def too_many(self) -> web.Response:
        return graph_error(
            80002,
            "(#80002) There have been too many calls to this Instagram account.",
            status=403,
            error_subcode=2446079,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        import re

        self.requests += 1
        path, q = request.path, request.query
        if q.get("access_token") != FAKE_KEY:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        if path != f"/instagram/v21.0/{self.asker}":
            return graph_error(100, "Unsupported get request.", error_subcode=33)
        fields = q.get("fields", "")
        match = re.match(r"^business_discovery\.username\(([^)]*)\)\{(.*)\}$", fields)
        assert match, fields
        if self.not_found or match.group(1) != self.account.handle:
            return graph_error(
                110,
                "Invalid user id",
                error_subcode=2207013,
                error_user_title="Cannot find User",
                error_user_msg=f"The user with username: {match.group(1)} cannot be found.",
            )
        media_q = re.search(r"media\.limit\((\d+)\)(?:\.after\(([^)]*)\))?\{", match.group(2))
        assert media_q and media_q.group(1) == "50", fields
        self.list_pages += 1
        if (limited := self.maybe_429()) is not None:
            return limited
        start = int(media_q.group(2).removeprefix("QVFIM")) if media_q.group(2) else 0
        chunk = list(range(start, min(start + PAGE_SIZE, N_ITEMS)))
        for i in chunk:
            self.served[self.ids[i]] += 1
        cursors = {"before": f"QVFIM{start}"}
        if start + PAGE_SIZE < N_ITEMS:
            cursors["after"] = f"QVFIM{start + PAGE_SIZE}"
        user: dict[str, Any] = {
            "media": {"data": [self._media(i) for i in chunk], "paging": {"cursors": cursors}},
            "id": self.user_id,
        }
        if "followers_count" in match.group(2):
            user |= {
                "username": self.account.handle,
                "name": "HHS contract",
                "biography": "test account",
                "followers_count": 5000,
                "follows_count": 50,
                "media_count": N_ITEMS,
            }
        return web.json_response({"business_discovery": user, "id": self.asker})


FAKES["facebook"] = FacebookFake
FAKES["instagram"] = InstagramFake


class MastodonFake(Fake):
    platform = "mastodon"
    account = AccountRef("mastodon", "@hhscontract")
    acct = "hhscontract"
    list_endpoint = "mastodon.accounts.statuses"
    row_endpoints = ("mastodon.accounts.lookup", "mastodon.accounts.statuses")
    valid_empty = frozenset({("mastodon.accounts.statuses", b"[]")})  # a bare, empty array
    account_id = "110000000000000042"

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._status(i) for i in range(N_ITEMS)]

    def _quote(self, i: int) -> dict[str, Any]:
        """Mastodon 4.5+: a ``quote`` object holding the quoted status."""
        quoted = {"id": f"9{i:017d}", "content": "<p>quoted</p>", "account": {"id": "7"}}
        return {"quote": {"state": "accepted", "quoted_status": quoted}}

    def _status(self, i: int) -> dict[str, Any]:
        kind = ("original", "reply", "quote", "repost")[i % 4]
        sid = str(117000000000000000 - 1000 * i)
        account = {"id": self.account_id, "acct": self.acct, "username": self.acct}
        status: dict[str, Any] = {
            "id": sid,
            "created_at": iso(item_time(i)),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"https://instance.example/users/{self.acct}/statuses/{sid}",
            "url": f"https://instance.example/@{self.acct}/{sid}",
            "replies_count": i,
            "reblogs_count": 2 * i,
            "favourites_count": 10 * i,
            "quotes_count": 1,
            "edited_at": None,
            "content": (
                f'<p>post {i} <a href="https://instance.example/tags/health" '
                'class="mention hashtag" rel="tag">#<span>health</span></a></p>'
            ),
            "reblog": None,
            "account": account,
            "media_attachments": [],
            "mentions": [],
            "tags": [{"name": "health", "url": "https://instance.example/tags/health"}],
            "emojis": [],
            "card": None,
            "poll": None,
            "quote": None,
        }
        if kind == "original":
            status["media_attachments"] = [
                {
                    "id": f"5{i}",
                    "type": "image",
                    "url": f"https://files.example/original/{i}.jpg",
                    "preview_url": f"https://files.example/small/{i}.jpg",
                    "meta": {"original": {"width": 640, "height": 480}},
                    "description": "alt text",
                }
            ]
        elif kind == "reply":
            status["in_reply_to_id"] = f"8{i:017d}"
            status["in_reply_to_account_id"] = "7"
        elif kind == "quote":
            status.update(self._quote(i))
        else:
            original = {**status, "id": f"6{i:017d}", "account": {"id": "7", "acct": "other"}}
            original["created_at"] = iso(item_time(i) - timedelta(days=3))
            status.update(
                content="",
                tags=[],
                reblog=original,
                url=None,
                replies_count=0,
                reblogs_count=0,
                favourites_count=0,
            )
        return status

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            s["id"]: item_time(i)
            for i, s in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {s["id"] for s in self.items if s["reblog"] is None}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        originals = [s for s in data if s["reblog"] is None]
        del originals[0]["id"]
        del originals[1]["created_at"]
        return json.dumps(data).encode(), len(data) - 2

    @staticmethod
    def _rate_headers(remaining: int, seconds: float) -> dict[str, str]:
        reset = datetime.now(UTC) + timedelta(seconds=seconds)
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # ISO, not epoch
        }

    def too_many(self) -> web.Response:
        return web.json_response(
            {"error": "Too many requests"}, status=429, headers=self._rate_headers(0, 1)
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        prefix = f"/{self.platform}/api/v1/accounts"
        headers = self._rate_headers(299, 300)
        if path == f"{prefix}/lookup":
            if self.not_found or q.get("acct") != self.acct:
                return web.json_response({"error": "Record not found"}, status=404)
            return web.json_response(
                {
                    "id": self.account_id,
                    "username": self.acct,
                    "acct": self.acct,
                    "display_name": "HHS contract",
                    "note": "<p>test account</p>",
                    "created_at": "2022-11-01T00:00:00.000Z",
                    "followers_count": 1234,
                    "following_count": 12,
                    "statuses_count": N_ITEMS,
                },
                headers=headers,
            )
        if path == f"{prefix}/{self.account_id}/statuses":
            assert q.get("limit") == "40"
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            ids = [s["id"] for s in self.items]
            start = ids.index(q["max_id"]) + 1 if "max_id" in q else 0
            chunk = self.items[start : start + PAGE_SIZE]
            for s in chunk:
                self.served[s["id"]] += 1
            url = f"{request.url.origin()}{path}?limit=40"
            links = []
            if start + PAGE_SIZE < N_ITEMS:
                links.append(f'<{url}&max_id={chunk[-1]["id"]}>; rel="next"')
            links.append(f'<{url}&min_id={chunk[0]["id"]}>; rel="prev"')
            return web.json_response(chunk, headers={**headers, "Link": ", ".join(links)})
        return web.json_response({"error": "Record not found"}, status=404)


class TruthSocialFake(MastodonFake):
    platform = "truthsocial"
    account = AccountRef("truthsocial", "https://www.truthsocial.com/@hhscontract")
    list_endpoint = "mastodon.accounts.statuses"
    valid_empty = frozenset({("mastodon.accounts.statuses", b"[]")})

    def _quote(self, i: int) -> dict[str, Any]:
        """Truth Social: ``quote_id`` plus the whole quoted status in ``quote``."""
        quoted = {"id": f"9{i:017d}", "content": "<p>quoted</p>", "account": {"id": "7"}}
        return {"quote_id": quoted["id"], "quote": quoted}


class RedditFake(Fake):
    platform = "reddit"
    account = AccountRef("reddit", "u/HHSContract")
    name = "HHSContract"
    list_endpoint = "reddit.user.submitted"
    row_endpoints = ("reddit.user.about", "reddit.user.submitted")

    def __init__(self) -> None:
        super().__init__()
        self.items = [self._child(i) for i in range(N_ITEMS)]

    def _child(self, i: int) -> dict[str, Any]:
        kind = ("self", "link", "crosspost", "video")[i % 4]
        short = f"c{i:04d}"
        data: dict[str, Any] = {
            "id": short,
            "name": f"t3_{short}",
            "author": self.name,
            "author_fullname": "t2_contract1",
            "created_utc": item_time(i).timestamp(),
            "title": f"Post {i}",
            "selftext": "",
            "is_self": kind == "self",
            "is_video": kind == "video",
            "permalink": f"/r/HHS/comments/{short}/post_{i}/",
            "url": f"https://www.reddit.com/r/HHS/comments/{short}/post_{i}/",
            "score": 10 * i,
            "ups": 10 * i,
            "num_comments": i,
            "num_crossposts": 0,
            "view_count": None,
            "media": None,
            "pinned": False,
            "stickied": False,
        }
        if kind == "self":
            data["selftext"] = f"Read more at https://www.hhs.gov/p/{i} u/someone"
        elif kind == "link":
            data["url"] = f"https://www.hhs.gov/news/{i}"
        elif kind == "crosspost":
            data["crosspost_parent"] = f"t3_orig{i}"
        else:
            data["url"] = f"https://v.redd.it/{short}"
            data["media"] = {
                "reddit_video": {
                    "fallback_url": f"https://v.redd.it/{short}/720.mp4",
                    "duration": i,
                }
            }
        return {"kind": "t3", "data": data}

    def expected_posts(self, since: datetime | None = None) -> dict[str, datetime]:
        return {
            c["data"]["name"]: item_time(i)
            for i, c in enumerate(self.items)
            if since is None or item_time(i) >= since
        }

    def expected_metric_ids(self) -> set[str]:
        return {c["data"]["name"] for c in self.items}

    def drift(self, body: bytes) -> tuple[bytes, int]:
        data = json.loads(body)
        children = data["data"]["children"]
        del children[0]["data"]["name"], children[0]["data"]["id"]
        del children[1]["data"]["created_utc"]
        return json.dumps(data).encode(), len(children) - 2

    def too_many(self) -> web.Response:
        return web.json_response(
            {"message": "Too Many Requests", "error": 429},
            status=429,
            headers={
                "x-ratelimit-remaining": "0.0",
                "x-ratelimit-used": "600",
                "x-ratelimit-reset": "1",
            },
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path, q = request.path, request.query
        if request.headers.get("Authorization") != f"bearer {REDDIT_TOKEN}":
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        assert "hhs" in request.headers.get("User-Agent", "").lower(), "a descriptive User-Agent"
        assert q.get("raw_json") == "1"
        headers = {
            "x-ratelimit-remaining": "590.0",
            "x-ratelimit-used": "10",
            "x-ratelimit-reset": "300",
        }
        if path == f"/reddit/user/{self.name}/about":
            if self.not_found:
                return web.json_response({"message": "Not Found", "error": 404}, status=404)
            return web.json_response(
                {
                    "kind": "t2",
                    "data": {
                        "id": "contract1",
                        "name": self.name,
                        "created_utc": 1552433444.0,
                        "total_karma": 5,
                        "is_suspended": False,
                        "subreddit": {
                            "title": "HHS contract",
                            "public_description": "test account",
                            "subscribers": 1234,
                        },
                    },
                },
                headers=headers,
            )
        if path == f"/reddit/user/{self.name}/submitted":
            assert q.get("sort") == "new" and q.get("limit") == "100"
            self.list_pages += 1
            if (limited := self.maybe_429()) is not None:
                return limited
            names = [c["data"]["name"] for c in self.items]
            start = names.index(q["after"]) + 1 if "after" in q else 0
            chunk = self.items[start : start + PAGE_SIZE]
            for c in chunk:
                self.served[c["data"]["name"]] += 1
            after = chunk[-1]["data"]["name"] if start + PAGE_SIZE < N_ITEMS else None
            return web.json_response(
                {
                    "kind": "Listing",
                    "data": {"after": after, "dist": len(chunk), "children": chunk, "before": None},
                },
                headers=headers,
            )
        return web.json_response({"message": "Not Found", "error": 404}, status=404)


FAKES.update(mastodon=MastodonFake, truthsocial=TruthSocialFake, reddit=RedditFake)
IG_ASKER = InstagramFake.asker


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
        "x_bearer_token": FAKE_X_TOKEN,
        "threads_access_token": FAKE_THREADS_TOKEN,
        "linkedin_access_token": FAKE_LINKEDIN_TOKEN,
        "flickr_api_key": FAKE_FLICKR_KEY,
        "facebook_access_token": FAKE_KEY,
        "instagram_access_token": FAKE_KEY,
        "reddit_access_token": REDDIT_TOKEN,
        "instagram_business_account_id": IG_ASKER,
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
        "deleted_at": None,  # set by the silver merge, never by parse
        "media": None,  # optional: connectors that know attachment details fill it
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


def test_archive_gets_every_response_including_a_retried_429(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A throttled Graph reply reports 100% usage, which holds the budget for 5 minutes; what
    # this test checks is the archive, so the hold is shortened.
    monkeypatch.setattr("hhs_platform.http.USAGE_HOLD_S", 0.2)
    fake.inject_429_on_list_page = 2
    connector, archived = run_collect(fake)
    assert len(archived) == fake.requests, "every response the server sent is archived"
    statuses = [r.status for r in archived]
    assert statuses.count(fake.throttle_status) == 1
    i = statuses.index(fake.throttle_status)
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
            if (endpoint, body) in fake.valid_empty:
                assert rows == ParsedRows(), (endpoint, body)
                continue
            assert rows.problems, (endpoint, body)
            assert not (rows.accounts or rows.account_snapshots or rows.posts or rows.post_metrics)
            # an error response is not a data problem: no rows, nothing to quarantine
            assert cls.parse({**record, "status": 503}) == ParsedRows()


#: Platforms whose listings page by a cursor the next page names (not by page number or offset).
CURSOR_PAGED = {"bluesky", "mastodon", "reddit", "threads", "truthsocial", "x", "youtube"}


def test_an_earlier_page_served_again_is_asked_for_again(fake: Fake) -> None:
    """A stale cache answers the third page with the first one, whose cursor points back to a
    page already read: the connector asks again instead of calling it a loop and stopping."""
    if fake.platform not in CURSOR_PAGED:
        pytest.skip(f"{fake.platform} pages by number or offset: a stale page carries no cursor")
    served: list[tuple[bytes, dict[str, str]]] = []
    handle = fake.handle

    async def stale_once(request: web.Request) -> web.StreamResponse:
        before = fake.list_pages
        response = await handle(request)
        if fake.list_pages > before and isinstance(response, web.Response) and response.body:
            served.append((bytes(response.body), dict(response.headers)))  # type: ignore[arg-type]
            if len(served) == 3:
                body, headers = served[0]
                headers.pop("Content-Length", None)
                return web.Response(body=body, status=200, headers=headers)
        return response

    fake.handle = stale_once  # type: ignore[method-assign]
    connector, archived = run_collect(fake)
    assert len(served) > 3, "the listing should be longer than three pages"
    assert not connector.cap_hits, connector.cap_hits
    posts = {
        p["post_id"] for rows in parse_all(CONNECTORS[fake.platform], archived) for p in rows.posts
    }
    assert len(posts) == len(fake.expected_posts())


def test_every_endpoint_quarantines_a_truncated_body(fake: Fake) -> None:
    """Endpoints that only drive pagination or lookups carry no rows, but a cut body on any of
    them is still a problem to quarantine: no archived response fails silently."""
    _, archived = run_collect(fake)
    cls = CONNECTORS[fake.platform]
    pages = {r.endpoint: r for r in archived if r.status == 200 and len(r.body or b"") > 2}
    assert pages, "the fake served no 200 pages"
    for endpoint, page in pages.items():
        cut = page.body[: len(page.body) // 2]
        rows = cls.parse({**record_of(page), "body": cut})
        assert rows.problems, (endpoint, cut[:80])
        assert not (rows.accounts or rows.account_snapshots or rows.posts or rows.post_metrics)


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
    assert any(
        k in p
        for p in rows.problems
        for k in (
            "createdAt",
            "publishedAt",
            "created_at",
            "created_time",
            "timestamp",
            "created_utc",
            "dateupload",
        )
    )
    assert len(rows.posts) == left


# --- registry of connectors --------------------------------------------------------------------


def test_get_connector_names_the_supported_platforms() -> None:
    assert get_connector("bluesky") is CONNECTORS["bluesky"]
    with pytest.raises(ConfigurationError, match=", ".join(sorted(CONNECTORS))):
        get_connector("myspace")


def test_capabilities_table_has_one_row_per_connector() -> None:
    from hhs_platform.connectors.capabilities import capabilities_table

    table = capabilities_table()
    assert sorted(table["platform"].to_list()) == sorted(CONNECTORS)
    assert {"followers", "views", "rate_limit", "history", "auth"} <= set(table.columns)
    row = table.filter(pl.col("platform") == "bluesky").row(0, named=True)
    assert row["views"] is False and row["likes"] is True
