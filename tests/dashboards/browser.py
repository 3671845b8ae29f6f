"""Headless Chromium for the dashboard tests: launch it, read every text node, spot injections."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    if (!node) return;
    if (node.nodeType === Node.TEXT_NODE) out.push(node.textContent);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  if (document.body) walk(document.body);
  return out.join(" ");
}"""
# Elements built from injected text anywhere in the page (there must be none).
INJECTED = """() => {
  let found = 0;
  const walk = (node) => {
    if (node.nodeName === "SCRIPT" && node.textContent.includes("alert(")) found++;
    if (node.nodeName === "IMG" && node.getAttribute("onerror")) found++;
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document);
  return found;
}"""


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's) driven by Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def page_text(page: Any) -> str:
    """Every text node of the page, shadow roots included."""
    return str(page.evaluate(DEEP_TEXT))


def wait_text(page: Any, *texts: str, timeout: int = 30_000) -> str:
    """Wait until every one of ``texts`` is on the page; returns the page's text."""
    cond = " && ".join(f"t.includes({t!r})" for t in texts) or "true"
    page.wait_for_function(
        f"() => {{ const t = ({DEEP_TEXT})(); return {cond}; }}", timeout=timeout
    )
    return page_text(page)


def wait_no_text(page: Any, *texts: str, timeout: int = 15_000) -> str:
    """Wait until none of ``texts`` is on the page; returns the page's text."""
    cond = " && ".join(f"!t.includes({t!r})" for t in texts) or "true"
    page.wait_for_function(
        f"() => {{ const t = ({DEEP_TEXT})(); return {cond}; }}", timeout=timeout
    )
    return page_text(page)


def dialogs_of(page: Any) -> list[str]:
    """Collect every JavaScript dialog the page opens (an injected alert would show here)."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen
