"""Optional fault injection: rate limits, server errors, truncated bodies, latency; seeded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Builds the platform's own error response for an injected status (429, 500, 502, 503).
ErrorFactory = Callable[[int], web.Response]

RATE_LIMIT, SERVER_ERROR, TRUNCATED = "rate_limit", "server_error", "truncated"


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: an injected ``kind`` (or None) and extra delay."""

    kind: str | None = None
    status: int = 200
    delay_ms: int = 0


@dataclass(frozen=True)
class FaultProfile:
    """Probabilities of each fault per platform request; the default injects nothing.

    Decisions depend only on ``(seed, request number)``, so a run with the same requests in the
    same order sees the same faults. Faults change responses, never the world or its truth.

    Attributes:
        rate_limit: probability of a 429 with the platform's own headers and body.
        server_error: probability of a 500, 502 or 503 (equally likely).
        truncated: probability of a 200 whose JSON body is cut in half.
        latency: probability of an extra delay drawn from ``latency_ms``.
        latency_ms: (low, high) delay in milliseconds.
        seed: the fault stream's seed.
        platforms: the platforms affected (None: all).
    """

    rate_limit: float = 0.0
    server_error: float = 0.0
    truncated: float = 0.0
    latency: float = 0.0
    latency_ms: tuple[int, int] = (0, 0)
    seed: int = 0
    platforms: frozenset[str] | None = None

    def __post_init__(self) -> None:
        total = self.rate_limit + self.server_error + self.truncated
        for name in ("rate_limit", "server_error", "truncated", "latency"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"FaultProfile.{name} must be a probability in [0, 1], got {p}")
        if total > 1.0:
            raise ValueError(f"FaultProfile probabilities add up to {total} > 1")

    def decide(self, platform: str, n: int) -> FaultDecision:
        """The fault for the ``n``-th platform request (counted from 0 across the server)."""
        if self.platforms is not None and platform not in self.platforms:
            return FaultDecision()
        delay = 0
        if self.latency and ids.unit(self.seed, n, "latency") < self.latency:
            lo, hi = self.latency_ms
            delay = lo + int(ids.unit(self.seed, n, "delay") * (max(hi, lo) - lo + 1))
        u = ids.unit(self.seed, n, "fault")
        if u < self.rate_limit:
            return FaultDecision(RATE_LIMIT, 429, delay)
        u -= self.rate_limit
        if u < self.server_error:
            status = (500, 502, 503)[int(ids.unit(self.seed, n, "status") * 3)]
            return FaultDecision(SERVER_ERROR, status, delay)
        u -= self.server_error
        if u < self.truncated:
            return FaultDecision(TRUNCATED, 200, delay)
        return FaultDecision(None, 200, delay)


def fault_middleware(
    platform: str,
    profile: Callable[[], FaultProfile | None],
    counter: Callable[[], int],
    error: ErrorFactory,
    on_fault: Callable[[str], None],
) -> Middleware:
    """An aiohttp middleware applying ``profile()`` to a platform's requests.

    Args:
        platform: the platform slug (faults may be limited to some platforms).
        profile: returns the current profile (None: no faults).
        counter: returns the next request number.
        error: builds the platform's own error response for a status.
        on_fault: called with the fault kind, for the stats.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        prof = profile()
        if prof is None:
            return await handler(request)
        decision = prof.decide(platform, counter())
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        if decision.kind in (RATE_LIMIT, SERVER_ERROR):
            on_fault(decision.kind or "")
            return error(decision.status)
        response = await handler(request)
        if decision.kind == TRUNCATED and isinstance(response, web.Response) and response.body:
            on_fault(TRUNCATED)
            body = bytes(response.body)  # type: ignore[arg-type]
            cut = web.Response(body=body[: len(body) // 2], status=response.status)
            for k, v in response.headers.items():
                if k.lower() != "content-length":
                    cut.headers[k] = v
            return cut
        return response

    return middleware
