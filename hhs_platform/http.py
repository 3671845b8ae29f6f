"""The resilient HTTP layer every connector uses: one pooled session, budgets, retries, archiving.

Every response received (and every failed attempt, as status 0) is turned into a
:class:`RawResponse` and handed to the run's ``archive`` callback *before* anything reads it.
Then the response is classified; what :meth:`HttpClient.get` raises, and what it retries:

CollectionError
├── TerminalError            raised at once, never retried
│   ├── AuthError            401, 403 (YouTube keyInvalid/forbidden via the connector's classify)
│   ├── NotFoundError        404, 410 (Bluesky "Profile not found" via classify)
│   ├── QuotaExhaustedError  YouTube quotaExceeded (via classify)
│   └── (TerminalError)      any other 4xx: the request itself is wrong
└── TransientError           retried up to HHS_HTTP_MAX_RETRIES, full-jitter exponential backoff
    ├── RateLimitedError     429: waits Retry-After (seconds or HTTP date) or the reset header
    ├── ServerError          5xx
    └── NetworkError         408, timeout, reset connection, truncated or undecodable 2xx JSON

Rate limits are respected before they are hit: the platform's own headers (``RateLimit-*``,
``x-rate-limit-*``, ``X-RateLimit-*``) feed a :class:`Budget` per (platform, credential); when it
runs out, the next request on it waits for the reset. Secrets never leave this module: archived
URLs, archived headers, log lines and error messages are redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

from hhs_platform.connectors.base import RawResponse
from hhs_platform.errors import (
    AuthError,
    CollectionError,
    HhsError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TerminalError,
    TransientError,
)
from hhs_platform.settings import Settings

log = logging.getLogger(__name__)

REDACTED = "***"
#: Query parameters whose values are credentials (compared lower-case).
SECRET_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "access_token",
        "token",
        "bearer_token",
        "refresh_token",
        "client_secret",
        "client_id_secret",
        "appsecret_proof",
        "secret",
        "password",
        "oauth_token",
        "oauth_signature",
        "signature",
        "sig",
    }
)
#: Request headers that carry credentials: never archived, their values redacted everywhere.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
#: Response headers kept in bronze (plus every rate-limit header).
KEPT_HEADERS = frozenset({"content-type", "retry-after", "link", "date", "etag"})
_RATE_LIMIT_PREFIXES = ("ratelimit", "x-ratelimit-", "x-rate-limit-")
_SECRET_PARAM_RE = re.compile(
    r"([?&;](?:" + "|".join(sorted(SECRET_PARAMS, key=len, reverse=True)) + r")=)[^&#;]*",
    re.IGNORECASE,
)
_USERINFO_RE = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)

Archive = Callable[[RawResponse], None]
Classifier = Callable[[RawResponse], HhsError | None]


# --- redaction -------------------------------------------------------------------------------


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value (and its URL-encoded form) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
        encoded = quote(secret, safe="")
        if encoded != secret:
            text = text.replace(encoded, REDACTED)
    return text


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``url`` without credentials: secret query values, user info and any known secret value."""
    url = _USERINFO_RE.sub(r"\1", url)
    url = _SECRET_PARAM_RE.sub(r"\1" + REDACTED, url)
    return redact_text(url, secrets)


# --- rate-limit budgets ----------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitState:
    """What a platform said of a budget: ``remaining`` requests until ``reset_at`` (epoch s)."""

    remaining: int
    reset_at: float
    limit: int | None = None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _reset_epoch(value: str | None, now: float) -> float | None:
    """A reset header as epoch seconds: epoch numbers, seconds-until numbers or ISO-8601 times."""
    if value is None:
        return None
    number = _number(value.strip())
    if number is not None:
        # Epochs are > 1e9; smaller numbers are a delay (Reddit, IETF draft RateLimit-Reset).
        return number if number > 1e9 else now + number
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def parse_rate_limit(headers: Mapping[str, str], now: float | None = None) -> RateLimitState | None:
    """Read a platform's own rate-limit headers; None when the response carries none.

    Understands Bluesky (``RateLimit-Limit/Remaining/Reset`` in unix seconds, ``RateLimit-Policy``),
    X (``x-rate-limit-*``, epoch seconds), Mastodon (``X-RateLimit-*`` with an ISO-8601 reset) and
    Reddit (``x-ratelimit-*``, float remaining, seconds until the reset).
    """
    now = time.time() if now is None else now
    lower = {k.lower(): v for k, v in headers.items()}
    for prefix in ("ratelimit-", "x-rate-limit-", "x-ratelimit-"):
        remaining = _number(lower.get(prefix + "remaining"))
        reset_at = _reset_epoch(lower.get(prefix + "reset"), now)
        if remaining is None or reset_at is None:
            continue
        limit = _number(lower.get(prefix + "limit"))
        if limit is None and prefix == "ratelimit-":
            policy = lower.get("ratelimit-policy", "")
            limit = _number(policy.split(";", 1)[0].strip()) if policy else None
        return RateLimitState(
            remaining=max(int(remaining), 0),
            reset_at=reset_at,
            limit=int(limit) if limit is not None else None,
        )
    return None


