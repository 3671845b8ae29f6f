"""The resilient HTTP layer every connector uses: one pooled session, budgets, retries, archiving.

Every response received (and every failed attempt, as status 0) is turned into a
:class:`RawResponse` and handed to the run's ``archive`` callback *before* anything reads it.
Then the response is classified; what :meth:`HttpClient.get` raises, and what it retries:

CollectionError
├── TerminalError            raised at once, never retried
│   ├── AuthError            401, 403 (YouTube keyInvalid/forbidden via the connector's classify)
│   ├── NotFoundError        404, 410 (Bluesky "Profile not found" via classify)
│   ├── QuotaExhaustedError  YouTube quotaExceeded (via classify): the next key is tried; raised
│   │                        when every key is spent today
│   ├── EgressDeniedError    the URL, or a redirect, leaves the outbound allow-list
│   │                        (:mod:`hhs_platform.egress`): raised before anything is sent
│   └── (TerminalError)      any other 4xx: the request itself is wrong
└── TransientError           retried up to HHS_HTTP_MAX_RETRIES, full-jitter exponential backoff
    ├── RateLimitedError     429: waits Retry-After (seconds or HTTP date) or the reset header
    ├── ServerError          5xx                                    } counted by the platform's
    ├── NetworkError         408, timeout, reset connection,       } circuit breaker
    │                        truncated or undecodable 2xx JSON
    └── CircuitOpenError     the breaker is open: raised at once, no request, not retried

Rate limits are respected before they are hit (:mod:`hhs_platform.ratelimit`): every request
first takes a send time from the token bucket of its (platform, credential hash) - paced by the
documented limit before the first response, then by the platform's own headers (``RateLimit-*``,
``x-rate-limit-*``, ``X-RateLimit-*``; Meta's usage percentages space requests out as they near
100 % and hold them at the top, see :func:`parse_usage_rate_limit`); unit quotas (YouTube) are
charged per key and day to a :class:`QuotaLedger` and keys rotate when one is spent; a
:class:`CircuitBreaker` per platform
fails its requests fast while the platform is down. Budgets, ledgers and breakers live in one
:class:`SharedState`: in-process memory, or a SQLite file shared by every Dask worker
(:func:`default_state`). Requests and redirects go only to allow-listed hosts
(:class:`~hhs_platform.egress.EgressPolicy`). Secrets never leave this module: archived URLs,
archived headers, log lines and error messages are redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

from hhs_platform import jsonio
from hhs_platform.connectors.base import RawResponse
from hhs_platform.egress import EgressDeniedError, EgressPolicy
from hhs_platform.errors import (
    AuthError,
    CircuitOpenError,
    CollectionError,
    HhsError,
    NetworkError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    TerminalError,
    TransientError,
)
from hhs_platform.ratelimit import (
    CircuitBreaker,
    LocalBudget,
    LocalBudgetStore,
    QuotaLedger,
    RateLimitState,
    SharedBudgetStore,
    SharedState,
    credential_id,
    default_state,
    unit_cost,
)
from hhs_platform.settings import Settings

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "Budget",
    "BudgetStore",
    "HttpClient",
    "LocalBudget",
    "LocalBudgetStore",
    "RateLimitState",
    "backoff_delay",
    "body_snippet",
    "classify_response",
    "default_error",
    "parse_rate_limit",
    "parse_retry_after",
    "parse_usage_rate_limit",
    "redact_text",
    "redact_url",
]

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
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "retry-after",
        "link",
        "date",
        "etag",
        # Meta's budget signal: JSON percentages of the app's, page's or business's limit used.
        "x-app-usage",
        "x-page-usage",
        "x-business-use-case-usage",
    }
)
_RATE_LIMIT_PREFIXES = ("ratelimit", "x-ratelimit-", "x-rate-limit-")
_SECRET_PARAM_RE = re.compile(
    r"([?&;](?:" + "|".join(sorted(SECRET_PARAMS, key=len, reverse=True)) + r")=)[^&#;]*",
    re.IGNORECASE,
)
_USERINFO_RE = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)

Archive = Callable[[RawResponse], None]
#: Called with an archived response and its body decoded as JSON (``get_json``'s answers).
Decoded = Callable[[RawResponse, Any], None]
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


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


#: A reset named in whole seconds may come up to this much after the second it names.
RESET_RESOLUTION_S = 1.0


def _reset_epoch(value: str | None, now: float) -> float | None:
    """A reset header as epoch seconds: epoch numbers, seconds-until numbers or ISO-8601 times.

    A reset in whole seconds (X's epoch, Reddit's delay, an ISO time without a fraction) counts
    one second more: the platform truncates, so its window may turn up to a second after the
    second it names, and a request sent at that second can still be refused (then retried at
    once, refused again, and given up).
    """
    if value is None:
        return None
    text = value.strip()
    whole = 0.0 if "." in text else RESET_RESOLUTION_S  # no fraction written: whole seconds
    number = _number(text)
    if number is not None:
        # Epochs are > 1e9; smaller numbers are a delay (Reddit, IETF draft RateLimit-Reset).
        return (number if number > 1e9 else now + number) + whole
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() + whole


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
        window: float | None = None
        policy = lower.get("ratelimit-policy", "") if prefix == "ratelimit-" else ""
        if policy:  # "3000;w=300": the limit and its window in seconds
            first, *params = (p.strip() for p in policy.split(",", 1)[0].split(";"))
            limit = limit if limit is not None else _number(first)
            window = next((_number(p[2:]) for p in params if p.startswith("w=")), None)
        return RateLimitState(
            remaining=max(int(remaining), 0),
            reset_at=reset_at,
            limit=int(limit) if limit is not None else None,
            window_s=window,
        )
    return None


#: Meta's usage percentages (``X-App-Usage``, ``X-Page-Usage``, ``X-Business-Use-Case-Usage``):
#: full speed below ``USAGE_SLOWDOWN_PCT``; from there requests are spaced further apart as the
#: share used grows (quadratically, up to ``USAGE_MAX_PACE_S``); at ``USAGE_HOLD_PCT`` (or when
#: Meta gives an ``estimated_time_to_regain_access``) the budget holds every request.
USAGE_SLOWDOWN_PCT = 50.0
USAGE_HOLD_PCT = 95.0
USAGE_MAX_PACE_S = 30.0
#: How long a budget holds at ``USAGE_HOLD_PCT`` when Meta gives no regain estimate (its
#: windows roll over an hour, so usage falls slowly).
USAGE_HOLD_S = 300.0


def usage_pace(pct: float) -> float:
    """Seconds between requests when Meta reports ``pct`` percent of a budget used."""
    if pct <= USAGE_SLOWDOWN_PCT:
        return 0.0
    share = min(1.0, (pct - USAGE_SLOWDOWN_PCT) / (USAGE_HOLD_PCT - USAGE_SLOWDOWN_PCT))
    return round(USAGE_MAX_PACE_S * share * share, 3)


def parse_usage_rate_limit(
    headers: Mapping[str, str], now: float | None = None
) -> RateLimitState | None:
    """Meta's usage headers as a budget update; None when the response carries none.

    Meta reports the highest share of a rolling budget used, not a request count, so the
    budget gets a pace (``pace_s``, 0 below ``USAGE_SLOWDOWN_PCT``) and no count; at
    ``USAGE_HOLD_PCT`` or with a regain estimate it is spent (``remaining=0``) until then
    (``hhs_platform.connectors.graph.usage_rate_limit_state``).
    """
    from hhs_platform.connectors.graph import parse_usage_headers, usage_rate_limit_state

    now = time.time() if now is None else now
    usage = parse_usage_headers(headers)
    if usage is None:
        return None
    held = usage_rate_limit_state(
        headers, now, threshold_pct=USAGE_HOLD_PCT, cooldown_s=USAGE_HOLD_S
    )
    if held is not None:
        return RateLimitState(remaining=0, reset_at=held.reset_at)
    return RateLimitState(remaining=None, reset_at=now, pace_s=usage_pace(usage.max_pct))


class Budget(Protocol):
    """A rate-limit budget shared by every request made with one credential on one platform."""

    async def acquire(self) -> None:
        """Wait until the budget allows one more request; then take it."""

    def done(self) -> None:
        """The request taken was answered, or failed (before :meth:`update` with its answer)."""

    def update(self, state: RateLimitState) -> None:
        """Take in what the platform just reported."""


class BudgetStore(Protocol):
    """Hands out budgets (:class:`~hhs_platform.ratelimit.SharedBudgetStore` is the one used)."""

    def budget(
        self, platform: str, credential: str, *, endpoint: str = "", path: str = ""
    ) -> Budget:
        """The budget of ``credential`` (an opaque hash, never the secret) on ``platform``."""
        ...


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
    """One aiohttp session for a worker: pooled connections, budgets, quotas, breakers, retries.

    Args:
        settings: timeouts, retries, concurrency, breaker thresholds and the secrets to redact.
        archive: called with every response (and failed attempt) before anything reads it.
        budgets: where rate-limit budgets live; by default in ``state``, paced by the
            documented limits (``hhs_platform.ratelimit.DEFAULT_RULES``).
        state: where budgets, quota ledgers and breakers live; by default
            :func:`~hhs_platform.ratelimit.default_state` (shared by every Dask worker of a
            cluster, in-process memory elsewhere).
        backoff_base_s: first backoff step; doubles per retry (full jitter).
        backoff_cap_s: longest backoff step.
        max_wait_s: longest wait for a Retry-After or a budget reset; a longer one is raised.
        decoded: called with each archived 2xx response and its body decoded as JSON, after
            the decode the answer's caller receives (the batch's parse reuses it).
    """

    def __init__(
        self,
        settings: Settings,
        archive: Archive,
        *,
        budgets: BudgetStore | None = None,
        state: SharedState | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_wait_s: float = 900.0,
        rng: random.Random | None = None,
        decoded: Decoded | None = None,
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.decoded = decoded
        self.state: SharedState = (
            state if state is not None else default_state(settings.http_state_dir)
        )
        self.budgets: BudgetStore = budgets or SharedBudgetStore(self.state, max_wait_s=max_wait_s)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_wait_s = max_wait_s
        self._rng = rng or random.Random()
        self._secrets = list(settings.secret_values())
        #: Hosts requests may go to; checked before every attempt and every redirect hop.
        self.egress = EgressPolicy.from_settings(settings)
        self._session: aiohttp.ClientSession | None = None
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._ledgers: dict[str, QuotaLedger] = {}

    async def __aenter__(self) -> Self:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.http_timeout_s, connect=self.settings.http_connect_timeout_s
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            headers={"User-Agent": "hhs-platform/0.1 (public-figures collector)"},
            middlewares=(self._egress_middleware,),
        )
        return self

    async def _egress_middleware(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        # aiohttp runs this before each request it sends, redirect hops included.
        self.egress.check(
            request.url, where="redirected", shown=redact_url(str(request.url), self._secrets)
        )
        return await handler(request)

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

    def breaker(self, platform: str) -> CircuitBreaker:
        """The circuit breaker of ``platform`` (its state is shared like the budgets)."""
        if platform not in self._breakers:
            self._breakers[platform] = CircuitBreaker(
                self.state,
                platform,
                failures=self.settings.http_breaker_failures,
                cooldown_s=self.settings.http_breaker_cooldown_s,
                probe_timeout_s=self.settings.http_timeout_s * 2,
            )
        return self._breakers[platform]

    def credential_keys(self, credentials: str) -> dict[str, str]:
        """The keys of a credential set, by hash, in the order they are used.

        ``"youtube"`` is ``HHS_YOUTUBE_API_KEY`` followed by ``HHS_YOUTUBE_API_KEYS``.
        """
        values: list[str] = []
        single = self.settings.secret(f"{credentials}_api_key")
        if single:
            values.append(single)
        for item in getattr(self.settings, f"{credentials}_api_keys", None) or []:
            value = item.get_secret_value() if hasattr(item, "get_secret_value") else str(item)
            if value:
                values.append(value)
        return {credential_id(f"{credentials}\n{v}"): v for v in dict.fromkeys(values)}

    def quota(self, credentials: str) -> QuotaLedger:
        """The unit ledger of a credential set: ``http.quota("youtube").forecast(units)``."""
        if credentials not in self._ledgers:
            keys = list(self.credential_keys(credentials))
            self._ledgers[credentials] = QuotaLedger(self.state, credentials, keys)
        return self._ledgers[credentials]

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
        credentials: str | None = None,
        credential_param: str = "key",
    ) -> tuple[RawResponse, bytes]:
        """GET ``url`` with retries; the archived response and its body bytes.

        ``expect_json`` checks that a 2xx body is complete JSON (an incomplete one is retried as
        a :class:`NetworkError`); ``None`` checks it when the response says it is JSON.
        ``credentials`` (e.g. ``"youtube"``) makes the client fill the query parameter
        ``credential_param`` with a key of that set that has quota units left today, charging
        the call's units (``hhs_platform.ratelimit.QUOTA_RULES``) and moving to the next key
        when the platform says one is spent.

        Raises:
            TerminalError: the platform refused (auth, not found, bad request); a
                :class:`QuotaExhaustedError` only once every key of ``credentials`` is spent.
            TransientError: still failing after ``HHS_HTTP_MAX_RETRIES`` retries, or
                :class:`CircuitOpenError` at once while the platform's breaker is open.
        """
        raw, body, _ = await self._request(
            platform,
            endpoint,
            url,
            params,
            account_key,
            page,
            headers,
            classify,
            expect_json,
            credentials,
            credential_param,
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
        credentials: str | None = None,
        credential_param: str = "key",
    ) -> tuple[RawResponse, Any]:
        """Like :meth:`get`, returning the decoded JSON body."""
        raw, _, data = await self._request(
            platform,
            endpoint,
            url,
            params,
            account_key,
            page,
            headers,
            classify,
            True,
            credentials,
            credential_param,
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
        credentials: str | None,
        credential_param: str,
    ) -> tuple[RawResponse, bytes, Any]:
        if credentials is None:
            return await self._with_retries(
                platform, endpoint, url, params, account_key, page, headers, classify, expect_json
            )
        keys = self.credential_keys(credentials)
        setting = f"HHS_{credentials.upper()}_API_KEY"
        if not keys:
            raise AuthError(
                f"{platform} {endpoint} for {account_key}: no {credentials} API key configured; "
                f"set {setting} (or several, comma separated, in {setting}S)",
                platform=platform,
            )
        ledger = self.quota(credentials)
        units = unit_cost(credentials, URL(url).path)
        spent: set[str] = set()
        while True:
            key_id = ledger.reserve(units, exclude=spent)
            if key_id is None:
                resets = ledger.resets_at()
                raise QuotaExhaustedError(
                    f"{platform} {endpoint} for {account_key}: every {credentials} key "
                    f"({len(keys)}) has spent today's quota; it resets at "
                    f"{resets:%Y-%m-%d %H:%M %Z}; add keys to {setting}S or run after the reset",
                    platform=platform,
                )
            try:
                return await self._with_retries(
                    platform,
                    endpoint,
                    url,
                    {**(params or {}), credential_param: keys[key_id]},
                    account_key,
                    page,
                    headers,
                    classify,
                    expect_json,
                )
            except QuotaExhaustedError:
                ledger.mark_exhausted(key_id)
                spent.add(key_id)
                log.warning(
                    "%s %s for %s: %s key %s spent for today (%d of %d keys left); rotating",
                    platform,
                    endpoint,
                    account_key,
                    credentials,
                    key_id,
                    len(keys) - len(spent),
                    len(keys),
                )

    async def _with_retries(
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
        # A URL that already carries %-escapes is sent as is: yarl would decode %3A back to ':'
        # (LinkedIn's Rest.li 2.0 needs URNs encoded in paths and inside List(...)).
        encoded = "%" in url and url.isascii() and " " not in url
        base_url = URL(url, encoded=encoded)
        target = base_url.extend_query(dict(params)) if params else base_url
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
            credential_id("\n".join(sorted(credential_material)))
            if credential_material
            else "anonymous"
        )
        safe_url = redact_url(str(target), secrets)
        self.egress.check(
            target,
            where=f"{platform} {endpoint} for {account_key}",
            platform=platform,
            shown=safe_url,
        )
        budget = self.budgets.budget(platform, credential, endpoint=endpoint, path=target.path)
        breaker = self.breaker(platform)
        attempt = 0
        while True:
            try:
                breaker.before(f"{endpoint} for {account_key}")
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
                    breaker,
                )
            except CircuitOpenError as exc:
                log.warning("%s", exc)
                raise
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
        breaker: CircuitBreaker,
    ) -> tuple[RawResponse, bytes, Any]:
        if self._session is None:
            raise RuntimeError("HttpClient is not open: use 'async with HttpClient(...)'")
        where = f"{platform} {endpoint} for {account_key} ({safe_url})"
        status = 0
        resp_headers: Mapping[str, str] = {}
        body = b""
        failure: NetworkError | EgressDeniedError | None = None
        async with self._semaphore(platform):
            await budget.acquire()
            started = time.perf_counter()
            try:
                async with self._session.get(target, headers=dict(headers or {})) as resp:
                    resp_headers = resp.headers
                    status = resp.status
                    body = await resp.read()
            except EgressDeniedError as exc:
                failure = EgressDeniedError(f"{where} {exc}", platform=platform)
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
            finally:
                budget.done()  # answered or failed: no longer in flight (before update)
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
        if isinstance(failure, EgressDeniedError):
            breaker.success()  # the platform answered; the redirect is what is refused
            raise failure
        if failure is not None:
            breaker.failure(f"{type(failure).__name__}: {str(failure)[-120:]}")
            raise failure
        now = time.time()
        state = parse_rate_limit(resp_headers, now) or parse_usage_rate_limit(resp_headers, now)
        if state is not None:
            budget.update(state)
        error = classify_response(raw, classify)
        if error is not None:
            error.args = tuple(
                redact_text(a, secrets) if isinstance(a, str) else a for a in error.args
            )
            if isinstance(error, ServerError | NetworkError):
                breaker.failure(f"{type(error).__name__} HTTP {status}")
            else:
                breaker.success()
            if isinstance(error, TransientError) and error.retry_after is None:
                error.retry_after = parse_retry_after(resp_headers.get("Retry-After"), now)
                if (
                    error.retry_after is None
                    and isinstance(error, RateLimitedError)
                    and state is not None
                    and state.remaining is not None  # a pace alone says nothing of when
                ):
                    error.retry_after = max(state.reset_at - now, 0.0)
            raise error
        breaker.success()
        data: Any = None
        if expect_json is None:
            expect_json = "json" in resp_headers.get("Content-Type", "").lower()
        if expect_json:
            try:
                data = jsonio.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise NetworkError(
                    f"{where}: HTTP {status} body is not complete JSON ({len(body)} bytes, "
                    f"{exc.__class__.__name__} at {getattr(exc, 'pos', '?')}); likely truncated",
                    platform=platform,
                    status=status,
                ) from None
            if self.decoded is not None:
                self.decoded(raw, data)
        return raw, body, data
