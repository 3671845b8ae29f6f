"""End to end: the Trends page served over the world lake, read in headless Chromium.

Every expected figure is computed here with polars from the gold tables, independently of
``hhs_platform.dashboards.trends_figures``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest
from browser import ARTIFACTS, CHROMIUM, INJECTED, browser, dialogs_of, page_text, wait_text
from dashboard_lakes import IMG_HANDLE, SCRIPT_HANDLE, free_port
from figures_drawn import drawn_lines, figure_of

from hhs_platform.dashboards import trends
from hhs_platform.lake import Lake
from schemas import table_spec

needs_browser = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)

# Each row of a Tabulator as {field: shown text}; the hidden series key is in the DOM too.
ROWS_JS = """rows => rows.map(r => Object.fromEntries(
  [...r.querySelectorAll('.tabulator-cell')].map(
    c => [c.getAttribute('tabulator-field'), c.innerText.trim()])))"""


# -- expectations, computed from the tables ---------------------------------------------------
def _count(value: Any) -> str:
    return "" if value is None else f"{value:,}"


def _signed(value: Any) -> str:
    return "" if value is None else f"{value:+,}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _agency_days(lake: Lake) -> pl.DataFrame:
    return lake.read("gold/agency_metrics").filter(
        (pl.col("period") == "day") & (pl.col("platform") == "all")
    )


def _default_agencies(days: pl.DataFrame) -> list[str]:
    """HHS (level 0) first, then the largest by their last known followers; 4 at most; listed
    in the picker's order (level, then name)."""
    last = (
        days.drop_nulls("followers")
        .sort("period_start")
        .group_by("agency", "level")
        .agg(pl.col("followers").last())
        .sort(["level", "followers", "agency"], descending=[False, True, False])
    )
    return last.head(4).sort("level", "agency")["agency"].to_list()


def _range(days: pl.DataFrame) -> tuple[dt.date, dt.date]:
    last: dt.date = days["period_start"].max()  # type: ignore[assignment]
    first: dt.date = days["period_start"].min()  # type: ignore[assignment]
    return max(first, last - dt.timedelta(days=6)), last


def _expected_lines(
    days: pl.DataFrame, agencies: list[str], metric: str, start: dt.date, end: dt.date
) -> list[tuple[dt.date, str, Any]]:
    rows = []
    for agency in agencies:
        one = days.filter(
            (pl.col("agency") == agency) & pl.col("period_start").is_between(start, end)
        ).sort("period_start")
        rows += [(d, agency, v) for d, v in one.select("period_start", metric).iter_rows()]
    return rows


def _expected_pop(
    days: pl.DataFrame, agencies: list[str], start: dt.date, end: dt.date
) -> list[dict[str, str]]:
    """Followers: the last figure in the range against the last of the 7 days before."""
    length = (end - start).days + 1
    before = (start - dt.timedelta(days=length), start - dt.timedelta(days=1))
    out = []
    for agency in agencies:

        def last(lo: dt.date, hi: dt.date, agency: str = agency) -> int | None:
            one = days.filter(
                (pl.col("agency") == agency)
                & pl.col("period_start").is_between(lo, hi)
                & pl.col("followers").is_not_null()
            ).sort("period_start")
            return None if one.is_empty() else int(one["followers"][-1])

        now, prev = last(start, end), last(*before)
        change = None if now is None or prev is None else now - prev
        pct = None if change is None or not prev else change / prev
        out.append(
            {
                "label": agency,
                "value": _count(now),
                "previous": _count(prev),
                "change": _signed(change),
                "change_pct": _pct(pct),
            }
        )
    return out


def _expected_trending(lake: Lake, agency: str, kind: str) -> list[dict[str, str]]:
    rows = lake.read("gold/trends")
    last: dt.date = rows["date"].max()  # type: ignore[assignment]
    window = rows.filter(
        (pl.col("agency") == agency)
        & (pl.col("kind") == kind)
        & (pl.col("date") >= last - dt.timedelta(days=6))
    )
    terms = (
        window.group_by("term")
        .agg(pl.col("lift").max(), pl.col("posts").sum())
        .sort(["lift", "posts", "term"], descending=[True, True, False])
        .head(10)
    )
    return [
        {"rank": str(i), "term": term, "lift": f"{lift:.2f}", "posts": f"{posts:,}"}
        for i, (term, lift, posts) in enumerate(terms.iter_rows(), start=1)
    ]


