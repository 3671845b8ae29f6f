"""The Anomalies page over the world lake: events, filters, drill-down, export and XSS, in Chromium.

Every expected figure is computed here from gold/anomalies, gold/daily_account_metrics,
silver/posts and silver/post_metrics with polars, never taken from the page's own code.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import panel as pn
import polars as pl
import pytest
from browser import (
    ARTIFACTS,
    CHROMIUM,
    INJECTED,
    browser,
    dialogs_of,
    page_text,
    table_column,
    wait_text,
)
from dashboard_lakes import XSS_TEXTS, free_port
from polars.testing import assert_frame_equal

from hhs_platform.dashboards import anomalies, kit
from hhs_platform.dashboards.server import serve_dashboards
from hhs_platform.lake import Lake

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

KEY = ["platform", "account_id", "metric", "date", "kind"]
#: The daily column each event metric is drawn from (a collection gap shows the followers).
SERIES = {
    "followers": "followers",
    "engagement": "engagement",
    "posts_published": "posts_published",
    "collection": "followers",
}
WINDOW = 21
COUNTERS = ["likes", "reposts", "replies", "quotes"]
# The ColumnDataSources of the page's Bokeh document that hold the drawn series.
SERIES_SOURCES = """() => {
  const out = [];
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (!m.data) continue;
    const d = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
    const keys = Object.keys(d).sort().join(",");
    if (keys !== "date,value") continue;
    out.push({date: Array.from(d.date), value: Array.from(d.value).map(
      (v) => (typeof v === "number" && isNaN(v)) ? null : v)});
  }
  return out;
}"""


# -- expectations, from the tables ----------------------------------------------------------------
def _event_id(row: dict[str, Any]) -> str:
    return f"{row['platform']}:{row['account_id']}:{row['metric']}:{row['date']}:{row['kind']}"


def _count(shown: int, total: int) -> str:
    return f"{shown:,} of {total:,} {'event' if total == 1 else 'events'} shown."


def _posts_of(lake: Lake, event: dict[str, Any]) -> pl.DataFrame:
    """The account's posts of the event's days with their latest counters, highest first."""
    posts = lake.read("silver/posts").filter(
        (pl.col("platform") == event["platform"])
        & (pl.col("account_id") == event["account_id"])
        & pl.col("created_at").dt.date().is_between(event["date"], event["end_date"])
    )
    latest = (
        lake.read("silver/post_metrics")
        .sort("observed_at")
        .group_by("platform", "post_id")
        .agg(pl.col(c).last() for c in COUNTERS)
    )
    return (
        posts.join(latest, on=["platform", "post_id"], how="left")
        .with_columns(engagement=pl.sum_horizontal(pl.col(c).fill_null(0) for c in COUNTERS))
        .sort(["engagement", "created_at", "post_id"], descending=[True, False, False])
    )


def _series_of(lake: Lake, event: dict[str, Any]) -> list[tuple[dt.date, int]]:
    """(date, value) of the event's series ±21 days, days with a figure only."""
    column = SERIES[event["metric"]]
    first = event["date"] - dt.timedelta(days=WINDOW)
    last = event["end_date"] + dt.timedelta(days=WINDOW)
    rows = (
        lake.read("gold/daily_account_metrics")
        .filter(
            (pl.col("platform") == event["platform"])
            & (pl.col("account_id") == event["account_id"])
            & pl.col("date").is_between(first, last)
            & pl.col(column).is_not_null()
        )
        .sort("date")
    )
    return [(d, int(v)) for d, v in rows.select("date", column).iter_rows()]