class Budget(Protocol):
    """A rate-limit budget shared by every request made with one credential on one platform."""

    async def acquire(self) -> None:
        """Wait, if the budget is spent, until its reset; then take one request from it."""

    def update(self, state: RateLimitState) -> None:
        """Take in what the platform just reported."""


class BudgetStore(Protocol):
    """Hands out budgets; swap the in-process store for a cross-worker one without other changes."""

    def budget(self, platform: str, credential: str) -> Budget:
        """The budget of ``credential`` (an opaque hash, never the secret) on ``platform``."""


class LocalBudget:
    """In-process budget: counts down between responses, sleeps through a spent window."""

    def __init__(self, name: str, *, reserve: int = 0, max_wait_s: float = 900.0) -> None:
        self.name = name
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.state: RateLimitState | None = None
        self.waited_s = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            state = self.state
            if state is None:
                return
            now = time.time()
            if now >= state.reset_at:
                self.state = None
            elif state.remaining <= self.reserve:
                wait = min(state.reset_at - now, self.max_wait_s)
                log.info("rate-limit budget %s spent; waiting %.2fs for its reset", self.name, wait)
                # Sleeping under the lock makes every other request on this budget wait too.
                await asyncio.sleep(wait)
                self.waited_s += wait
                self.state = None
            else:
                self.state = replace(state, remaining=state.remaining - 1)

    def update(self, state: RateLimitState) -> None:
        current = self.state
        if current is not None and abs(current.reset_at - state.reset_at) < 1.0:
            # Same window: concurrent responses arrive out of order; trust the lower count.
            state = replace(state, remaining=min(state.remaining, current.remaining))
        self.state = state


class LocalBudgetStore:
    """Budgets shared by the tasks of one process."""

    def __init__(self, *, reserve: int = 0, max_wait_s: float = 900.0) -> None:
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self._budgets: dict[tuple[str, str], LocalBudget] = {}

    def budget(self, platform: str, credential: str) -> LocalBudget:
        key = (platform, credential)
        if key not in self._budgets:
            self._budgets[key] = LocalBudget(
                f"{platform}/{credential}", reserve=self.reserve, max_wait_s=self.max_wait_s
            )
        return self._budgets[key]


