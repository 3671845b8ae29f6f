"""The Executive page in headless Chromium: figures equal gold, filters, URL, export, XSS, phone."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
from browser import (
    ARTIFACTS,
    CHROMIUM,
    INJECTED,
    browser,
    dialogs_of,
    wait_no_text,
    wait_text,
)
from dashboard_lakes import free_port

from hhs_platform.dashboards.server import serve_dashboards
from hhs_platform.lake import Lake
from hhs_platform.reports import brief
from hhs_platform.reports.highlights import load_highlights

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from period_lake import SCRIPT, build_period_lake

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
DAILY = "gold/daily_account_metrics"
# The data of the page's day-by-day bar charts, as the browser holds it: {column: [[ms, value]]}.
DAY_BARS = """() => {
  const out = {};
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (!m.data) continue;
    const d = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
    const keys = Object.keys(d);
    if (keys.length !== 2 || !keys.includes("date")) continue;
    const column = keys.find((k) => k !== "date");
    out[column] = Array.from(d.date, (day, i) => [day, d[column][i]]);
  }
  return out;
}"""


def _day_bars(daily: pl.DataFrame) -> dict[str, list[list[float]]]:
    """What the charts should hold: every day's follower growth and engagement, in ms."""
    ms = daily.select(
        pl.col("date").cast(pl.Datetime("ms")).dt.epoch("ms").cast(pl.Float64).alias("ms"),
        pl.col("followers_change", "engagement").cast(pl.Float64),
    )
    return {
        c: [list(r) for r in ms.select("ms", c).rows()] for c in ("followers_change", "engagement")
    }


def _expected(lake: Lake, days: int, agencies: list[str] | None = None) -> dict[str, int]:
    """Headline figures straight from gold, independently of the page's code."""
    daily = lake.read(DAILY)
    if agencies is not None:
        daily = daily.filter(pl.col("agency").is_in(agencies))
    end: dt.date = daily["date"].max()  # type: ignore[assignment]
    start = end - dt.timedelta(days=days - 1)

    def figures(first: dt.date, last: dt.date) -> dict[str, int]:
        rows = daily.filter(pl.col("date").is_between(first, last))
        followers = (
            rows.drop_nulls("followers")
            .sort("date")
            .group_by("platform", "account_id")
            .agg(pl.col("followers").last())["followers"]
            .sum()
        )
        return {
            "followers": int(followers),
            "followers_change": int(rows["followers_change"].sum()),
            "engagement": int(rows["engagement"].sum()),
            "posts_published": int(rows["posts_published"].sum()),
        }

    now = figures(start, end)
    before = figures(start - dt.timedelta(days=days), start - dt.timedelta(days=1))
    return {**now, **{f"previous_{k}": v for k, v in before.items()}}


def _card_texts(e: dict[str, int]) -> list[str]:
    texts = [
        f"{e['followers']:,}",
        f"{e['followers_change']:+,}",
        f"{e['engagement']:,}",
        f"{e['engagement'] - e['previous_engagement']:+,}",
        f"{e['posts_published']:,}",
    ]
    if e["previous_followers"]:  # no follower figure before the period: no change to show
        texts.append(f"{e['followers'] - e['previous_followers']:+,}")
    return texts


