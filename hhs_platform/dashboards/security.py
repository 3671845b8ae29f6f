"""Access control and web hardening of the dashboard server, configured by settings.

- **Roles** (``HHS_DASHBOARD_ROLES``): a *viewer* sees the data pages, limited to its agencies
  (``HHS_DASHBOARD_AGENCY_ACCESS``), without downloads; an *analyst* sees every agency and may
  download; an *admin* may also open the operations page. Without the setting every signed-in
  user may do everything.
- **Security headers** on every response: a Content-Security-Policy that forbids framing, plugins
  and foreign scripts, ``X-Content-Type-Options``, ``Referrer-Policy``, and HSTS when the public
  URL (``HHS_DASHBOARD_URL``) is https.
- **Rate limit** per client (``HHS_DASHBOARD_RATE_LIMIT_PER_MINUTE``) and **lockout** of a client
  and of a user name after repeated failed sign-ins (``HHS_DASHBOARD_LOGIN_MAX_FAILURES``,
  ``HHS_DASHBOARD_LOCKOUT_MINUTES``): both answer 429 with ``Retry-After``.
- **Cookies**: the login cookies get ``SameSite=Lax``, and ``Secure`` behind https; they expire
  after ``HHS_DASHBOARD_SESSION_HOURS``.
- **Access log**: one JSON line per request on the ``hhs_platform.access`` logger (time, client,
  user, role, method, path, status, milliseconds; sign-in attempts with their outcome).

:class:`WebSecurity` holds the state (buckets, failures) of one server; ``serve_dashboards``
builds it from the settings and installs it.
"""

from __future__ import annotations

import html
import inspect
import ipaddress
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from tornado.httputil import HTTPServerRequest
from tornado.routing import Matcher, Rule
from tornado.web import Application, OutputTransform, RequestHandler, decode_signed_value

from hhs_platform.errors import ConfigurationError
from hhs_platform.settings import Settings

Role = Literal["viewer", "analyst", "admin"]

#: The roles, from the least to the most privileged.
ROLES: tuple[Role, ...] = ("viewer", "analyst", "admin")
#: Pages that need more than the viewer role: URL slug -> least role.
PAGE_ROLES: dict[str, Role] = {"operations": "admin"}
#: The role that may download (CSV, Excel, Parquet, data dictionary).
EXPORT_ROLE: Role = "analyst"

#: Logger of the access log (one JSON object per line).
ACCESS_LOG = "hhs_platform.access"

#: The Content-Security-Policy of every response. Bokeh and Panel render with inline scripts,
#: inline styles and ``new Function`` (hence ``'unsafe-inline' 'unsafe-eval'``); everything else
#: comes from the server itself, and the page talks back over its own websocket.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: HSTS sent when the dashboards' public URL is https: one year, subdomains included.
HSTS = "max-age=31536000; includeSubDomains"

_STATIC = ("/static/", "/favicon.ico")


def roles_in_force(settings: Settings) -> bool:
    """Whether roles are configured (``HHS_DASHBOARD_ROLES``)."""
    return bool(settings.dashboard_roles)


def role_of(user: str | None, settings: Settings) -> Role:
    """The role of a user.

    Without ``HHS_DASHBOARD_ROLES`` (or without login) everyone is ``admin``: the dashboards
    behave as they do without roles. With it, a user not listed gets the ``*`` entry, else
    ``viewer``.
    """
    roles = settings.dashboard_roles
    if not roles or user is None:
        return "admin"
    return roles.get(user, roles.get("*", "viewer"))


def at_least(role: Role, minimum: Role) -> bool:
    """Whether ``role`` has the privileges of ``minimum``."""
    return ROLES.index(role) >= ROLES.index(minimum)


def may_open(role: Role, slug: str) -> bool:
    """Whether a user with ``role`` may open the page ``slug``."""
    return at_least(role, PAGE_ROLES.get(slug, "viewer"))


def login_configured(settings: Settings) -> bool:
    """Whether the dashboards ask for a login."""
    return bool(
        settings.dashboard_oauth_provider
        or settings.dashboard_users_file is not None
        or settings.dashboard_password is not None
    )