# -- page helpers -----------------------------------------------------------------------------
def _rows(page: Any, css: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    rows = page.locator(f".{css} .tabulator-row").evaluate_all(ROWS_JS)
    return [{f: row.get(f, "") for f in fields} for row in rows]


def _titles(page: Any, css: str) -> list[str]:
    """The column titles a table shows."""
    titles = page.locator(f".{css} .tabulator-col-title").all_inner_texts()
    return [t.strip() for t in titles]


def _poll(page: Any, check: Callable[[], Any], timeout_s: float) -> Any:
    """Call ``check`` until it returns a truthy value or time is up; its last value.

    Waiting through Playwright (not ``time.sleep``) lets it process the page's events meanwhile.
    """
    deadline = time.monotonic() + timeout_s
    last: Any = check()
    while not last and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        last = check()
    return last


def _until(page: Any, check: Callable[[], Any], what: str, timeout_s: float = 20) -> Any:
    """Poll ``check`` until it returns a truthy value (the page updates over a websocket)."""
    last = _poll(page, check, timeout_s)
    if not last:
        raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")
    return last


def _line_rows(expected: list[tuple[dt.date, str, Any]], fmt: Callable[[Any], str]) -> list:
    return [{"period_start": str(d), "label": s, "value": fmt(v)} for d, s, v in expected]


def _open(b: Any, url: str, width: int = 1280) -> tuple[Any, list[str]]:
    page = b.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    dialogs = dialogs_of(page)
    page.goto(url, wait_until="domcontentloaded")
    wait_text(page, "Period over period", "Trending terms")
    return page, dialogs


def _flat(text: str) -> str:
    """Page text with runs of white space (between text nodes) as one space."""
    return " ".join(text.split())


def _url(page: Any) -> str:
    """The page's address now (``page.url`` is only refreshed while Playwright is called)."""
    return str(page.evaluate("() => location.href"))


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(url).query).items()}


