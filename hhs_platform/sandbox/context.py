"""State shared by the route modules: the world, settings, faults and request statistics."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hhs_platform.sandbox.clock import SimClock
from hhs_platform.sandbox.faults import FaultProfile
from hhs_platform.sandbox.world import World


@dataclass(frozen=True)
class SandboxConfig:
    """Platform limits the sandbox enforces.

    Attributes:
        bluesky_rate_limit: requests per client IP per window (the AppView's 3000 / 5 min).
        bluesky_rate_window: the window in (real) seconds.
        youtube_api_keys: accepted keys; empty accepts any non-empty key.
        youtube_daily_quota: units per key per Pacific day (simulated clock).
    """

    bluesky_rate_limit: int = 3000
    bluesky_rate_window: int = 300
    youtube_api_keys: frozenset[str] = frozenset()
    youtube_daily_quota: int = 10_000


@dataclass
class Stats:
    """Counts of what the sandbox served."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    faults: Counter[tuple[str, str]] = field(default_factory=Counter)
    quota_used: dict[tuple[str, str], int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": {f"{p} {e}": n for (p, e), n in sorted(self.requests.items())},
            "requests_by_platform": _by_first(self.requests),
            "rate_limited": dict(sorted(self.rate_limited.items())),
            "faults": {f"{p} {k}": n for (p, k), n in sorted(self.faults.items())},
            "quota_used": [
                {"key_suffix": k[-4:], "day": d, "units": n}
                for (k, d), n in sorted(self.quota_used.items())
            ],
        }


def _by_first(counter: Counter[tuple[str, str]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (p, _), n in counter.items():
        out[p] += n
    return dict(sorted(out.items()))


@dataclass
class SandboxContext:
    """Everything a route handler needs; stored on the root app under ``CONTEXT``."""

    world: World
    config: SandboxConfig = field(default_factory=SandboxConfig)
    faults: FaultProfile | None = None
    stats: Stats = field(default_factory=Stats)
    request_number: int = 0

    @property
    def clock(self) -> SimClock:
        """The world's clock."""
        return self.world.clock

    def next_request(self) -> int:
        """Number the platform requests (the fault stream is indexed by it)."""
        n = self.request_number
        self.request_number += 1
        return n


CONTEXT = web.AppKey("sandbox_context", SandboxContext)


def context(request: web.Request) -> SandboxContext:
    """The context of the app serving ``request`` (sub-apps see the root's)."""
    return request.config_dict[CONTEXT]


def json_response(
    payload: Any,
    status: int = 200,
    *,
    indent: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Serialise deterministically (same payload → same bytes) as UTF-8 JSON."""
    sep = (",", ": ") if indent else (",", ":")
    body = json.dumps(payload, ensure_ascii=False, indent=indent, separators=sep)
    return web.Response(
        body=body.encode(),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )
