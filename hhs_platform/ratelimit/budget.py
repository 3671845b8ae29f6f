"""Rate-limit budgets: a token bucket per (platform, credential), corrected by the platform's headers.

Each request first reserves a send time from its budget (a GCRA token bucket: at most
``capacity`` at once, then evenly spaced), so the advertised limit is respected before the first
response has said anything. Each response's ``RateLimit-*`` / ``x-rate-limit-*`` headers then
take over: while the platform's count of the requests left in its current window holds, that
count paces the requests (each reservation takes one, with no bucket spacing), and a window the
platform says is spent (or whose reset is less than ``JITTER_S`` away) holds every request
until its reset. The bucket, which must keep any
window of any alignment within the limit, allows about 88 % of the documented rate; the
platform's own count allows all of it.

A platform counts a request when it receives it, so a count it reports leaves out the requests
reserved but not yet answered (sent after the counted one, in flight, or still waiting for their
send time: the bucket's reservations made before the first response, above all). The budget keeps
those requests (``out``: reservation → when it is forgotten, should its process die) and takes
them off every count it is told.
Budgets live in a :class:`~hhs_platform.ratelimit.state.SharedState`, so every process sharing
the state shares the budget of a credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hhs_platform.errors import RateLimitedError
from hhs_platform.ratelimit.state import MemoryState, Record, SharedState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimitState:
    """What a platform said of a budget: ``remaining`` requests until ``reset_at`` (epoch s).

    ``remaining`` is None when the platform reports a share used rather than a count (Meta's
    usage headers): then only ``pace_s`` is news. ``pace_s`` asks for requests at least that
    many seconds apart from now on (0 lifts it; None leaves the current pace alone).
    """

    remaining: int | None
    reset_at: float
    limit: int | None = None
    window_s: float | None = None
    pace_s: float | None = None


@dataclass(frozen=True)
class RateRule:
    """A documented limit: ``limit`` requests per ``window_s`` seconds.

    ``burst`` is the bucket's capacity as a share of the limit (the rest is spread evenly over
    the window); ``per_endpoint`` gives every endpoint its own budget (X counts per endpoint).
    """

    limit: int
    window_s: float
    burst: float = 0.1
    per_endpoint: bool = False


#: Known limits per platform, for pacing before the first response. A response's own limit
#: header replaces ``limit``; an unknown platform is paced by its headers only.
DEFAULT_RULES: dict[str, RateRule] = {
    "bluesky": RateRule(3000, 300),  # AppView, per IP
    "mastodon": RateRule(300, 300),  # per account or IP, any endpoint
    "truthsocial": RateRule(300, 300),  # Mastodon software
    "x": RateRule(300, 900, per_endpoint=True),  # 15-minute windows, per endpoint and app
    "reddit": RateRule(100, 60),  # per OAuth client
    # Facebook and Instagram: none. Meta's limits scale with the app's users and the page's
    # engagement, so no fixed count is right; the usage headers pace them (http.py).
    # Threads: 4,800 calls x impressions (at least 10) per 24 h per user: 48,000 at the least.
    "threads": RateRule(48_000, 86_400, burst=0.02),
    # LinkedIn: daily application limits per endpoint, set per app in the developer portal; this
    # conservative default is corrected by the 429 the API answers when an app's limit is lower.
    # It sends no count headers, so the bucket paces it all day: 5 % of the day's calls may go at
    # once (a 10x collection's busiest endpoint needs about 1,250 a run; at 1 % the rest of a run
    # waited 0.89 s a call), the rest spread over the day, which never holds more than the limit.
    "linkedin": RateRule(100_000, 86_400, per_endpoint=True, burst=0.05),
    "flickr": RateRule(3600, 3600),  # per key
}
#: Endpoint-specific limits, matched on the request path (first match wins).
ENDPOINT_RULES: tuple[tuple[str, re.Pattern[str], RateRule], ...] = (
    ("x", re.compile(r"/2/users/[^/]+/tweets$"), RateRule(1500, 900, per_endpoint=True)),
    ("x", re.compile(r"/2/users/by/username/"), RateRule(300, 900, per_endpoint=True)),
    ("x", re.compile(r"/2/tweets$"), RateRule(450, 900, per_endpoint=True)),
)
#: Share of a window kept back against network jitter (arrival order is not send order).
SAFETY = 0.02
#: ...and never less than this many seconds: a request reaches the platform up to a few hundred
#: milliseconds after its send time (latency that varies, a busy event loop), whatever the window.
JITTER_S = 0.5
#: Seconds after its send time that a reservation nobody released (its process died) stops
#: counting as a request in flight: longer than any request takes.
OUT_TTL_S = 600.0


def rule_for(
    platform: str, path: str = "", rules: Mapping[str, RateRule] | None = None
) -> RateRule | None:
    """The documented limit of a request to ``path`` on ``platform``; None when unknown.

    ``rules`` replaces the built-in tables (``DEFAULT_RULES`` and ``ENDPOINT_RULES``).
    """
    if rules is not None:
        return rules.get(platform)
    for name, pattern, rule in ENDPOINT_RULES:
        if name == platform and pattern.search(path):
            return rule
    return DEFAULT_RULES.get(platform)


def credential_id(material: str) -> str:
    """The name under which a credential's state is kept: a hash, never the secret."""
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def pacing(limit: int, window_s: float, burst: float) -> tuple[float, float]:
    """``(interval, tolerance)`` of a GCRA bucket that never exceeds ``limit`` per window.

    With capacity ``C`` and spacing ``T``, any window ``W`` holds fewer than ``W/T + C`` requests;
    ``T = W' / (limit - C + 1)`` with ``W'`` longer than ``W`` by the jitter margin keeps that at
    ``limit`` even when each request arrives up to that margin after its send time.
    """
    limit = max(int(limit), 1)
    capacity = min(max(1, int(limit * burst)), limit)
    interval = (window_s + max(window_s * SAFETY, JITTER_S)) / (limit - capacity + 1)
    return interval, (capacity - 1) * interval


