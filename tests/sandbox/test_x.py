"""The simulated X API v2 over a real socket: users, timelines, fields, tokens, rate limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hhs_platform.sandbox import SandboxThread

Fetch = Callable[..., Any]
AUTH = {"Authorization": "Bearer test-token"}
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples" / "x"
ALL_TWEET_FIELDS = (
    "attachments,author_id,conversation_id,created_at,entities,public_metrics,referenced_tweets"
)

ROWS: list[dict[str, Any]] = [
    {"platform": "x", "handle": "CDCgov", "platform_id": "146569971", "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "x", "handle": "@NIH", "platform_id": None, "agency": "NIH",
     "agency_name": "National Institutes of Health"},
    {"platform": "x", "handle": "US_FDA", "platform_id": None, "agency": "FDA",
     "agency_name": "U.S. Food and Drug Administration"},
]  # fmt: skip


@pytest.fixture(scope="module")
def xsb() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=ROWS, seed=5, history_days=20) as sb:
        yield sb


def walk(fetch: Fetch, sb: SandboxThread, uid: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a user's timeline, following ``meta.next_token``."""
    out: list[dict[str, Any]] = []
    q: dict[str, Any] = {"max_results": 7, **params}
    while True:
        r = fetch(sb.url("x") + f"/2/users/{uid}/tweets", q, headers=AUTH)
        assert r.status == 200, r.body
        body = r.json()
        out += body.get("data", [])
        assert body["meta"]["result_count"] == len(body.get("data", []))
        if "next_token" not in body["meta"]:
            return out
        q["pagination_token"] = body["meta"]["next_token"]


def test_user_lookup_agrees_with_truth(xsb: SandboxThread, fetch: Fetch) -> None:
    truth = xsb.world.truth()["accounts"].filter(platform="x")
    assert truth.height == 3
    for row in truth.iter_rows(named=True):
        r = fetch(xsb.url("x") + f"/2/users/by/username/{row['handle'].lstrip('@')}",
                  {"user.fields": "public_metrics,created_at"}, headers=AUTH)  # fmt: skip
        data = r.json()["data"]
        assert data["id"] == row["account_id"]
        m = data["public_metrics"]
        assert (m["followers_count"], m["following_count"], m["tweet_count"]) == (
            row["followers"], row["following"], row["posts_count"])  # fmt: skip
        by_id = fetch(xsb.url("x") + f"/2/users/{row['account_id']}", headers=AUTH).json()
        assert set(by_id["data"]) == {"id", "name", "username"}  # default fields only
    assert xsb.world.account("x", "cdcgov", "handle").account_id == "146569971"  # type: ignore[union-attr]


def test_pagination_walks_every_tweet_once_and_matches_truth(
    xsb: SandboxThread, fetch: Fetch
) -> None:
    truth = xsb.world.truth()["posts"].filter(platform="x")
    for acc in xsb.world.platform_accounts("x"):
        tweets = walk(fetch, xsb, acc.account_id, **{"tweet.fields": ALL_TWEET_FIELDS})
        ids = [t["id"] for t in tweets]
        assert len(ids) == len(set(ids))
        assert ids == sorted(ids, key=int, reverse=True)
        want = truth.filter(account_id=acc.account_id)
        assert set(ids) == set(want["post_id"])
        rows = {r["post_id"]: r for r in want.iter_rows(named=True)}
        for t in tweets:
            row = rows[t["id"]]
            refs = {r["type"] for r in t.get("referenced_tweets", [])}
            kind = ("repost" if "retweeted" in refs else "reply" if "replied_to" in refs
                    else "quote" if "quoted" in refs else "original")  # fmt: skip
            assert kind == row["post_type"]
            assert t["created_at"] == row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
            assert t["author_id"] == acc.account_id
            if kind != "repost":
                m = t["public_metrics"]
                assert (m["like_count"], m["retweet_count"], m["reply_count"], m["quote_count"],
                        m["impression_count"]) == (row["likes"], row["reposts"], row["replies"],
                                                   row["quotes"], row["views"])  # fmt: skip
            else:
                assert row["likes"] is None and t["text"].startswith("RT @")
    kinds = set(truth["post_type"])
    assert kinds == {"original", "reply", "quote", "repost"}


