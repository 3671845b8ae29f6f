"""Access control and web hardening of the dashboard server, over HTTP against a real server:
security headers, cookie flags and session expiry, roles per page, rate limit, login lockout and
the access log. (What a role sees inside a page is checked in a browser: test_roles_browser.py.)

One server serves the whole module. Each test speaks for its own client address through
``X-Forwarded-For`` (the loopback is a trusted proxy), so the per-client limits of one test do
not touch another; the server's clock is a ``Clock`` the tests move forward.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from dashboard_lakes import GOLD, free_port, gold_frame, gold_rows
from tornado.web import create_signed_value

from hhs_platform.dashboards import kit
from hhs_platform.dashboards.security import (
    ACCESS_LOG,
    CSP,
    HSTS,
    WebSecurity,
    role_of,
    security_headers,
)
from hhs_platform.dashboards.server import serve_dashboards
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings

COOKIE_SECRET = "a-long-random-cookie-secret-for-tests-0123456789"
USERS = {
    "viewer1": "viewer-pass-1",
    "analyst1": "analyst-pass-1",
    "admin1": "admin-pass-1",
    "locky": "locky-pass-1",
    "other": "other-pass-1",
}
ROLES = {"viewer1": "viewer", "analyst1": "analyst", "admin1": "admin"}
RATE = 30  # requests per minute per client
FAILURES = 3  # failed sign-ins before the lockout
LOCKOUT_MIN = 1.0
SESSION_HOURS = 2.0


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


class Clock:
    """The server's monotonic clock, moved forward by the tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    port: int
    clock: Clock
    settings: Settings


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("web-security")
    lake = Lake(str(root / "lake"))
    lake.write(GOLD, gold_frame(gold_rows()))
    users = root / "users.json"
    users.write_text(json.dumps(USERS))
    settings = _settings(
        dashboard_users_file=users,
        dashboard_cookie_secret=COOKIE_SECRET,
        dashboard_roles=ROLES,  # locky and other: viewers (no '*' entry)
        dashboard_agency_access={"*": ["CDC"]},
        dashboard_session_hours=SESSION_HOURS,
        dashboard_rate_limit_per_minute=RATE,
        dashboard_login_max_failures=FAILURES,
        dashboard_lockout_minutes=LOCKOUT_MIN,
        dashboard_trusted_proxies=["127.0.0.1"],
        dashboard_url="https://dashboards.example.gov",
    )
    clock = Clock()
    port = free_port()
    server = serve_dashboards(
        port=port,
        lake_uri=lake.uri,
        threaded=True,
        settings=settings,
        security=WebSecurity(settings, clock=clock),
    )
    try:
        yield Served(port, clock, settings)
    finally:
        server.stop()
        kit.use_settings(None)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def cookies(self) -> dict[str, str]:
        """Set-Cookie headers by cookie name (the whole header line)."""
        lines = self.headers.get_all("Set-Cookie") or []
        return {line.split("=", 1)[0]: line for line in lines}


