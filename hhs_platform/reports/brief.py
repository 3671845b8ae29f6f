"""The executive brief: a period's highlights rendered to accessible HTML, and printed to PDF.

The HTML is one self-contained file (inline CSS, charts as PNG ``data:`` images, no script, no
external resource), so it opens offline, survives e-mail, and prints the same everywhere. The
charts are Bokeh charts drawn by headless Chromium and screenshotted (:mod:`.charts`), each with a
one-sentence ``alt`` text and followed by its numbers as a table. Without Chromium the HTML is
still written, with a note in place of each chart.

One Chromium session (:class:`ChromiumSession`, in a thread of its own) draws the charts and then
prints the same HTML to PDF through Playwright (tagged PDF with an outline from the headings).
Every text from the platforms (post text, handles, anomaly sentences) goes through Jinja's
autoescaping; links to posts are kept only for http(s) URLs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import logging
import math
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import escape

from hhs_platform.errors import ConfigurationError, HhsError
from hhs_platform.lake.store import Lake
from hhs_platform.reports.charts import MISSING, Chart, chart_pngs
from hhs_platform.reports.charts import charts as charts_of
from hhs_platform.reports.highlights import Figure, Highlights, load_highlights
from hhs_platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TITLE = "HHS social media — executive brief"
FORMATS: tuple[str, ...] = ("html", "pdf")
#: Characters of a post's text shown in the brief (the rest is behind the link).
TEXT_CHARS = 280
#: Chromium's command-line flags (headless in containers and CI).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
log = logging.getLogger(__name__)
_T = TypeVar("_T")

_LABELS = {
    "followers": ("Followers", "Followers at the period's end: each account's last figure."),
    "followers_change": ("Follower growth", "Sum of the accounts' daily follower changes."),
    "growth_pct": ("Growth %", "Follower growth / followers at the period's start."),
    "engagement": (
        "Engagement",
        "Likes + reposts + replies + quotes of the posts published in the period.",
    ),
    "engagement_rate": ("Engagement rate", "Engagement / followers."),
    "posts_published": ("Posts published", "Posts (not reposts) published in the period."),
}


class BriefError(HhsError):
    """The brief could not be rendered; ``written`` holds the files written before it failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.written: dict[str, Path] = {}


class ChromiumMissingError(BriefError, ConfigurationError):
    """The PDF needs Chromium, which is not where ``HHS_CHROMIUM_PATH`` points."""


@dataclass(frozen=True)
class BriefResult:
    """What :func:`write_brief` produced."""

    highlights: Highlights
    paths: dict[str, Path] = field(default_factory=dict)
    dashboard_link: str = ""


# -- formatting ---------------------------------------------------------------------------------
def fmt_value(name: str, value: float | int | None) -> str:
    """A headline figure as shown (counts with separators, % with two decimals)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if name == "growth_pct":
        return f"{value:+.2f}%"
    if name == "engagement_rate":
        return f"{100 * value:.2f}%"
    if name == "followers_change":
        return f"{round(value):+,}"
    return f"{round(value):,}"


def fmt_change(figure: Figure) -> str:
    """The change against the previous period (percentage points for the % figures)."""
    change = figure.change
    if change is None:
        return "—"
    if figure.name == "growth_pct":
        return f"{change:+.2f} pts"
    if figure.name == "engagement_rate":
        return f"{100 * change:+.2f} pts"
    return f"{round(change):+,}"


def fmt_change_pct(figure: Figure) -> str:
    """The change in % of the previous value; empty for the figures that are % already."""
    if figure.name in ("growth_pct", "engagement_rate") or figure.change_pct is None:
        return "—"
    return f"{figure.change_pct:+.1f}%"


def direction(figure: Figure) -> str:
    """``up``, ``down`` or ``flat`` (said in words beside the arrow, never by colour alone)."""
    change = figure.change
    if change is None or change == 0:
        return "flat"
    return "up" if change > 0 else "down"


def safe_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None (no ``javascript:`` or ``data:`` links)."""
    if not url:
        return None
    scheme = urllib.parse.urlsplit(url.strip()).scheme.lower()
    return url.strip() if scheme in ("http", "https") else None


