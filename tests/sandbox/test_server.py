"""The sandbox server: truth and control endpoints, the async runner, moving time, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import polars as pl
from polars.testing import assert_frame_equal

from hhs_platform.sandbox import (
    DEFAULT_EPOCH,
    FaultProfile,
    SandboxThread,
    World,
    run_sandbox,
    truth_from_json,
)

Fetch = Callable[..., Any]
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
PROFILE = "/xrpc/app.bsky.actor.getProfile"


def test_truth_endpoint_equals_world_truth(sandbox: SandboxThread, fetch: Fetch) -> None:
    r = fetch(sandbox.base_url + "/_sandbox/truth")
    assert r.status == 200
    served = truth_from_json(r.json())
    expected = sandbox.world.truth()
    for name in ("accounts", "posts"):
        assert_frame_equal(served[name], expected[name])
    at = DEFAULT_EPOCH - timedelta(days=10, hours=3)
    past = truth_from_json(
        fetch(sandbox.base_url + "/_sandbox/truth", {"at": at.isoformat()}).json()
    )
    assert_frame_equal(past["posts"], sandbox.world.truth(at)["posts"])
    assert past["posts"].height < expected["posts"].height
    assert fetch(sandbox.base_url + "/_sandbox/truth", {"at": "2026-11-01T00:00"}).status == 400


def test_health(sandbox: SandboxThread, fetch: Fetch) -> None:
    body = fetch(sandbox.base_url + "/_sandbox/health").json()
    assert body["status"] == "ok" and body["seed"] == 7 and body["frozen"] is True
    assert body["platforms"]["bluesky"] == 15 and body["platforms"]["youtube"] >= 25


def test_clock_endpoint_moves_time_and_counters_only_grow(
    make_sandbox: Callable[..., SandboxThread], fetch: Fetch
) -> None:
    sb = make_sandbox(history_days=10)  # so that one page of 100 holds the whole feed
    base = sb.url("bluesky")
    before = fetch(base + FEED, {"actor": "cdc.gov", "limit": 100}).json()["feed"]
    r = fetch(sb.base_url + "/_sandbox/clock", post={"advance_seconds": 2 * 86400})
    assert r.json()["now"] == (DEFAULT_EPOCH + timedelta(days=2)).isoformat()
    after = fetch(base + FEED, {"actor": "cdc.gov", "limit": 100}).json()["feed"]
    later = {i["post"]["uri"]: i["post"] for i in after if "reason" not in i}
    assert len(before) < len(after) < 100  # new posts appeared
    for item in before:
        if "reason" in item:
            continue
        old, new = item["post"], later[item["post"]["uri"]]
        for k in ("likeCount", "repostCount", "replyCount", "quoteCount"):
            assert new[k] >= old[k]
    assert sum(later[i["post"]["uri"]]["likeCount"] for i in before if "reason" not in i) > sum(
        i["post"]["likeCount"] for i in before if "reason" not in i
    )
    profile = fetch(base + PROFILE, {"actor": "cdc.gov"}).json()
    truth = sb.world.truth()["accounts"].filter(handle="cdc.gov").row(0, named=True)
    assert profile["postsCount"] == truth["posts_count"]
    fetch(sb.base_url + "/_sandbox/clock", post={"set": "2026-12-01T00:00:00Z"})
    assert sb.clock.now().isoformat() == "2026-12-01T00:00:00+00:00"
    assert fetch(sb.base_url + "/_sandbox/clock", post={"nonsense": 1}).status == 400


def test_stats_count_requests(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    sb = make_sandbox()
    for _ in range(3):
        fetch(sb.url("bluesky") + PROFILE, {"actor": "nih.gov"})
    fetch(sb.url("youtube") + "/youtube/v3/videos", {"part": "id", "id": "x", "key": "abcd1234"})
    stats = fetch(sb.base_url + "/_sandbox/stats").json()
    assert stats["requests"] == {"bluesky app.bsky.actor.getProfile": 3, "youtube videos": 1}
    assert stats["requests_by_platform"] == {"bluesky": 3, "youtube": 1}
    assert stats["quota_used"][0]["units"] == 1 and stats["quota_used"][0]["key_suffix"] == "1234"


def test_run_sandbox_async_runner(small_rows: list[dict[str, Any]]) -> None:
    async def go() -> tuple[int, str, dict[str, Any]]:
        async with run_sandbox(accounts=small_rows, seed=3) as sb:
            assert sb.url("bluesky") == sb.base_url + "/bluesky"
            async with (
                aiohttp.ClientSession() as s,
                s.get(sb.url("bluesky") + PROFILE, params={"actor": "fda.gov"}) as r,
            ):
                return (
                    r.status,
                    sb.world.account("bluesky", "fda.gov", "handle").account_id,
                    (  # type: ignore[union-attr]
                        await r.json()
                    ),
                )

    status, did, body = asyncio.run(go())
    assert status == 200 and body["did"] == did


def test_faults_are_deterministic_and_leave_truth_alone(
    small_rows: list[dict[str, Any]], fetch: Fetch
) -> None:
    profile = FaultProfile(rate_limit=0.2, server_error=0.2, truncated=0.2, seed=1)
    runs = []
    for _ in range(2):
        world = World(small_rows, seed=3)
        with SandboxThread(world, faults=profile) as sb:
            replies = [fetch(sb.url("bluesky") + PROFILE, {"actor": "cdc.gov"}) for _ in range(30)]
            runs.append([(r.status, r.body) for r in replies])
            assert_frame_equal(world.truth()["posts"], World(small_rows, seed=3).truth()["posts"])
            faults = fetch(sb.base_url + "/_sandbox/stats").json()["faults"]
    assert runs[0] == runs[1]
    statuses = {s for s, _ in runs[0]}
    assert {200, 429} <= statuses and statuses & {500, 502, 503}
    truncated = [b for s, b in runs[0] if s == 200 and not _is_json(b)]
    assert truncated and set(faults) >= {"bluesky rate_limit", "bluesky truncated"}
    limited = [json.loads(b) for s, b in runs[0] if s == 429]
    assert limited[0] == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}


def test_youtube_fault_bodies_and_platform_scoping(
    make_sandbox: Callable[..., SandboxThread], fetch: Fetch
) -> None:
    sb = make_sandbox(faults=FaultProfile(server_error=1.0, platforms=frozenset({"youtube"})))
    r = fetch(sb.url("youtube") + "/youtube/v3/videos", {"part": "id", "id": "x", "key": "k"})
    assert r.status in (500, 502, 503)
    assert fetch(sb.url("bluesky") + PROFILE, {"actor": "cdc.gov"}).status == 200
    fetch(sb.base_url + "/_sandbox/faults", post={"rate_limit": 1.0})
    r = fetch(sb.url("youtube") + "/youtube/v3/videos", {"part": "id", "id": "x", "key": "k"})
    assert r.status == 429 and r.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    fetch(sb.base_url + "/_sandbox/faults", post={})
    assert (
        fetch(
            sb.url("youtube") + "/youtube/v3/videos", {"part": "id", "id": "x", "key": "k"}
        ).status
        == 200
    )


def test_latency_fault(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    import time

    sb = make_sandbox(faults=FaultProfile(latency=1.0, latency_ms=(150, 150)))
    t0 = time.perf_counter()
    assert fetch(sb.url("bluesky") + PROFILE, {"actor": "cdc.gov"}).status == 200
    assert time.perf_counter() - t0 >= 0.15


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def test_truth_tables_are_polars(sandbox: SandboxThread) -> None:
    truth = sandbox.world.truth()
    assert set(truth) == {"accounts", "posts", "deleted"}
    assert all(isinstance(df, pl.DataFrame) for df in truth.values())