# -- the world lake ---------------------------------------------------------------------------
@pytest.mark.slow
@needs_browser
def test_trends_page_over_the_world_lake(world_lake: str, world_server: str) -> None:
    lake = Lake(world_lake)
    days = _agency_days(lake)
    agencies = _default_agencies(days)
    start, end = _range(days)
    fields = ("period_start", "label", "value")
    followers = _line_rows(_expected_lines(days, agencies, "followers", start, end), _count)
    assert len(followers) > 14  # more than one page: the export must hold them all

    with browser() as b:
        page, dialogs = _open(b, f"{world_server}/trends")
        # the default view: agencies, followers, the last 7 days; the first table page
        _until(page, lambda: _rows(page, "trends-timeline", fields) == followers[:14], "followers")
        chips = page.locator(".choices__inner .choices__item").all_inner_texts()
        assert [c.replace("Remove item", "").strip() for c in chips] == agencies
        pop = _rows(page, "trends-pop", ("label", "value", "previous", "change", "change_pct"))
        assert pop == _expected_pop(days, agencies, start, end)
        text = _flat(page_text(page))
        assert f"this period {start} to {end} against the previous period" in text
        assert "Accounts following the account" in text  # the metric's definition

        # trending terms of HHS: gold/trends' top terms by lift over its last 7 days
        for kind, css in (("hashtag", "trends-hashtags"), ("topic", "trends-topics")):
            shown = _rows(page, css, ("rank", "term", "lift", "posts"))
            assert shown == _expected_trending(lake, "HHS", kind), kind
        assert _expected_trending(lake, "HHS", "hashtag"), "the world has trending hashtags"

        # export the figures in view: every row, equal to the table
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").first.click()
        path = ARTIFACTS / "trends-export.csv"
        download.value.save_as(path)
        exported = pl.read_csv(path, try_parse_dates=True)
        assert exported.columns == ["period_start", "series", "label", "followers"]
        expected = _expected_lines(days, agencies, "followers", start, end)
        assert exported.select("period_start", "series", "followers").rows() == expected
        page.screenshot(path=str(ARTIFACTS / "trends-1280.png"), full_page=True)

        # another metric: the figures follow, and the URL carries the filter
        assert "Figures: Followers per day" in _flat(page_text(page))
        titles = _titles(page, "trends-timeline")
        assert [t for t in titles if t] == ["Period", "Series", "Value", "Series", "Value text"]
        page.get_by_label("Metric").select_option(label="Engagement")
        engagement = _line_rows(_expected_lines(days, agencies, "engagement", start, end), _count)
        _until(
            page, lambda: _rows(page, "trends-timeline", fields) == engagement[:14], "engagement"
        )
        # the heading names the new metric; the table's columns stay (only its rows changed)
        _until(page, lambda: "Figures: Engagement per day" in _flat(page_text(page)), "heading")
        assert _titles(page, "trends-timeline") == titles
        assert _query(_url(page))["metric"] == "engagement"
        assert "Likes + reposts + replies + quotes" in page_text(page)
        # a rate and a signed change are written as such, in the same columns
        for label, metric, write in (
            ("Engagement rate", "engagement_rate", lambda v: "" if v is None else f"{v:.3%}"),
            ("Change in followers", "followers_change", _signed),
            ("Engagement", "engagement", _count),
        ):
            page.get_by_label("Metric").select_option(label=label)
            lines = _line_rows(_expected_lines(days, agencies, metric, start, end), write)
            assert any(row["value"] for row in lines[:14]), metric
            _until(
                page,
                lambda lines=lines: _rows(page, "trends-timeline", fields) == lines[:14],
                metric,
            )
            assert _titles(page, "trends-timeline") == titles

        # fewer series: remove the first chip (HHS); the figures are the others'
        chips = page.locator(".choices__inner .choices__item")
        for _ in range(3):  # a click while the page is still busy may be lost: try again
            page.locator(".choices__inner .choices__button").first.click()
            if _poll(page, lambda: chips.count() == len(agencies) - 1, 5):
                break

        def url_series() -> list[str] | None:
            value = _query(_url(page)).get("series")
            chosen = json.loads(value) if value else None
            return chosen if chosen and sorted(chosen) != sorted(agencies) else None

        series = _until(page, url_series, "series in the URL")
        assert series == agencies[1:]
        rest = _line_rows(_expected_lines(days, series, "engagement", start, end), _count)
        _until(page, lambda: _rows(page, "trends-timeline", fields) == rest[:14], "series removed")

        # the shared link restores the view
        shared, _ = _open(b, _url(page))
        _until(shared, lambda: _rows(shared, "trends-timeline", fields) == rest[:14], "shared link")
        shared.close()

        # the period-over-period table goes away with its toggle
        page.locator("input[type=checkbox]").first.click()  # the page's only checkbox
        _until(
            page, lambda: not page.locator(".trends-pop").is_visible(), "period over period hidden"
        )
        assert _query(_url(page))["compare"] == "false"
        assert page.evaluate(INJECTED) == 0
        page.close()

        # views: platforms without views are named (from gold: platforms with a views figure)
        with_views = set(
            lake.read("gold/agency_metrics")
            .filter(pl.col("views").is_not_null() & (pl.col("platform") != "all"))["platform"]
            .to_list()
        )
        without = sorted({"bluesky", "mastodon", "youtube"} - with_views)
        views, _ = _open(b, f"{world_server}/trends?metric=views")
        note = _until(
            views,
            lambda: (
                "only counted where the platform gives it" in page_text(views) and page_text(views)
            ),
            "views note",
        )
        assert f"there is none on {', '.join(without)}" in note
        views.close()

        phone, _ = _open(b, f"{world_server}/trends", width=390)
        _until(
            phone, lambda: _rows(phone, "trends-timeline", fields) == followers[:14], "phone view"
        )
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        phone.screenshot(path=str(ARTIFACTS / "trends-390.png"), full_page=True)
        assert width <= 400, f"the page is {width} px wide on a 390 px screen"
        phone.close()
    assert dialogs == []


