"""Who is asking: bearer tokens, per-token rate limits and the request audit log of the HTTP API.

- :func:`authenticate` (a FastAPI dependency) checks ``Authorization: Bearer hhs_<id>_<secret>``
  against ``ops/api_tokens`` of ``app.state.lake`` and returns the :class:`Principal`; a missing,
  unknown, wrong, expired or revoked token gets a 401 problem, a token over its limit a 429.
- :func:`install` adds the audit middleware: every request (authenticated or not) becomes one
  JSON line on the ``hhs_platform.api_access`` logger and one ``ops/api_requests`` row, appended
  in batches every ``HHS_API_AUDIT_FLUSH_SECONDS`` and when the server stops (:func:`flush`).

Neither the log nor the table ever holds a token: a request names its token by id only, and
secret-looking query parameters (token, key, secret, password...) are masked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import polars as pl
from fastapi import FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hhs_platform.httpapi.problems import Problem
from hhs_platform.httpapi.tokens import TokenStore, parse
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings, get_settings
from schemas import table_spec

REQUESTS = "ops/api_requests"
ACCESS_LOGGER = "hhs_platform.api_access"
WINDOW_SECONDS = 60.0

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`hhs api token create`), sent as `Authorization: Bearer <token>`.",
)
_SECRET_PARAM = re.compile(r"token|secret|key|pass|auth|sig|credential", re.IGNORECASE)
_STATE_KEY = "hhs_api_token_id"  # in the request's scope state: the authenticated token's id
_AUDITED_KEY = "hhs_api_audited"  # set by the middleware: it records the request itself


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its token and what it may read."""

    token_id: str
    name: str
    agencies: frozenset[str] | None  # None: every agency

    def may_read(self, agency: str) -> bool:
        """Whether this caller may read ``agency``'s data."""
        return self.agencies is None or agency in self.agencies


# -- rate limits ---------------------------------------------------------------------------------
class RateLimiter:
    """Sliding-window limits in memory (per process): at most ``limit`` requests per key in any
    ``window`` seconds."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, now: float | None = None) -> float | None:
        """Count one request; None when allowed, else the seconds until one would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return max(hits[len(hits) - limit] + self.window - now, 0.0)
            hits.append(now)
            return None


# -- audit -----------------------------------------------------------------------------------
_LOGS: weakref.WeakSet[AuditLog] = weakref.WeakSet()


class AuditLog:
    """Requests waiting to be appended to ``ops/api_requests``, flushed by a background thread
    every ``interval`` seconds and by :meth:`flush`."""

    def __init__(self, lake: Lake, interval: float) -> None:
        self.lake, self.interval = lake, interval
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        _LOGS.add(self)

    def record(self, row: dict[str, Any]) -> None:
        """Log one request (the JSON line now, the row at the next flush)."""
        line = {**row, "requested_at": row["requested_at"].isoformat()}
        access_log.info(json.dumps(line, sort_keys=True))
        with self._lock:
            self._rows.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hhs-api-audit", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Append the waiting rows; returns how many. A failed append keeps them for the next."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                frame = pl.DataFrame(rows, schema=table_spec(REQUESTS).schema)
                self.lake.append(REQUESTS, frame)
            except Exception as exc:
                log.warning("could not append %d requests to %s: %s", len(rows), REQUESTS, exc)
                with self._lock:
                    self._rows[:0] = rows
                return 0
            return len(rows)

    def close(self) -> int:
        """Stop the background thread and flush."""
        self._stop.set()
        return self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


def flush(app: FastAPI | None = None) -> int:
    """Append the requests logged so far to ``ops/api_requests`` (those of ``app``, else of every
    app of this process); returns how many. The audit middleware calls it when the server stops."""
    if app is not None:
        state = getattr(app.state, "hhs_auth", None)
        return 0 if state is None else state.audit.flush()
    return sum(audit.flush() for audit in list(_LOGS))


def _query(raw: bytes) -> str | None:
    """The query string with the values of secret-looking parameters masked."""
    if not raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")


def _row(scope: Scope, status: int, started: float, at: datetime) -> dict[str, Any]:
    client = scope.get("client")
    state = scope.get("state") or {}
    return {
        "request_id": uuid.uuid4().hex,
        "requested_at": at,
        "token_id": state.get(_STATE_KEY),
        "method": scope.get("method", ""),
        "path": scope.get("path", ""),
        "query": _query(scope.get("query_string", b"")),
        "status": status,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "client": client[0] if client else None,
    }


