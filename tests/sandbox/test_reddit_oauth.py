"""The simulated Reddit API: auth, rate-limit headers, listings, crossposts, suspended users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hhs_platform.sandbox import SandboxThread

ROWS = [
    {"platform": "reddit", "handle": "u/HHSgov", "platform_id": None, "agency": "HHS",
     "agency_name": "U.S. Department of Health and Human Services"},
    {"platform": "reddit", "handle": "CDCgov", "platform_id": "t2_4k2f0x9q", "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
]  # fmt: skip
AUTH = {"Authorization": "bearer token"}
Fetch = Callable[..., Any]


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=ROWS, seed=11, history_days=120) as s:
        yield s


def get(fetch: Fetch, sb: SandboxThread, path: str, headers: Any = AUTH, **params: Any) -> Any:
    return fetch(sb.url("reddit") + path, {"raw_json": 1, **params}, headers=headers)


def test_about_serves_followers_and_ids(sb: SandboxThread, fetch: Fetch) -> None:
    r = get(fetch, sb, "/user/cdcgov/about")
    assert r.status == 200
    data = r.json()["data"]
    acc = sb.world.account("reddit", "cdcgov", "handle")
    assert acc is not None
    assert (data["name"], data["id"]) == ("CDCgov", "4k2f0x9q")
    assert data["subreddit"]["subscribers"] == sb.world.followers(acc, sb.clock.now())
    assert data["subreddit"]["display_name_prefixed"] == "u/CDCgov"


def test_bearer_token_required(sb: SandboxThread, fetch: Fetch) -> None:
    r = get(fetch, sb, "/user/HHSgov/about", headers={})
    assert (r.status, r.json()) == (401, {"message": "Unauthorized", "error": 401})
    headers = {k.lower(): v for k, v in r.headers.items()}
    assert "invalid_token" in headers["www-authenticate"]


def test_rate_limit_headers(sb: SandboxThread, fetch: Fetch) -> None:
    r = get(fetch, sb, "/user/HHSgov/about", headers={"Authorization": "bearer fresh"})
    h = {k.lower(): v for k, v in r.headers.items()}
    assert h["x-ratelimit-used"] == "1"
    assert h["x-ratelimit-remaining"] == "999.0"
    assert 0 <= int(h["x-ratelimit-reset"]) <= 600


def test_new_listing_pages_through_every_submission(sb: SandboxThread, fetch: Fetch) -> None:
    acc = sb.world.account("reddit", "hhsgov", "handle")
    assert acc is not None
    want = [p.post_id for p in reversed(sb.world.visible_posts(acc, sb.clock.now()))]
    got: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"sort": "new", "limit": 7}
        if after:
            params["after"] = after
        data = get(fetch, sb, "/user/HHSgov/submitted", **params).json()["data"]
        assert data["dist"] == len(data["children"]) <= 7
        assert (data["before"] is None) == (after is None)
        got += [c["data"]["name"] for c in data["children"]]
        after = data["after"]
        if after is None:
            break
    assert got == want
    back = get(fetch, sb, "/user/HHSgov/submitted", before=want[10], limit=5).json()["data"]
    assert [c["data"]["name"] for c in back["children"]] == want[5:10]


def test_crossposts_point_at_their_parent(sb: SandboxThread, fetch: Fetch) -> None:
    now = sb.clock.now()
    for acc in sb.world.platform_accounts("reddit"):
        data = get(fetch, sb, f"/user/{acc.username}/submitted", limit=100).json()["data"]
        for child in data["children"]:
            d = child["data"]
            if "crosspost_parent" in d:
                parent = sb.world.posts[d["crosspost_parent"]]
                assert d["crosspost_parent_list"][0]["name"] == parent.post_id
                assert sb.world.counter(parent, "reposts", now) >= 1
                return
    pytest.fail("no crosspost in the world")


def test_legacy_escaping_without_raw_json(sb: SandboxThread, fetch: Fetch) -> None:
    r = fetch(sb.url("reddit") + "/user/HHSgov/submitted", {"limit": 100}, headers=AUTH)
    html = [c["data"]["selftext_html"] for c in r.json()["data"]["children"]
            if c["data"]["selftext_html"]]  # fmt: skip
    assert html and all("&lt;div" in h for h in html)


def test_suspended_user(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    s = make_sandbox(accounts=ROWS, limits={"reddit_suspended_users": {"hhsgov"}})
    about = get(fetch, s, "/user/HHSgov/about").json()
    assert about["data"]["is_suspended"] is True and "subreddit" not in about["data"]
    r = get(fetch, s, "/user/HHSgov/submitted")
    assert (r.status, r.json()) == (403, {"message": "Forbidden", "error": 403})
