"""Benchmark: time to first figures and filter latency of every dashboard page on a large lake.

Serves :data:`hhs_platform.dashboards.server.DASHBOARDS` over a synthetic lake
(:mod:`benchmarks.large_lake`), opens each page in headless Chromium (Playwright) and measures:

- **first figures**: navigation start to the page's main figures on screen (the page's
  :class:`Probe` condition, checked every animation frame in the page, timed with the page's own
  ``performance.now()``, whose zero is the navigation start). The first visit after the server
  starts is *cold* (nothing cached); later visits are *warm* (``kit.read`` caches per table
  version).
- **filter latency**: from the input event of a filter widget's change to the last change of
  the page's text that followed it (a MutationObserver in the page notes both; settled when
  nothing changed for ``--quiet-ms``). ``--probe poll`` times it as the rounds before
  2026-12-02 did: from the call that makes the change, the page's text compared every 15 ms.

It prints one row per page with the ratios against the targets (2 s, 300 ms) and writes
``benchmarks/results/dashboards.json``. It asserts nothing: numbers are for people to read.
``--profile`` also builds each page in-process under cProfile (cold and warm) and writes the
hottest functions to ``benchmarks/results/profile-<page>.txt``.

Usage::

    python -m benchmarks.dashboards                       # large lake (generated once, cached)
    python -m benchmarks.dashboards --scale small --changes 3 --visits 1
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import functools
import io
import logging
import pstats
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.large_lake import ROOT, add_scale_args, ensure_lake, scale_from_args
from benchmarks.report import (
    chromium_version,
    fmt,
    machine,
    peak_rss_mib,
    percentile,
    ratio,
    write_results,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
RESULTS = ROOT / "results"
TARGET_FIRST_S = 2.0
TARGET_FILTER_MS = 300.0

#: Every text node of the page, shadow roots included (Bokeh and Panel render inside them).
DEEP_TEXT = """() => {
  const out = [];
  const skip = new Set(["STYLE", "SCRIPT", "TEMPLATE", "LINK"]);
  const walk = (node) => {
    if (skip.has(node.nodeName)) return;
    if (node.nodeType === Node.TEXT_NODE) out.push(node.textContent);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  if (document.body) walk(document.body);
  return out.join(" ");
}"""

#: Counts of what a page shows, shadow roots included: drawn plot canvases, table rows, text.
FIGURES = """() => {
  const seen = {canvases: 0, rows: 0, html: 0, text: 0};
  const skip = new Set(["STYLE", "SCRIPT", "TEMPLATE", "LINK"]);
  const walk = (node) => {
    if (skip.has(node.nodeName)) return;
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (node.nodeName === "CANVAS" && node.width > 0 && node.height > 0) seen.canvases++;
      const cls = node.classList;
      if (cls && cls.contains("tabulator-row")) seen.rows++;
      if (cls && cls.contains("bk-panel-models-markup-HTML")) seen.html++;
    } else if (node.nodeType === Node.TEXT_NODE) {
      seen.text += node.textContent.trim().length;
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  if (document.body) walk(document.body);
  return seen;
}"""

#: Waits (in the page) for the text to change from ``before`` and then stay still for
#: ``quiet`` ms; returns the times (ms since ``t0``) of the first and the last change, or
#: null when nothing changed within ``timeout`` ms.
SETTLE = (
    """async ([t0, before, quiet, timeout]) => {
  const text = """
    + DEEP_TEXT
    + """;
  let last = before, first = null, lastChange = null;
  while (true) {
    await new Promise((r) => setTimeout(r, 15));
    const now = performance.now();
    const t = text();
    if (t !== last) {
      last = t;
      lastChange = now;
      if (first === null) first = now;
    }
    if (first === null && now - t0 > timeout) return null;
    if (first !== null && now - lastChange >= quiet) return [first - t0, lastChange - t0];
    if (now - t0 > timeout + quiet) return [first - t0, lastChange - t0];
  }
}"""
)


#: Installed in every page before its own scripts (``--probe mutations``): one
#: MutationObserver over the document and every shadow root (``attachShadow`` is wrapped, so
#: roots made later are observed from birth) notes the first and last instant the page's text
#: changed since it was last reset: a text node's content changed, or nodes holding text were
#: added or removed (style, script and template contents do not count, as in
#: :data:`DEEP_TEXT`). The page does no work between mutations, unlike :data:`SETTLE`'s walk
#: of the whole page every 15 ms. It also notes the last input event (input, change, a key or
#: a click, seen in the capture phase) before the first text change: the user's action that the
#: page answered, which Playwright dispatches some time after the call that makes it (it waits
#: for the widget to be visible, stable and enabled first).
TEXT_MUTATIONS = """(() => {
  if (window.__textProbe) return;
  const probe = (window.__textProbe = {armed: false, acted: null, first: null, last: null});
  const skip = new Set(["STYLE", "SCRIPT", "TEMPLATE", "LINK"]);
  const holdsText = (node) => {
    if (skip.has(node.nodeName)) return false;
    if (node.nodeType === Node.TEXT_NODE) return node.textContent.length > 0;
    if (node.shadowRoot && holdsText(node.shadowRoot)) return true;
    for (const child of node.childNodes) if (holdsText(child)) return true;
    return false;
  };
  const changed = (r) => {
    const host = r.type === "characterData" ? r.target.parentNode : r.target;
    if (host && skip.has(host.nodeName)) return false;
    if (r.type === "characterData") return r.oldValue !== r.target.textContent;
    for (const node of r.addedNodes) if (holdsText(node)) return true;
    for (const node of r.removedNodes) if (holdsText(node)) return true;
    return false;
  };
  const observer = new MutationObserver((records) => {
    if (!probe.armed) return;  // idle until the first filter change: first figures unaffected
    const now = performance.now();
    if (!records.some(changed)) return;
    if (probe.first === null) probe.first = now;
    probe.last = now;
  });
  const options = {subtree: true, childList: true, characterData: true,
                   characterDataOldValue: true};
  observer.observe(document, options);
  for (const type of ["input", "change", "keydown", "keyup", "click"]) {
    window.addEventListener(type, () => {
      if (probe.armed && probe.first === null) probe.acted = performance.now();
    }, true);
  }
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    observer.observe(root, options);
    return root;
  };
})();"""

#: Resets :data:`TEXT_MUTATIONS`' instants; returns the page's clock.
RESET_MUTATIONS = """() => { const p = window.__textProbe;
  if (!p) throw new Error("the text probe is not installed");
  p.armed = true; p.acted = p.first = p.last = null; return performance.now(); }"""

#: :data:`SETTLE` for ``--probe mutations``: waits until the text has not changed for ``quiet``
#: ms after a first change, reading :data:`TEXT_MUTATIONS`' instants: the first and last text
#: change and the action (null if no input event was seen), in ms since ``t0``.
SETTLE_MUTATIONS = """async ([t0, quiet, timeout]) => {
  const p = window.__textProbe;
  const out = () => [p.first - t0, p.last - t0, p.acted === null ? null : p.acted - t0];
  while (true) {
    await new Promise((r) => setTimeout(r, 15));
    const now = performance.now();
    if (p.first === null && now - t0 > timeout) return null;
    if (p.first !== null && now - p.last >= quiet) return out();
    if (now - t0 > timeout + quiet) return out();
  }
}"""
#: How a filter change's end is found: ``poll`` (:data:`SETTLE`, the page's text compared every
#: 15 ms, as every round before 2026-12-02 measured) or ``mutations`` (:data:`TEXT_MUTATIONS`).
PROBE_KINDS = ("poll", "mutations")


@dataclasses.dataclass(frozen=True)
class Probe:
    """How to tell that a page shows its main figures, and how to exercise its filters.

    Attributes:
        ready: JavaScript predicate ``(counts, text) => bool`` over :data:`FIGURES`'s counts and
            the page's deep text: true once the main figures are on screen.
        describe: The condition in words (printed and stored with the results).
        selects: Labels of the ``<select>`` filters to cycle through (empty: every select).
        search: Placeholder of a text box to type :attr:`terms` into (with Enter), as filter
            changes taking turns with the selects.
        terms: What to search for.
    """

    ready: str
    describe: str
    selects: tuple[str, ...] = ()
    search: str | None = None
    terms: tuple[str, ...] = ()


_GENERIC = Probe(
    ready="(c, t) => (c.canvases > 0 || c.rows > 0) && t.length > 200",
    describe="a plot canvas or a table row drawn, and page text",
)
#: Per page: what "the main figures" are. Pages not listed use a generic condition.
PROBES: dict[str, Probe] = {
    "executive": Probe(
        ready="(c, t) => c.canvases > 0 && c.rows > 0 && /Followers[^0-9]*[0-9]/.test(t)",
        describe="a followers figure, a chart and a table drawn",
    ),
    "trends": Probe(
        ready="(c, t) => c.canvases > 0 && c.rows > 0",
        describe="the metric chart and its table drawn",
    ),
    "anomalies": Probe(
        ready="(c, t) => c.rows > 0",
        describe="the events table has rows",
    ),
    "posts": Probe(
        ready="(c, t) => c.rows > 0 && /of [0-9,]+/.test(t)",
        describe="the result table has rows and its 'N of M' count",
        search="words in the text or title",
        terms=("vaccines", "measles outbreak", "heat", "guidance", "zzz-no-such-word"),
    ),
    "operations": Probe(
        ready="(c, t) => c.canvases > 0 && c.rows > 0",
        describe="the runs chart and the tables drawn",
    ),
}


@dataclasses.dataclass
class PageResult:
    """What was measured on one page."""

    page: str
    probe: str
    first_cold_s: float | None = None
    first_warm_s: list[float] = dataclasses.field(default_factory=list)
    #: Per filter change, ms to the last text change it caused: from the user's action (the
    #: input event the page answered) with ``--probe mutations``, from the call that makes the
    #: change with ``--probe poll``. ``filter_first_ms``: to the first text change, likewise.
    filter_ms: list[float] = dataclasses.field(default_factory=list)
    filter_first_ms: list[float] = dataclasses.field(default_factory=list)
    #: ms from the call that makes the change to its last text change (both probes).
    filter_call_ms: list[float] = dataclasses.field(default_factory=list)
    filters_without_change: int = 0
    filter_errors: list[str] = dataclasses.field(default_factory=list)
    filters_tried: list[str] = dataclasses.field(default_factory=list)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    first_byte_ms: list[float] = dataclasses.field(default_factory=list)
    build_cold_s: float | None = None
    build_warm_s: float | None = None
    #: Errors the server logged while the page was measured (a failed callback leaves part of
    #: the page as it was, which would look like a quick change): their first lines.
    server_errors: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """The result with medians, percentiles and ratios against the targets."""
        warm = statistics.median(self.first_warm_s) if self.first_warm_s else None
        p50 = percentile(self.filter_ms, 50)
        p95 = percentile(self.filter_ms, 95)
        return {
            **dataclasses.asdict(self),
            "first_warm_median_s": warm,
            "filter_p50_ms": p50,
            "filter_p95_ms": p95,
            "ratio_first_cold": ratio(self.first_cold_s, TARGET_FIRST_S),
            "ratio_first_warm": ratio(warm, TARGET_FIRST_S),
            "ratio_filter_p95": ratio(p95, TARGET_FILTER_MS),
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- browser measurements -------------------------------------------------------------------


#: Navigation milestones (ms since navigation start): first byte of the HTML (the server built
#: the page's document by then) and the DOM parsed.
NAVIGATION = """() => { const n = performance.getEntriesByType('navigation')[0];
  return n ? [n.responseStart, n.domContentLoadedEventEnd] : [null, null]; }"""


def _first_figures(
    page: Any, url: str, probe: Probe, timeout_s: float
) -> tuple[float, dict[str, Any]]:
    """Open ``url``; seconds from navigation start to the probe's condition, and what it saw."""
    page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
    check = (
        f"() => {{ const c = ({FIGURES})(); const t = ({DEEP_TEXT})(); "
        f"return ({probe.ready})(c, t) ? performance.now() : false; }}"
    )
    handle = page.wait_for_function(check, polling="raf", timeout=timeout_s * 1000)
    ms = float(handle.json_value())
    counts = page.evaluate(FIGURES)
    first_byte, dom = page.evaluate(NAVIGATION)
    counts["first_byte_ms"] = None if first_byte is None else round(first_byte)
    counts["dom_ready_ms"] = None if dom is None else round(dom)
    return ms / 1000.0, counts


def _selects(page: Any, probe: Probe) -> list[tuple[Any, str, list[str]]]:
    """The page's usable ``<select>`` filters: (locator, label, option values)."""
    found = []
    locator = page.locator("select")
    for i in range(locator.count()):
        select = locator.nth(i)
        if not select.is_visible() or not select.is_enabled():
            continue
        label = select.evaluate(
            """s => { const root = s.getRootNode();
                      const l = s.id ? root.querySelector(`label[for="${s.id}"]`) : null;
                      return (l ? l.textContent : (s.getAttribute('aria-label') || '')).trim(); }"""
        )
        options = select.evaluate("s => Array.from(s.options).map(o => o.value)")
        if len(options) < 2:
            continue
        if probe.selects and label not in probe.selects:
            continue
        found.append((select, label or f"select #{i}", options))
    return found


def _timed(page: Any, act: Callable[[], None], quiet_ms: int, timeout_s: float, kind: str) -> Any:
    """Run ``act`` (a filter change) and wait in the page until its text settles; the probe
    ``kind`` is one of :data:`PROBE_KINDS`."""
    if kind == "mutations":
        t0 = page.evaluate(RESET_MUTATIONS)
        act()
        return page.evaluate(SETTLE_MUTATIONS, [t0, quiet_ms, timeout_s * 1000])
    t0, before = page.evaluate(f"() => [performance.now(), ({DEEP_TEXT})()]")
    act()
    return page.evaluate(SETTLE, [t0, before, quiet_ms, timeout_s * 1000])


def _search(box: Any, term: str) -> None:
    box.fill(term)
    box.press("Enter")


def _filter_changes(
    page: Any,
    probe: Probe,
    changes: int,
    quiet_ms: int,
    timeout_s: float,
    result: PageResult,
    kind: str,
) -> None:
    """Change the page's filters ``changes`` times, timing each one until the page settles.

    Selects take turns; each change alternates between a specific option and the first one
    ("All"), so every change moves the figures. A search box, when the probe names one, takes a
    turn too, with the probe's terms.
    """
    selects = _selects(page, probe)
    search = page.get_by_placeholder(probe.search).first if probe.search else None
    actors: list[Any] = [*selects, *([search] if search is not None else [])]
    if not actors:
        result.error = (result.error or "") + "no filter widget found; "
        return
    turns: dict[int, int] = {}
    for k in range(changes):
        slot = k % len(actors)
        turns[slot] = turns.get(slot, 0) + 1
        if search is not None and slot == len(actors) - 1:
            term = probe.terms[(turns[slot] - 1) % len(probe.terms)]
            name = f"search={term}"

            act = functools.partial(_search, search, term)

        else:
            locator, label, options = actors[slot]
            current = locator.evaluate("s => s.value")
            choices = [o for o in options if o != current]
            value = (
                options[0] if current != options[0] else choices[(turns[slot] - 1) % len(choices)]
            )
            name = f"{label}={value}"

            act = functools.partial(locator.select_option, value, timeout=5_000)

        result.filters_tried.append(name)
        try:
            settled = _timed(page, act, quiet_ms, timeout_s, kind)
        except Exception as exc:  # e.g. a filter hidden by the previous change
            result.filter_errors.append(f"{name}: {type(exc).__name__}")
            continue
        if settled is None:
            result.filters_without_change += 1
            continue
        first, last, acted = (*settled, 0.0)[:3]
        acted = 0.0 if acted is None else float(acted)
        result.filter_first_ms.append(round(float(first) - acted, 1))
        result.filter_ms.append(round(float(last) - acted, 1))
        result.filter_call_ms.append(round(float(last), 1))


def measure_page(
    browser: Any,
    base_url: str,
    slug: str,
    *,
    visits: int,
    changes: int,
    quiet_ms: int,
    timeout_s: float,
    filter_timeout_s: float,
    screenshot: Path | None,
    kind: str = "mutations",
) -> PageResult:
    """Measure one page: a cold visit, ``visits`` warm ones, then ``changes`` filter changes."""
    probe = PROBES.get(slug, _GENERIC)
    result = PageResult(page=slug, probe=probe.describe)
    url = f"{base_url}/{slug}"
    try:
        for visit in range(visits + 1):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            if kind == "mutations":
                context.add_init_script(TEXT_MUTATIONS)
            page = context.new_page()
            seconds, counts = _first_figures(page, url, probe, timeout_s)
            result.first_byte_ms.append(counts["first_byte_ms"])
            if visit == 0:
                result.first_cold_s = round(seconds, 3)
                result.figures = counts
            else:
                result.first_warm_s.append(round(seconds, 3))
            if visit < visits:
                context.close()
        page.wait_for_timeout(quiet_ms)
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        _filter_changes(page, probe, changes, quiet_ms, filter_timeout_s, result, kind)
        context.close()
    except Exception as exc:  # a broken page is a result, not a crash
        result.error = (result.error or "") + f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return result


# -- server-side profile --------------------------------------------------------------------


def profile_page(slug: str, lake_uri: str, top: int = 30) -> tuple[float, float, str]:
    """Build a page and its Bokeh models in-process (no browser), cold and warm, under cProfile.

    Returns:
        Seconds of the cold build, of the warm build, and the report (hottest functions by
        cumulative time, cold build first).
    """
    from hhs_platform.dashboards import kit
    from hhs_platform.dashboards.server import DASHBOARDS
    from hhs_platform.lake.store import Lake

    factory = DASHBOARDS[slug]
    report = io.StringIO()
    timings = []
    for label in ("cold", "warm"):
        if label == "cold":
            kit._cache.clear()  # a cold build reads the lake again
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        view = factory(Lake(lake_uri, storage_options={}))
        view.get_root()  # the Bokeh models the server serialises into the page
        profiler.disable()
        timings.append(time.perf_counter() - started)
        report.write(f"== {slug}: {label} build {timings[-1]:.3f} s (server side, no browser)\n")
        stats = pstats.Stats(profiler, stream=report)
        stats.sort_stats("cumulative").print_stats(top)
    return timings[0], timings[1], report.getvalue()


# -- the run ---------------------------------------------------------------------------------


def print_table(
    rows: list[dict[str, Any]], out: Callable[[str], None] = print, *, header: bool = True
) -> None:
    """The results as a fixed-width table, with ratios against the targets."""
    if header:
        out(
            f"{'page':<12} {'first cold s':>12} {'warm s':>7} {'x2s':>5} "
            f"{'filter p50 ms':>13} {'p95 ms':>7} {'x300ms':>6} {'n':>3}  note"
        )
    for r in rows:
        note = r["error"] or ""
        if r["filters_without_change"]:
            note += f" {r['filters_without_change']} change(s) moved no text;"
        if r["filter_errors"]:
            note += f" {len(r['filter_errors'])} change(s) failed;"
        if r.get("server_errors"):
            note += f" {len(r['server_errors'])} server error(s), results not valid;"
        out(
            f"{r['page']:<12} {fmt(r['first_cold_s']):>12} {fmt(r['first_warm_median_s']):>7} "
            f"{fmt(r['ratio_first_warm']):>5} {fmt(r['filter_p50_ms'], 0):>13} "
            f"{fmt(r['filter_p95_ms'], 0):>7} {fmt(r['ratio_filter_p95']):>6} "
            f"{len(r['filter_ms']):>3}  {note.strip()}"
        )
    if not header:
        return
    out(
        f"targets: first figures <= {TARGET_FIRST_S} s, filter change <= {TARGET_FILTER_MS:.0f} ms;"
        " ratios > 1 miss the target"
    )


class _Skip(Exception):
    """No browser measurements (``--no-browser``)."""


class _ServerErrors(logging.Handler):
    """The first line of every error the server (in this process) logs.

    Attached to the root logger and to Panel's, which does not pass its records on to the root.
    """

    #: Loggers whose records do not reach the root logger.
    OWN_LOGGERS = ("panel",)

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage().splitlines()[0][:200]}")

    def attach(self) -> None:
        for name in ("", *self.OWN_LOGGERS):
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in ("", *self.OWN_LOGGERS):
            logging.getLogger(name).removeHandler(self)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark as the command line asks; return what it writes to the JSON file."""
    from playwright.sync_api import sync_playwright

    from hhs_platform.dashboards.server import DASHBOARDS, serve_dashboards

    scale = scale_from_args(args)
    lake_path, manifest = ensure_lake(scale, args.cache, log=print)
    pages = [p for p in DASHBOARDS if not args.pages or p in args.pages.split(",")]
    print(f"lake {lake_path} ({sum(manifest['rows'].values()):,} rows); pages: {', '.join(pages)}")
    RESULTS.mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    if args.no_browser:
        rows = [
            PageResult(page=slug, probe="(not measured: --no-browser)").summary() for slug in pages
        ]
    port = _free_port()
    server = serve_dashboards(port=port, lake_uri=str(lake_path), threaded=True)
    errors = _ServerErrors()
    errors.attach()
    try:
        if args.no_browser:
            raise _Skip
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for slug in pages:
                    print(f"measuring {slug} ...", flush=True)
                    errors.lines.clear()
                    result = measure_page(
                        browser,
                        f"http://127.0.0.1:{port}",
                        slug,
                        visits=args.visits,
                        changes=args.changes,
                        quiet_ms=args.quiet_ms,
                        timeout_s=args.timeout,
                        filter_timeout_s=args.filter_timeout,
                        kind=args.probe,
                        screenshot=RESULTS / f"{slug}-{scale.name}.png",
                    )
                    result.server_errors = list(errors.lines)
                    rows.append(result.summary())
                    print_table(rows[-1:], header=False)
            finally:
                browser.close()
    except _Skip:
        pass
    finally:
        errors.detach()
        server.stop()
    rss_mib = peak_rss_mib()

    if args.profile:
        for row in rows:
            try:
                cold, warm, report = profile_page(row["page"], str(lake_path))
            except Exception as exc:  # a page that fails to build is reported
                row["error"] = (row["error"] or "") + f" profile: {type(exc).__name__}: {exc}"
                continue
            row["build_cold_s"], row["build_warm_s"] = round(cold, 3), round(warm, 3)
            (RESULTS / f"profile-{row['page']}.txt").write_text(report)

    print()
    print_table(rows)
    if args.profile:
        for row in rows:
            print(
                f"  {row['page']}: server-side build {fmt(row['build_cold_s'])} s cold, "
                f"{fmt(row['build_warm_s'])} s warm (profile-{row['page']}.txt)"
            )
    return {
        "benchmark": "dashboards",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.dashboards", *sys.argv[1:]]),
        "machine": {
            **machine(("polars", "panel")),
            "chromium": chromium_version(CHROMIUM),
        },
        "lake": {
            "path": str(lake_path),
            "scale": manifest["scale"],
            "rows": manifest["rows"],
            "bytes": manifest["bytes"],
            "generation_seconds": manifest["total_seconds"],
        },
        "targets": {"first_figures_s": TARGET_FIRST_S, "filter_ms": TARGET_FILTER_MS},
        "settings": {
            "visits": args.visits,
            "changes": args.changes,
            "quiet_ms": args.quiet_ms,
            "timeout_s": args.timeout,
            "filter_timeout_s": args.filter_timeout,
            "probe": args.probe,
        },
        "max_rss_mib": round(rss_mib),
        "pages": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scale_args(parser)
    parser.add_argument("--pages", help="comma-separated pages (default: every dashboard)")
    parser.add_argument("--visits", type=int, default=3, help="warm visits after the cold one")
    parser.add_argument("--changes", type=int, default=10, help="filter changes per page")
    parser.add_argument("--quiet-ms", type=int, default=500, help="text still this long = settled")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait per step")
    parser.add_argument(
        "--filter-timeout", type=float, default=15.0, help="seconds to wait for a filter change"
    )
    parser.add_argument(
        "--probe",
        choices=PROBE_KINDS,
        default="mutations",
        help="how a filter change's last text change is found: the page's text compared every "
        "15 ms (poll), or a MutationObserver's instants (mutations)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each page's build")
    parser.add_argument(
        "--no-browser", action="store_true", help="only the server-side profile (with --profile)"
    )
    parser.add_argument("--out", default=str(RESULTS / "dashboards.json"))
    args = parser.parse_args(argv)
    results = run(args)
    out = Path(args.out)
    print(f"results: {write_results(out.stem, results, out.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
