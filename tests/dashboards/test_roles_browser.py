"""Roles inside the pages, in a real browser under the server's Content-Security-Policy: the
pages render with no CSP violation, a viewer gets neither downloads nor the operations link, an
analyst gets the downloads and every agency."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, browser, page_text, wait_text
from dashboard_lakes import free_port

from hhs_platform.dashboards import kit
from hhs_platform.dashboards.security import CSP
from hhs_platform.dashboards.server import serve_dashboards
from hhs_platform.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
USERS = {"viewer": "viewer-pass-1", "analyst": "analyst-pass-1"}
#: What Panel's login page loads from elsewhere (blocked by the policy, by design); the browser
#: may report the favicon late, on the next page.
LOGIN_PAGE_ASKS = (
    "Loading the image 'https://cdn.holoviz.org/",
    "Loading the stylesheet 'https://fonts.googleapis.com/",
)


@pytest.fixture
def guarded(lake_uri: str, tmp_path: Path) -> Iterator[str]:
    users = tmp_path / "users.json"
    users.write_text(json.dumps(USERS))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        dashboard_users_file=users,
        dashboard_cookie_secret="a-long-random-cookie-secret-for-tests-0123456789",
        dashboard_roles={"viewer": "viewer", "analyst": "analyst"},
        dashboard_agency_access={"viewer": ["CDC"]},
    )
    port = free_port()
    server = serve_dashboards(port=port, lake_uri=lake_uri, threaded=True, settings=settings)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        kit.use_settings(None)


def _signed_in(b: Any, base: str, user: str) -> tuple[Any, list[str]]:
    """A page of a new browser context signed in as ``user``, and the console messages about
    the Content-Security-Policy from the first page on (the login page is not counted: it asks
    for a Google font and a CDN favicon, which the policy blocks by design)."""
    page = b.new_context().new_page()
    page.goto(f"{base}/login", wait_until="domcontentloaded")
    page.fill("#username", user)
    page.fill("#password", USERS[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/**")
    violations: list[str] = []
    page.on(
        "console",
        lambda m: (
            violations.append(m.text)
            if "Content Security Policy" in m.text and not m.text.startswith(LOGIN_PAGE_ASKS)
            else None
        ),
    )
    return page, violations


def test_pages_render_under_the_csp_and_follow_the_role(
    guarded: str, rows: list[dict[str, Any]]
) -> None:
    last = max(r["date"] for r in rows)
    cdc = f"{sum(r['followers'] for r in rows if r['date'] == last and r['agency'] == 'CDC'):,}"
    everyone = f"{sum(r['followers'] for r in rows if r['date'] == last):,}"
    with browser() as b:
        viewer, viewer_csp = _signed_in(b, guarded, "viewer")
        response = viewer.goto(f"{guarded}/executive", wait_until="domcontentloaded")
        assert response is not None and response.headers["content-security-policy"] == CSP
        text = wait_text(viewer, cdc, "Downloads need the analyst role.")
        assert everyone not in text and "Download CSV" not in text
        assert "Operations" not in text and "Trends" in text  # the navigation
        assert viewer.evaluate("document.querySelectorAll('script').length") > 0

        analyst, analyst_csp = _signed_in(b, guarded, "analyst")
        analyst.goto(f"{guarded}/executive", wait_until="domcontentloaded")
        text = wait_text(analyst, everyone, "Download CSV")
        assert "Downloads need the analyst role." not in text
        assert "Operations" not in page_text(analyst)
    assert viewer_csp == [] and analyst_csp == []