def test_figures_filters_url_and_export(world_lake: str, world_server: str) -> None:
    lake = Lake(world_lake)
    month, week = _expected(lake, 30), _expected(lake, 7)
    assert month["followers"] > 0 and month["engagement"] > 0
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        dialogs = dialogs_of(page)
        page.goto(f"{world_server}/executive", wait_until="domcontentloaded")
        # the sections below the first chart follow once the page has loaded (kit.Later)
        text = wait_text(
            page, "vs previous month", "Top posts", *_card_texts(month), timeout=60_000
        )
        assert "Anomalies that matter" in text and "Top agencies" in text
        # the page and the brief show the same figures
        h = load_highlights(lake, "month")
        for f in h.figures():
            assert brief.fmt_value(f.name, f.value) in text
        for sentence in h.anomalies["sentence"].to_list():
            assert sentence in text
        page.screenshot(path=str(ARTIFACTS / "executive-1280.png"), full_page=True)
        # the day-by-day charts draw the highlights' days (a month's worth)
        assert h.daily.height >= 28
        assert page.evaluate(DAY_BARS) == _day_bars(h.daily)

        # a filter change: the week's figures, and the URL follows
        page.get_by_label("Period").select_option(label="Week")
        wait_text(page, "vs previous week", *_card_texts(week))
        page.wait_for_function("() => location.search.includes('period=week')")
        # the charts' data sources in the browser now hold the week's seven days
        weekly = load_highlights(lake, "week").daily
        assert weekly.height == 7
        page.wait_for_function(
            "n => Object.values((" + DAY_BARS + ")()).every((bars) => bars.length === n)", arg=7
        )
        assert page.evaluate(DAY_BARS) == _day_bars(weekly)

        # export the accounts table and read it back
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        assert download.value.suggested_filename == "executive-accounts.csv"
        csv = pl.read_csv(download.value.path(), try_parse_dates=True)
        end = lake.read(DAILY, columns=["date"])["date"].max()
        rows = lake.read(DAILY).filter(
            pl.col("date").is_between(end - dt.timedelta(days=6), end)  # type: ignore[operator]
        )
        expected = (
            rows.sort("date")
            .group_by("platform", "account_id")
            .agg(
                pl.col("followers").last(),
                pl.col("engagement").sum(),
                pl.col("posts_published").sum(),
            )
            .sort("platform", "account_id")
        )
        got = csv.select("platform", "account_id", "followers", "engagement", "posts_published")
        assert got.sort("platform", "account_id").rows() == expected.rows()
        assert csv["followers"].sum() == week["followers"]
        assert dialogs == []


def test_agency_in_the_url_opens_filtered(world_lake: str, world_server: str) -> None:
    lake = Lake(world_lake)
    cdc, everyone = _expected(lake, 30, ["CDC"]), _expected(lake, 30)
    assert cdc["followers"] < everyone["followers"]
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{world_server}/executive?agency=CDC", wait_until="domcontentloaded")
        text = wait_text(page, *_card_texts(cdc), timeout=60_000)
        assert f"{everyone['followers']:,}" not in text
        assert parse_qs(urlsplit(page.url).query)["agency"] == ["CDC"]
        page.screenshot(path=str(ARTIFACTS / "executive-cdc-1280.png"), full_page=True)

        phone = b.new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{world_server}/executive", wait_until="domcontentloaded")
        wait_text(phone, f"{everyone['followers']:,}", timeout=60_000)
        phone.screenshot(path=str(ARTIFACTS / "executive-390.png"), full_page=True)
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 400, f"the page is {width} px wide on a 390 px phone"


@pytest.fixture(scope="module")
def period_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page over the small hand-made lake, whose top post and anomaly carry HTML."""
    lake = build_period_lake(tmp_path_factory.mktemp("exec-period"))
    port = free_port()
    server = serve_dashboards(port=port, lake_uri=lake.uri, threaded=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_untrusted_text_renders_as_text(period_server: str) -> None:
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        dialogs = dialogs_of(page)
        page.goto(f"{period_server}/executive?period=week", wait_until="domcontentloaded")
        # hand-worked figures of the small lake (tests/reports/test_highlights.py)
        text = wait_text(page, "3,555", "-15", "1,070", SCRIPT, "someone", timeout=60_000)
        assert "@<img src=x onerror=alert(1)> spiked" in text
        assert page.evaluate(INJECTED) == 0
        assert dialogs == []
        page.get_by_label("Agency (with the offices below it)").select_option("CDC")
        wait_text(page, "1,695", "+105", "770")
        # the unassigned account is filtered out (the tables' rows follow the cards' figures)
        assert "someone" not in wait_no_text(page, "someone")
        assert page.evaluate(INJECTED) == 0


def test_page_without_gold(tmp_path: Path) -> None:
    port = free_port()
    server = serve_dashboards(port=port, lake_uri=str(tmp_path / "empty"), threaded=True)
    try:
        with browser() as b:
            page = b.new_page()
            page.goto(f"http://127.0.0.1:{port}/executive")
            text = wait_text(page, "hhs collect")
            assert "Nothing to show yet" in text
    finally:
        server.stop()
