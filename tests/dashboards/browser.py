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


#: The running Playwright and its Chromium, kept from one test to the next while the tests of a
#: module that follow each other use them (see ``pytest_runtest_teardown`` in conftest.py):
#: a launch costs about 2 CPU-seconds.
_SHARED: dict[str, Any] = {}


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's) driven by Playwright. On exit every page and context the
    test opened is closed; the browser itself stays for the module's next browser test, and
    :func:`close_browser` stops it."""
    if "browser" in _SHARED and not _SHARED["browser"].is_connected():  # it crashed
        close_browser()
    if "browser" not in _SHARED:
        from playwright.sync_api import sync_playwright

        ARTIFACTS.mkdir(exist_ok=True)
        playwright = sync_playwright().start()
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except BaseException:
            playwright.stop()
            raise
        _SHARED.update(playwright=playwright, browser=launched)
    b = _SHARED["browser"]
    try:
        yield b
    finally:
        for context in list(b.contexts):
            context.close()


def close_browser() -> None:
    """Close the shared browser and stop Playwright, whose event loop would otherwise stay set
    in this thread (a later ``asyncio.run()`` would then fail)."""
    b, playwright = _SHARED.pop("browser", None), _SHARED.pop("playwright", None)
    try:
        if b is not None and b.is_connected():
            b.close()
    finally:
        if playwright is not None:
            playwright.stop()


def uses_browser(item: Any) -> bool:
    """Whether a test function calls :func:`browser` itself."""
    function = getattr(item, "function", None)
    return function is not None and "browser" in function.__code__.co_names


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


#: A column of a Tabulator table (the element it is called on), read the way a person reads it:
#: a table of fixed height draws only the rows in view (Tabulator's virtual renderer), so its
#: body is scrolled through half a view at a time, each drawn row's cell kept by the row's place.
SCROLLED_COLUMN = """async (table, field) => {
  const holder = table.querySelector(".tabulator-tableholder");
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const seen = new Map();
  holder.scrollTop = 0;
  await frames();
  while (true) {
    for (const row of table.querySelectorAll(".tabulator-row")) {
      const cell = row.querySelector(`.tabulator-cell[tabulator-field="${field}"]`);
      if (cell) seen.set(row.offsetTop, cell.textContent);
    }
    if (holder.scrollTop + holder.clientHeight >= holder.scrollHeight - 1) break;
    holder.scrollTop += Math.max(holder.clientHeight / 2, 1);
    await frames();
  }
  holder.scrollTop = 0;
  return [...seen.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text);
}"""


def table_column(table: Any, field: str) -> list[str]:
    """The cells of column ``field`` of every row of the Tabulator table ``table`` (a
    locator), in order, whether drawn in view or not (see :data:`SCROLLED_COLUMN`)."""
    return [str(text) for text in table.evaluate(SCROLLED_COLUMN, field)]


def dialogs_of(page: Any) -> list[str]:
    """Collect every JavaScript dialog the page opens (an injected alert would show here)."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen
