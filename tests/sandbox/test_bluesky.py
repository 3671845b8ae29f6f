"""The simulated Bluesky AppView over a real socket: profiles, author feeds, errors, rate limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from hhs_platform.sandbox import SandboxThread

PROFILE = "/xrpc/app.bsky.actor.getProfile"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"


def walk_feed(
    fetch: Callable[..., Any], base: str, actor: str, limit: int, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every item of an author feed, following cursors; also the number of pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        q = {"actor": actor, "limit": limit, **params}
        if cursor:
            q["cursor"] = cursor
        r = fetch(base + FEED, q)
        assert r.status == 200, r.body
        body = r.json()
        pages += 1
        assert len(body["feed"]) <= limit
        items += body["feed"]
        cursor = body.get("cursor")
        if cursor is None:
            return items, pages
        assert len(body["feed"]) == limit


def item_id(item: dict[str, Any]) -> str:
    return item["reason"]["uri"] if "reason" in item else item["post"]["uri"]


def item_type(item: dict[str, Any]) -> str:
    if "reason" in item:
        return "repost"
    record = item["post"]["record"]
    if "reply" in record:
        return "reply"
    return (
        "quote" if record.get("embed", {}).get("$type") == "app.bsky.embed.record" else "original"
    )


def test_profile_agrees_with_truth(sandbox: SandboxThread, fetch: Callable[..., Any]) -> None:
    truth = sandbox.world.truth()["accounts"].filter(platform="bluesky")
    for row in truth.iter_rows(named=True):
        r = fetch(sandbox.url("bluesky") + PROFILE, {"actor": row["handle"]})
        assert r.status == 200
        p = r.json()
        assert p["did"] == row["account_id"] and p["handle"] == row["handle"]
        assert (p["followersCount"], p["followsCount"], p["postsCount"]) == (
            row["followers"], row["following"], row["posts_count"],
        )  # fmt: skip
    by_did = fetch(sandbox.url("bluesky") + PROFILE, {"actor": truth["account_id"][0]}).json()
    assert by_did["did"] == truth["account_id"][0]


def test_unknown_actor_and_bad_parameters_give_the_real_errors(
    sandbox: SandboxThread, fetch: Callable[..., Any]
) -> None:
    base = sandbox.url("bluesky")
    for path in (PROFILE, FEED):
        r = fetch(base + path, {"actor": "nobody.example.com"})
        assert r.status == 400
        assert r.json() == {"error": "InvalidRequest", "message": "Profile not found"}
    for limit in (0, 101, "ten"):
        r = fetch(base + FEED, {"actor": "cdc.gov", "limit": limit})
        assert r.status == 400 and r.json()["error"] == "InvalidRequest", limit
    assert fetch(base + FEED, {"actor": "cdc.gov", "cursor": "yesterday"}).status == 400
    assert fetch(base + "/xrpc/app.bsky.feed.getTimeline").status == 501


def test_feed_pagination_visits_every_item_once_and_matches_truth(
    sandbox: SandboxThread, fetch: Callable[..., Any]
) -> None:
    truth = sandbox.world.truth()["posts"].filter(platform="bluesky")
    for did in truth["account_id"].unique().sort().to_list()[:6]:
        items, pages = walk_feed(fetch, sandbox.url("bluesky"), did, limit=17)
        expected = truth.filter(account_id=did).sort("created_at", descending=True)
        assert [item_id(i) for i in items] == expected["post_id"].to_list()
        assert pages == -(-expected.height // 17)
        for item, row in zip(items, expected.iter_rows(named=True), strict=True):
            assert item_type(item) == row["post_type"]
            post = item["post"]
            if row["post_type"] == "repost":
                assert item["reason"]["$type"] == "app.bsky.feed.defs#reasonRepost"
                assert item["reason"]["by"]["did"] == did != post["author"]["did"]
                assert item["reason"]["uri"].startswith(f"at://{did}/app.bsky.feed.repost/")
                original = truth.filter(post_id=post["uri"]).row(0, named=True)
                assert post["likeCount"] == original["likes"]
                continue
            assert post["author"]["did"] == did
            counts = (
                post["likeCount"],
                post["repostCount"],
                post["replyCount"],
                post["quoteCount"],
            )
            assert counts == (row["likes"], row["reposts"], row["replies"], row["quotes"])
            created = pl.Series([post["record"]["createdAt"]]).str.to_datetime(time_zone="UTC")
            assert created.dt.cast_time_unit("us")[0] == row["created_at"]


def test_cursor_is_the_last_items_timestamp_and_default_limit_is_50(
    sandbox: SandboxThread, fetch: Callable[..., Any]
) -> None:
    body = fetch(sandbox.url("bluesky") + FEED, {"actor": "cdc.gov"}).json()
    assert len(body["feed"]) == 50
    last = body["feed"][-1]
    sort_at = (
        last["reason"]["indexedAt"] if "reason" in last else last["post"]["record"]["createdAt"]
    )
    assert body["cursor"] == sort_at
    times = [i["reason"]["indexedAt"] if "reason" in i else i["post"]["record"]["createdAt"]
             for i in body["feed"]]  # fmt: skip
    assert times == sorted(times, reverse=True)


def test_filters(sandbox: SandboxThread, fetch: Callable[..., Any]) -> None:
    base = sandbox.url("bluesky")
    everything, _ = walk_feed(fetch, base, "cdc.gov", 100)
    no_replies, _ = walk_feed(fetch, base, "cdc.gov", 100, filter="posts_no_replies")
    media, _ = walk_feed(fetch, base, "cdc.gov", 100, filter="posts_with_media")
    assert [i for i in everything if item_type(i) != "reply"] == no_replies
    assert media and all(
        i["post"]["embed"]["$type"] in ("app.bsky.embed.images#view", "app.bsky.embed.video#view")
        and "reason" not in i
        for i in media
    )
    assert fetch(base + FEED, {"actor": "cdc.gov", "filter": "bogus"}).status == 400


def test_reply_and_quote_structure(sandbox: SandboxThread, fetch: Callable[..., Any]) -> None:
    world = sandbox.world
    items, _ = walk_feed(fetch, sandbox.url("bluesky"), "hhs.gov", 100)
    replies = [i for i in items if item_type(i) == "reply"]
    quotes = [i for i in items if item_type(i) == "quote"]
    assert replies and quotes
    for i in replies:
        ref = i["post"]["record"]["reply"]
        assert ref["parent"]["uri"] in world.posts and ref["root"]["uri"] in world.posts
        assert i["reply"]["parent"]["uri"] == ref["parent"]["uri"]
        assert i["reply"]["root"]["$type"] == "app.bsky.feed.defs#postView"
    for i in quotes:
        view = i["post"]["embed"]
        assert view["$type"] == "app.bsky.embed.record#view"
        assert view["record"]["uri"] == i["post"]["record"]["embed"]["record"]["uri"]


def test_every_response_has_rate_limit_headers(
    sandbox: SandboxThread, fetch: Callable[..., Any]
) -> None:
    for r in (
        fetch(sandbox.url("bluesky") + PROFILE, {"actor": "cdc.gov"}),
        fetch(sandbox.url("bluesky") + PROFILE, {"actor": "nobody.example"}),
    ):
        assert r.headers["RateLimit-Limit"] == "3000"
        assert r.headers["RateLimit-Policy"] == "3000;w=300"
        assert int(r.headers["RateLimit-Remaining"]) < 3000
        assert int(r.headers["RateLimit-Reset"]) > 1_700_000_000


def test_rate_limit_exceeded(
    make_sandbox: Callable[..., SandboxThread], fetch: Callable[..., Any]
) -> None:
    sb = make_sandbox(limits={"bluesky_rate_limit": 3, "bluesky_rate_window": 60})
    replies = [fetch(sb.url("bluesky") + PROFILE, {"actor": "cdc.gov"}) for _ in range(5)]
    assert [r.status for r in replies] == [200, 200, 200, 429, 429]
    assert [r.headers["RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0", "0"]
    assert replies[3].json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    assert replies[3].headers["RateLimit-Policy"] == "3;w=60"
    assert fetch(sb.base_url + "/_sandbox/stats").json()["rate_limited"] == {"bluesky": 2}


def test_payloads_are_byte_identical_for_a_seed(
    make_sandbox: Callable[..., SandboxThread], fetch: Callable[..., Any]
) -> None:
    a, b, c = make_sandbox(seed=5), make_sandbox(seed=5), make_sandbox(seed=6)

    def payloads(sb: SandboxThread) -> list[bytes]:
        return [
            fetch(sb.url("bluesky") + PROFILE, {"actor": "nih.gov"}).body,
            fetch(sb.url("bluesky") + FEED, {"actor": "nih.gov", "limit": 100}).body,
        ]

    assert payloads(a) == payloads(b)
    assert payloads(a)[1] != payloads(c)[1]


def test_include_pins_puts_the_pinned_post_first(
    sandbox: SandboxThread, fetch: Callable[..., Any]
) -> None:
    base = sandbox.url("bluesky")
    pinned = fetch(base + PROFILE, {"actor": "cdc.gov"}).json()["pinnedPost"]
    body = fetch(base + FEED, {"actor": "cdc.gov", "limit": 5, "includePins": "true"}).json()
    assert body["feed"][0]["reason"] == {"$type": "app.bsky.feed.defs#reasonPin"}
    assert body["feed"][0]["post"]["uri"] == pinned["uri"]
    assert len(body["feed"]) == 6