def dashboard_link(
    base: str,
    days: int,
    agencies: Sequence[str] | None = None,
    platforms: Sequence[str] | None = None,
) -> str:
    """The executive page's URL with the brief's period (and a single agency/platform)."""
    period = {7: "week", 30: "month"}.get(days, f"{days}d")
    query: dict[str, str] = {"period": period}
    if agencies and len(agencies) == 1:
        query["agency"] = agencies[0]
    if platforms and len(platforms) == 1:
        query["platform"] = platforms[0]
    return f"{base.rstrip('/')}/executive?{urllib.parse.urlencode(query)}"


# -- charts -------------------------------------------------------------------------------------
def charts(h: Highlights, images: Mapping[str, bytes] | None = None) -> list[Chart]:
    """The brief's charts with their PNGs from ``images`` (by chart id; a note where missing)."""
    images = images or {}
    return [dataclasses.replace(c, png=images.get(c.id)) for c in charts_of(h.daily)]


# -- HTML -----------------------------------------------------------------------------------------
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hhs_platform.reports", "templates"),
        autoescape=True,  # the template is .html.j2; escape everything, always
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["count"] = lambda v: "—" if v is None else f"{round(v):,}"
    env.filters["signed"] = lambda v: "—" if v is None else f"{round(v):+,}"
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:+.1f}%"
    env.filters["count_or_none"] = lambda v: "no data" if v is None else f"{round(v):,}"
    env.filters["signed_or_none"] = lambda v: "no data" if v is None else f"{round(v):+,}"
    env.filters["truncate_text"] = _truncate
    env.filters["safe_url"] = safe_url
    return env


def _truncate(text: str | None, limit: int = TEXT_CHARS) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_html(
    h: Highlights,
    *,
    dashboard_url: str,
    title: str = TITLE,
    images: Mapping[str, bytes] | None = None,
) -> str:
    """The brief as one self-contained HTML document.

    Args:
        h: The period's highlights.
        dashboard_url: Base URL of the dashboards (``HHS_DASHBOARD_URL``).
        title: Document title.
        images: The charts' PNGs by chart id (:func:`.charts.chart_pngs`); a chart without one
            is replaced by a note saying it needs Chromium.

    Returns:
        The HTML text (UTF-8, ``lang="en"``, no script, no external resource).
    """
    link = dashboard_link(dashboard_url, h.period.days if h.period else 7, h.agencies, h.platforms)
    rows = [
        {
            "name": f.name,
            "label": _LABELS[f.name][0],
            "definition": _LABELS[f.name][1],
            "value": fmt_value(f.name, f.value),
            "previous": fmt_value(f.name, f.previous),
            "change": fmt_change(f),
            "change_pct": fmt_change_pct(f),
            "direction": direction(f),
        }
        for f in h.figures()
    ]
    scope = ("All agencies" if h.agencies is None else "Agencies: " + ", ".join(h.agencies)) + (
        "; all platforms" if h.platforms is None else "; platforms: " + ", ".join(h.platforms)
    )
    heading = title
    if h.period is not None:
        heading = f"{title}: {h.period.label} ending {h.period.end:%B %d, %Y}"
    return (
        _environment()
        .get_template("brief.html.j2")
        .render(
            title=heading,
            h=h,
            period=h.period,
            rows=rows,
            charts=charts(h, images),
            chart_missing=MISSING,
            daily_rows=h.daily.to_dicts(),
            top_posts=h.top_posts.to_dicts(),
            top_agencies=h.top_agencies.to_dicts(),
            anomalies=h.anomalies.to_dicts(),
            scope=scope,
            dashboard=link,
            freshness=_freshness(h),
            generated=f"{h.generated_at:%Y-%m-%d %H:%M} UTC",
        )
    )


def _freshness(h: Highlights) -> str:
    if h.newest_observation is None or h.freshness_hours is None:
        return "No observation collected yet."
    return (
        f"Newest observation {h.newest_observation:%Y-%m-%d %H:%M} UTC "
        f"({h.freshness_hours:,.1f} hours before this brief was made)."
    )