def _outstanding(rec: dict[str, Any], now: float) -> dict[str, float]:
    """The record's reservations not yet released, without those past their time to live."""
    return {k: t for k, t in (rec.get("out") or {}).items() if t > now}


def _reserve(
    record: Record | None, now: float, rule: RateRule | None, reserve: int, token: str = ""
) -> tuple[Record, float]:
    """Take one request from the budget: the new record and when the request may be sent.

    ``token`` names the reservation until :func:`_release` (empty: not kept)."""
    rec: dict[str, Any] = dict(record or {})
    remaining, reset_at = rec.get("remaining"), rec.get("reset_at")
    if reset_at is not None and now >= reset_at:
        remaining = reset_at = None
    send_at = max(now, float(rec.get("hold_until") or 0.0))
    pace = float(rec.get("pace_s") or 0.0)
    if pace > 0:
        # The platform says its budget is getting short: space the requests out.
        send_at = max(send_at, float(rec.get("last_send") or 0.0) + pace)
    counted = False  # the platform's count of its window paces this request
    if reset_at is not None and reset_at - JITTER_S <= send_at < reset_at:
        # Sent this close to the reset, the request may arrive after it and count in the next
        # window, which the bucket paces without knowing of it: it (and everyone after it)
        # waits for the reset instead.
        send_at = rec["hold_until"] = float(reset_at)
        remaining = reset_at = None
    if remaining is not None and reset_at is not None and send_at < reset_at:
        if remaining <= reserve:
            # The platform said this window is spent: everyone waits for its reset.
            send_at = rec["hold_until"] = float(reset_at)
            remaining = reset_at = None
        else:
            remaining -= 1
            counted = True
    limit = rec.get("limit") or (rule.limit if rule else None)
    window = rec.get("window_s") or (rule.window_s if rule else None)
    # Inside a window whose requests left the platform counted, that count decides.
    if rule is not None and limit and window and not counted:
        interval, tolerance = pacing(int(limit), float(window), rule.burst)
        tat = float(rec.get("tat") or 0.0)
        send_at = max(send_at, tat - tolerance)
        rec["tat"] = max(tat, send_at) + interval
    rec["remaining"], rec["reset_at"] = remaining, reset_at
    rec["last_send"] = send_at
    if token:
        rec["out"] = {**_outstanding(rec, now), token: send_at + OUT_TTL_S}
    return rec, send_at - now


def _release(record: Record | None, token: str, now: float) -> tuple[Record | None, None]:
    """The reservation ``token`` was answered (or failed): no longer in flight."""
    if record is None:
        return None, None
    rec: dict[str, Any] = dict(record)
    out = _outstanding(rec, now)
    out.pop(token, None)
    rec["out"] = out
    return rec, None