def is_https(settings: Settings) -> bool:
    """Whether the dashboards' public URL (``HHS_DASHBOARD_URL``) is https."""
    return urlsplit(settings.dashboard_url.strip()).scheme.lower() == "https"


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers added to every response of the dashboard server."""
    headers = {
        "Content-Security-Policy": CSP,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if is_https(settings):
        headers["Strict-Transport-Security"] = HSTS
    return headers


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ConfigurationError(
                f"HHS_DASHBOARD_TRUSTED_PROXIES: {entry!r} is not an address or network"
            ) from exc
    return nets


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class WebSecurity:
    """Rate limit, login lockout, role checks, headers, cookie flags and access log of one
    dashboard server.

    Args:
        settings: The settings (roles, limits, cookie secret, public URL).
        clock: Seconds on a monotonic clock (``time.monotonic``); tests may pass their own.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        if roles_in_force(settings) and not login_configured(settings):
            raise ConfigurationError(
                "HHS_DASHBOARD_ROLES needs a login (HHS_DASHBOARD_PASSWORD, "
                "HHS_DASHBOARD_USERS_FILE or HHS_DASHBOARD_OAUTH_*): without one nobody has a "
                "role (see docs/dashboards.md, Login)"
            )
        self.settings = settings
        self.clock = clock
        self.headers = security_headers(settings)
        self.secure_cookies = is_https(settings)
        self._proxies = _networks(settings.dashboard_trusted_proxies)
        secret = settings.dashboard_cookie_secret
        self._cookie_secret = secret.get_secret_value() if secret else None
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._failures: dict[str, _Failures] = {}
        self._log = _access_logger()

    # -- who is asking ---------------------------------------------------------------------

    def client(self, request: HTTPServerRequest) -> str:
        """The client's address: the peer, or the last address a trusted proxy forwarded."""
        return self.client_address(
            request.remote_ip or "", request.headers.get("X-Forwarded-For", "")
        )

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """The client behind ``peer``: the peer itself unless it is a trusted proxy; then the
        right-most address of ``X-Forwarded-For`` that no trusted proxy added."""
        if not self._proxies or not self._trusted(peer):
            return peer
        forwarded = [a.strip() for a in forwarded_for.split(",") if a.strip()]
        for address in reversed(forwarded):
            if not self._trusted(address):
                return address
        return forwarded[0] if forwarded else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)

    def user(self, request: HTTPServerRequest) -> str | None:
        """The signed-in user of a request (from its signed login cookie), None if none."""
        if self._cookie_secret is None:
            return None
        morsel = request.cookies.get("user")
        if morsel is None:
            return None
        value = decode_signed_value(
            self._cookie_secret,
            "user",
            morsel.value,
            max_age_days=self.settings.dashboard_session_hours / 24,
        )
        return value.decode("utf-8", "replace") if value else None

    # -- rate limit and lockout ------------------------------------------------------------

    def allow(self, client: str) -> float:
        """Take one request from the client's bucket: 0 if allowed, else seconds to wait."""
        rate = self.settings.dashboard_rate_limit_per_minute
        if rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(float(rate), now)
                if len(self._buckets) > 100_000:  # forget the idle ones, keep memory bounded
                    self._prune(now)
            bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.at) * rate / 60.0)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) * 60.0 / rate

    def _prune(self, now: float) -> None:
        full = 60.0
        for key in [k for k, b in self._buckets.items() if now - b.at > full]:
            del self._buckets[key]

    def locked(self, client: str, user: str) -> float:
        """Seconds the client or the user name stays locked out (0: not locked)."""
        if self.settings.dashboard_login_max_failures <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            waits = [
                f.locked_until - now
                for key in (f"client:{client}", f"user:{user}")
                if (f := self._failures.get(key)) is not None
            ]
        return max([0.0, *waits])

    def record_login(self, client: str, user: str, ok: bool) -> None:
        """Count a failed sign-in against the client and the user name (a success clears the
        user name's count); the limit reached locks both."""
        limit = self.settings.dashboard_login_max_failures
        if limit <= 0:
            return
        now = self.clock()
        window = self.settings.dashboard_lockout_minutes * 60.0
        with self._lock:
            if ok:
                self._failures.pop(f"user:{user}", None)
                return
            if len(self._failures) > 100_000:  # forget the stale ones, keep memory bounded
                for key in [
                    k
                    for k, f in self._failures.items()
                    if f.locked_until <= now and all(now - t >= window for t in f.times)
                ]:
                    del self._failures[key]
            for key in (f"client:{client}", f"user:{user}"):
                f = self._failures.setdefault(key, _Failures())
                f.times = [t for t in f.times if now - t < window] + [now]
                if len(f.times) >= limit:
                    f.locked_until = now + window
                    f.times = []

    # -- the tornado pieces ----------------------------------------------------------------

    def serve_options(self) -> dict[str, Any]:
        """Options for ``pn.serve``: the header transform and the access log."""
        headers = self.headers

        class SecurityHeaders(OutputTransform):
            def transform_first_chunk(
                self,
                status_code: int,
                headers_out: Any,
                chunk: bytes,
                finishing: bool,
            ) -> tuple[int, Any, bytes]:
                for name, value in headers.items():
                    headers_out[name] = value
                return status_code, headers_out, chunk

        return {"transforms": [SecurityHeaders], "log_function": self.log_request}

    def install(self, app: Application) -> None:
        """Put the guard (rate limit, page roles) in front of every route of ``app``, and the
        cookie flags and the lockout on its login and logout handlers."""
        provider = getattr(app, "auth_provider", None)
        login = getattr(provider, "login_handler", None)
        logout = getattr(provider, "logout_handler", None)
        for rule in app.wildcard_router.rules:
            target = rule.target
            if login is not None and target is login:
                mixin: type = _GuardedLogin
            elif logout is not None and target is logout:
                mixin = _SecureCookies
            else:
                continue
            rule.target = type(f"Guarded{target.__name__}", (mixin, target), {"security": self})
        app.wildcard_router.rules.insert(0, Rule(_Guard(self), _Refuse))

    def log_request(self, handler: RequestHandler) -> None:
        """Write one access-log line for a finished request."""
        request = handler.request
        user = self.user(request)
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client": self.client(request),
            "user": user,
            "role": role_of(user, self.settings) if user else None,
            "method": request.method,
            "path": request.path,
            "status": handler.get_status(),
            "ms": round(1000.0 * request.request_time(), 1),
        }
        login = getattr(handler, "hhs_login", None)
        if login is not None:
            entry["login"] = login
        status = handler.get_status()
        level = logging.WARNING if status in (401, 403, 429) or status >= 500 else logging.INFO
        self._log.log(level, json.dumps(entry, sort_keys=True))


