"""The executive brief: HTML equal to the lake's figures, escaped, accessible; PDF by Chromium."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from period_lake import END, NOW, SCRIPT, build_period_lake
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.lake import Lake
from hhs_platform.reports import brief, charts
from hhs_platform.reports.highlights import load_highlights
from hhs_platform.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
IMG_SENTENCE = "@<img src=x onerror=alert(1)> spiked"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_period_lake(tmp_path_factory.mktemp("brief"))


def _settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, dashboard_url="https://dash.example.gov/", **kw)  # type: ignore[call-arg]


def _expected_from_gold(lake: Lake, start: dt.date, end: dt.date) -> dict[str, int]:
    """The headline figures, recomputed straight from gold/daily_account_metrics."""
    daily = lake.read("gold/daily_account_metrics").filter(pl.col("date").is_between(start, end))
    last = (
        daily.sort("date")
        .group_by("platform", "account_id")
        .agg(pl.col("followers").drop_nulls().last())
    )
    return {
        "followers": int(last["followers"].sum()),
        "followers_change": int(daily["followers_change"].sum()),
        "engagement": int(daily["engagement"].sum()),
        "posts_published": int(daily["posts_published"].sum()),
    }


def _daily_from_gold(lake: Lake, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The day-by-day numbers behind the charts, recomputed straight from gold."""
    return (
        lake.read("gold/daily_account_metrics")
        .filter(pl.col("date").is_between(start, end))
        .group_by("date")
        .agg(
            pl.col("followers_change").sum(),
            pl.col("engagement").sum(),
            pl.col("posts_published").sum(),
            pl.len().alias("accounts"),
        )
        .sort("date")
    )


def _daily_table(html: str) -> list[list[str]]:
    rows = re.findall(r'<tr data-date="([\d-]+)">(.*?)</tr>', html, re.S)
    return [[day, *re.findall(r'<td class="num">([^<]*)</td>', cells)] for day, cells in rows]


