"""Meta's usage headers against the simulated Graph API: archived, then a pace, then a hold."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest

from hhs_platform import http
from hhs_platform.connectors.base import RawResponse
from hhs_platform.errors import RateLimitedError
from hhs_platform.http import HttpClient, parse_usage_rate_limit, usage_pace
from hhs_platform.ratelimit import MemoryState, credential_id
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings

ROWS = [{"platform": "facebook", "handle": "CDC", "platform_id": None, "agency": "CDC",
         "agency_name": "Centers for Disease Control and Prevention"}]  # fmt: skip


def test_usage_pace_grows_towards_the_hold() -> None:
    assert usage_pace(10) == usage_pace(50) == 0.0
    assert 0 < usage_pace(60) < usage_pace(80) < usage_pace(94) < http.USAGE_MAX_PACE_S
    state = parse_usage_rate_limit({"X-App-Usage": '{"call_count":70}'}, now=100.0)
    assert state is not None and state.remaining is None and state.pace_s == usage_pace(70)
    held = parse_usage_rate_limit({"x-page-usage": '{"call_count":96}'}, now=100.0)
    assert held is not None and held.remaining == 0 and held.reset_at == 400.0
    assert parse_usage_rate_limit({"content-type": "application/json"}) is None


def test_graph_budget_slows_then_holds_before_meta_throttles(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "USAGE_MAX_PACE_S", 0.4)  # seconds, to keep the test short
    archived: list[RawResponse] = []
    with SandboxThread(accounts=ROWS, limits={"facebook_page_call_budget": 10}) as sb:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            lake_uri=str(tmp_path),
            http_max_retries=0,
            facebook_api_base=sb.url("facebook"),
        )
        state = MemoryState()

        async def run() -> tuple[list[float], BaseException | None]:
            sent: list[float] = []
            async with HttpClient(settings, archived.append, state=state, max_wait_s=5) as client:
                for _ in range(11):
                    try:
                        await client.get_json(
                            platform="facebook",
                            endpoint="facebook.page",
                            url=f"{sb.url('facebook')}/v21.0/CDC",
                            params={"fields": "id", "access_token": "tok"},
                            account_key="facebook:CDC",
                            page=0,
                        )
                    except RateLimitedError as exc:
                        return sent, exc
                    sent.append(time.monotonic())
            return sent, None

        sent, error = asyncio.run(run())
        throttled_by_meta = sb.stats.rate_limited["facebook"]
    # Ten calls fit the page budget; the tenth reports 100 %, so the eleventh is held by the
    # client (a RateLimitedError before sending) instead of being refused with (#32).
    assert len(sent) == 10 and isinstance(error, RateLimitedError)
    assert error.retry_after is not None and error.retry_after > 250
    assert throttled_by_meta == 0 and len(archived) == 10
    usage = [json.loads(r.headers["x-page-usage"])["call_count"] for r in archived]
    assert usage == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert all("x-app-usage" in r.headers for r in archived)
    # From 60 % on, requests were spaced by the growing pace. ``sent`` is when each answer
    # arrived, so one slow answer shortens the next gap: the paces are checked over the span.
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    paces = [usage_pace(pct) for pct in usage[5:9]]
    assert paces == sorted(paces) and paces[0] > 0
    assert sum(gaps[5:9]) >= sum(paces) * 0.9, (gaps[5:9], paces)
    record = state.transact(
        f"budget:facebook:{credential_id('access_token=tok')}", lambda r: (r, r)
    )
    assert record is not None and record["pace_s"] == usage_pace(90)  # the last pace stays
    assert record["hold_until"] > time.time() + 250  # and the 100 % answer holds the budget