# --- classification --------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: a number of seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    number = _number(value.strip())
    if number is not None:
        return max(number, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def body_snippet(body: bytes, limit: int = 300) -> str:
    """The start of a body as text, for error messages."""
    text = body[:limit].decode("utf-8", "replace").strip()
    return text + ("…" if len(body) > limit else "")


def default_error(raw: RawResponse) -> CollectionError | None:
    """The error a status means when the connector has nothing more specific; None for 2xx."""
    status = raw.status
    if 200 <= status < 300:
        return None
    where = f"{raw.platform} {raw.endpoint} for {raw.account_key}: HTTP {status}"
    where += f" from {raw.request_url}"
    detail = body_snippet(raw.body)
    kw: dict[str, Any] = {"platform": raw.platform, "status": status}
    if status in (401, 403):
        return AuthError(
            f"{where} ({detail}); check the {raw.platform} credential setting and its permissions",
            **kw,
        )
    if status in (404, 410):
        return NotFoundError(
            f"{where} ({detail}); check the handle/platform_id in the accounts registry", **kw
        )
    if status == 429:
        return RateLimitedError(f"{where} ({detail}); rate limited", **kw)
    if status == 408:
        return NetworkError(f"{where}; request timed out at the server", **kw)
    if status >= 500:
        return ServerError(f"{where} ({detail}); the platform failed, retrying later helps", **kw)
    return TerminalError(f"{where} ({detail}); the request was rejected", **kw)


def classify_response(raw: RawResponse, classify: Classifier | None = None) -> HhsError | None:
    """The error a response means: the connector's ``classify`` first, then the HTTP default."""
    error = classify(raw) if classify is not None else None
    return error if error is not None else default_error(raw)


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt)]``."""
    return rng.uniform(0.0, min(cap_s, base_s * (2**attempt)))


def _kept_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in KEPT_HEADERS or low.startswith(_RATE_LIMIT_PREFIXES):
            kept[low] = redact_url(value, secrets) if low == "link" else redact_text(value, secrets)
    return kept


# --- the client ------------------------------------------------------------------------------


class HttpClient:
    """One aiohttp session for a worker: pooled connections, budgets, retries, archiving.

    Args:
        settings: timeouts, retries, concurrency and the secrets to redact.
        archive: called with every response (and failed attempt) before anything reads it.
        budgets: where rate-limit budgets live; in-process by default.
        backoff_base_s: first backoff step; doubles per retry (full jitter).
        backoff_cap_s: longest backoff step.
        max_wait_s: longest wait for a Retry-After or a budget reset; a longer one is raised.
    """

    def __init__(
        self,
        settings: Settings,
        archive: Archive,
        *,
        budgets: BudgetStore | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_wait_s: float = 900.0,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.budgets: BudgetStore = budgets or LocalBudgetStore(max_wait_s=max_wait_s)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_wait_s = max_wait_s
        self._rng = rng or random.Random()
        self._secrets = list(settings.secret_values())
        self._session: aiohttp.ClientSession | None = None
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Self:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.http_timeout_s, connect=self.settings.http_connect_timeout_s
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout, headers={"User-Agent": "hhs-platform/0.1 (public-figures collector)"}
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _semaphore(self, platform: str) -> asyncio.Semaphore:
        if platform not in self._semaphores:
            self._semaphores[platform] = asyncio.Semaphore(self.settings.http_concurrency)
        return self._semaphores[platform]

    async def get(
        self,
        *,
        platform: str,
        endpoint: str,
        url: str,
        params: Mapping[str, str | int] | None,
        account_key: str,
        page: int,
        headers: Mapping[str, str] | None = None,
        classify: Classifier | None = None,
        expect_json: bool | None = None,
    ) -> tuple[RawResponse, bytes]:
        """GET ``url`` with retries; the archived response and its body bytes.

        ``expect_json`` checks that a 2xx body is complete JSON (an incomplete one is retried as
        a :class:`NetworkError`); ``None`` checks it when the response says it is JSON.

        Raises:
            TerminalError: the platform refused (auth, not found, quota, bad request).
            TransientError: still failing after ``HHS_HTTP_MAX_RETRIES`` retries.
        """
        raw, body, _ = await self._request(
            platform, endpoint, url, params, account_key, page, headers, classify, expect_json
        )
        return raw, body

    async def get_json(
        self,
        *,
        platform: str,
        endpoint: str,
        url: str,
        params: Mapping[str, str | int] | None,
        account_key: str,
        page: int,
        headers: Mapping[str, str] | None = None,
        classify: Classifier | None = None,
    ) -> tuple[RawResponse, Any]:
        """Like :meth:`get`, returning the decoded JSON body."""
        raw, _, data = await self._request(
            platform, endpoint, url, params, account_key, page, headers, classify, True
        )
        return raw, data

    async def _request(
        self,
        platform: str,
        endpoint: str,
        url: str,
        params: Mapping[str, str | int] | None,
        account_key: str,
        page: int,
        headers: Mapping[str, str] | None,
        classify: Classifier | None,
        expect_json: bool | None,
    ) -> tuple[RawResponse, bytes, Any]:
        target = URL(url).extend_query(dict(params)) if params else URL(url)
        secrets = [*self._secrets]
        credential_material: list[str] = []
        for name, value in (params or {}).items():
            if name.lower() in SECRET_PARAMS:
                secrets.append(str(value))
                credential_material.append(f"{name}={value}")
        for name, value in (headers or {}).items():
            if name.lower() in SECRET_HEADERS:
                secrets.append(value)
                secrets.extend(value.split()[1:])  # "Bearer <token>": the token alone too
                credential_material.append(f"{name.lower()}={value}")
        credential = (
            hashlib.sha256("\n".join(sorted(credential_material)).encode()).hexdigest()[:12]
            if credential_material
            else "anonymous"
        )
        safe_url = redact_url(str(target), secrets)
        budget = self.budgets.budget(platform, credential)
        attempt = 0
        while True:
            try:
                return await self._attempt(
                    platform,
                    endpoint,
                    target,
                    safe_url,
                    secrets,
                    account_key,
                    page,
                    headers,
                    classify,
                    expect_json,
                    budget,
                )
            except TransientError as exc:
                if attempt >= self.settings.http_max_retries:
                    log.warning(
                        "%s %s for %s: giving up after %d attempts: %s",
                        platform,
                        endpoint,
                        account_key,
                        attempt + 1,
                        exc,
                    )
                    raise
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else backoff_delay(attempt, self.backoff_base_s, self.backoff_cap_s, self._rng)
                )
                if delay > self.max_wait_s:
                    log.warning(
                        "%s %s: told to wait %.0fs, longer than %.0fs; not waiting",
                        platform,
                        endpoint,
                        delay,
                        self.max_wait_s,
                    )
                    raise
                attempt += 1
                log.warning(
                    "%s %s for %s: attempt %d failed (%s); retrying in %.2fs",
                    platform,
                    endpoint,
                    account_key,
                    attempt,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _attempt(
        self,
        platform: str,
        endpoint: str,
        target: URL,
        safe_url: str,
        secrets: list[str],
        account_key: str,
        page: int,
        headers: Mapping[str, str] | None,
        classify: Classifier | None,
        expect_json: bool | None,
        budget: Budget,
    ) -> tuple[RawResponse, bytes, Any]:
        if self._session is None:
            raise RuntimeError("HttpClient is not open: use 'async with HttpClient(...)'")
        where = f"{platform} {endpoint} for {account_key} ({safe_url})"
        status = 0
        resp_headers: Mapping[str, str] = {}
        body = b""
        failure: NetworkError | None = None
        async with self._semaphore(platform):
            await budget.acquire()
            started = time.perf_counter()
            try:
                async with self._session.get(target, headers=dict(headers or {})) as resp:
                    resp_headers = resp.headers
                    status = resp.status
                    body = await resp.read()
            except TimeoutError:
                failure = NetworkError(
                    f"{where}: no complete answer within {self.settings.http_timeout_s}s "
                    "(HHS_HTTP_TIMEOUT_S)",
                    platform=platform,
                )
            except aiohttp.ClientPayloadError as exc:
                failure = NetworkError(
                    f"{where}: body cut short ({exc.__class__.__name__}: "
                    f"{redact_text(str(exc), secrets)})",
                    platform=platform,
                    status=status or None,
                )
            except aiohttp.ClientError as exc:
                failure = NetworkError(
                    f"{where}: connection failed ({exc.__class__.__name__}: "
                    f"{redact_text(str(exc), secrets)})",
                    platform=platform,
                )
            elapsed_ms = (time.perf_counter() - started) * 1000.0
        if failure is not None:
            status, body = 0, b""  # no complete response: archived as status 0
        for secret in secrets:
            if len(secret) >= 4 and secret.encode() in body:
                body = body.replace(secret.encode(), REDACTED.encode())
        raw = RawResponse(
            platform=platform,
            endpoint=endpoint,
            account_key=account_key,
            request_url=safe_url,
            status=status,
            headers=_kept_headers(resp_headers, secrets),
            body=body,
            fetched_at=datetime.now(UTC),
            elapsed_ms=elapsed_ms,
            page=page,
        )
        self.archive(raw)
        if failure is not None:
            raise failure
        now = time.time()
        state = parse_rate_limit(resp_headers, now)
        if state is not None:
            budget.update(state)
        error = classify_response(raw, classify)
        if error is not None:
            error.args = tuple(
                redact_text(a, secrets) if isinstance(a, str) else a for a in error.args
            )
            if isinstance(error, TransientError) and error.retry_after is None:
                error.retry_after = parse_retry_after(resp_headers.get("Retry-After"), now)
                if error.retry_after is None and isinstance(error, RateLimitedError) and state:
                    error.retry_after = max(state.reset_at - now, 0.0)
            raise error
        data: Any = None
        if expect_json is None:
            expect_json = "json" in resp_headers.get("Content-Type", "").lower()
        if expect_json:
            try:
                data = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise NetworkError(
                    f"{where}: HTTP {status} body is not complete JSON ({len(body)} bytes, "
                    f"{exc.__class__.__name__} at {getattr(exc, 'pos', '?')}); likely truncated",
                    platform=platform,
                    status=status,
                ) from None
        return raw, body, data