def _png(width: int, height: int) -> bytes:
    """A valid white RGB PNG made with the standard library (for the HTML-only tests)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff" * 3 * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated pixel rows of a PNG, checked by signature and IHDR."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + size]
        pos += 12 + size
    return width, height, zlib.decompress(idat)


def _chart_images(html: str) -> list[tuple[bytes, str, int, int]]:
    found = re.findall(
        r'<img class="chart" src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)" '
        r'width="(\d+)" height="(\d+)">',
        html,
    )
    return [(base64.b64decode(b, validate=True), alt, int(w), int(h)) for b, alt, w, h in found]


def _cells(html: str, figure: str) -> list[str]:
    row = re.search(rf'<tr data-figure="{figure}">(.*?)</tr>', html, re.S)
    assert row, figure
    return [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]


# -- HTML --------------------------------------------------------------------------------------
def test_html_figures_equal_gold(lake: Lake, tmp_path: Path) -> None:
    # no Chromium here: the HTML brief is written all the same, a note in place of each chart
    settings = _settings(chromium_path=tmp_path / "no-chromium")
    result = brief.write_brief(
        lake, "week", out_dir=tmp_path, formats="html", settings=settings, now=NOW
    )
    assert list(result.paths) == ["html"]
    path = result.paths["html"]
    assert path.name == "hhs-brief-week-2026-03-14.html"
    html = path.read_text(encoding="utf-8")
    start = END - dt.timedelta(days=6)
    now = _expected_from_gold(lake, start, END)
    before = _expected_from_gold(lake, start - dt.timedelta(days=7), start - dt.timedelta(days=1))
    for name in ("followers", "engagement", "posts_published"):
        value, previous, change, _pct = _cells(html, name)[:4]
        assert value == f"{now[name]:,}"
        assert previous == f"{before[name]:,}"
        assert change.startswith(f"{now[name] - before[name]:+,}")
    growth = _cells(html, "followers_change")
    assert growth[:2] == [f"{now['followers_change']:+,}", f"{before['followers_change']:+,}"]
    assert _cells(html, "growth_pct")[0] == (
        f"{100 * now['followers_change'] / (now['followers'] - now['followers_change']):+.2f}%"
    )
    # the hand-worked values too
    assert _cells(html, "followers")[:4] == ["3,555", "3,570", "-15 (down)", "-0.4%"]
    assert _cells(html, "engagement_rate")[0] == f"{100 * 1070 / 3555:.2f}%"
    assert "March 08, 2026</strong> to\n    <strong>March 14, 2026" in html
    # top posts in order, with their engagement; top agencies; the anomalies' sentences
    posts = re.findall(r'<tr data-post="(\w+)">.*?data-engagement>([\d,]+)<', html, re.S)
    assert posts == [("p2", "70"), ("p7", "63"), ("p1", "63"), ("p6", "20")]
    agencies = re.findall(r'<tr data-agency="([\w-]+)">.*?data-engagement>([\d,]+)<', html, re.S)
    assert agencies == [("CDC", "420"), ("FDA", "210")]
    assert html.count('<li data-kind="') == 4
    assert "collection_gap" not in html
    # the day-by-day numbers behind the charts, equal to gold's
    gold = _daily_from_gold(lake, start, END)
    assert _daily_table(html) == [
        [f"{r['date']:%Y-%m-%d}", f"{r['followers_change']:+,}", f"{r['engagement']:,}",
         f"{r['posts_published']:,}", f"{r['accounts']:,}"]
        for r in gold.iter_rows(named=True)
    ]  # fmt: skip
    assert gold["followers_change"].to_list() == [-5] * 6 + [15]
    # the charts: a note saying what to install, no image
    assert html.count("data-chart-missing") == 2 and "<img" not in html
    assert "Follower growth per day: " + charts.MISSING in html
    # link to the dashboard with the period, and freshness
    assert 'href="https://dash.example.gov/executive?period=week"' in html
    assert "Newest observation 2026-03-14 22:00 UTC (2.0 hours" in html


def test_untrusted_text_is_escaped(lake: Lake) -> None:
    h = load_highlights(lake, "week", now=NOW)
    assert SCRIPT in h.top_posts["text"].to_list()
    images = {c.id: _png(4, 2) for c in brief.charts(h)}
    html = brief.render_html(h, dashboard_url="http://127.0.0.1:5006", images=images)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; flu shots" in html
    # the only images are the charts' PNGs; the post's <img onerror> is text
    imgs = re.findall(r"<img[^>]*>", html)
    assert len(imgs) == 2 and all(
        i.startswith('<img class="chart" src="data:image/png;base64,') for i in imgs
    )
    assert "onerror=" not in "".join(imgs) and "<img src=x" not in html
    assert "@&lt;img src=x onerror=alert(1)&gt; spiked" in html
    # a post link that is not http(s) is dropped, its text kept
    urls = {"p1": "javascript:alert(3)", "p2": 'https://x.example/"><script>alert(4)</script>'}
    bad = h.top_posts.with_columns(
        pl.col("post_id").replace_strict(urls, default=pl.col("url")).alias("url")
    )
    html = brief.render_html(dataclasses.replace(h, top_posts=bad), dashboard_url="http://d")
    assert "javascript:" not in html
    assert "<script" not in html.lower()
    assert 'href="https://x.example/&#34;&gt;&lt;script&gt;' in html


def test_html_is_accessible_and_self_contained(lake: Lake) -> None:
    h = load_highlights(lake, "week", now=NOW)
    images = {c.id: _png(2 * charts.WIDTH, 2 * charts.HEIGHT) for c in brief.charts(h)}
    html = brief.render_html(h, dashboard_url="http://d", images=images)
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert html.count("<h1>") == 1 and html.count("<h2 ") >= 5
    tables = html.count("<table")
    assert tables == 4 and html.count("<caption") == tables
    assert html.count('<th scope="col"') >= 20 and '<th scope="row">' in html
    # each chart: a PNG with a one-sentence alt text, captioned, followed by the numbers' table
    found = _chart_images(html)
    assert [alt for *_, alt, _w, _h in found] == [c.summary for c in brief.charts(h)]
    assert all(alt.endswith(".") and alt.count(". ") == 0 for _, alt, _w, _h in found)
    assert [(w, h) for *_, w, h in found] == [(charts.WIDTH, charts.HEIGHT)] * 2
    assert html.count("<figure ") == 2 and html.count("<figcaption") == 2
    assert html.index("<figure ") < html.index('<table id="daily-table">')
    # no script, no external resource: only links, and images as data: URIs
    assert "<script" not in html and "<link" not in html and "<svg" not in html
    assert re.findall(r'\ssrc="(\w+):', html) == ["data", "data"]
    # direction in words beside the arrow (not colour alone)
    assert '<span class="visually-hidden"> (down)</span>' in html


def test_brief_of_an_empty_lake(tmp_path: Path) -> None:
    result = brief.write_brief(
        Lake(str(tmp_path / "none")), "month", out_dir=tmp_path, formats=["html"],
        settings=_settings(chromium_path=tmp_path / "no-chromium"), now=NOW,
    )  # fmt: skip
    assert result.paths["html"].name == "hhs-brief-empty.html"
    assert "No figures yet" in result.paths["html"].read_text()


def test_formats_and_formatting() -> None:
    assert brief.parse_formats("HTML, pdf") == ("html", "pdf")
    assert brief.parse_formats(["pdf"]) == ("pdf",)
    with pytest.raises(brief.BriefError, match="use html, pdf"):
        brief.parse_formats("docx")
    assert brief.safe_url("https://a.gov/x") == "https://a.gov/x"
    assert brief.safe_url(" JavaScript:alert(1)") is None
    assert brief.safe_url("data:text/html,x") is None
    assert brief.dashboard_link("http://h:1/", 30, ["CDC"], None) == (
        "http://h:1/executive?period=month&agency=CDC"
    )
    assert brief.dashboard_link("http://h", 14) == "http://h/executive?period=14d"


def test_markdown_note_is_inert(lake: Lake, tmp_path: Path) -> None:
    settings = _settings(chromium_path=tmp_path / "no-chromium")
    result = brief.write_brief(
        lake, "week", out_dir=tmp_path, formats="html", settings=settings, now=NOW
    )
    note = brief.brief_markdown(result)
    assert "3,555 followers on 2026-03-14" in note
    assert "<img" not in note and "&lt;img src=x onerror=alert\\(1\\)&gt; spiked" in note
    assert str(result.paths["html"]).replace("_", "\\_") in note


@needs_chromium
@pytest.mark.slow
def test_charts_are_png_images_drawn_by_chromium(lake: Lake, tmp_path: Path) -> None:
    settings = _settings(chromium_path=CHROMIUM)
    result = brief.write_brief(
        lake, "week", out_dir=tmp_path, formats="html", settings=settings, now=NOW
    )
    html = result.paths["html"].read_text(encoding="utf-8")
    assert "data-chart-missing" not in html and "<script" not in html
    found = _chart_images(html)
    assert len(found) == 2
    start = END - dt.timedelta(days=6)
    gold = _daily_from_gold(lake, start, END)
    columns = ("followers_change", "engagement")
    for (data, alt, width, height), column in zip(found, columns, strict=True):
        png_w, png_h, pixels = _decode_png(data)
        # drawn at twice the size it is shown at, and drawn (not a blank canvas)
        assert (png_w, png_h) == (2 * width, 2 * height) == (2 * charts.WIDTH, 2 * charts.HEIGHT)
        assert len(set(pixels)) > 16
        # the alt text says the series' total, highest and lowest day, as in gold
        top = gold.sort(column, "date", descending=[True, False]).row(0, named=True)
        low = gold.sort(column, "date").row(0, named=True)
        assert f": {gold[column].sum():,} in all; " in alt
        assert f"highest {top[column]:,} on {top['date']:%B %d}" in alt
        assert f"lowest {low[column]:,} on {low['date']:%B %d}." in alt
    assert found[0][0] != found[1][0]
    # the table after the charts still says the numbers, equal to gold's
    assert [row[2] for row in _daily_table(html)] == [f"{v:,}" for v in gold["engagement"]]


# -- PDF ---------------------------------------------------------------------------------------
@needs_chromium
@pytest.mark.slow
def test_pdf_printed_by_chromium(lake: Lake, tmp_path: Path) -> None:
    result = brief.write_brief(
        lake, "week", out_dir=tmp_path, settings=_settings(chromium_path=CHROMIUM), now=NOW
    )
    assert set(result.paths) == {"html", "pdf"}
    data = result.paths["pdf"].read_bytes()
    assert data.startswith(b"%PDF-")
    assert brief.pdf_pages(data) >= 2
    assert b"/StructTreeRoot" in data  # tagged PDF
    assert data.count(b"/Subtype /Image") == 2  # the two charts, at 2x
    assert data.count(b"/Width 1440") == 2
    # the outline is built from the headings
    for heading in (b"Headline figures", b"Anomalies that matter", b"Top posts", b"Top agencies"):
        assert b"/Title (" + heading + b")" in data
    title = "HHS social media — executive brief: week ending March 14, 2026"
    assert ("FEFF" + title.encode("utf-16-be").hex().upper()).encode() in data


def test_pdf_without_chromium_says_what_to_install(lake: Lake, tmp_path: Path) -> None:
    settings = _settings(chromium_path=tmp_path / "no-chromium")
    with pytest.raises(brief.ChromiumMissingError, match="apt-get install chromium") as info:
        brief.write_brief(lake, "week", out_dir=tmp_path, formats="pdf", settings=settings, now=NOW)
    assert "HHS_CHROMIUM_PATH" in str(info.value)
    html = info.value.written["html"]
    assert html.exists() and "3,555" in html.read_text()
    assert html.read_text().count(charts.MISSING) == 2
    assert not list(tmp_path.glob("*.pdf"))


# -- hhs report ---------------------------------------------------------------------------------
def test_hhs_report_prints_the_paths(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HHS_CHROMIUM_PATH", str(tmp_path / "none"))
    from hhs_platform.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "out"
        ok = runner.invoke(
            app,
            ["report", "--period", "3d", "--end", "2026-03-12", "--lake", lake.uri,
             "--out", str(out), "--format", "html", "--agency", "CDC"],
        )  # fmt: skip
        assert ok.exit_code == 0, ok.output
        path = out / "hhs-brief-3days-2026-03-12.html"
        assert f"html: {path}" in ok.output
        # CDC and CDC-NCHS over days 10..12: 3 x 100 + (9 + 10 + 11)
        assert "330 engagements" in ok.output
        assert "Agencies: CDC, CDC-NCHS" in path.read_text()

        missing = runner.invoke(app, ["report", "--lake", lake.uri, "--out", str(out)])
        assert missing.exit_code == 2
        assert "apt-get install chromium" in missing.output
        assert "html: " in missing.output

        bad = runner.invoke(app, ["report", "--period", "fortnight", "--lake", lake.uri])
        assert bad.exit_code == 2 and "week, month or <N>d" in bad.output
        bad = runner.invoke(app, ["report", "--format", "docx", "--lake", lake.uri])
        assert bad.exit_code == 2 and "use html, pdf" in bad.output
    finally:
        get_settings.cache_clear()