def _request(
    served: Served,
    client: str,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    cookie: str | None = None,
) -> Answer:
    headers = {"X-Forwarded-For": client}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookie is not None:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return Answer(r.status, r.headers, r.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def _login(served: Served, client: str, user: str, password: str) -> Answer:
    return _request(served, client, "POST", "/login", form={"username": user, "password": password})


def _session_cookie(answer: Answer) -> str:
    """The Cookie header a browser would send after this login answer."""
    return "; ".join(line.split(";", 1)[0] for line in answer.cookies().values())


def _access_entries(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOG]


def _wait_for_entry(
    caplog: pytest.LogCaptureFixture, **expected: object
) -> list[dict[str, object]]:
    # The server logs a request just after answering it.
    deadline = time.monotonic() + 5
    while True:
        entries = _access_entries(caplog)
        if any(all(e.get(k) == v for k, v in expected.items()) for e in entries):
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(f"no access-log entry with {expected}: {entries}")
        time.sleep(0.02)


def test_security_headers_on_every_response(served: Served) -> None:
    client = "10.0.0.1"
    expected = {
        "Content-Security-Policy": CSP,
        "Strict-Transport-Security": HSTS,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    login_page = _request(served, client, "GET", "/login")
    static = _request(served, client, "GET", "/static/js/bokeh.min.js")
    unknown = _request(served, client, "GET", "/no-such-page")
    signed_out = _request(served, client, "GET", "/executive")
    assert (login_page.status, static.status, unknown.status) == (200, 200, 404)
    assert signed_out.status == 302 and "/login" in (signed_out.headers["Location"] or "")
    for answer in (login_page, static, unknown, signed_out):
        for name, value in expected.items():
            assert answer.headers[name] == value, (name, answer.status)
    assert "frame-ancestors 'none'" in CSP and "object-src 'none'" in CSP


def test_hsts_only_behind_https() -> None:
    plain = security_headers(_settings(dashboard_url="http://127.0.0.1:5006"))
    tls = security_headers(_settings(dashboard_url="https://dashboards.example.gov/"))
    assert "Strict-Transport-Security" not in plain
    assert tls["Strict-Transport-Security"] == HSTS
    assert plain["Content-Security-Policy"] == tls["Content-Security-Policy"] == CSP


def test_login_cookies_are_secure_and_expire_with_the_session(served: Served) -> None:
    before = time.time()
    answer = _login(served, "10.0.0.2", "admin1", USERS["admin1"])
    assert answer.status == 302 and "error" not in (answer.headers["Location"] or "")
    cookies = answer.cookies()
    for name in ("user", "id_token"):
        flags = [f.strip().lower() for f in cookies[name].split(";")]
        assert {"httponly", "secure", "samesite=lax", "path=/"} <= set(flags), flags
        expires = next(f for f in cookies[name].split(";") if f.strip().lower().startswith("exp"))
        lasts = parsedate_to_datetime(expires.split("=", 1)[1]).timestamp() - before
        assert abs(lasts - SESSION_HOURS * 3600) < 120, lasts

    # A login cookie signed longer ago than the session lasts is no session: back to the login.
    stale = create_signed_value(
        COOKIE_SECRET, "user", "admin1", clock=lambda: time.time() - SESSION_HOURS * 3600 - 60
    ).decode()
    fresh = create_signed_value(COOKIE_SECRET, "user", "admin1").decode()
    expired = _request(served, "10.0.0.2", "GET", "/operations", cookie=f"user={stale}")
    assert expired.status == 302 and "/login" in (expired.headers["Location"] or "")
    current = _request(served, "10.0.0.2", "GET", "/operations", cookie=f"user={fresh}")
    assert current.status == 200


def test_roles_decide_the_pages(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOG)
    client = "10.0.0.3"
    cookies = {
        user: _session_cookie(_login(served, client, user, USERS[user]))
        for user in ("viewer1", "analyst1", "admin1")
    }
    status = {
        (user, path): _request(served, client, "GET", path, cookie=cookie).status
        for user, cookie in cookies.items()
        for path in ("/operations", "/operations/ws")
    }
    # The websocket of a page is guarded like the page (its upgrade never reaches Panel).
    assert status == {
        ("viewer1", "/operations"): 403,
        ("viewer1", "/operations/ws"): 403,
        ("analyst1", "/operations"): 403,
        ("analyst1", "/operations/ws"): 403,
        ("admin1", "/operations"): 200,
        ("admin1", "/operations/ws"): 400,  # allowed: Panel wants a websocket upgrade
    }
    entries = _wait_for_entry(caplog, user="viewer1", path="/operations", status=403)
    # This test's own requests (a request of the previous test may be logged just after it).
    mine = [e for e in entries if e["client"] == client]
    assert [(e["method"], e["path"], e["user"], e["role"], e["status"]) for e in mine][:5] == [
        ("POST", "/login", None, None, 302),
        ("POST", "/login", None, None, 302),
        ("POST", "/login", None, None, 302),
        ("GET", "/operations", "viewer1", "viewer", 403),
        ("GET", "/operations/ws", "viewer1", "viewer", 403),
    ]
    logins = [e["login"] for e in mine if "login" in e]
    assert logins == [{"user": u, "outcome": "ok"} for u in ("viewer1", "analyst1", "admin1")]


def test_role_and_agency_rules(tmp_path: Path) -> None:
    settings = _settings(
        accounts_file=tmp_path / "no-registry.csv",  # grants taken as written
        dashboard_password="pw",
        dashboard_cookie_secret=COOKIE_SECRET,
        dashboard_roles={"ana": "analyst", "boss": "admin", "*": "viewer"},
        dashboard_agency_access={"*": ["CDC"]},
    )
    assert [role_of(u, settings) for u in ("ana", "boss", "someone", None)] == [
        "analyst",
        "admin",
        "viewer",
        "admin",  # no login: as without roles
    ]
    kit.use_settings(settings)
    try:
        assert kit.allowed_agencies("ana") is None and kit.allowed_agencies("boss") is None
        assert kit.allowed_agencies("someone") == {"CDC"}
        # Without roles, the agency access applies to everyone, as before.
        kit.use_settings(settings.model_copy(update={"dashboard_roles": {}}))
        assert kit.allowed_agencies("ana") == {"CDC"}
    finally:
        kit.use_settings(None)
    with pytest.raises(ConfigurationError, match="HHS_DASHBOARD_ROLES needs a login"):
        WebSecurity(_settings(dashboard_roles={"a": "admin"}))
    with pytest.raises(ConfigurationError, match="not an address"):
        WebSecurity(_settings(dashboard_trusted_proxies=["proxy.local"]))


def test_rate_limit_per_client(served: Served) -> None:
    client, neighbour = "10.0.0.4", "10.0.0.5"
    codes = [_request(served, client, "GET", "/login").status for _ in range(RATE)]
    assert codes == [200] * RATE
    refused = _request(served, client, "GET", "/login")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "2"  # one request per 60/RATE s
    assert refused.headers["Content-Security-Policy"] == CSP
    # Static files are not counted; other clients have their own budget.
    assert _request(served, client, "GET", "/static/js/bokeh.min.js").status == 200
    assert _request(served, neighbour, "GET", "/login").status == 200
    served.clock.now += 60 / RATE
    assert _request(served, client, "GET", "/login").status == 200
    assert _request(served, client, "GET", "/login").status == 429


def test_lockout_after_failed_logins(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOG)
    attacker, elsewhere = "10.0.0.6", "10.0.0.7"
    for _ in range(FAILURES):
        failed = _login(served, attacker, "locky", "guess")
        assert failed.status == 302 and "error=" in (failed.headers["Location"] or "")
    # Locked: even the right password is refused, from this client and for this user name.
    right = _login(served, attacker, "locky", USERS["locky"])
    assert right.status == 429 and "user" not in right.cookies()
    assert int(right.headers["Retry-After"]) == int(LOCKOUT_MIN * 60)
    assert _login(served, elsewhere, "locky", USERS["locky"]).status == 429
    assert _login(served, attacker, "other", USERS["other"]).status == 429
    assert _login(served, elsewhere, "other", USERS["other"]).status == 302

    served.clock.now += LOCKOUT_MIN * 60 + 1
    released = _login(served, attacker, "locky", USERS["locky"])
    assert released.status == 302 and "user" in released.cookies()

    entries = _wait_for_entry(caplog, login={"user": "locky", "outcome": "ok"})
    outcomes = [
        e["login"]["outcome"]  # type: ignore[index]
        for e in entries
        if e["client"] in (attacker, elsewhere) and e.get("login", {}).get("user") == "locky"  # type: ignore[union-attr]
    ]
    assert outcomes == ["failed"] * FAILURES + ["locked", "locked", "ok"]


def test_forwarded_for_only_from_trusted_proxies() -> None:
    trusting = WebSecurity(_settings(dashboard_trusted_proxies=["10.1.0.0/16"]))
    plain = WebSecurity(_settings())
    # A client cannot pick its address: only a trusted proxy's X-Forwarded-For counts.
    assert plain.client_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert trusting.client_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    # A proxy chain: the right-most address no trusted proxy added is the client.
    chain = "198.51.100.1, 192.0.2.7, 10.1.0.3"
    assert trusting.client_address("10.1.0.2", chain) == "192.0.2.7"
    assert plain.client_address("10.1.0.2", chain) == "10.1.0.2"
    assert trusting.client_address("10.1.0.2", "") == "10.1.0.2"