def _merge(
    record: Record | None, state: RateLimitState, now: float | None = None
) -> tuple[Record, None]:
    """Take in what the platform reported; concurrent answers of one window keep the lowest.

    The requests still in flight (reserved and not released) are taken off the count: the
    platform had not received them when it counted."""
    rec: dict[str, Any] = dict(record or {})
    if state.pace_s is not None:
        rec["pace_s"] = state.pace_s
    remaining = state.remaining
    if remaining is None:  # a share used, not a count: the pace was the news
        return rec, None
    remaining -= len(_outstanding(rec, time.time() if now is None else now))
    current, current_reset = rec.get("remaining"), rec.get("reset_at")
    same_window = current_reset is not None and abs(float(current_reset) - state.reset_at) < 1.0
    if current is not None and same_window:
        remaining = min(remaining, int(current))
    rec["remaining"], rec["reset_at"] = remaining, state.reset_at
    if state.limit:
        rec["limit"] = state.limit
    if state.window_s:
        rec["window_s"] = state.window_s
    return rec, None


class SharedBudget:
    """The budget of one credential on one platform (or endpoint), kept in a shared state."""

    def __init__(
        self,
        state: SharedState,
        key: str,
        rule: RateRule | None = None,
        *,
        platform: str = "",
        reserve: int = 0,
        max_wait_s: float = 900.0,
    ) -> None:
        self.state = state
        self.key = key
        self.rule = rule
        self.platform = platform
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.waited_s = 0.0
        self._token = ""  # the reservation in flight (acquired, not yet done)

    async def acquire(self) -> None:
        """Reserve the next send time and sleep until it; :meth:`done` when it was answered.

        Raises:
            RateLimitedError: the wait would be longer than ``max_wait_s``.
        """
        now = time.time()
        self.done()  # an earlier attempt's reservation, should it not have been released
        token = self._token = uuid.uuid4().hex
        wait = self.state.transact(
            self.key, lambda r: _reserve(r, now, self.rule, self.reserve, token)
        )
        if wait <= 0:
            return
        if wait > self.max_wait_s:
            self.done()  # never sent
            raise RateLimitedError(
                f"{self.platform or self.key}: rate-limit budget spent for {wait:.0f}s, longer "
                f"than the {self.max_wait_s:.0f}s the client may wait; run again after the reset",
                platform=self.platform,
                retry_after=wait,
            )
        if wait > 1.0:
            log.info("rate-limit budget %s: waiting %.2fs", self.key, wait)
        await asyncio.sleep(wait)
        self.waited_s += wait

    def done(self) -> None:
        """The request :meth:`acquire` reserved was answered, or failed: no longer in flight
        (call it before :meth:`update` with the answer's headers)."""
        token, self._token = self._token, ""
        if token:
            now = time.time()
            self.state.transact(self.key, lambda r: _release(r, token, now))

    def update(self, state: RateLimitState) -> None:
        """Take in what the platform just reported."""
        self.state.transact(self.key, lambda r: _merge(r, state))


class LocalBudget(SharedBudget):
    """A budget of its own, in this process only (no documented rule: headers alone)."""

    def __init__(self, name: str, *, reserve: int = 0, max_wait_s: float = 900.0) -> None:
        super().__init__(
            MemoryState(), f"budget:{name}", None, reserve=reserve, max_wait_s=max_wait_s
        )
        self.name = name


class SharedBudgetStore:
    """Hands out the budgets kept in one state, keyed by (platform, credential hash[, endpoint]).

    Args:
        state: where the budgets live.
        reserve: requests left unused in each window the platform reports.
        max_wait_s: longest wait for a send time; a longer one raises ``RateLimitedError``.
        rules: documented limits by platform, replacing the built-in tables.
        pace: False paces by the platform's headers only.
    """

    def __init__(
        self,
        state: SharedState | None = None,
        *,
        reserve: int = 0,
        max_wait_s: float = 900.0,
        rules: Mapping[str, RateRule] | None = None,
        pace: bool = True,
    ) -> None:
        self.state: SharedState = state if state is not None else MemoryState()
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.rules = rules
        self.pace = pace

    def budget(
        self, platform: str, credential: str, *, endpoint: str = "", path: str = ""
    ) -> SharedBudget:
        """The budget of ``credential`` (a hash, never the secret) for a request on ``platform``."""
        rule = rule_for(platform, path, self.rules) if self.pace else None
        key = f"budget:{platform}:{credential}"
        if rule is not None and rule.per_endpoint and endpoint:
            key += f":{endpoint}"
        return SharedBudget(
            self.state,
            key,
            rule,
            platform=platform,
            reserve=self.reserve,
            max_wait_s=self.max_wait_s,
        )


class LocalBudgetStore(SharedBudgetStore):
    """Budgets shared by the tasks of one process."""

    def __init__(self, *, reserve: int = 0, max_wait_s: float = 900.0) -> None:
        super().__init__(MemoryState(), reserve=reserve, max_wait_s=max_wait_s)