# -- per-app state ---------------------------------------------------------------------------
@dataclass
class _AuthState:
    settings: Settings
    store: TokenStore
    limiter: RateLimiter
    audit: AuditLog


_INIT_LOCK = threading.Lock()


def _state(app: Any) -> _AuthState:
    """The app's token store, rate limiter and audit log (made on first use)."""
    state = getattr(app.state, "hhs_auth", None)
    if state is not None:
        return state  # type: ignore[no-any-return]
    with _INIT_LOCK:
        state = getattr(app.state, "hhs_auth", None)
        if state is None:
            settings = getattr(app.state, "settings", None) or get_settings()
            lake = getattr(app.state, "lake", None) or Lake(
                settings.lake_uri, settings.lake_storage_options
            )
            state = _AuthState(
                settings=settings,
                store=TokenStore(lake, settings.api_token_cache_seconds),
                limiter=RateLimiter(),
                audit=AuditLog(lake, settings.api_audit_flush_seconds),
            )
            app.state.hhs_auth = state
    return state  # type: ignore[no-any-return]


class AuditMiddleware:
    """Records every HTTP request (status and time included); flushes at lifespan shutdown."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_shutdown(scope, receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[_AUDITED_KEY] = True
        at, started, status, recorded = datetime.now(UTC), time.perf_counter(), 500, False

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                _state(scope["app"]).audit.record(_row(scope, status, started, at))

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record()  # before the client has the whole answer: it is logged once it has it
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            record()

    @staticmethod
    def _on_shutdown(scope: Scope, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and "app" in scope:
                state = getattr(scope["app"].state, "hhs_auth", None)
                if state is not None:
                    await asyncio.to_thread(state.audit.close)
            return message

        return wrapped


def install(app: FastAPI) -> None:
    """Audit every request of ``app`` and flush the audit log when the server stops."""
    app.add_middleware(AuditMiddleware)


# -- the dependency ------------------------------------------------------------------------
def _unauthorized(detail: str, error: bool) -> Problem:
    challenge = 'Bearer realm="hhs-api"' + (', error="invalid_token"' if error else "")
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": challenge}
    )


async def authenticate(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(_bearer),  # noqa: B008
) -> Principal:
    """The caller of this request, from its bearer token (a FastAPI dependency).

    Raises:
        Problem: 401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``) when the token is
            missing, malformed, unknown, wrong, expired or revoked; 429 ``rate-limited`` (with
            ``Retry-After``) when the token made its limit of requests in the last minute.
    """
    state = _state(request.app)
    audited_here = not request.scope.get("state", {}).get(_AUDITED_KEY)
    at, started = datetime.now(UTC), time.perf_counter()

    def fail(problem: Problem) -> Problem:
        if audited_here:  # no middleware: record the refusal here
            state.audit.record(_row(request.scope, problem.status, started, at))
        return problem

    if credentials is None or not credentials.credentials:
        raise fail(
            _unauthorized("this API needs a bearer token (Authorization: Bearer ...)", False)
        )
    parsed = parse(credentials.credentials.strip())
    if parsed is None:
        raise fail(_unauthorized("the token is not a valid API token", True))
    token_id, secret = parsed
    token = await asyncio.to_thread(state.store.get, token_id)
    if token is None or not token.matches(secret):
        raise fail(_unauthorized("the token is not a valid API token", True))
    now = datetime.now(UTC)
    if token.revoked_at is not None and token.revoked_at <= now:
        raise fail(_unauthorized("the token was revoked", True))
    if token.expires_at is not None and now >= token.expires_at:
        raise fail(_unauthorized("the token has expired", True))
    request.scope.setdefault("state", {})[_STATE_KEY] = token.token_id
    limit = token.rate_limit_per_minute or state.settings.api_rate_limit_per_minute
    wait = state.limiter.hit(token.token_id, limit)
    if wait is not None:
        retry = max(1, math.ceil(wait))
        raise fail(
            Problem(
                429,
                "rate-limited",
                "Too many requests",
                f"this token may make {limit} requests per minute; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )
        )
    if audited_here:
        state.audit.record(_row(request.scope, 200, started, at))
    return Principal(token_id=token.token_id, name=token.name, agencies=token.agencies)


__all__ = [
    "ACCESS_LOGGER",
    "REQUESTS",
    "AuditLog",
    "AuditMiddleware",
    "Principal",
    "RateLimiter",
    "authenticate",
    "flush",
    "install",
]