def _access_logger() -> logging.Logger:
    """The access logger, at INFO; writing to standard error when nothing else handles it
    (``hhs serve`` configures no logging)."""
    log = logging.getLogger(ACCESS_LOG)
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.hasHandlers():
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    return log


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the standard error of the moment of each record (like ``logging.lastResort``),
    not the one at creation, which a redirection (a test's capture) may have closed since."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _Guard(Matcher):
    """Claims the requests to refuse (too many, or a page above the user's role)."""

    def __init__(self, security: WebSecurity) -> None:
        self.security = security

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        path = request.path or "/"
        if path.startswith(_STATIC):
            return None
        security = self.security
        wait = security.allow(security.client(request))
        if wait > 0:
            return {"path_args": [], "path_kwargs": {"status": "429", "wait": str(wait)}}
        slug = path.strip("/").split("/", 1)[0]
        if slug in PAGE_ROLES and roles_in_force(security.settings):
            user = security.user(request)
            # Without a session Panel sends the visitor to the login page.
            if user is not None and not may_open(role_of(user, security.settings), slug):
                return {"path_args": [], "path_kwargs": {"status": "403", "wait": "0"}}
        return None


_MESSAGES = {
    429: ("Too many requests", "Too many requests or failed sign-ins: try again in {wait} s."),
    403: ("Not allowed", "Your role does not give access to this page."),
}


def _refusal(handler: RequestHandler, status: int, wait: float) -> None:
    title, message = _MESSAGES[status]
    seconds = max(1, int(wait + 0.999))
    handler.set_status(status)
    if status == 429:
        handler.set_header("Retry-After", str(seconds))
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.set_header("Cache-Control", "no-store")
    handler.finish(
        f"<!doctype html><html lang='en'><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message.format(wait=seconds))}"
        "</p></body></html>"
    )


class _Refuse(RequestHandler):
    """Answers a request the guard claimed: 429 with Retry-After, or 403."""

    def prepare(self) -> None:
        kwargs = cast("Mapping[str, Any]", self.path_kwargs)
        _refusal(self, int(kwargs["status"]), float(kwargs["wait"]))

    def check_xsrf_cookie(self) -> None:  # the refusal needs no form token
        return None


class _SecureCookies(RequestHandler):
    """Login cookies with ``SameSite=Lax``, and ``Secure`` when the dashboards are on https."""

    security: WebSecurity

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("samesite", "Lax")
        if self.security.secure_cookies:
            kwargs.setdefault("secure", True)
        super().set_cookie(name, value, *args, **kwargs)


class _GuardedLogin(_SecureCookies):
    """The login handler with the lockout: a locked client or user name is answered 429 even
    with the right password; every password sign-in is counted."""

    hhs_login: dict[str, Any] | None = None

    async def post(self, *args: Any, **kwargs: Any) -> None:
        security = self.security
        name = self.get_argument("username", "")
        wait = security.locked(security.client(self.request), name)
        if wait > 0:
            self.hhs_login = {"user": name, "outcome": "locked"}
            _refusal(self, 429, wait)
            return
        result = super().post(*args, **kwargs)  # type: ignore[misc]
        if inspect.isawaitable(result):  # the OAuth password handler's post is async
            await result
        if self.hhs_login is None and self.get_status() >= 400:
            self._outcome(ok=False)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        # Panel answers every password sign-in with a redirect: back to the form with an
        # error, or on to the page. Counted here, before the answer is logged.
        if self.request.method == "POST" and self.hhs_login is None:
            self._outcome(ok="error=" not in url)
        super().redirect(url, permanent, status)

    def _outcome(self, ok: bool) -> None:
        name = self.get_argument("username", "")
        self.security.record_login(self.security.client(self.request), name, ok=ok)
        self.hhs_login = {"user": name, "outcome": "ok" if ok else "failed"}


__all__ = [
    "ACCESS_LOG",
    "CSP",
    "EXPORT_ROLE",
    "HSTS",
    "PAGE_ROLES",
    "ROLES",
    "Role",
    "WebSecurity",
    "at_least",
    "is_https",
    "login_configured",
    "may_open",
    "role_of",
    "roles_in_force",
    "security_headers",
]
