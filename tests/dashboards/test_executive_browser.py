"""End to end: the executive page served over a real lake, read in headless Chromium."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIRST_DAY, IMG_HANDLE, SCRIPT_HANDLE

from hhs_platform.dashboards.figures import DEFAULT_PERIOD, PERIODS
from hhs_platform.dashboards.server import serve_dashboards

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Every text node of the page, shadow roots included (Bokeh renders inside them).
DEEP_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) out.push(node.textContent);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join(" ");
}"""
# Elements built from the injected handles anywhere in the page (there must be none).
INJECTED_SCRIPTS = """() => {
  let found = 0;
  const walk = (node) => {
    if (node.nodeName === "SCRIPT" && node.textContent.includes("alert(1)")) found++;
    if (node.nodeName === "IMG" && node.getAttribute("onerror")) found++;
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document);
  return found;
}"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def base_url(lake_uri: str) -> Iterator[str]:
    port = _free_port()
    server = serve_dashboards(port=port, lake_uri=lake_uri, threaded=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _followers_on_last_day(rows: list[dict[str, Any]], **where: Any) -> str:
    last = max(r["date"] for r in rows)
    total = sum(
        r["followers"]
        for r in rows
        if r["date"] == last and all(r[k] == v for k, v in where.items())
    )
    return f"{total:,}"


def test_executive_page_shows_gold_figures(base_url: str, rows: list[dict[str, Any]]) -> None:
    from playwright.sync_api import sync_playwright

    everyone = _followers_on_last_day(rows)
    cdc = _followers_on_last_day(rows, agency="CDC")
    days = PERIODS[DEFAULT_PERIOD]
    assert days is not None and days >= len({r["date"] for r in rows})
    posts = f"{sum(r['posts_published'] for r in rows):,}"
    dialogs: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{base_url}/executive", wait_until="domcontentloaded")
            page.wait_for_function(f"() => ({DEEP_TEXT})().includes({everyone!r})", timeout=30_000)
            text = page.evaluate(DEEP_TEXT)
            assert everyone in text
            assert f"Followers on {FIRST_DAY + dt.timedelta(days=9)}" in text
            assert posts in text
            assert cdc not in text  # CDC alone is not shown yet

            # Untrusted handle: shown as literal text, never run.
            page.get_by_text(SCRIPT_HANDLE, exact=True).wait_for(state="visible")
            page.get_by_text(IMG_HANDLE, exact=True).wait_for(state="visible")
            assert page.evaluate(INJECTED_SCRIPTS) == 0
            page.wait_for_timeout(500)  # give an injected onerror handler time to fire
            page.screenshot(path=str(ARTIFACTS / "executive-1280.png"), full_page=True)

            page.locator("select").first.select_option("CDC")
            # The headline and the accounts table both follow the filter.
            page.wait_for_function(
                f"() => {{ const t = ({DEEP_TEXT})(); "
                f"return t.includes({cdc!r}) && !t.includes({SCRIPT_HANDLE!r}); }}",
                timeout=15_000,
            )
            text = page.evaluate(DEEP_TEXT)
            assert cdc in text
            assert everyone not in text
            assert SCRIPT_HANDLE not in text  # the ATSDR account is filtered out
            page.screenshot(path=str(ARTIFACTS / "executive-cdc-1280.png"), full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(f"{base_url}/executive", wait_until="domcontentloaded")
            phone.wait_for_function(f"() => ({DEEP_TEXT})().includes({everyone!r})", timeout=30_000)
            phone.screenshot(path=str(ARTIFACTS / "executive-390.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == []


def test_executive_page_without_gold(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = serve_dashboards(port=port, lake_uri=str(tmp_path / "empty-lake"), threaded=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/executive")
                page.get_by_text("hhs collect").first.wait_for(timeout=30_000)
                assert "No figures yet" in page.evaluate(DEEP_TEXT)
            finally:
                browser.close()
    finally:
        server.stop()