@pytest.mark.slow
@needs_browser
def test_trends_platforms_of_an_agency_and_weeks(world_lake: str, world_server: str) -> None:
    gold = Lake(world_lake).read("gold/agency_metrics")
    days = _agency_days(Lake(world_lake))
    start, end = _range(days)
    fields = ("period_start", "label", "value")

    # the platforms of CDC: one line per platform, from the CDC x platform rows
    cdc = gold.filter(
        (pl.col("period") == "day") & (pl.col("agency") == "CDC") & (pl.col("platform") != "all")
    )
    platforms = sorted(cdc["platform"].unique().to_list())
    assert len(platforms) <= 4  # all of them are shown by default
    expected = []
    for platform in platforms:
        one = cdc.filter(
            (pl.col("platform") == platform) & pl.col("period_start").is_between(start, end)
        ).sort("period_start")
        expected += [(d, platform, v) for d, v in one.select("period_start", "likes").iter_rows()]
    with browser() as b:
        page, dialogs = _open(b, f"{world_server}/trends?level=platform&agency=CDC&metric=likes")
        rows = _line_rows(expected, _count)
        _until(page, lambda: _rows(page, "trends-timeline", fields) == rows[:14], "CDC platforms")

        # weeks: the agencies' weekly engagement, weeks touching the date range
        monday = start - dt.timedelta(days=start.weekday())
        weeks = gold.filter((pl.col("period") == "week") & (pl.col("platform") == "all"))
        agencies = _default_agencies(days)
        expected = []
        for agency in agencies:
            one = weeks.filter(
                (pl.col("agency") == agency) & pl.col("period_start").is_between(monday, end)
            ).sort("period_start")
            expected += [
                (d, agency, v) for d, v in one.select("period_start", "engagement").iter_rows()
            ]
        weekly, _ = _open(b, f"{world_server}/trends?granularity=week&metric=engagement")
        rows = _line_rows(expected, _count)
        _until(weekly, lambda: _rows(weekly, "trends-timeline", fields) == rows[:14], "weeks")
        weekly.screenshot(path=str(ARTIFACTS / "trends-weekly-1280.png"), full_page=True)
    assert dialogs == []


@pytest.mark.slow
@needs_browser
def test_trends_accounts_refuse_a_seventh_series(world_lake: str, world_server: str) -> None:
    lake = Lake(world_lake)
    daily = lake.read("gold/daily_account_metrics")
    keys = sorted(
        f"{p}:{a}" for p, a in daily.select("platform", "account_id").unique().iter_rows()
    )
    assert len(keys) >= 7
    with browser() as b:
        page, dialogs = _open(b, f"{world_server}/trends?level=account")
        chips = page.locator(".choices__inner .choices__item")
        _until(page, lambda: chips.count() == 4, "4 chips")

        def in_url() -> int:
            value = _query(_url(page)).get("series")
            return len(json.loads(value)) if value else 4

        # add accounts through the picker: the 5th and 6th are taken, the 7th refused
        for want in (5, 6, 7):
            page.locator(".choices__input--cloned").click()
            option = page.locator(".choices__list--dropdown .choices__item--selectable").first
            option.wait_for(state="visible")
            option.click()
            if want < 7:
                _until(page, lambda n=want: chips.count() == n and in_url() == n, f"{want} chips")
                assert "At most 6 series" not in page_text(page)
        text = _until(
            page, lambda: "At most 6 series" in page_text(page) and page_text(page), "refusal"
        )
        assert "you picked 7" in text
        _until(page, lambda: chips.count() == 6, "6 chips after the refusal")
        page.wait_for_timeout(500)
        assert chips.count() == 6 and in_url() == 6
        chosen = json.loads(_query(_url(page))["series"])
        assert len(chosen) == 6 and set(chosen) <= set(keys)
        # the page lists them in the picker's order: by label (latest handle and platform)
        labels = (
            daily.sort("date")
            .group_by("platform", "account_id")
            .agg(pl.col("handle").last())
            .select(
                pl.concat_str("platform", pl.lit(":"), "account_id").alias("key"),
                pl.format("{} ({})", "handle", "platform").alias("label"),
            )
        )
        label = dict(labels.iter_rows())
        chosen = sorted(chosen, key=lambda k: (label[k], k))
        # the figures are the six accounts' daily followers, from gold/daily_account_metrics
        last: dt.date = daily["date"].max()  # type: ignore[assignment]
        first = last - dt.timedelta(days=6)
        expected = []
        for key in chosen:
            platform, account = key.split(":", 1)
            one = daily.filter(
                (pl.col("platform") == platform)
                & (pl.col("account_id") == account)
                & pl.col("date").is_between(first, last)
            ).sort("date")
            expected += [(d, key, v) for d, v in one.select("date", "followers").iter_rows()]
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").first.click()
        path = ARTIFACTS / "trends-accounts-export.csv"
        download.value.save_as(path)
        exported = pl.read_csv(path, try_parse_dates=True, schema_overrides={"followers": pl.Int64})
        assert exported.select("period_start", "series", "followers").rows() == expected
        page.screenshot(path=str(ARTIFACTS / "trends-accounts-1280.png"), full_page=True)
        assert page.evaluate(INJECTED) == 0
    assert dialogs == []


