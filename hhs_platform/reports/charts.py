"""The brief's charts: Bokeh bar charts styled like the dashboards, rasterised to PNG by Chromium.

A Bokeh chart only exists once BokehJS has drawn it, and a brief must be readable in a mail
client with no script. So each chart is built with Bokeh (the library the dashboards draw with,
same colours, titles, axis labels and thousands separators), written as a standalone HTML page
with the BokehJS resources inlined (no network needed), drawn by headless Chromium and
screenshotted at twice the CSS size. The brief embeds the PNG as a ``data:`` URI with a
one-sentence ``alt`` text and gives the numbers as a table after it.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from bokeh.plotting import figure as Figure
    from playwright.sync_api import Browser

#: CSS size of a chart in the brief, and the pixel ratio of its PNG (sharp on HiDPI and paper).
WIDTH, HEIGHT, SCALE = 720, 300, 2
#: The daily series charted: column of :attr:`Highlights.daily`, its name in sentences, title.
SERIES: tuple[tuple[str, str, str], ...] = (
    ("followers_change", "follower growth", "Follower growth per day"),
    ("engagement", "engagement", "Engagement of the posts published each day"),
)
#: Shown in place of a chart when there is no Chromium to draw it.
MISSING = "chart needs Chromium: install chromium or set HHS_CHROMIUM_PATH"
#: JavaScript that is true once BokehJS has built and drawn every document of the page.
_DRAWN = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
    " && Bokeh.documents.every((d) => d.is_idle)"
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Chart:
    """One chart of the brief: what the template needs to show it (PNG or a note) and say it."""

    id: str
    column: str
    title: str
    summary: str
    png: bytes | None = None

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:image/png;base64,...`` URI (empty without a PNG)."""
        if self.png is None:
            return ""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def size(self) -> tuple[int, int]:
        """The CSS size the image is shown at (its pixels / :data:`SCALE`)."""
        if self.png is None:
            return (WIDTH, HEIGHT)
        width, height = png_size(self.png)
        return (round(width / SCALE), round(height / SCALE))


def series_sentence(name: str, dates: Sequence[dt.date], values: Sequence[Any]) -> str:
    """A one-sentence text equivalent of a daily series: total, highest and lowest day."""
    known = [(d, v) for d, v in zip(dates, values, strict=True) if v is not None]
    if not known:
        return f"No {name} figures in the period."
    best = max(known, key=lambda dv: dv[1])
    worst = min(known, key=lambda dv: dv[1])
    total = sum(v for _, v in known)
    return (
        f"{name.capitalize()} per day from {dates[0]:%B %d} to {dates[-1]:%B %d}: "
        f"{total:,} in all; highest {best[1]:,} on {best[0]:%B %d}, "
        f"lowest {worst[1]:,} on {worst[0]:%B %d}."
    )


def charts(daily: pl.DataFrame) -> list[Chart]:
    """The brief's charts (without their PNGs) for :attr:`Highlights.daily`; none when empty."""
    if daily.is_empty():
        return []
    dates = daily["date"].to_list()
    return [
        Chart(
            id=f"chart-{column}",
            column=column,
            title=title,
            summary=series_sentence(name, dates, daily[column].to_list()),
        )
        for column, name, title in SERIES
    ]


def bar_chart(daily: pl.DataFrame, column: str, title: str) -> Figure:
    """A bar chart of one value per day, styled like the executive dashboard's bars.

    Colours from :data:`hhs_platform.dashboards.kit.PALETTE` (blue up, vermillion below zero;
    the zero line and the table say the sign too), the metric's dashboard label on the y axis
    with thousands separators, one labelled bar per day, no toolbar.

    Args:
        daily: One row per day with ``date`` and ``column`` (null: no bar that day).
        column: The value to chart.
        title: The chart title.

    Returns:
        The Bokeh figure.
    """
    from bokeh.models import ColumnDataSource, FactorRange, NumeralTickFormatter
    from bokeh.models.annotations import Span, Title
    from bokeh.plotting import figure

    from hhs_platform.dashboards.kit import PALETTE, metric_label

    days = [f"{d:%b %d}" for d in daily["date"].to_list()]
    values = [float("nan") if v is None else float(v) for v in daily[column].to_list()]
    source = ColumnDataSource(
        {
            "day": days,
            "value": values,
            "colour": [PALETTE[5] if v < 0 else PALETTE[0] for v in values],
        }
    )
    fig = figure(
        x_range=FactorRange(factors=days),
        width=WIDTH,
        height=HEIGHT,
        title=Title(text=title, text_font_size="13pt", text_color="#1a1a1a"),
        x_axis_label="Date (UTC)",
        y_axis_label=metric_label(column),
        toolbar_location=None,
        background_fill_color="#ffffff",
        border_fill_color="#ffffff",
    )
    fig.vbar(x="day", top="value", width=0.7, color="colour", source=source)
    fig.add_layout(Span(location=0, dimension="width", line_color="#1a1a1a", line_width=1))
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
    fig.xgrid.grid_line_color = None
    fig.xaxis.major_label_orientation = 0.785 if len(days) > 10 else 0.0
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_label_text_font_style = "normal"
        axis.axis_label_text_color = axis.major_label_text_color = "#1a1a1a"
    return fig


def chart_html(fig: Figure, title: str) -> str:
    """The chart as a standalone HTML page with BokehJS inlined (draws offline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(fig, resources=INLINE, title=title)


def rasterise(browser: Browser, pages: Sequence[str], *, timeout_ms: float = 30_000) -> list[bytes]:
    """Draw each standalone Bokeh page in Chromium and screenshot its chart as PNG.

    Args:
        browser: A Playwright Chromium browser (the brief's PDF session).
        pages: HTML pages from :func:`chart_html`.
        timeout_ms: How long one chart may take to draw.

    Returns:
        One PNG per page, at :data:`SCALE` times the chart's CSS size.
    """
    page = browser.new_page(
        device_scale_factor=SCALE, viewport={"width": WIDTH + 64, "height": HEIGHT + 64}
    )
    try:
        shots = []
        for html in pages:
            page.set_content(html, wait_until="load", timeout=timeout_ms)
            page.wait_for_function(_DRAWN, timeout=timeout_ms)
            page.locator("canvas").first.wait_for(state="visible", timeout=timeout_ms)
            # two animation frames: the canvas is painted, not only laid out
            page.evaluate(
                "() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)))"
            )
            shots.append(
                page.locator(".bk-Figure").first.screenshot(type="png", timeout=timeout_ms)
            )
        return shots
    finally:
        page.close()


def chart_pngs(browser: Browser, daily: pl.DataFrame) -> dict[str, bytes]:
    """The PNG of every chart of the brief, by chart id (empty for a period without figures)."""
    found = charts(daily)
    pages = [chart_html(bar_chart(daily, c.column, c.title), c.title) for c in found]
    return {c.id: png for c, png in zip(found, rasterise(browser, pages), strict=True)}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its IHDR chunk.

    Raises:
        ValueError: ``data`` is not a PNG.
    """
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


__all__ = [
    "HEIGHT",
    "MISSING",
    "SCALE",
    "SERIES",
    "WIDTH",
    "Chart",
    "bar_chart",
    "chart_html",
    "chart_pngs",
    "charts",
    "png_size",
    "rasterise",
    "series_sentence",
]