def test_fields_expansions_and_filters(xsb: SandboxThread, fetch: Fetch) -> None:
    acc = xsb.world.platform_accounts("x")[0]
    url = xsb.url("x") + f"/2/users/{acc.account_id}/tweets"
    plain = fetch(url, {"max_results": 100}, headers=AUTH).json()
    assert all(set(t) == {"id", "text", "edit_history_tweet_ids"} for t in plain["data"])
    assert "includes" not in plain
    rich = fetch(url, {"max_results": 100, "tweet.fields": "public_metrics,attachments",
                       "expansions": "attachments.media_keys,referenced_tweets.id",
                       "media.fields": "url,preview_image_url,duration_ms,public_metrics"},
                 headers=AUTH).json()  # fmt: skip
    keys = {k for t in rich["data"] for k in t.get("attachments", {}).get("media_keys", [])}
    assert keys and keys == {m["media_key"] for m in rich["includes"]["media"]}
    assert all("created_at" not in t for t in rich["data"])
    start = xsb.world.now() - timedelta(days=4)
    recent = walk(fetch, xsb, acc.account_id, start_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    everything = walk(fetch, xsb, acc.account_id, **{"tweet.fields": "created_at"})
    assert 0 < len(recent) < len(everything)
    no_rts = walk(fetch, xsb, acc.account_id, exclude="retweets,replies",
                  **{"tweet.fields": "referenced_tweets"})  # fmt: skip
    assert all(r["type"] == "quoted" for t in no_rts for r in t.get("referenced_tweets", []))
    bad = fetch(url, {"max_results": 3}, headers=AUTH)
    assert bad.status == 400 and bad.json()["title"] == "Invalid Request"
    bad = fetch(url, {"tweet.fields": "nonsense"}, headers=AUTH)
    assert bad.status == 400 and "tweet.fields" in bad.json()["errors"][0]["parameters"]


def test_previous_token_goes_back_a_page(xsb: SandboxThread, fetch: Fetch) -> None:
    acc = xsb.world.platform_accounts("x")[1]
    url = xsb.url("x") + f"/2/users/{acc.account_id}/tweets"
    p1 = fetch(url, {"max_results": 5}, headers=AUTH).json()
    assert "previous_token" not in p1["meta"]
    p2 = fetch(
        url, {"max_results": 5, "pagination_token": p1["meta"]["next_token"]}, headers=AUTH
    ).json()
    back = fetch(url, {"max_results": 5, "pagination_token": p2["meta"]["previous_token"]},
                 headers=AUTH).json()  # fmt: skip
    assert back["data"] == p1["data"]


def test_errors_auth_and_rate_limits(
    make_sandbox: Callable[..., SandboxThread], fetch: Fetch
) -> None:
    sb = make_sandbox(accounts=ROWS, history_days=5,
                      limits={"x_bearer_tokens": {"good"}, "x_rate_limits": {"users": 2}})  # fmt: skip
    base = sb.url("x")
    good = {"Authorization": "Bearer good"}
    r = fetch(base + "/2/users/by/username/CDCgov")
    assert r.status == 401 and r.json() == {"title": "Unauthorized", "type": "about:blank",
                                            "status": 401, "detail": "Unauthorized"}  # fmt: skip
    assert (
        fetch(base + "/2/users/by/username/CDCgov", headers={"Authorization": "Bearer bad"}).status
        == 401
    )
    missing = fetch(base + "/2/users/by/username/NoSuchUser", headers=good)
    assert missing.status == 200 and "data" not in missing.json()
    err = missing.json()["errors"][0]
    assert err["title"] == "Not Found Error" and err["value"] == "NoSuchUser"
    assert err["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    r1 = fetch(base + "/2/users/146569971", headers=good)
    assert r1.headers["x-rate-limit-limit"] == "2" and r1.headers["x-rate-limit-remaining"] == "1"
    assert int(r1.headers["x-rate-limit-reset"]) > 0
    fetch(base + "/2/users/146569971", headers=good)
    r3 = fetch(base + "/2/users/146569971", headers=good)
    assert r3.status == 429 and r3.headers["x-rate-limit-remaining"] == "0"
    assert r3.json() == {"title": "Too Many Requests", "detail": "Too Many Requests",
                         "type": "about:blank", "status": 429}  # fmt: skip
    # other endpoints have their own windows
    t = fetch(base + "/2/users/146569971/tweets", headers=good)
    assert t.status == 200 and t.headers["x-rate-limit-limit"] == "1500"


def test_determinism(fetch: Fetch, make_sandbox: Callable[..., SandboxThread]) -> None:
    bodies = []
    for _ in range(2):
        sb = make_sandbox(accounts=ROWS, seed=9, history_days=5)
        r = fetch(sb.url("x") + "/2/users/146569971/tweets",
                  {"max_results": 100, "tweet.fields": ALL_TWEET_FIELDS,
                   "expansions": "attachments.media_keys,author_id"}, headers=AUTH)  # fmt: skip
        bodies.append(r.body)
    assert bodies[0] == bodies[1]


# -- shapes against the recorded samples ---------------------------------------------------------


def _sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"recorded X sample {path} not found")
    return json.loads(path.read_text())


def _missing(sample: Any, ours: Any, path: str = "") -> list[str]:
    if isinstance(sample, dict):
        if not isinstance(ours, dict):
            return [path or "."]
        out: list[str] = []
        for k, v in sample.items():
            p = f"{path}.{k}" if path else k
            out += [p] if k not in ours else _missing(v, ours[k], p)
        return out
    if isinstance(sample, list) and sample and isinstance(ours, list) and ours:
        return min((_missing(sample[0], o, path + "[0]") for o in ours), key=len)
    return []


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "path", "params"),
    [
        ("users_by_username_default_2021_tweepy.json", "/2/users/by/username/CDCgov", {}),
        ("users_by_username_public_metrics_docs.json", "/2/users/by/username/CDCgov",
         {"user.fields": "created_at,verified,description,public_metrics"}),
        ("users_id_tweets_default_page_2022_tweepy.json", "/2/users/146569971/tweets", {}),
        ("users_id_tweets_public_metrics_created_at_next_token.json",
         "/2/users/146569971/tweets", {"tweet.fields": "created_at,public_metrics"}),
        ("tweets_retweets_public_metrics_impression_bookmark_2023.json",
         "/2/users/146569971/tweets", {"tweet.fields": "created_at,public_metrics,author_id,"
                                       "conversation_id", "expansions": "author_id",
                                       "user.fields": "created_at"}),
    ],
)  # fmt: skip
def test_shapes_match_recorded_samples(
    xsb: SandboxThread, fetch: Fetch, name: str, path: str, params: dict[str, str]
) -> None:
    sample = _sample(name)
    ours = fetch(xsb.url("x") + path, {**params, "max_results": 5} if "tweets" in path
                 else params, headers=AUTH).json()  # fmt: skip
    assert _missing(sample, ours) == []


@pytest.mark.shared
def test_media_and_error_shapes(xsb: SandboxThread, fetch: Fetch) -> None:
    media = _sample("media_object_public_metrics_view_count.json")
    fields = "duration_ms,height,media_key,preview_image_url,public_metrics,type,width"
    found = []
    for acc in xsb.world.platform_accounts("x"):
        body = fetch(xsb.url("x") + f"/2/users/{acc.account_id}/tweets",
                     {"max_results": 100, "expansions": "attachments.media_keys",
                      "media.fields": fields}, headers=AUTH).json()  # fmt: skip
        found += [m for m in body.get("includes", {}).get("media", []) if m["type"] == "video"]
    assert found and min(len(_missing(media, m)) for m in found) == 0
    not_found = _sample("error_users_by_username_not_found_200.json")
    ours = fetch(xsb.url("x") + "/2/users/by/username/TwitterDec", headers=AUTH).json()
    assert _missing(not_found, ours) == []
    assert ours["errors"][0]["detail"] == not_found["errors"][0]["detail"]
    assert _sample("error_429_too_many_requests_v2.json")["title"] == "Too Many Requests"
