"""Login in front of the dashboards (Panel basic auth with named users, from settings) and a
viewer limited to one agency: in a real browser over a real lake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import ARTIFACTS, CHROMIUM, browser, page_text, wait_text
from dashboard_lakes import free_port

from hhs_platform.dashboards import kit
from hhs_platform.dashboards.server import serve_dashboards
from hhs_platform.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def guarded(lake_uri: str, tmp_path: Path) -> Iterator[str]:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"cdc-viewer": "cdc-pass-1", "admin": "admin-pass-1"}))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        dashboard_users_file=users,
        dashboard_cookie_secret="a-long-random-cookie-secret-for-tests-0123456789",
        dashboard_agency_access={"cdc-viewer": ["CDC"], "admin": ["*"]},
    )
    port = free_port()
    server = serve_dashboards(port=port, lake_uri=lake_uri, threaded=True, settings=settings)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        kit.use_settings(None)


def _log_in(page: Any, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/executive", wait_until="domcontentloaded")
    page.locator("#username").wait_for(timeout=30_000)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_login_required_and_viewer_sees_only_their_agency(
    guarded: str, rows: list[dict[str, Any]]
) -> None:
    last = max(r["date"] for r in rows)
    cdc = f"{sum(r['followers'] for r in rows if r['date'] == last and r['agency'] == 'CDC'):,}"
    everyone = f"{sum(r['followers'] for r in rows if r['date'] == last):,}"
    with browser() as b:
        page = b.new_page()
        # no session: the login form, and none of the figures
        page.goto(f"{guarded}/executive", wait_until="domcontentloaded")
        page.locator("#username").wait_for(timeout=30_000)
        assert everyone not in page_text(page) and cdc not in page_text(page)

        _log_in(page, guarded, "cdc-viewer", "wrong")
        page.locator("#username").wait_for(timeout=30_000)  # refused: the form again
        assert everyone not in page_text(page)

        _log_in(page, guarded, "cdc-viewer", "cdc-pass-1")
        text = wait_text(page, cdc, "CDCgov")
        assert everyone not in text
        for other in ("US_FDA", "NIHod", "someone"):
            assert other not in text
        page.screenshot(path=str(ARTIFACTS / "login-cdc-viewer.png"), full_page=True)

        admin = b.new_context().new_page()
        _log_in(admin, guarded, "admin", "admin-pass-1")
        text = wait_text(admin, everyone, "US_FDA")
