"""Optional fault injection: rate limits, server errors, timeouts, truncated bodies, dropped
connections, malformed items, repeated pages, schema drift and latency; seeded.

``FaultProfile.chaos(seed)`` is the named preset of a chaos run (``hhs sandbox serve --faults
chaos``, ``hhs demo --faults chaos``): about a fifth of the requests fail, in every way at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.malformed import ITEM_SPECS, apply_malformed, dump_like

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Builds the platform's own error response for an injected status (429, 500, 502, 503).
ErrorFactory = Callable[[int], web.Response]

RATE_LIMIT, SERVER_ERROR, TRUNCATED = "rate_limit", "server_error", "truncated"
DROPPED_CONNECTION, DUPLICATE_PAGE, DRIFT = "dropped_connection", "duplicate_page", "drift"
TIMEOUT, MALFORMED = "timeout", "malformed"
#: The kinds that fail a request (the client gets no usable answer and asks again), and the
#: malformed pages, whose broken items are lost to the collector and must be quarantined.
FAILURE_KINDS = (RATE_LIMIT, SERVER_ERROR, TIMEOUT, TRUNCATED, DROPPED_CONNECTION, MALFORMED)
#: Sandbox settings (``SandboxConfig``) for a chaos run: X, Mastodon, Truth Social and Reddit
#: answer a 429 with a reset at the end of their rate-limit window (15, 5 and 10 minutes), which
#: a collector must honour; windows of seconds keep a chaos run short without changing that.
CHAOS_LIMITS: dict[str, int] = {
    "x_rate_window": 1,
    "mastodon_rate_window": 1,
    "truthsocial_rate_window": 1,
    "reddit_rate_window": 1,
}
#: Query parameters that move through a listing; the rest name the listing (account, filters).
CURSOR_PARAMS = frozenset(
    {"cursor", "pagination_token", "pageToken", "max_id", "min_id", "since_id", "until_id",
     "after", "before", "page", "offset"}
)  # fmt: skip


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: an injected ``kind`` (or None) and extra delay."""

    kind: str | None = None
    status: int = 200
    delay_ms: int = 0
    #: Field paths to remove (``a.b``) or rename (``a.b->c``) in the JSON body.
    drift: tuple[str, ...] = ()


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
        platforms: the platforms affected (None: all); ``drift`` names its own platforms.
        dropped_connection: probability that the connection closes mid-body (the headers
            announce the whole length, half of it arrives).
        duplicate_page: probability that a request for a later page of a listing (it carries
            a cursor: ``cursor``, ``pagination_token``, ``pageToken``, ``max_id``...) is
            answered with the previous page again, cursor included, as a stale cache would.
        drift: per platform, JSON field paths its responses lose: ``feed[].post.likeCount``
            (``[]`` fans out over a list; a leading ``[]`` is a bare JSON array), or rename:
            ``data[].public_metrics.impression_count->impressions``.
        drift_rate: share of a drifting platform's responses that drift (1.0: all of them).
        timeout: probability that the server holds the request ``timeout_s`` seconds before
            answering: longer than the client waits (``HHS_HTTP_TIMEOUT_S``), so the client
            gives up and asks again.
        timeout_s: how long a ``timeout`` request is held.
        malformed: probability that a listing page (see ``hhs_platform.sandbox.malformed``)
            is a 200 with valid JSON that also carries broken copies of some items: a null id,
            a bad timestamp, a word where a count belongs. The real items are all still there.
    """

    rate_limit: float = 0.0
    server_error: float = 0.0
    truncated: float = 0.0
    latency: float = 0.0
    latency_ms: tuple[int, int] = (0, 0)
    seed: int = 0
    platforms: frozenset[str] | None = None
    dropped_connection: float = 0.0
    duplicate_page: float = 0.0
    drift: Mapping[str, Sequence[str]] = field(default_factory=dict, hash=False)
    drift_rate: float = 1.0
    timeout: float = 0.0
    timeout_s: float = 2.0
    malformed: float = 0.0

    @classmethod
    def chaos(cls, seed: int = 0, **overrides: Any) -> FaultProfile:
        """The chaos preset: 20 % of requests fail, every kind at once, plus latency spikes.

        4 % rate limits (429 with the platform's headers), 4 % server errors (500/502/503),
        3 % timeouts (held ``timeout_s`` = 3 s: run the client with ``HHS_HTTP_TIMEOUT_S``
        below that), 3 % truncated bodies, 3 % dropped connections and 3 % malformed pages
        (listing pages only: elsewhere the draw changes nothing); besides, 2 % of later pages
        repeat the page before and 10 % of requests are delayed 50-400 ms. Schema drift is
        left out: a field the platform stops sending is a loss no collector can make up (see
        ``quality/field_drift``). ``overrides`` replace any field (``timeout_s=1.0``).
        Serve it with ``CHAOS_LIMITS`` so rate-limit resets come within seconds.
        """
        preset = cls(
            rate_limit=0.04,
            server_error=0.04,
            timeout=0.03,
            timeout_s=3.0,
            truncated=0.03,
            dropped_connection=0.03,
            malformed=0.03,
            duplicate_page=0.02,
            latency=0.1,
            latency_ms=(50, 400),
            seed=seed,
        )
        return dataclasses.replace(preset, **overrides) if overrides else preset

    @classmethod
    def named(cls, name: str, seed: int = 0) -> FaultProfile:
        """A preset by name (``chaos``); ValueError naming the presets for any other."""
        presets = {"chaos": cls.chaos}
        if name not in presets:
            raise ValueError(f"no fault profile named {name!r}; the presets are {sorted(presets)}")
        return presets[name](seed)

    def failure_rate(self) -> float:
        """The share of requests whose first answer is a failure (``FAILURE_KINDS``)."""
        return sum(getattr(self, kind) for kind in FAILURE_KINDS)

    def as_json(self) -> dict[str, Any]:
        """The profile as JSON-ready values (what ``/_sandbox/faults`` shows and accepts)."""
        payload = dataclasses.asdict(self)
        payload["platforms"] = sorted(self.platforms) if self.platforms is not None else None
        payload["latency_ms"] = list(self.latency_ms)
        payload["drift"] = {p: list(paths) for p, paths in self.drift.items()}
        return payload

    def __post_init__(self) -> None:
        # Normalised to tuples so the profile is comparable and JSON-ready (``/_sandbox/faults``).
        object.__setattr__(
            self, "drift", {p: tuple(paths) for p, paths in dict(self.drift or {}).items()}
        )
        total = (
            self.rate_limit
            + self.server_error
            + self.truncated
            + self.dropped_connection
            + self.duplicate_page
            + self.timeout
            + self.malformed
        )
        if self.timeout_s <= 0:
            raise ValueError(f"FaultProfile.timeout_s must be positive, got {self.timeout_s}")
        for name in (
            "rate_limit",
            "server_error",
            "truncated",
            "latency",
            "dropped_connection",
            "duplicate_page",
            "drift_rate",
            "timeout",
            "malformed",
        ):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"FaultProfile.{name} must be a probability in [0, 1], got {p}")
        if total > 1.0:
            raise ValueError(f"FaultProfile probabilities add up to {total} > 1")

    def decide(self, platform: str, n: int) -> FaultDecision:
        """The fault for the ``n``-th platform request (counted from 0 across the server)."""
        drift: tuple[str, ...] = tuple(self.drift.get(platform, ()))
        if drift and ids.unit(self.seed, n, "drift") >= self.drift_rate:
            drift = ()
        if self.platforms is not None and platform not in self.platforms:
            return FaultDecision(drift=drift)
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
            return FaultDecision(TRUNCATED, 200, delay, drift)
        u -= self.truncated
        if u < self.dropped_connection:
            return FaultDecision(DROPPED_CONNECTION, 200, delay, drift)
        u -= self.dropped_connection
        if u < self.duplicate_page:
            return FaultDecision(DUPLICATE_PAGE, 200, delay, drift)
        # Kinds added later draw from what is left, so older profiles keep their decisions.
        u -= self.duplicate_page
        if u < self.timeout:
            return FaultDecision(TIMEOUT, 200, delay, drift)
        u -= self.timeout
        if u < self.malformed:
            return FaultDecision(MALFORMED, 200, delay, drift)
        return FaultDecision(None, 200, delay, drift)


def listing_key(request: web.Request) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The listing a request pages through (path and non-cursor parameters), or None when it
    carries no cursor (a first page or a lookup)."""
    query = request.query
    if not any(k in CURSOR_PARAMS for k in query):
        return None
    return request.path, tuple(sorted((k, v) for k, v in query.items() if k not in CURSOR_PARAMS))


def _first_page_key(request: web.Request) -> tuple[str, tuple[tuple[str, str], ...]]:
    query = request.query
    return request.path, tuple(sorted((k, v) for k, v in query.items() if k not in CURSOR_PARAMS))


def apply_drift(body: bytes, paths: Sequence[str]) -> bytes:
    """``body`` without (or with renamed) the fields at ``paths``; non-JSON bodies unchanged."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    for path in paths:
        target, _, new_name = path.partition("->")
        _drop(payload, target.split("."), new_name or None)
    return dump_like(payload, body)


def _drop(node: Any, parts: list[str], new_name: str | None) -> None:
    seg, rest = parts[0], parts[1:]
    fan = seg.endswith("[]")
    key = seg[:-2] if fan else seg
    if not rest and not fan:
        if isinstance(node, dict) and key in node:
            value = node.pop(key)
            if new_name:
                node[new_name] = value
        return
    if fan and not key:
        children = node if isinstance(node, list) else []
    elif not isinstance(node, dict) or key not in node:
        return
    elif fan:
        children = node[key] if isinstance(node[key], list) else []
    else:
        children = [node[key]]
    for child in children:
        if rest:
            _drop(child, rest, new_name)


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

    # The last page served per listing, for repeats (``duplicate_page``).
    last_page: dict[tuple[str, tuple[tuple[str, str], ...]], web.Response] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        prof = profile()
        if prof is None:
            return await handler(request)
        n = counter()
        decision = prof.decide(platform, n)
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        if decision.kind == TIMEOUT:
            # Held past the client's timeout; the answer that follows reaches nobody.
            on_fault(TIMEOUT)
            await asyncio.sleep(prof.timeout_s)
        if decision.kind in (RATE_LIMIT, SERVER_ERROR):
            on_fault(decision.kind or "")
            return error(decision.status)
        listing = listing_key(request)
        if decision.kind == DUPLICATE_PAGE and listing is not None and listing in last_page:
            on_fault(DUPLICATE_PAGE)
            response: web.StreamResponse = _copy(last_page[listing])
        else:
            response = await handler(request)
            if isinstance(response, web.Response) and response.status == 200 and response.body:
                if prof.duplicate_page:
                    last_page[_first_page_key(request)] = _copy(response)
                if decision.drift:
                    body = bytes(response.body)  # type: ignore[arg-type]
                    drifted = apply_drift(body, decision.drift)
                    if drifted != body:
                        on_fault(DRIFT)
                        response = _copy(response, drifted)
                if decision.kind == MALFORMED and platform in ITEM_SPECS:
                    body = bytes(response.body)  # type: ignore[arg-type]
                    broken, breaks = apply_malformed(
                        body, ITEM_SPECS[platform], request.path, request.query, prof.seed, n
                    )
                    for _ in breaks:  # one per broken item: each must reach the quarantine
                        on_fault(MALFORMED)
                    if breaks:
                        response = _copy(response, broken)
        if not isinstance(response, web.Response) or not response.body:
            return response
        if decision.kind == TRUNCATED:
            on_fault(TRUNCATED)
            body = bytes(response.body)  # type: ignore[arg-type]
            return _copy(response, body[: len(body) // 2])
        if decision.kind == DROPPED_CONNECTION:
            on_fault(DROPPED_CONNECTION)
            return await _drop_connection(request, response)
        return response

    return middleware


def _copy(response: web.Response, body: bytes | None = None) -> web.Response:
    """A fresh response with the same status and headers (``body``: a replacement body)."""
    raw = bytes(response.body) if body is None else body  # type: ignore[arg-type]
    out = web.Response(body=raw, status=response.status)
    for k, v in response.headers.items():
        if k.lower() != "content-length":
            out.headers[k] = v
    return out


async def _drop_connection(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the headers (announcing the whole body) and half the body, then hang up."""
    body = bytes(response.body)  # type: ignore[arg-type]
    stream = web.StreamResponse(status=response.status)
    for k, v in response.headers.items():
        if k.lower() not in ("content-length", "transfer-encoding"):
            stream.headers[k] = v
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return stream
