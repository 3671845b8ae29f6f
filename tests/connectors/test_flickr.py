"""The Flickr connector against a local server speaking the documented REST shape.

No recorded Flickr payloads exist in ../shared/api-samples: the bodies below follow the method
pages of the Flickr API documentation (``flickr.people.getInfo``, ``flickr.people.getPublicPhotos``,
``flickr.urls.lookupUser``) and its error format ``{"stat": "fail", "code": N, "message": ...}``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import AccountRef, RawResponse
from hhs_platform.connectors.flickr import FlickrConnector
from hhs_platform.errors import AuthError, NotFoundError, ServerError
from hhs_platform.http import HttpClient, classify_response
from hhs_platform.settings import Settings

KEY = "flickr-FAKE-key-0099"
NSID = "54244393@N02"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def photo(i: int) -> dict[str, Any]:
    return {
        "id": f"5400000{i:04d}",
        "owner": NSID,
        "secret": "s",
        "server": "65535",
        "farm": 66,
        "title": f"Lab {i}",
        "ispublic": 1,
        "isfriend": 0,
        "isfamily": 0,
        "description": {"_content": f"Scientist at work {i}"},
        "dateupload": str(T0 - 3600 * i),
        "datetaken": "2025-12-31 10:00:00",
        "views": str(1000 + i),
        "tags": "cdc laboratory cdc",
        "media": "video" if i == 1 else "photo",
        "url_o": f"https://live.staticflickr.com/65535/5400000{i:04d}_o.jpg" if i != 2 else None,
        "url_l": f"https://live.staticflickr.com/65535/5400000{i:04d}_b.jpg",
        "count_faves": str(i * 2),
        "count_comments": "1",
    }


PHOTOS = [photo(i) for i in range(5)]
PER_PAGE = 2


class Server:
    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.calls.append(q)
        assert request.path == "/services/rest/"
        if q.get("api_key") != KEY:
            return web.json_response({"stat": "fail", "code": 100, "message": "Invalid API Key"})
        method = q["method"]
        if method == "flickr.urls.lookupUser":
            if q["url"] != "https://www.flickr.com/photos/cdcgov/":
                return web.json_response({"stat": "fail", "code": 1, "message": "User not found"})
            return web.json_response(
                {"user": {"id": NSID, "username": {"_content": "CDCgov"}}, "stat": "ok"}
            )
        if method == "flickr.people.getInfo":
            if q["user_id"] != NSID:
                return web.json_response({"stat": "fail", "code": 1, "message": "User not found"})
            return web.json_response(
                {
                    "person": {
                        "id": NSID,
                        "nsid": NSID,
                        "ispro": 1,
                        "path_alias": "cdcgov",
                        "username": {"_content": "CDCgov"},
                        "realname": {"_content": "Centers for Disease Control"},
                        "description": {"_content": "Official CDC photostream"},
                        "photos": {
                            "firstdate": {"_content": "1280000000"},
                            "count": {"_content": 5},
                        },
                    },
                    "stat": "ok",
                }
            )
        if method == "flickr.people.getPublicPhotos":
            page = int(q.get("page", "1"))
            chunk = [p for p in PHOTOS[(page - 1) * PER_PAGE : page * PER_PAGE]]
            chunk = [{k: v for k, v in p.items() if v is not None} for p in chunk]
            return web.json_response(
                {
                    "photos": {
                        "page": page,
                        "pages": 3,
                        "perpage": PER_PAGE,
                        "total": "5",
                        "photo": chunk,
                    },
                    "stat": "ok",
                }
            )
        return web.json_response({"stat": "fail", "code": 112, "message": "Method not found"})


def run(handle: str, coro_name: str = "collect", since: datetime | None = None, key: str = KEY):
    server = Server()
    archived: list[RawResponse] = []

    async def main() -> Any:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", server.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                flickr_api_base=f"http://127.0.0.1:{runner.addresses[0][1]}",
                flickr_api_key=key,
                http_max_retries=1,
            )
            async with HttpClient(settings, archived.append, backoff_base_s=0.01) as http:
                connector = FlickrConnector(http, settings)
                account = AccountRef("flickr", handle)
                if coro_name == "resolve":
                    return await connector.resolve(account)
                return await connector.collect(account, since)
        finally:
            await runner.cleanup()

    result = asyncio.run(main())
    return result, server, archived


def parsed(archived: list[RawResponse]) -> Any:
    out = []
    for r in archived:
        rec = {
            "endpoint": r.endpoint,
            "account_key": r.account_key,
            "request_url": r.request_url,
            "status": r.status,
            "body": r.body,
            "fetched_at": r.fetched_at,
        }
        out.append(FlickrConnector.parse(rec))
    return out


def test_collect_by_path_alias_reads_every_page() -> None:
    _, server, archived = run("https://www.flickr.com/photos/cdcgov/")
    methods = [c["method"] for c in server.calls]
    assert methods == [
        "flickr.urls.lookupUser",
        "flickr.people.getInfo",
        *["flickr.people.getPublicPhotos"] * 3,
    ]
    assert all(c["format"] == "json" and c["nojsoncallback"] == "1" for c in server.calls)
    assert server.calls[-1]["per_page"] == "500" and "count_faves" in server.calls[-1]["extras"]
    assert all(KEY not in r.request_url and "api_key=***" in r.request_url for r in archived)
    rows = parsed(archived)
    assert all(not r.problems for r in rows)
    accounts = [a for r in rows for a in r.accounts]
    assert accounts == [
        {
            "account_id": NSID,
            "handle": "cdcgov",
            "display_name": "Centers for Disease Control",
            "description": "Official CDC photostream",
            "account_created_at": None,
            "account_key": "flickr:https://www.flickr.com/photos/cdcgov/",
        }
    ]
    snaps = [s for r in rows for s in r.account_snapshots]
    assert snaps == [{"account_id": NSID, "followers": None, "following": None, "posts_count": 5}]
    posts = {p["post_id"]: p for r in rows for p in r.posts}
    assert len(posts) == 5
    first = posts["54000000000"]
    assert first["created_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert first["title"] == "Lab 0" and first["text"] == "Scientist at work 0"
    assert first["hashtags"] == ["cdc", "laboratory"]
    assert first["url"] == f"https://www.flickr.com/photos/{NSID}/54000000000/"
    assert first["media_urls"] == ["https://live.staticflickr.com/65535/54000000000_o.jpg"]
    assert posts["54000000001"]["media_type"] == "video"
    assert posts["54000000002"]["media_urls"] == [
        "https://live.staticflickr.com/65535/54000000002_b.jpg"
    ]  # no original size: the large one
    metrics = {m["post_id"]: m for r in rows for m in r.post_metrics}
    assert metrics["54000000003"] == {
        "post_id": "54000000003",
        "account_id": NSID,
        "likes": 6,
        "reposts": None,
        "replies": 1,
        "quotes": None,
        "views": 1003,
    }


def test_nsid_handle_skips_the_lookup_and_since_stops_early() -> None:
    since = datetime.fromtimestamp(T0 - 3600 * 1.5, UTC)  # photos 0 and 1 are newer
    _, server, _ = run(NSID, since=since)
    methods = [c["method"] for c in server.calls]
    # page 2 (photos 2, 3) is all older: no page 3
    assert methods == ["flickr.people.getInfo", *["flickr.people.getPublicPhotos"] * 2]


def test_errors_arrive_with_http_200() -> None:
    with pytest.raises(NotFoundError):
        run("nobody-at-all")
    with pytest.raises(AuthError):
        run(NSID, key="wrong-key-0000")

    def raw(body: bytes) -> RawResponse:
        return RawResponse(
            "flickr", "flickr.people.getInfo", "flickr:x", "u", 200, {}, body,
            datetime(2026, 1, 1, tzinfo=UTC), 1.0, 0,
        )  # fmt: skip

    unavailable = b'{"stat":"fail","code":105,"message":"Service currently unavailable"}'
    assert isinstance(
        classify_response(raw(unavailable), FlickrConnector.classify_error), ServerError
    )
    assert (
        classify_response(raw(b'{"stat":"ok","person":{}}'), FlickrConnector.classify_error) is None
    )
    # A fail body is not data and not a data problem.
    rows = FlickrConnector.parse(
        {"endpoint": "flickr.people.getInfo", "account_key": "flickr:x", "status": 200,
         "body": unavailable, "request_url": "u", "fetched_at": None}
    )  # fmt: skip
    assert not rows.problems and not rows.accounts


def test_resolve() -> None:
    found, _, _ = run("cdcgov", "resolve")
    assert (found.status, found.account_id, found.current_handle, found.display_name) == (
        "active",
        NSID,
        "cdcgov",
        "Centers for Disease Control",
    )
    missing, _, _ = run("nobody-at-all", "resolve")
    assert missing.status == "not_found"
