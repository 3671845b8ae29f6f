"""The simulated Flickr REST API (shapes from the documented method pages: no recordings exist)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest

from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread

Fetch = Callable[..., Any]
EXTRAS = (
    "date_upload,date_taken,views,count_faves,count_comments,tags,url_o,url_l,media,o_dims,"
    "description"
)


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    rows = load_registry().filter(pl.col("platform") == "flickr")
    with SandboxThread(accounts=rows, seed=7, limits={"flickr_api_keys": {"good"}}) as s:
        yield s


def call(fetch: Fetch, sb: SandboxThread, method: str, **params: Any) -> Any:
    query = {"method": method, "api_key": "good", "format": "json", "nojsoncallback": 1, **params}
    return fetch(sb.url("flickr") + "/services/rest/", query)


def test_lookup_then_info(sb: SandboxThread, fetch: Fetch) -> None:
    url = "https://www.flickr.com/photos/hhsgov/"
    user = call(fetch, sb, "flickr.urls.lookupUser", url=url).json()
    assert user["stat"] == "ok"
    nsid = user["user"]["id"]
    person = call(fetch, sb, "flickr.people.getInfo", user_id=nsid).json()["person"]
    acc = sb.world.account_by_id(nsid)
    assert person["nsid"] == nsid and person["path_alias"] == "hhsgov"
    assert person["photos"]["count"]["_content"] == len(sb.world.visible_posts(acc, sb.clock.now()))
    by_name = call(fetch, sb, "flickr.people.findByUsername", username=acc.username).json()
    assert by_name["user"]["nsid"] == nsid
    nsid_member = call(fetch, sb, "flickr.people.getInfo", user_id="54244393@N02").json()
    assert nsid_member["person"]["path_alias"] is None


def test_public_photos_pages_and_types(sb: SandboxThread, fetch: Fetch) -> None:
    acc = sb.world.account_by_id("54244393@N02")
    want = {p.post_id for p in sb.world.visible_posts(acc, sb.clock.now())}
    got: list[str] = []
    page = 1
    while True:
        photos = call(fetch, sb, "flickr.people.getPublicPhotos", user_id=acc.account_id,
                      extras=EXTRAS, per_page=40, page=page).json()["photos"]  # fmt: skip
        assert (photos["perpage"], photos["total"]) == (40, len(want))
        got += [p["id"] for p in photos["photo"]]
        if page >= photos["pages"]:
            break
        page += 1
    assert len(got) == len(set(got)) and set(got) == want
    first = call(fetch, sb, "flickr.people.getPublicPhotos", user_id=acc.account_id,
                 extras=EXTRAS, per_page=5).json()["photos"]["photo"]  # fmt: skip
    uploads = [int(p["dateupload"]) for p in first]
    assert uploads == sorted(uploads, reverse=True)
    p = first[0]
    assert isinstance(p["views"], str) and isinstance(p["count_faves"], str)
    assert p["media"] in ("photo", "video") and "_content" in p["description"]
    assert p["url_o"].endswith("_o.jpg") and isinstance(p["width_o"], int)
    bare = call(fetch, sb, "flickr.people.getPublicPhotos", user_id=acc.account_id).json()
    assert "dateupload" not in bare["photos"]["photo"][0]
    assert bare["photos"]["perpage"] == 100


def test_errors_are_stat_fail_with_http_200(sb: SandboxThread, fetch: Fetch) -> None:
    r = call(fetch, sb, "flickr.people.getInfo", user_id="1@N01")
    assert (r.status, r.json()) == (200, {"stat": "fail", "code": 1, "message": "User not found"})
    r = call(fetch, sb, "flickr.people.getInfo", user_id="1@N01", api_key="bad")
    assert r.json()["code"] == 100
    r = call(fetch, sb, "flickr.nope")
    assert r.json() == {"stat": "fail", "code": 112, "message": 'Method "flickr.nope" not found'}
    r = fetch(sb.url("flickr") + "/services/rest/",
              {"method": "flickr.people.getInfo", "api_key": "good", "user_id": "1@N01",
               "format": "json"})  # fmt: skip
    assert r.body.decode().startswith("jsonFlickrApi({")
    r = fetch(
        sb.url("flickr") + "/services/rest/",
        {"method": "flickr.people.getInfo", "api_key": "good", "user_id": "1@N01"},
    )
    assert b'<err code="1" msg="User not found" />' in r.body


def test_rate_limit(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    s = make_sandbox(accounts=[], limits={"flickr_rate_limit": 1})
    assert call(fetch, s, "flickr.people.getInfo", user_id="1@N01", api_key="k").status == 200
    assert call(fetch, s, "flickr.people.getInfo", user_id="1@N01", api_key="k").status == 429
