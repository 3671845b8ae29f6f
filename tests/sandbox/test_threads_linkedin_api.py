"""The simulated Threads and LinkedIn APIs: tokens, paging, errors and Rest.li encoding."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from hhs_platform.sandbox import SandboxThread
from hhs_platform.sandbox.model import Repost

ROWS: list[dict[str, Any]] = [
    {"platform": "threads", "handle": "@hhsgov", "platform_id": None, "agency": "HHS",
     "agency_name": "U.S. Department of Health and Human Services"},
    {"platform": "threads", "handle": "cdcgov", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "linkedin", "handle": "https://www.linkedin.com/company/nchs", "platform_id": None,
     "agency": "CDC-NCHS", "agency_name": "National Center for Health Statistics (CDC)"},
    {"platform": "linkedin", "handle": "hrsagov", "platform_id": "1234567", "agency": "HRSA",
     "agency_name": "Health Resources and Services Administration"},
]  # fmt: skip
TOKENS = {"tok-hhs": "hhsgov", "tok-cdc": "cdcgov"}
LI_HEADERS = {
    "Authorization": "Bearer li-token",
    "LinkedIn-Version": "202605",
    "X-Restli-Protocol-Version": "2.0.0",
}


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    limits = {"threads_access_tokens": TOKENS, "linkedin_access_tokens": {"li-token"}}
    with SandboxThread(accounts=ROWS, seed=4, limits=limits, history_days=120) as sandbox:
        yield sandbox


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One GET over a real socket, the URL sent exactly as written (escapes kept)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_threads_token_is_its_profile(sb: SandboxThread) -> None:
    base = sb.url("threads") + "/v1.0"
    status, me = get(f"{base}/me?fields=id,username,name,threads_biography&access_token=tok-cdc")
    assert status == 200 and me["username"] == "cdcgov" and me["id"].isdigit()
    hhs = sb.world.account("threads", "hhsgov", "handle")
    assert hhs is not None
    # Another profile's threads and insights are not readable with this token.
    status, body = get(f"{base}/{hhs.account_id}/threads?access_token=tok-cdc")
    assert status == 400 and body["error"]["code"] == 100 and body["error"]["error_subcode"] == 33
    status, body = get(f"{base}/me?access_token=nope")
    assert status == 400 and body["error"]["code"] == 190
    assert body["error"]["type"] == "OAuthException"
    status, body = get(f"{base}/me")
    assert status == 400 and body["error"]["code"] == 104


def test_threads_cursor_paging_walks_the_whole_feed(sb: SandboxThread) -> None:
    base = sb.url("threads") + "/v1.0"
    acc = sb.world.account("threads", "hhsgov", "handle")
    assert acc is not None
    url: str | None = (
        f"{base}/me/threads?fields=id,timestamp,media_type&limit=40&access_token=tok-hhs"
    )
    seen: list[str] = []
    while url:
        status, page = get(url)
        assert status == 200
        seen += [d["id"] for d in page["data"]]
        url = page.get("paging", {}).get("next")
    expected = [e.uri if isinstance(e, Repost) else e.post_id
                for e in sb.world.visible_feed(acc, sb.world.now())]  # fmt: skip
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen)) > 40
    # since must not be older than the launch of the API
    status, body = get(f"{base}/me/threads?since=1600000000&access_token=tok-hhs")
    assert status == 400 and body["error"]["code"] == 100


def test_threads_insights_and_discovery(sb: SandboxThread) -> None:
    base = sb.url("threads") + "/v1.0"
    acc = sb.world.account("threads", "hhsgov", "handle")
    assert acc is not None
    now = sb.world.now()
    post = sb.world.visible_posts(acc, now)[-5]
    status, body = get(f"{base}/{post.post_id}/insights?metric=views,likes,replies,reposts,quotes"
                       "&access_token=tok-hhs")  # fmt: skip
    assert status == 200
    values = {d["name"]: d["values"][0]["value"] for d in body["data"]}
    assert values == {m: sb.world.counter(post, m, now)
                      for m in ("views", "likes", "replies", "reposts", "quotes")}  # fmt: skip
    assert body["data"][0]["id"] == f"{post.post_id}/insights/views/lifetime"
    status, body = get(f"{base}/{post.post_id}/insights?metric=views&access_token=tok-cdc")
    assert status == 400 and body["error"]["error_subcode"] == 33  # not the token's post
    status, body = get(f"{base}/me/threads_insights?metric=followers_count&access_token=tok-hhs")
    assert body["data"][0]["total_value"]["value"] == sb.world.followers(acc, now)
    assert body["data"][0]["id"].startswith(acc.account_id + "/insights/")
    status, body = get(f"{base}/profile_lookup?username=hhsgov&access_token=tok-cdc")
    assert status == 200 and body["follower_count"] == sb.world.followers(acc, now)
    assert "id" not in body
    status, body = get(f"{base}/profile_posts?username=hhsgov&fields=id,text,timestamp"
                       "&access_token=tok-cdc")  # fmt: skip
    assert status == 200 and body["data"] and "paging" in body


def test_threads_rate_limit_is_code_17(sb: SandboxThread) -> None:
    limits = {"threads_access_tokens": TOKENS, "threads_rate_limit": 2}
    with SandboxThread(accounts=ROWS[:1], seed=4, limits=limits) as small:
        url = small.url("threads") + "/v1.0/me?access_token=tok-hhs"
        assert [get(url)[0] for _ in range(2)] == [200, 200]
        status, body = get(url)
    assert status == 400 and body["error"]["code"] == 17 and body["error"]["is_transient"]


def test_linkedin_headers_and_token(sb: SandboxThread) -> None:
    url = sb.url("linkedin") + "/rest/organizations?q=vanityName&vanityName=nchs"
    status, body = get(url, LI_HEADERS)
    assert status == 200 and body["elements"][0]["vanityName"] == "nchs"
    status, body = get(url, {**LI_HEADERS, "Authorization": "Bearer wrong"})
    assert status == 401 and body["serviceErrorCode"] == 65600
    no_version = {k: v for k, v in LI_HEADERS.items() if k != "LinkedIn-Version"}
    status, body = get(url, no_version)
    assert status == 400 and body["code"] == "VERSION_MISSING"
    status, body = get(url, {**LI_HEADERS, "LinkedIn-Version": "202301"})
    assert status == 426 and body["code"] == "NONEXISTENT_VERSION"
    no_restli = {k: v for k, v in LI_HEADERS.items() if k != "X-Restli-Protocol-Version"}
    assert get(url, no_restli)[0] == 400


def test_linkedin_urns_must_be_encoded_in_paths_and_lists(sb: SandboxThread) -> None:
    acc = sb.world.account("linkedin", "hrsagov", "handle")
    assert acc is not None and acc.account_id == "1234567"
    urn = "urn:li:organization:1234567"
    base = sb.url("linkedin") + "/rest"
    edge = "?edgeType=COMPANY_FOLLOWED_BY_MEMBER"
    status, body = get(f"{base}/networkSizes/{quote(urn, safe='')}{edge}", LI_HEADERS)
    assert status == 200 and body == {"firstDegreeSize": sb.world.followers(acc, sb.world.now())}
    assert get(f"{base}/networkSizes/{urn}{edge}", LI_HEADERS)[0] == 400
    posts = [p.post_id for p in sb.world.visible_posts(acc, sb.world.now())]
    shares = [p for p in posts if p.startswith("urn:li:share:")][:3]
    stats = f"{base}/organizationalEntityShareStatistics?q=organizationalEntity"
    encoded = ",".join(quote(s, safe="") for s in shares)
    # A plain query value may come either way; inside List(...) it must be encoded.
    for org in (urn, quote(urn, safe="")):
        status, body = get(f"{stats}&organizationalEntity={org}&shares=List({encoded})", LI_HEADERS)
        assert status == 200 and [e["share"] for e in body["elements"]] == shares
    status, body = get(f"{stats}&organizationalEntity={urn}&shares=List({','.join(shares)})",
                       LI_HEADERS)  # fmt: skip
    assert status == 400 and body["message"] == "Invalid query parameters passed to request"


def test_linkedin_posts_paging_and_daily_limit(sb: SandboxThread) -> None:
    acc = sb.world.account("linkedin", "nchs", "handle")
    assert acc is not None
    author = quote(f"urn:li:organization:{acc.account_id}", safe="")
    start, ids = 0, []
    while True:
        url = f"{sb.url('linkedin')}/rest/posts?q=author&author={author}&count=20&start={start}"
        status, page = get(url, LI_HEADERS)
        assert status == 200
        ids += [p["id"] for p in page["elements"]]
        if not any(link["rel"] == "next" for link in page["paging"]["links"]):
            break
        start += 20
    assert page["paging"]["total"] == len(ids) == len(set(ids)) > 20
    limits = {"linkedin_daily_limits": {"posts": 1}}
    with SandboxThread(accounts=ROWS[2:3], seed=4, limits=limits) as small:
        url = f"{small.url('linkedin')}/rest/posts?q=author&author={author}"
        assert get(url, LI_HEADERS)[0] == 200
        status, body = get(url, LI_HEADERS)
    assert status == 429 and "DAY limit" in body["message"] and body["status"] == 429