# -- Chromium -------------------------------------------------------------------------------------
def _missing_message(exe: Path) -> str:
    return (
        f"the brief's charts and PDF need Chromium, and {exe} does not exist: install it "
        "(Debian/Ubuntu: `apt-get install chromium`, or `make browser`) or point "
        "HHS_CHROMIUM_PATH at a Chromium or Chrome executable; the HTML brief is written "
        "without it, a note in place of each chart (hhs report --format html)"
    )


class ChromiumSession:
    """One headless Chromium for a brief, driven from a thread of its own.

    Playwright's sync API refuses to run inside an asyncio loop (Prefect, Jupyter) and its objects
    belong to the thread that made them, so every call runs in one dedicated worker thread; the
    browser is launched once and draws the charts, then prints the PDF.

    Raises:
        ChromiumMissingError: (on enter) Chromium is not at ``chromium`` (says what to install).
        BriefError: Chromium failed to start.
    """

    def __init__(self, chromium: Path | str) -> None:
        self.exe = Path(chromium)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._playwright: Any = None
        self._browser: Browser | None = None

    def __enter__(self) -> ChromiumSession:
        if not self.exe.is_file():
            raise ChromiumMissingError(_missing_message(self.exe))
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hhs-chromium")
        try:
            self._submit(self._start, "start")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.submit(self._stop).result()
            self._pool.shutdown()
            self._pool = None

    def run(self, job: Callable[[Browser], _T], what: str) -> _T:
        """``job(browser)`` in the session's thread; ``what`` names it in a failure's message.

        Raises:
            BriefError: Chromium failed.
        """
        if self._browser is None:
            raise BriefError("the Chromium session is not started (use it in a with block)")
        browser = self._browser
        return self._submit(lambda: job(browser), what)

    def _submit(self, fn: Callable[[], _T], what: str) -> _T:
        from playwright.sync_api import Error as PlaywrightError

        assert self._pool is not None
        try:
            return self._pool.submit(fn).result()
        except PlaywrightError as exc:
            raise BriefError(f"Chromium ({self.exe}) could not {what}: {exc}") from exc

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(self.exe), args=list(CHROMIUM_ARGS)
        )

    def _stop(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._browser = None
            if self._playwright is not None:
                self._playwright.stop()
                self._playwright = None


def print_pdf(browser: Browser, html: str, path: Path) -> Path:
    """Print the HTML to a PDF (US Letter, tagged, with an outline) in an open browser."""
    page = browser.new_page()
    try:
        page.set_content(html, wait_until="load")
        page.emulate_media(media="print")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(
            path=str(path),
            format="Letter",
            print_background=True,
            margin={"top": "0.6in", "bottom": "0.6in", "left": "0.6in", "right": "0.6in"},
            tagged=True,
            outline=True,
        )
    finally:
        page.close()
    return path


def html_to_pdf(html: str, path: Path, *, chromium: Path | str) -> Path:
    """Print the HTML to a PDF with headless Chromium (tagged, with an outline).

    Works from inside an event loop (Prefect, Jupyter) too.

    Args:
        html: The document.
        path: Where to write the PDF.
        chromium: The Chromium executable (``HHS_CHROMIUM_PATH``).

    Returns:
        ``path``.

    Raises:
        ChromiumMissingError: Chromium is not at ``chromium`` (says what to install).
        BriefError: Chromium failed to print.
    """
    with ChromiumSession(chromium) as chrome:
        job = functools.partial(print_pdf, html=html, path=path)
        return chrome.run(job, f"print the brief to {path}")


# -- files ---------------------------------------------------------------------------------------
def brief_stem(h: Highlights) -> str:
    """``hhs-brief-<period>-<end date>`` (``hhs-brief-week-2026-03-14``)."""
    if h.period is None:
        return "hhs-brief-empty"
    label = h.period.label.replace(" ", "")
    return f"hhs-brief-{label}-{h.period.end:%Y-%m-%d}"


def parse_formats(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"html,pdf"`` → ``("html", "pdf")``.

    Raises:
        BriefError: An unknown format.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    formats = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise BriefError(
            f"unknown brief format(s) {', '.join(unknown) or '(none)'}: use html, pdf or html,pdf"
        )
    return formats


def write_brief(
    lake: Lake | None = None,
    period: str | int = "week",
    *,
    out_dir: Path | str = ".",
    end: dt.date | None = None,
    formats: str | Iterable[str] = FORMATS,
    agencies: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> BriefResult:
    """Compute a period's highlights and write the brief as HTML and/or PDF.

    One Chromium session draws the charts and prints the PDF. Without Chromium (or when it fails)
    the HTML is still written, with a note in place of each chart: an HTML-only brief succeeds
    that way, a PDF one raises after writing it (the error's ``written`` names it).

    Args:
        lake: The lake; ``None`` means ``HHS_LAKE_URI``.
        period: ``week``, ``month`` or ``<N>d``.
        out_dir: Folder to write into (created if needed).
        end: Last day of the period; ``None``: the latest day of the daily figures.
        formats: ``html``, ``pdf`` or both.
        agencies: Only these agencies (exact codes); ``None``: all.
        platforms: Only these platforms; ``None``: all.
        settings: Settings (Chromium path, dashboard URL); ``None``: the process settings.
        now: The brief's time (freshness is measured at it).

    Returns:
        The highlights and the paths written, by format.

    Raises:
        ChromiumMissingError: PDF asked for and Chromium missing (the HTML is written).
        BriefError: Bad formats, or Chromium failed to print (the HTML is written).
    """
    wanted = parse_formats(formats)
    settings = settings or get_settings()
    h = load_highlights(lake, period, end=end, agencies=agencies, platforms=platforms, now=now)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = brief_stem(h)
    html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
    paths: dict[str, Path] = {}
    link = dashboard_link(
        settings.dashboard_url, h.period.days if h.period else 7, h.agencies, h.platforms
    )
    result = BriefResult(highlights=h, paths=paths, dashboard_link=link)
    html: str | None = None
    try:
        with ChromiumSession(settings.chromium_path) as chrome:
            images = chrome.run(functools.partial(chart_pngs, daily=h.daily), "draw the charts")
            html = render_html(h, dashboard_url=settings.dashboard_url, images=images)
            if "html" in wanted:
                html_path.write_text(html, encoding="utf-8")
                paths["html"] = html_path
            if "pdf" in wanted:
                job = functools.partial(print_pdf, html=html, path=pdf_path)
                paths["pdf"] = chrome.run(job, f"print the brief to {pdf_path}")
    except BriefError as exc:
        if html is None:  # no charts drawn: the brief with a note in place of each
            html = render_html(h, dashboard_url=settings.dashboard_url)
        html_path.write_text(html, encoding="utf-8")  # the brief is still there to read
        if "pdf" in wanted:
            exc.written = {"html": html_path}
            raise
        log.warning("the brief's charts are left out: %s", exc)
        paths["html"] = html_path
    return result


def brief_markdown(result: BriefResult) -> str:
    """A short markdown note for the Prefect UI: the headline, the anomalies and the files."""
    h = result.highlights
    lines = [f"# {TITLE}", ""]
    if h.period is not None:
        lines.append(f"**{h.period.label.capitalize()} {h.period.start} → {h.period.end}**")
        lines.append("")
    lines += [_md(h.headline()), ""]
    if not h.anomalies.is_empty():
        lines += ["## Anomalies that matter", ""]
        lines += [f"- {_md(s)}" for s in h.anomalies["sentence"].to_list()]
        lines.append("")
    lines += ["## Files", ""]
    lines += [f"- {fmt.upper()}: {_md(str(path))}" for fmt, path in result.paths.items()]
    if result.dashboard_link:
        lines += ["", f"Dashboard: {_md(result.dashboard_link)}"]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Plain text made inert in markdown: HTML escaped, markdown punctuation backslashed."""
    out = text
    for ch in "\\`*_{}[]()#+!|~":
        out = out.replace(ch, "\\" + ch)
    return str(escape(out))


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF written by Chromium (counts its page objects; no PDF library needed)."""
    import re

    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


__all__ = [
    "FORMATS",
    "TITLE",
    "BriefError",
    "BriefResult",
    "ChromiumMissingError",
    "ChromiumSession",
    "brief_markdown",
    "brief_stem",
    "charts",
    "dashboard_link",
    "fmt_change",
    "fmt_change_pct",
    "fmt_value",
    "html_to_pdf",
    "parse_formats",
    "pdf_pages",
    "print_pdf",
    "render_html",
    "safe_url",
    "write_brief",
]