# -- untrusted handles ------------------------------------------------------------------------
@pytest.fixture
def small_server(lake_uri: str) -> Iterator[str]:
    """The dashboards over the small lake (daily account figures only; two hostile handles)."""
    from hhs_platform.dashboards.server import serve_dashboards

    port = free_port()
    server = serve_dashboards(port=port, lake_uri=lake_uri, threaded=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.mark.slow
@needs_browser
def test_trends_hostile_handles_render_as_text(small_server: str) -> None:
    series = json.dumps(["bluesky:atsdr-bs-1", "bluesky:atsdr-bs-2"])
    url = f"{small_server}/trends?" + urllib.parse.urlencode({"series": series})
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        dialogs = dialogs_of(page)
        page.goto(url, wait_until="domcontentloaded")
        wait_text(page, f"{SCRIPT_HANDLE} (bluesky)", f"{IMG_HANDLE} (bluesky)")
        labels = {r["label"] for r in _rows(page, "trends-timeline", ("label",))}
        assert labels == {f"{SCRIPT_HANDLE} (bluesky)", f"{IMG_HANDLE} (bluesky)"}
        page.locator(".choices__input--cloned").click()  # the dropdown lists every handle
        page.wait_for_timeout(500)  # give an injected onerror handler time to fire
        assert page.evaluate(INJECTED) == 0
        page.screenshot(path=str(ARTIFACTS / "trends-hostile-handles.png"), full_page=True)
    assert dialogs == []


@pytest.mark.slow
@needs_browser
def test_trends_marks_metric_definition_changes(lake_uri: str, small_server: str) -> None:
    impressions = "public_metrics.impression_count"
    media = "includes.media[].public_metrics.view_count"
    runs = [("r1", 5, impressions, "current"), ("r2", 7, media, "fallback")]
    runs += [("r3", 9, impressions, "current")]
    Lake(lake_uri).write(
        "quality/metric_sources",
        pl.DataFrame(
            [
                {
                    "platform": "x",
                    "endpoint": "tweets",
                    "run_id": run,
                    "metric": "views",
                    "field": field,
                    "status": status,
                    "rows": 4,
                    "first_seen_at": dt.datetime(2026, 3, day, 6, tzinfo=dt.UTC),
                    "last_seen_at": dt.datetime(2026, 3, day, 6, 5, tzinfo=dt.UTC),
                }
                for run, day, field, status in runs
            ],
            schema=table_spec("quality/metric_sources").schema,
        ),
    )
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{small_server}/trends?metric=views", wait_until="domcontentloaded")
        text = wait_text(page, "Definition change")
        assert f"2026-03-07: x views (tweets) now comes from {media}." in text
        assert f"2026-03-07: x views (tweets) came from a fallback field: {media}." in text
        assert f"2026-03-09: x views (tweets) now comes from {impressions}." in text
        assert "2026-03-05" not in text.split("About this metric")[1].split("Figures")[0]
        page.screenshot(path=str(ARTIFACTS / "trends-definition-changes.png"), full_page=True)


# -- without a browser ------------------------------------------------------------------------
def test_trends_view_escapes_picker_labels(lake_uri: str) -> None:
    view = trends.TrendsView(Lake(lake_uri))
    assert view.level.value == "account"  # no agency figures in this lake: accounts only
    labels = list(view.series.options)
    assert f"{SCRIPT_HANDLE} (bluesky)" not in labels
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (bluesky)" in labels
    assert len(view.series.value) == 4


def test_trends_chart_follows_the_filters_in_one_figure(world_lake: str) -> None:
    from bokeh.document import Document

    view = trends.TrendsView(Lake(world_lake))
    root = view.layout.get_root(Document())
    figure = figure_of(view.chart.pane, root)

    def shown() -> dict[str, list[float]]:
        """The figures table: label -> values in period order (the chart's ground truth)."""
        table = pl.from_pandas(view.timeline_table.value).drop_nulls("value")
        return {
            label: [float(v) for v in rows.sort("period_start")["value"]]
            for (label,), rows in table.group_by("label", maintain_order=True)
        }

    assert drawn_lines(figure, "value") == shown() and len(shown()) == 4
    for widget, value in ((view.metric, "engagement"), (view.level, "platform")):
        widget.value = value
        assert figure_of(view.chart.pane, root) is figure  # updated, not rebuilt
        assert drawn_lines(figure, "value") == shown() and shown()
    assert figure.title.text == "Engagement per day"


def test_trends_metric_change_keeps_the_tables_columns(world_lake: str) -> None:
    """A new metric changes the tables' rows, and none of their columns: a table's new
    columns (a formatter, a title) made Bokeh walk every model of the page and the browser
    build the table's columns again, 300-500 ms a change on the large benchmark lake."""
    from bokeh.document import Document
    from panel.models.tabulator import TabulatorColumn

    view = trends.TrendsView(Lake(world_lake))
    doc = Document()
    doc.add_root(view.layout.get_root(doc))
    view.lower._draw()

    def columns() -> set[str]:
        return {m.id for m in doc.models if isinstance(m, TabulatorColumn)}

    models = columns()
    assert len(models) > 20  # the figures, period-over-period and roll-up tables' included
    for metric, text in (
        ("engagement_rate", "{:.3%}"),
        ("followers_change", "{:+,.0f}"),
        ("likes", "{:,.0f}"),
    ):
        view.metric.value = metric
        assert columns() == models, metric
        shown = pl.from_pandas(view.timeline_table.value).drop_nulls("value")
        assert not shown.is_empty()
        assert shown["value_text"].to_list() == [text.format(v) for v in shown["value"]]
    assert view.figures_heading.object == "### Figures: Likes per day"


def test_trends_chart_draws_each_series_and_the_definition_changes() -> None:
    import datetime as dt

    days = [dt.date(2026, 3, d) for d in (1, 2, 3)]
    line = pl.DataFrame(
        {
            "series": ["bluesky:1"] * 3 + ["x:2"] * 3,
            "label": ["<b>cdc</b> (bluesky)"] * 3 + [None] * 3,
            "period_start": days * 2,
            "value": [0.01, None, 0.03, 0.5, 0.25, 0.75],
        }
    )
    chart = trends.Chart()
    changed = pl.Series("date", [dt.date(2026, 3, 2)])
    assert chart.show(line, "engagement_rate", "day", changed)

    def drawn(i: int) -> list[tuple[str, float]]:
        data = chart.sources[i].data
        return [
            (str(d.astype("datetime64[D]")), float(v))
            for d, v in zip(data["period_start"], data["value"], strict=True)
        ]

    # one line per series, nulls left out, labelled (as text) or named by the series key
    assert drawn(0) == [("2026-03-01", 0.01), ("2026-03-03", 0.03)]
    assert drawn(1) == [("2026-03-01", 0.5), ("2026-03-02", 0.25), ("2026-03-03", 0.75)]
    assert [i.label.value for i in chart.items[:2]] == ["<b>cdc</b> (bluesky)", "x:2"]
    assert [i.visible for i in chart.items] == [True, True] + [False] * (len(chart.items) - 2)
    assert drawn_lines(chart.figure, "value") == {
        "<b>cdc</b> (bluesky)": [0.01, 0.03],
        "x:2": [0.5, 0.25, 0.75],
    }
    # the day the definition changed, and the rate's axis, title and hover in percent
    assert [str(d.astype("datetime64[D]")) for d in chart.changes.data["day"]] == ["2026-03-02"]
    assert chart.title.text == "Engagement rate per day"
    assert chart.formatter.format == "0.00%"
    assert chart.hover.tooltips[-1] == ("Engagement rate", "@value{0.00%}")
    # the same figures are not sent again; one series of a count per week hides the others
    assert not chart.show(line.clone(), "engagement_rate", "day", changed.clone())
    first = line.filter(pl.col("series") == "x:2")
    assert chart.show(first, "followers", "week", changed.clear())
    assert drawn_lines(chart.figure, "value") == {"x:2": [0.5, 0.25, 0.75]}
    assert drawn(1) == [] and len(chart.changes.data["day"]) == 0
    assert chart.title.text == "Followers per week" and chart.formatter.format == "0,0"
    assert chart.figure.xaxis[0].axis_label == "Week (Monday)"
