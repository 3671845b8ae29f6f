"""Budgets paced before the first response, shared across OS processes; the state stores."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import RawResponse
from hhs_platform.http import HttpClient
from hhs_platform.ratelimit import (
    MemoryState,
    RateRule,
    SharedBudgetStore,
    SqliteState,
    default_state,
    pacing,
    rule_for,
)
from hhs_platform.ratelimit.budget import JITTER_S, OUT_TTL_S, _reserve
from hhs_platform.settings import Settings

LIMIT, WINDOW = 10, 1.0


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open window of length ``window``."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(
    ("limit", "window", "burst"), [(3000, 300, 0.1), (15, 900, 0.1), (10, 1, 0.5)]
)
def test_pacing_never_exceeds_the_limit_even_in_a_rush(
    limit: int, window: float, burst: float
) -> None:
    rule = RateRule(limit, window, burst=burst)
    record: dict[str, Any] | None = None
    sends = []
    for _ in range(limit * 3):  # everyone asks at t=0, before any response
        record, wait = _reserve(record, 0.0, rule, 0)
        sends.append(wait)
    assert max_in_window(sends, window) <= limit
    assert sends[: max(1, int(limit * burst))] == [0.0] * max(1, int(limit * burst))
    interval, _ = pacing(limit, window, burst)
    assert sends[-1] == pytest.approx(interval * (len(sends) - max(1, int(limit * burst))))


@pytest.mark.parametrize(("limit", "window"), [(10, 1.0), (100, 60.0), (3000, 300.0)])
def test_requests_arriving_late_by_the_jitter_margin_stay_within_every_window(
    limit: int, window: float
) -> None:
    """Each request reaches the platform up to ``JITTER_S`` (or 2 % of the window) after its
    send time; no window of arrivals, of any alignment, holds more than the limit."""
    import random

    rule = RateRule(limit, window)
    record: dict[str, Any] | None = None
    margin = max(window * 0.02, 0.5)  # the claim, whatever the constants say
    rng = random.Random(7)
    for trial in range(20):
        record = None
        arrivals: list[float] = []
        for _ in range(limit * 3):
            record, wait = _reserve(record, 0.0, rule, 0)
            late = margin if trial == 0 else rng.uniform(0, margin)  # trial 0: the worst case
            arrivals.append(wait + (late if len(arrivals) % 2 else 0.0))
        assert max_in_window(arrivals, window) <= limit, trial


def test_a_request_reserved_just_before_the_reset_waits_for_it() -> None:
    """A request counted in a window but sent within ``JITTER_S`` of its reset could arrive in
    the next window, which the bucket paces without knowing of it: it waits for the reset, and
    so does every request after it."""
    from hhs_platform.ratelimit import RateLimitState
    from hhs_platform.ratelimit.budget import _merge

    rule = RateRule(LIMIT, 10.0)
    record, _ = _merge(None, RateLimitState(remaining=5, reset_at=10.0, limit=LIMIT), now=0.0)
    record, wait = _reserve(record, 9.0, rule, 0)
    assert wait == 0.0  # counted: 0.5 s or more before the reset
    waits = []
    for now in (10.0 - JITTER_S, 9.8):
        record, wait = _reserve(record, now, rule, 0)
        waits.append(now + wait)
    assert waits[0] == 10.0  # the reset; then the bucket paces from it
    assert waits[1] >= 10.0
    assert record["remaining"] is None and record["hold_until"] == 10.0


def test_header_spent_window_holds_everyone_until_reset() -> None:
    from hhs_platform.ratelimit import RateLimitState
    from hhs_platform.ratelimit.budget import _merge

    record, _ = _merge(None, RateLimitState(remaining=1, reset_at=50.0, limit=100))
    waits = []
    for _ in range(3):
        record, wait = _reserve(record, 10.0, None, 0)
        waits.append(wait)
    assert waits == [0.0, 40.0, 40.0]


def test_a_counted_window_paces_by_the_count_less_the_requests_in_flight() -> None:
    """Once the platform has counted its window, its count paces the requests (no bucket
    spacing), less the requests it had not received when it counted."""
    from hhs_platform.ratelimit import RateLimitState
    from hhs_platform.ratelimit.budget import _merge, _release

    rule = RateRule(100, 60)  # the bucket: 10 at once, then one every 0.67 s
    record: dict[str, Any] | None = None
    waits = []
    for i in range(12):  # before any answer: the bucket
        record, wait = _reserve(record, 0.0, rule, 0, f"early-{i}")
        waits.append(wait)
    interval, _ = pacing(100, 60, 0.1)
    assert waits == pytest.approx([0.0] * 10 + [interval, 2 * interval])
    # The first request's answer: 98 left until t=60 (the platform had received two of them).
    record, _ = _release(record, "early-0", 0.2)
    record, _ = _merge(record, RateLimitState(remaining=98, reset_at=60.0, limit=100), now=0.2)
    # 11 of the early requests are still in flight: 87 more may go now, the next at the reset.
    waits = []
    for i in range(88):
        record, wait = _reserve(record, 0.2, rule, 0, f"late-{i}")
        waits.append(wait)
    assert waits == pytest.approx([0.0] * 87 + [59.8])
    # Answered requests leave the count; one whose process died is forgotten after its TTL.
    for i in range(1, 12):
        record, _ = _release(record, f"early-{i}", 1.0)
    assert record is not None and len(record["out"]) == 88
    later = 60 + OUT_TTL_S + 1  # the last reservation was for t=60
    record, _ = _merge(record, RateLimitState(remaining=50, reset_at=later + 60), now=later)
    assert record["remaining"] == 50


def test_a_client_releases_every_request_it_reserved() -> None:
    """The HttpClient tells its budget when each request is answered, failed or not."""
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.Response:
        calls["n"] += 1
        status = 500 if calls["n"] % 3 == 0 else 200
        headers = {"RateLimit-Remaining": "50", "RateLimit-Reset": f"{time.time() + 60:.0f}"}
        return web.json_response({"ok": True}, status=status, headers=headers)

    state = MemoryState()

    async def main() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            rule = RateRule(LIMIT * 10, WINDOW)
            await _requests(url, state, rule, 12, retries=1, allow_failures=True)
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert calls["n"] > 12  # some requests failed and were tried again
    records = [r for k, r in state._records.items() if k.startswith("budget:testplat")]
    assert len(records) == 1
    assert records[0]["out"] == {}


def test_default_rules_table() -> None:
    bluesky = rule_for("bluesky")
    assert bluesky is not None and (bluesky.limit, bluesky.window_s) == (3000, 300)
    mastodon = rule_for("mastodon")
    assert mastodon is not None and (mastodon.limit, mastodon.window_s) == (300, 300)
    reddit = rule_for("reddit")
    assert reddit is not None and (reddit.limit, reddit.window_s) == (100, 60)
    x = rule_for("x", "/2/users/123/tweets")
    assert x is not None and x.window_s == 900 and x.per_endpoint and x.limit == 1500
    assert rule_for("youtube") is None  # units, not requests: see the quota ledger


def test_sqlite_state_is_atomic_across_threads(tmp_path: Path) -> None:
    state = SqliteState(tmp_path / "s.sqlite")

    def bump() -> None:
        for _ in range(200):
            state.transact("n", lambda r: ({"n": (r or {"n": 0})["n"] + 1}, None))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.transact("n", lambda r: (r, r)) == {"n": 800}
    assert state.transact("n", lambda r: (None, r)) == {"n": 800}
    assert state.transact("n", lambda r: (r, r)) is None


def test_default_state_is_memory_outside_dask_and_sqlite_on_workers(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    assert isinstance(default_state(None), MemoryState)
    assert isinstance(default_state(tmp_path), SqliteState)
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        futures = [
            client.submit(_state_path, i, pure=False, workers=[w])
            for i, w in enumerate(client.scheduler_info()["workers"])
        ]
        paths = client.gather(futures)
    assert len(paths) == 2 and len(set(paths)) == 1, "every worker of a cluster opens one file"


def _state_path(_: int) -> str:
    state = default_state(None)
    assert isinstance(state, SqliteState)
    return str(state.path)


# --- two OS processes share one budget against a server that counts per window ---------------


class WindowCounter:
    """A server that allows LIMIT requests per fixed WINDOW and says so in Bluesky's headers."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.counts: Counter[int] = Counter()
        self.rejected = 0
        self.lock = threading.Lock()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        now = time.time()
        window = int((now - self.t0) // WINDOW)
        with self.lock:
            self.counts[window] += 1
            used = self.counts[window]
        headers = {
            "RateLimit-Limit": str(LIMIT),
            "RateLimit-Remaining": str(max(LIMIT - used, 0)),
            "RateLimit-Reset": f"{self.t0 + (window + 1) * WINDOW:.3f}",
        }
        if used > LIMIT:
            self.rejected += 1
            return web.json_response({"error": "RateLimitExceeded"}, status=429, headers=headers)
        return web.json_response({"ok": True}, headers=headers)


@pytest.fixture
def window_server() -> Iterator[tuple[str, WindowCounter]]:
    counter = WindowCounter()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", counter.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        box["runner"] = runner
        box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert started.wait(10)
    try:
        yield box["url"], counter
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def _requests(
    url: str,
    state: MemoryState | SqliteState,
    rule: RateRule,
    n: int,
    *,
    retries: int = 0,
    token: str | None = None,
    allow_failures: bool = False,
) -> int:
    """``n`` requests at once through one HttpClient whose budgets live in ``state``; the
    responses archived. A request that fails raises, unless ``allow_failures``."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, http_max_retries=retries, egress_allow_hosts=["127.0.0.1"]
    )
    budgets = SharedBudgetStore(state, rules={"testplat": rule})
    archived: list[RawResponse] = []
    async with HttpClient(settings, archived.append, budgets=budgets, state=state) as http:
        await asyncio.gather(
            *(
                http.get_json(
                    platform="testplat",
                    endpoint="t",
                    url=f"{url}/x",
                    params=None,
                    account_key="testplat:a",
                    page=i,
                    headers={"Authorization": f"Bearer {token}"} if token else None,
                )
                for i in range(n)
            ),
            return_exceptions=allow_failures,
        )
    return len(archived)


def _worker(url: str, state_path: str, n: int, token: str) -> int:
    """One OS process: ``n`` requests with one credential, all at once."""
    return asyncio.run(
        _requests(url, SqliteState(state_path), RateRule(LIMIT, WINDOW), n, token=token)
    )


def test_budget_shared_by_two_processes_never_exceeds_the_advertised_limit(
    window_server: tuple[str, WindowCounter], tmp_path: Path
) -> None:
    url, counter = window_server
    state_path = str(tmp_path / "state.sqlite")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        started = time.time()
        results = pool.starmap(_worker, [(url, state_path, 15, "tok-shared-1234")] * 2)
        elapsed = time.time() - started
    assert results == [15, 15]
    assert counter.rejected == 0
    assert sum(counter.counts.values()) == 30
    assert max(counter.counts.values()) <= LIMIT, counter.counts
    # 30 requests at 10 per second cannot take less than ~2 windows: the budget was shared.
    assert elapsed >= 2 * WINDOW
