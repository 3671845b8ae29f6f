"""YouTube unit ledger and key rotation, and the per-platform circuit breaker, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.collect import fetch_accounts
from hhs_platform.connectors.base import AccountRef
from hhs_platform.errors import CircuitOpenError
from hhs_platform.ratelimit import CircuitBreaker, MemoryState, QuotaLedger, unit_cost
from hhs_platform.settings import Settings

#: The HTTP client's line for a wait before a retry (platform, endpoint, account).
_RETRY_WAIT = re.compile(
    r"^(?P<platform>\w+) \S+ for (?P<account>\S+): attempt \d+ failed .*; retrying in [\d.]+s$"
)

KEY_A = "yt-KEY-A-spent-0000aaaa"
KEY_B = "yt-KEY-B-fresh-1111bbbb"
KEY_C = "yt-KEY-C-fresh-2222cccc"
QUOTA_BODY = {
    "error": {
        "code": 403,
        "message": "The request cannot be completed because you have exceeded your quota.",
        "errors": [{"reason": "quotaExceeded", "domain": "youtube.quota", "message": "quota"}],
    }
}


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class FakeYouTube:
    """channels / playlistItems / videos; keys in ``spent`` answer quotaExceeded."""

    def __init__(self, spent: set[str]) -> None:
        self.spent = spent
        self.calls: Counter[str] = Counter()  # key -> calls

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("key", "")
        self.calls[key] += 1
        if key in self.spent:
            return web.json_response(QUOTA_BODY, status=403)
        method = request.path.rsplit("/", 1)[-1]
        if method == "channels":
            handle = request.query.get("forHandle", "@x").lstrip("@")
            channel = f"UC{handle:_<22}"[:24]
            return web.json_response(
                {
                    "items": [
                        {
                            "id": channel,
                            "snippet": {"title": handle},
                            "statistics": {"subscriberCount": "5", "videoCount": "1"},
                            "contentDetails": {"relatedPlaylists": {"uploads": "UU" + channel[2:]}},
                        }
                    ]
                }
            )
        if method == "playlistItems":
            return web.json_response(
                {
                    "items": [
                        {
                            "contentDetails": {
                                "videoId": "v1",
                                "videoPublishedAt": "2026-01-01T00:00:00Z",
                            }
                        }
                    ]
                }
            )
        return web.json_response({"items": []})


def yt_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "youtube_api_base": f"{url}",
        "youtube_api_key": KEY_A,
        "youtube_api_keys": [KEY_B, KEY_C],
        "http_max_retries": 2,
        "http_timeout_s": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


ACCOUNTS = [AccountRef("youtube", f"@agency{i}") for i in range(6)]


def test_key_rotation_on_quota_exceeded_collects_every_account(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeYouTube(spent={KEY_A})

    async def main() -> tuple[list[Any], list[Any]]:
        app = web.Application()
        app.router.add_get("/{tail:.*}", fake.handle)
        async with serve(app) as url:
            responses, errors, *_ = await fetch_accounts(ACCOUNTS, yt_settings(url))
            return responses, errors

    responses, errors = asyncio.run(main())
    assert errors == []
    ok = [r for r in responses if r.status == 200 and r.endpoint == "youtube.channels.list"]
    assert sorted(r.account_key for r in ok) == sorted(a.key for a in ACCOUNTS)
    assert fake.calls[KEY_C] == 0, "the second key carried the run; the third was never needed"
    assert fake.calls[KEY_B] == 3 * len(ACCOUNTS)  # channels, playlistItems, videos
    assert 1 <= fake.calls[KEY_A] <= len(ACCOUNTS)  # only until it was known to be spent
    texts = [caplog.text, *(r.request_url + repr(r) for r in responses)]
    for text in texts:
        for key in (KEY_A, KEY_B, KEY_C):
            assert key not in text


def test_all_keys_spent_is_a_terminal_error_per_account() -> None:
    fake = FakeYouTube(spent={KEY_A, KEY_B, KEY_C})

    async def main() -> tuple[list[Any], list[Any]]:
        app = web.Application()
        app.router.add_get("/{tail:.*}", fake.handle)
        async with serve(app) as url:
            responses, errors, *_ = await fetch_accounts(ACCOUNTS[:3], yt_settings(url))
            return responses, errors

    _, errors = asyncio.run(main())
    assert [e.error for e in errors] == ["QuotaExhaustedError"] * 3
    assert all(e.terminal for e in errors)
    assert sum(fake.calls.values()) <= 3 * 3, "no key is asked again once spent"
    assert "HHS_YOUTUBE_API_KEYS" in errors[-1].message
    for e in errors:
        assert KEY_A not in e.message and KEY_B not in e.message


def test_ledger_forecast_and_pacific_day() -> None:
    ledger = QuotaLedger(MemoryState(), "youtube", ["k1", "k2"])
    assert unit_cost("youtube", "/youtube/v3/search") == 100
    assert unit_cost("youtube", "/youtube/v3/videos") == 1
    assert unit_cost("bluesky", "/xrpc/x") == 0
    # 07:30 UTC is still the previous day in Los Angeles (UTC-8 in January).
    morning = datetime(2026, 1, 15, 7, 30, tzinfo=UTC)
    assert ledger.day(morning) == "2026-01-14"
    assert ledger.resets_at(morning).astimezone(UTC) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert ledger.reserve(100, now=morning) == "k1"
    for _ in range(3):
        assert ledger.reserve(1, now=morning) == "k1"
    forecast = ledger.forecast(19_900, now=morning)
    assert forecast.units_left == 20_000 - 103 and forecast.per_key == {"k1": 9_897, "k2": 10_000}
    assert not forecast.covers and forecast.shortfall == 3
    assert ledger.forecast(5_000, now=morning).covers
    ledger.mark_exhausted("k1", now=morning)
    assert ledger.reserve(1, now=morning) == "k2"
    assert ledger.forecast(0, now=morning).per_key == {"k1": 0, "k2": 9_999}
    assert ledger.reserve(9_999, now=morning) == "k2"
    assert ledger.reserve(1, now=morning) is None
    # A new Pacific day starts a new count.
    assert ledger.remaining("k1", now=datetime(2026, 1, 15, 8, 1, tzinfo=UTC)) == 10_000


def test_breaker_opens_half_opens_and_closes() -> None:
    breaker = CircuitBreaker(MemoryState(), "mastodon", failures=3, cooldown_s=0.2)
    for _ in range(2):
        breaker.before()
        assert breaker.failure("ServerError HTTP 503") == "closed"
    breaker.success()  # an answer resets the count
    for _ in range(3):
        breaker.before()
        breaker.failure("ServerError HTTP 503")
    assert breaker.status == "open"
    with pytest.raises(CircuitOpenError) as info:
        breaker.before("getProfile for mastodon:@cdc")
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 0.2
    assert "HHS_HTTP_BREAKER_FAILURES" in str(info.value)
    time.sleep(0.25)
    breaker.before()  # the probe
    assert breaker.status == "half-open"
    with pytest.raises(CircuitOpenError):
        breaker.before()  # only one probe at a time
    breaker.failure("NetworkError")  # the probe failed: open again
    assert breaker.status == "open"
    time.sleep(0.25)
    breaker.before()
    breaker.success()
    assert breaker.status == "closed"
    breaker.before()


def test_a_down_platform_is_skipped_while_the_other_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bluesky_hits = 0
    down_hits = 0

    async def bluesky(request: web.Request) -> web.StreamResponse:
        nonlocal bluesky_hits
        bluesky_hits += 1
        if request.path.endswith("getProfile"):
            actor = request.query["actor"]
            return web.json_response({"did": f"did:plc:{actor}", "handle": actor})
        return web.json_response({"feed": []})

    async def down(request: web.Request) -> web.StreamResponse:
        nonlocal down_hits
        down_hits += 1
        return web.json_response({"error": "InternalServerError"}, status=503)

    accounts = [AccountRef("bluesky", f"a{i}.bsky.social") for i in range(8)]
    accounts += [AccountRef("youtube", f"@down{i}") for i in range(12)]

    async def main() -> tuple[list[Any], list[Any]]:
        up_app, down_app = web.Application(), web.Application()
        up_app.router.add_get("/{tail:.*}", bluesky)
        down_app.router.add_get("/{tail:.*}", down)
        async with serve(up_app) as up_url, serve(down_app) as down_url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                bluesky_api_base=up_url,
                youtube_api_base=down_url,
                youtube_api_key="yt-KEY-down-3333dddd",
                http_max_retries=5,
                http_breaker_failures=4,
                http_breaker_cooldown_s=60,
            )
            responses, errors, *_ = await fetch_accounts(accounts, settings)
            return responses, errors

    caplog.set_level(logging.WARNING, logger="hhs_platform.http")
    responses, errors = asyncio.run(main())
    # An open circuit stops spending the run's time on the down platform: each of the 12
    # accounts waited before a retry once or a few times in all (a failure that reached the
    # platform before the circuit opened), not before each of its 5 retries (60 waits).
    waits = [
        m["account"]
        for r in caplog.records
        if (m := _RETRY_WAIT.search(r.getMessage())) and m["platform"] == "youtube"
    ]
    assert set(waits) == {a.key for a in accounts if a.platform == "youtube"}
    assert len(waits) <= min(down_hits, 12 + 4), len(waits)
    assert {e.account_key for e in errors} == {a.key for a in accounts if a.platform == "youtube"}
    assert {e.error for e in errors} == {"CircuitOpenError"}
    assert not any(e.terminal for e in errors)
    assert "circuit is open" in errors[0].message
    done = {r.account_key for r in responses if r.platform == "bluesky" and r.status == 200}
    assert done == {a.key for a in accounts if a.platform == "bluesky"}
    assert down_hits <= 12 + 4, "after the breaker opened, no request reached the down platform"