def _cells(page: Any, table: int, field: str) -> list[str]:
    return [t.strip() for t in table_column(page.locator(".tabulator").nth(table), field)]


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# -- the world lake ------------------------------------------------------------------------------
def test_events_filter_drill_down_and_export(world_server: str, world_lake: str) -> None:
    lake = Lake(world_lake)
    events = lake.read("gold/anomalies")
    total = events.height
    assert 0 < total <= 25, "the world lake should hold a page of events"
    by_kind = events.group_by("kind").len().sort(["len", "kind"], descending=[True, False])
    kind = next((k for k, n in by_kind.iter_rows() if n < total), by_kind["kind"][0])
    of_kind = events.filter(pl.col("kind") == kind)
    # Drill into the event with the most posts on its days (the posts table then has rows).
    rows = sorted(events.iter_rows(named=True), key=_event_id)
    drill = max(rows, key=lambda r: _posts_of(lake, r).height)
    posts = _posts_of(lake, drill)
    series = _series_of(lake, drill)
    assert series, "the drilled event's account has daily figures"

    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        dialogs = dialogs_of(page)
        page.goto(f"{world_server}/anomalies", wait_until="domcontentloaded")
        wait_text(page, _count(total, total))
        # Exactly the events of gold/anomalies.
        assert sorted(_cells(page, 0, "sentence")) == sorted(events["sentence"].to_list())
        assert "Select an event in the table" in page_text(page)
        page.screenshot(path=str(ARTIFACTS / "anomalies-1280.png"), full_page=True)
        height = page.locator(".tabulator").first.bounding_box()["height"]

        # Filter by kind: the count and the rows follow, and the filter is in the URL.
        page.get_by_label("Kind").select_option(label=kind.replace("_", " ").capitalize())
        wait_text(page, _count(of_kind.height, total))
        assert sorted(_cells(page, 0, "sentence")) == sorted(of_kind["sentence"].to_list())
        # Fewer rows, the same table height: the browser does not lay the page out again.
        assert page.locator(".tabulator").first.bounding_box()["height"] == height
        page.wait_for_function(f"() => location.search.includes('kind={kind}')")
        assert _query(page.url)["kind"] == [kind]

        # Export of the filtered view, read back.
        with page.expect_download() as download:
            page.get_by_role("button", name="Download Parquet").click()
        exported = pl.read_parquet(download.value.path())
        assert download.value.suggested_filename == "anomalies.parquet"
        assert_frame_equal(exported.sort(KEY), of_kind.sort(KEY), check_column_order=False)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        csv = pl.read_csv(download.value.path(), try_parse_dates=True)
        assert csv.height == of_kind.height
        assert sorted(csv["sentence"].to_list()) == sorted(of_kind["sentence"].to_list())

        # Back to every kind; click the event's row: the drill-down opens, its id in the URL.
        page.get_by_label("Kind").select_option(label="All")
        wait_text(page, _count(total, total))
        row = page.locator(".tabulator").first.locator(".tabulator-row", has_text=drill["sentence"])
        row.click()
        wait_text(page, "Posts of ")
        page.wait_for_function("() => location.search.includes('event=')")
        assert _query(page.url)["event"] == [_event_id(drill)]
        text = page_text(page)
        assert drill["sentence"] in text

        # The chart draws the account's series: the days with a figure are the table's.
        page.wait_for_function(f"() => ({SERIES_SOURCES})().length > 0")
        drawn = page.evaluate(SERIES_SOURCES)[0]
        points = [
            (dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date(), round(v))
            for ms, v in zip(drawn["date"], drawn["value"], strict=True)
            if v is not None
        ]
        assert points == series

        # The posts of the day, as silver has them: order, texts, engagement, links.
        if posts.height:
            engagement = int(posts["engagement"].sum())
            noun = "post" if posts.height == 1 else "posts"
            assert f"{posts.height:,} {noun}, {engagement:,} engagement in total" in text
            shown = min(posts.height, 20)
            assert _cells(page, 1, "text") == [t or "" for t in posts["text"].head(shown)]
            assert _cells(page, 1, "engagement") == [
                f"{e:,}" for e in posts["engagement"].head(shown)
            ]
            hrefs = (
                page.locator(".tabulator")
                .nth(1)
                .locator("a[href]")
                .evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
            )
            expected_links = [u for u in posts["url"].head(shown) if u and u.startswith("http")]
            assert hrefs == expected_links
        else:
            assert "No posts were published" in text
        page.screenshot(path=str(ARTIFACTS / "anomalies-event-1280.png"), full_page=True)

        # The series as a table: the same days and figures, the event's days marked.
        page.get_by_text("Series data", exact=True).click()
        dates = _cells(page, 1, "date")
        values = _cells(page, 1, "value")
        assert [(d, v) for d, v in zip(dates, values, strict=True) if v != "–"] == [
            (d.isoformat(), f"{v:,}") for d, v in series
        ]
        flagged = [
            d for d, f in zip(dates, _cells(page, 1, "in_event"), strict=True) if f == "true"
        ]
        days = (drill["end_date"] - drill["date"]).days + 1
        assert flagged == [(drill["date"] + dt.timedelta(days=i)).isoformat() for i in range(days)]

        # Date and confidence filters from a shared URL.
        since = sorted(events["date"].unique())[len(events["date"].unique()) // 2]
        kept = events.filter((pl.col("end_date") >= since) & (pl.col("confidence") >= 0.8))
        other = b.new_page(viewport={"width": 1280, "height": 900})
        other.goto(f"{world_server}/anomalies?from={since}&confidence=0.8")
        wait_text(other, _count(kept.height, total))
        assert sorted(_cells(other, 0, "sentence")) == sorted(kept["sentence"].to_list())
        other.close()

        # The link is shareable: a new visitor sees the same event, on a phone too.
        phone = b.new_page(viewport={"width": 390, "height": 844})
        phone.goto(page.url, wait_until="domcontentloaded")
        wait_text(phone, _count(total, total), "Posts of ", drill["sentence"])
        phone.wait_for_timeout(500)
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 400, f"the page is {width} px wide on a 390 px phone"
        phone.screenshot(path=str(ARTIFACTS / "anomalies-event-390.png"), full_page=True)
        assert page.evaluate(INJECTED) == 0
    assert dialogs == []


# -- untrusted text ------------------------------------------------------------------------------
SCRIPT = "<script>alert(4)</script>"
IMG = "<img src=x onerror=alert(3)>"


@pytest.fixture(scope="module")
def xss_lake(world_lake: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the world lake with events on the days of its XSS posts, whose handle and
    sentence are themselves markup, and one XSS post whose link is ``javascript:``."""
    root = tmp_path_factory.mktemp("anomalies-xss")
    shutil.copytree(world_lake, root / "lake")
    lake = Lake(str(root / "lake"))
    bad = lake.read("silver/posts").filter(pl.col("text").is_in(list(XSS_TEXTS)))
    assert bad.height == len(XSS_TEXTS)
    events = lake.read("gold/anomalies")
    planted = pl.DataFrame(
        [
            {
                "platform": post["platform"],
                "account_id": post["account_id"],
                "metric": "engagement",
                "date": post["created_at"].date(),
                "kind": "engagement_spike",
                "end_date": post["created_at"].date(),
                "days": 1,
                "agency": "CDC",
                "handle": IMG,
                "value": 900.0,
                "baseline": 100.0,
                "change": 800.0,
                "change_pct": 800.0,
                "usual_change": 10.0,
                "score": 80.0,
                "confidence": 0.99,
                "sentence": f"{SCRIPT} {IMG} engagement rose 800% (event {i})",
                "detected_at": dt.datetime(2026, 11, 14, tzinfo=dt.UTC),
            }
            for i, post in enumerate(bad.iter_rows(named=True))
        ],
        schema=events.schema,
    )
    lake.write("gold/anomalies", pl.concat([events, planted]))
    post = bad.row(1, named=True)
    lake.write(
        "silver/posts",
        bad.filter(pl.col("post_id") == post["post_id"]).with_columns(
            url=pl.lit("javascript:alert(5)")
        ),
    )
    return lake.uri


def test_untrusted_text_renders_as_text(xss_lake: str) -> None:
    lake = Lake(xss_lake)
    planted = lake.read("gold/anomalies").filter(pl.col("handle") == IMG).sort("date")
    unsafe = lake.read("silver/posts").filter(pl.col("url").str.starts_with("javascript:"))
    assert unsafe.height == 1
    unsafe_day = unsafe["created_at"].dt.date()[0]
    port = free_port()
    server = serve_dashboards(port=port, lake_uri=xss_lake, threaded=True)
    try:
        with browser() as b:
            page = b.new_page(viewport={"width": 1280, "height": 900})
            dialogs = dialogs_of(page)
            for i, event in enumerate(planted.iter_rows(named=True)):
                url = f"http://127.0.0.1:{port}/anomalies?event={quote(_event_id(event))}"
                page.goto(url, wait_until="domcontentloaded")
                text = wait_text(page, "Posts of ", event["sentence"], XSS_TEXTS[i])
                # Literal in the events table, the drill-down heading and the posts table.
                assert text.count(event["sentence"]) >= 2
                assert IMG in _cells(page, 0, "handle")
                assert XSS_TEXTS[i] in _cells(page, 1, "text")
                page.wait_for_timeout(500)  # time for an injected onerror handler to fire
                assert page.evaluate(INJECTED) == 0
                assert page.locator("a[href^='javascript']").count() == 0
                if event["date"] == unsafe_day:  # every post has a link but the unsafe one
                    links = page.locator(".tabulator").nth(1).locator("a[href]").count()
                    assert links == len(_cells(page, 1, "text")) - 1
                page.screenshot(path=str(ARTIFACTS / f"anomalies-xss-{i}.png"), full_page=True)
            assert dialogs == []
    finally:
        server.stop()


# -- the page object, without a browser ----------------------------------------------------------
def _tables(view: pn.viewable.Viewable) -> list[pn.widgets.Tabulator]:
    return list(view.select(pn.widgets.Tabulator))


def test_view_filters_and_selects(world_lake: str) -> None:
    lake = Lake(world_lake)
    events = lake.read("gold/anomalies")
    view = anomalies.AnomaliesView(lake, events)
    assert len(view.table.value) == events.height
    view.confidence.value = 0.8
    assert len(view.table.value) == events.filter(pl.col("confidence") >= 0.8).height
    view.confidence.value = 0.0
    last = events["date"].max()
    view.start.value = last
    assert len(view.table.value) == events.filter(pl.col("end_date") >= last).height

    first = events.row(0, named=True)
    view.event.value = _event_id(first)
    assert view.posts_note in view.drilldown.objects
    assert view.table.selection == (
        [view.filtered["event"].to_list().index(_event_id(first))]
        if _event_id(first) in view.filtered["event"].to_list()
        else []
    )
    view.event.value = "x:nobody:followers:2026-01-01:follower_jump"
    assert view.drilldown.objects == [view.hint]
    assert "not among" in view.hint.object


def test_events_table_pages_on_the_server_and_turns_to_a_linked_events_page(
    world_lake: str,
) -> None:
    lake = Lake(world_lake)
    world = lake.read("gold/anomalies")
    # The world's events again one, two, ... weeks earlier: several pages of distinct events.
    weeks = -(-60 // world.height)
    events = pl.concat(
        [
            world.with_columns(
                pl.col("date") - pl.duration(weeks=i), pl.col("end_date") - pl.duration(weeks=i)
            )
            for i in range(weeks)
        ]
    )
    assert events.height >= 60
    view = anomalies.AnomaliesView(lake, events)
    table = view.table
    assert table.pagination == "remote" and table.page_size == 25
    assert len(table.value) == events.height  # the browser gets one page of them

    ids = view.filtered["event"].to_list()
    for position in (len(ids) - 1, 30, 3):
        view.event.value = ids[position]
        assert table.page == position // 25 + 1
        assert table.selection == [position]
        assert view.detail in view.drilldown.objects
    # A filter that moves the linked event turns the table to its new page.
    view.event.value = ids[30]
    linked = view.filtered.row(30, named=True)
    view.platform.value = linked["platform"]
    position = view.filtered["event"].to_list().index(ids[30])
    assert view.filtered["platform"].unique().to_list() == [linked["platform"]]
    assert table.page == position // 25 + 1
    assert table.selection == [position]

    # Sorted by a header: pages follow the order shown, and a row clicked stays on its page.
    view.platform.value = "All"
    table.sorters = [{"field": "confidence", "dir": "asc"}]
    order = table.current_view.index.to_list()
    assert order != list(range(len(order)))  # the sort moved rows
    view.event.value = ids[order[40]]  # a link to the 41st event in the order shown
    assert table.page == 2 and table.selection == [order[40]]
    table.page = 3
    table.selection = [order[55]]  # a click on the third page's row
    assert view.event.value == ids[order[55]]
    assert table.page == 3 and table.selection == [order[55]]


def test_agency_restriction(world_lake: str) -> None:
    from hhs_platform.settings import Settings

    events = Lake(world_lake).read("gold/anomalies")
    agency = events["agency"].drop_nulls().sort()[0]
    kit.use_settings(
        Settings(_env_file=None, dashboard_agency_access={"*": [agency]})  # type: ignore[call-arg]
    )
    try:
        allowed = kit.allowed_agencies()
        assert allowed is not None and agency in allowed
        expected = events.filter(pl.col("agency").is_in(sorted(allowed)))
        assert 0 < expected.height < events.height
        page = anomalies.page(Lake(world_lake))
        shown = _tables(page)[0].value
        assert sorted(shown["sentence"]) == sorted(expected["sentence"])
        # Another agency's event, even named in the URL, shows nothing.
        hidden = events.filter(~pl.col("agency").is_in(sorted(allowed))).row(0, named=True)
        view = anomalies.AnomaliesView(Lake(world_lake), kit.restrict(events))
        view.event.value = _event_id(hidden)
        assert view.drilldown.objects == [view.hint]
    finally:
        # None, not the settings read before: those would pin this process's settings for
        # every later test (the operations page's links read HHS_PREFECT_UI_URL afresh)
        kit.use_settings(None)


def test_empty_lake_says_what_to_run(tmp_path: Path) -> None:
    page = anomalies.page(Lake(str(tmp_path / "empty")))
    alerts = list(page.select(pn.pane.Alert))
    assert alerts and "anomaly events" in alerts[0].object and "hhs collect" in alerts[0].object
