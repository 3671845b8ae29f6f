"""End to end: the Posts explorer served over the world lake, driven in headless Chromium.

Every figure the page shows is compared with what the test computes itself from the lake's
silver and gold tables with polars (never with the page's own figure functions).
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from pathlib import Path
from typing import Any

import panel as pn
import polars as pl
import pytest
import test_posts_figures as figures_test
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
from dashboard_lakes import XSS_TEXTS

from hhs_platform.dashboards import kit
from hhs_platform.dashboards import posts_figures as pf
from hhs_platform.dashboards.posts import PostsView, make_index, page, prepare_index
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings

# The browser tests are slow and need Chromium; the page-wiring tests at the end need neither.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)

PAGE = 50
# Text of every cell of one column (by field) of the tables that have a ``marker`` column, in
# row order, shadow roots included.
# The data of the chart's glyphs (Bokeh column data sources with hours, not the tables').
CHART_DATA = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents) {
    for (const m of doc.all_models) {
      const d = m.data;
      if (d && d.hours !== undefined && d.observed === undefined && d.baseline === undefined)
        out.push({hours: Array.from(d.hours), engagement: Array.from(d.engagement)});
    }
  }
  return out;
}"""
NEWEST = (["created_at", "platform", "post_id"], [True, False, False])


@pytest.fixture(scope="module")
def lake(world_lake: str) -> Lake:
    return Lake(world_lake, storage_options={})


@pytest.fixture(scope="module")
def expected(lake: Lake) -> pl.DataFrame:
    """Every post with its account, hashtags, topics and latest counters, computed here."""
    posts = lake.read(
        "silver/posts",
        columns=["platform", "post_id", "account_id", "created_at", "text", "title", "url"],
    )
    accounts = lake.read("silver/accounts", columns=["platform", "account_id", "handle", "agency"])
    features = lake.read(
        "silver/post_features", columns=["platform", "post_id", "hashtags", "topics"]
    )
    latest = (
        lake.read("silver/post_metrics")
        .sort("observed_at")
        .group_by("platform", "post_id")
        .agg(pl.col("likes", "reposts", "replies", "quotes", "views").last())
        .with_columns(
            engagement=pl.col("likes").fill_null(0)
            + pl.col("reposts").fill_null(0)
            + pl.col("replies").fill_null(0)
            + pl.col("quotes").fill_null(0)
        )
    )
    return (
        posts.join(accounts, on=["platform", "account_id"], how="left")
        .join(features, on=["platform", "post_id"], how="left")
        .join(latest, on=["platform", "post_id"], how="left")
    )


def _newest(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(NEWEST[0], descending=NEWEST[1])


def _by_engagement(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(
        ["engagement", "created_at", "platform", "post_id"],
        descending=[True, True, False, False],
        nulls_last=True,
    )


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _cells(page: Any, field: str, table: str = "post_id") -> list[str]:
    """A column of the results table (or of the table with a ``table`` column)."""
    found = page.locator(".tabulator", has=page.locator(f'[tabulator-field="{table}"]'))
    return table_column(found.first, field) if found.count() else []


def _wait_cells(
    page: Any, field: str, wanted: list[str], table: str = "post_id", timeout_s: float = 30
) -> list[str]:
    """Wait until a column shows exactly ``wanted`` (the page updates over a websocket)."""
    deadline = time.monotonic() + timeout_s
    got = _cells(page, field, table)
    while got != wanted and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        got = _cells(page, field, table)
    return got


def _summary(total: int, first: int = 1) -> str:
    last = min(first + PAGE - 1, total)
    return f"Showing {first:,}–{last:,} of {total:,} post{'s' if total != 1 else ''}"


def _open(page: Any, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")


def _search(page: Any, placeholder: str, value: str) -> None:
    box = page.get_by_placeholder(placeholder)
    box.fill(value)
    box.press("Enter")


@pytest.mark.slow
@needs_chromium
def test_list_search_filters_sort_and_paging_equal_the_lake(
    world_server: str, expected: pl.DataFrame
) -> None:
    every = _newest(expected)
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        dialogs = dialogs_of(page)
        _open(page, f"{world_server}/posts")
        wait_text(page, _summary(every.height))
        top = every.head(PAGE)
        assert _wait_cells(page, "post_id", top["post_id"].to_list()) == top["post_id"].to_list()
        assert _cells(page, "created") == [f"{t:%Y-%m-%d %H:%M}" for t in top["created_at"]]
        assert _cells(page, "engagement") == [_count(v) for v in top["engagement"]]
        assert _cells(page, "handle") == top["handle"].to_list()
        page.screenshot(path=str(ARTIFACTS / "posts-1280.png"), full_page=True)

        # Text search: case-insensitive, over text and title.
        needle = "Vaccine"
        hits = _newest(
            expected.filter(
                pl.col("text").str.to_lowercase().str.contains(needle.lower(), literal=True)
                | pl.col("title").str.to_lowercase().str.contains(needle.lower(), literal=True)
            )
        )
        assert 0 < hits.height < every.height
        _search(page, "words in the text or title", needle)
        wait_text(page, _summary(hits.height))
        wanted = hits.head(PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        assert "q=Vaccine" in page.url  # the filter is in the URL
        _search(page, "words in the text or title", "")

        # Hashtag: any case, with or without '#', against the normalised hashtags.
        tagged = _newest(expected.filter(pl.col("hashtags").list.contains("measles")))
        assert tagged.height > 0
        _search(page, "#hashtag", "#Measles")
        wait_text(page, _summary(tagged.height))
        wanted = tagged.head(PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        _search(page, "#hashtag", "")

        # Topic, then the engagement sort, then the second page.
        topical = expected.filter(pl.col("topics").list.contains("food_safety"))
        assert topical.height > PAGE
        page.get_by_label("Topic").select_option("food_safety")
        wait_text(page, _summary(topical.height))
        wanted = _newest(topical).head(PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        page.get_by_label("Sort by").select_option("Most engagement")
        ranked = _by_engagement(topical)
        wanted = ranked.head(PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        assert _cells(page, "engagement") == [_count(v) for v in ranked.head(PAGE)["engagement"]]
        page.get_by_role("button", name="Next ›").click()
        wait_text(page, _summary(topical.height, first=PAGE + 1))
        wanted = ranked.slice(PAGE, PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        assert "page=2" in page.url and "topic=food_safety" in page.url

        # Agency + platform narrow it further; a new filter goes back to page 1.
        page.get_by_label("Agency").select_option("FDA")
        fda = ranked.filter(pl.col("agency") == "FDA")
        wait_text(page, _summary(fda.height))
        wanted = fda.head(PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        assert set(_cells(page, "agency")) == {"FDA"}
        assert not dialogs


@pytest.mark.slow
@needs_chromium
def test_script_posts_render_as_text_and_run_nothing(
    world_server: str, expected: pl.DataFrame
) -> None:
    hits = _newest(
        expected.filter(
            pl.col("text").str.to_lowercase().str.contains("script", literal=True)
            | pl.col("title").str.to_lowercase().str.contains("script", literal=True)
        )
    )
    xss = hits.filter(pl.col("text").is_in(list(XSS_TEXTS)))
    assert xss.height == 1  # "<img ...>" holds no "script"; the <script> post does
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        dialogs = dialogs_of(page)
        _open(page, f"{world_server}/posts?q=script")
        wait_text(page, _summary(hits.height))
        wanted = hits.head(PAGE)["post_id"].to_list()
        assert _wait_cells(page, "post_id", wanted) == wanted
        assert XSS_TEXTS[0] in _cells(page, "text")

        _search(page, "words in the text or title", "")
        _search(page, "#hashtag", "xsscheck")
        both = _newest(expected.filter(pl.col("hashtags").list.contains("xsscheck")))
        assert sorted(both["text"].to_list()) == sorted(XSS_TEXTS)
        wait_text(page, _summary(2))
        assert _wait_cells(page, "text", both["text"].to_list()) == both["text"].to_list()

        # The selected post's text is shown (escaped) in the detail too.
        page.locator(".tabulator-cell[tabulator-field='handle']").first.click()
        wait_text(page, "Observations")
        text = page_text(page)
        assert text.count(both["text"][0]) >= 2
        page.wait_for_timeout(500)  # an injected onerror handler would have fired by now
        assert page.evaluate(INJECTED) == 0
        assert not dialogs
        page.screenshot(path=str(ARTIFACTS / "posts-xss.png"), full_page=True)


def _points(lake: Lake, platform: str, post_id: str, created: dt.datetime) -> pl.DataFrame:
    """The post's observations as curve points: each run's first and (if later) last instant."""
    rows = lake.read(
        "silver/post_metrics",
        where=(pl.col("platform") == platform) & (pl.col("post_id") == post_id),
    )
    points: dict[dt.datetime, int] = {}
    for r in rows.sort("observed_at").iter_rows(named=True):
        engagement = sum(r[c] or 0 for c in ("likes", "reposts", "replies", "quotes"))
        for at in (r["observed_at"], r["last_observed_at"]):
            points.setdefault(at, engagement)
    return pl.DataFrame(
        {
            "observed_at": sorted(points),
            "hours": [(at - created).total_seconds() / 3600 for at in sorted(points)],
            "engagement": [points[at] for at in sorted(points)],
        }
    )


@pytest.mark.slow
@needs_chromium
def test_selected_post_curve_equals_its_observations(
    world_server: str, lake: Lake, expected: pl.DataFrame
) -> None:
    metrics = lake.read("silver/post_metrics", columns=["platform", "post_id"])
    curves = lake.read("gold/post_curves").filter(pl.col("baseline").is_not_null())
    richest = (
        metrics.join(curves.select("platform", "post_id").unique(), on=["platform", "post_id"])
        .group_by("platform", "post_id")
        .len()
        .sort(["len", "platform", "post_id"], descending=[True, False, False])
        .row(0, named=True)
    )
    platform, post_id = richest["platform"], richest["post_id"]
    post = expected.filter((pl.col("platform") == platform) & (pl.col("post_id") == post_id))
    points = _points(lake, platform, post_id, post["created_at"][0])
    assert points.height >= 3
    ages = curves.filter((pl.col("platform") == platform) & (pl.col("post_id") == post_id)).sort(
        "age_hours"
    )
    key = urllib.parse.quote(f"{platform}:{post_id}", safe="")
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        _open(page, f"{world_server}/posts?post={key}")
        wait_text(page, "Observations", f"{points['engagement'][-1]:,}")
        observed = [f"{t:%Y-%m-%d %H:%M:%S}" for t in points["observed_at"]]
        assert _wait_cells(page, "observed", observed, "observed") == observed
        assert _cells(page, "hours", "observed") == [f"{h:.2f}" for h in points["hours"]]
        assert _cells(page, "engagement", "observed") == [_count(v) for v in points["engagement"]]
        assert _cells(page, "engagement_at_age", "age_hours") == [
            _count(v) for v in ages["engagement"]
        ]
        # The chart plots exactly those points, and the account's baseline at fixed ages.
        series = page.evaluate(CHART_DATA)
        observed_series = [s for s in series if len(s["hours"]) == points.height]
        assert observed_series
        for s in observed_series[:1]:
            assert s["engagement"] == points["engagement"].to_list()
            assert s["hours"] == pytest.approx(points["hours"].to_list(), abs=1e-6)
        baseline = {
            "hours": [float(a) for a in ages["age_hours"]],
            "engagement": ages["baseline"].to_list(),
        }
        assert any(
            s["hours"] == baseline["hours"]
            and s["engagement"] == pytest.approx(baseline["engagement"])
            for s in series
        )
        assert _cells(page, "baseline", "age_hours") == [f"{v:.2f}" for v in ages["baseline"]]
        assert _cells(page, "age_hours", "age_hours") == [str(a) for a in ages["age_hours"]]
        page.screenshot(path=str(ARTIFACTS / "posts-curve.png"), full_page=True)

        # Clicking a row selects that post: its key goes to the URL, its observations show.
        _open(page, f"{world_server}/posts")
        first = _newest(expected).row(0, named=True)
        wait_text(page, _summary(expected.height))
        page.locator(".tabulator-cell[tabulator-field='handle']").first.click()
        page.wait_for_url("**post=*", timeout=15_000)
        assert urllib.parse.quote(first["post_id"], safe="") in page.url
        mine = _points(lake, first["platform"], first["post_id"], first["created_at"])
        observed = [f"{t:%Y-%m-%d %H:%M:%S}" for t in mine["observed_at"]]
        assert _wait_cells(page, "observed", observed, "observed") == observed


@pytest.mark.slow
@needs_chromium
def test_csv_export_equals_the_filtered_set(
    world_server: str, lake: Lake, expected: pl.DataFrame
) -> None:
    wanted = _newest(
        expected.filter(
            pl.col("hashtags").list.contains("measles") & (pl.col("platform") == "bluesky")
        )
    )
    assert wanted.height > 0
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        # A shared link restores the filters.
        _open(page, f"{world_server}/posts?hashtag=measles&platform=bluesky")
        wait_text(page, _summary(wanted.height))
        with page.expect_download() as info:
            page.get_by_role("button", name="Download CSV").click()
        path = ARTIFACTS / "posts-export.csv"
        info.value.save_as(path)
    got = pl.read_csv(path, infer_schema_length=0)
    assert got["post_id"].to_list() == wanted["post_id"].to_list()
    assert got["platform"].unique().to_list() == ["bluesky"]
    assert got["engagement"].to_list() == [
        None if v is None else str(v) for v in wanted["engagement"]
    ]
    assert got["likes"].to_list() == [None if v is None else str(v) for v in wanted["likes"]]
    assert got["hashtags"].to_list() == [", ".join(h) for h in wanted["hashtags"]]
    assert got["handle"].to_list() == wanted["handle"].to_list()
    assert got["text"].to_list() == wanted["text"].to_list()
    created = got["created_at"].str.to_datetime(time_zone="UTC", time_unit="us")
    assert created.to_list() == wanted["created_at"].to_list()


@pytest.mark.slow
@needs_chromium
def test_readable_on_a_phone(world_server: str, expected: pl.DataFrame) -> None:
    with browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844})
        _open(page, f"{world_server}/posts")
        wait_text(page, _summary(expected.height))
        page.wait_for_timeout(500)
        # Nothing pushes the page wider than the phone (the table scrolls inside itself).
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "posts-390.png"), full_page=True)


# -- the page's wiring, without a browser -------------------------------------------------------
def _small_lake(tmp_path: Path) -> Lake:
    """The posts of the figures' unit tests, written to a real Delta lake."""
    lake = Lake(str(tmp_path / "lake"), storage_options={})
    lake.write("silver/posts", figures_test._frame("silver/posts", figures_test.POSTS))
    lake.write(
        "silver/post_metrics", figures_test._frame("silver/post_metrics", figures_test.METRICS)
    )
    features = [
        {**f, "text_length": 1, "word_count": 1, "emoji": [], "emoji_count": 0, "mentions": [],
         "link_domains": [], "links_shortened": False, "states": [], "places": [],
         "taxonomy_version": "t", "enriched_at": figures_test.T0,
         "source_last_seen_at": figures_test.T0}
        for f in figures_test.FEATURES
    ]  # fmt: skip
    lake.write("silver/post_features", figures_test._frame("silver/post_features", features))
    accounts = [
        {"run_id": "r", "response_id": "x", "connector_version": "1", "account_key": a["handle"],
         "first_seen_at": figures_test.T0, "last_seen_at": figures_test.T0, **a}
        for a in figures_test.ACCOUNTS.iter_rows(named=True)
    ]  # fmt: skip
    lake.write("silver/accounts", figures_test._frame("silver/accounts", accounts))
    return lake


def _ids(view: PostsView) -> list[str]:
    return list(view.table.value["post_id"])


def test_view_searches_selects_and_exports(tmp_path: Path) -> None:
    view = PostsView(_small_lake(tmp_path))
    assert _ids(view) == ["p4", "p5", "p2", "p3", "p1"]
    assert "Showing 1–5 of 5 posts" in view.summary.object
    assert view.previous.disabled and view.next.disabled
    view.text.value = "FLU"
    assert _ids(view) == ["p5", "p3", "p1"]
    view.hashtag.value = "#fluseason"
    assert _ids(view) == ["p1"]
    row = view.table.value.iloc[0]
    assert (row["engagement"], row["link"], row["link_label"]) == (
        35,
        "https://example.org/p1",
        "open",
    )
    view.hashtag.value = ""
    view.sort.value = "Most engagement"
    assert _ids(view) == ["p1", "p3", "p5"]

    # Selecting a row shows that post's observations, chart and fixed-age table.
    view.table.selection = [0]
    assert view.post.value == "x:p1"
    assert list(view.observations.value["observed"]) == [
        "2026-03-01 13:00:00",
        "2026-03-01 15:00:00",
        "2026-03-01 16:00:00",
    ]
    assert list(view.observations.value["engagement"]) == [10, 10, 35]
    assert view.chart.object is not None
    assert "CDCgov" in view.detail.object and "\\#FluSeason" in view.detail.object

    # The export holds the whole filtered set, in the page's order.
    exported = view._export_frame()
    assert exported["post_id"].to_list() == ["p1", "p3", "p5"]
    assert exported["hashtags"].to_list() == ["fluseason", "", ""]


def test_view_searches_an_index_made_once_on_screen_and_again_when_the_lake_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kit, "VERSION_TTL_S", 0.0)  # see every new version of the lake
    lake = _small_lake(tmp_path)
    view = PostsView(lake)
    # the first search read the lake; the index is made only once the page is on screen
    assert view.index() is None and view.warming.ident is None
    view.warm()
    view.warming.join(timeout=60)
    first = view.index()
    assert first is not None and sorted(first["post_id"]) == ["p1", "p2", "p3", "p4", "p5"]
    view.text.value = "FLU"
    assert _ids(view) == ["p5", "p3", "p1"]
    assert view.result.rows.equals(pf.search_index(first, view.query()).rows)

    # a new post lands: the old index is no longer used, a new one is made in the background
    post = figures_test._post("x", "p6", "cdc", figures_test.T0 + 9 * figures_test.H, "flu again")
    lake.append("silver/posts", figures_test._frame("silver/posts", [post]))
    assert view.index() is None
    view.warming.join(timeout=60)
    second = view.index()
    assert second is not None and second.height == 6 and second is not first
    # the older index was dropped from the shared cache when the new one was started
    assert [v for v in kit._memo.values() if v is first] == []
    view.text.value = "flu "
    assert _ids(view) == ["p6", "p5", "p3", "p1"]
    assert view.result.rows.equals(pf.search_index(second, view.query()).rows)

    # with the setting off, searches read the lake and no index is made
    monkeypatch.setitem(kit._served, "settings", Settings(dashboard_posts_index=False))
    off = PostsView(lake)
    off.warm()
    assert off.index() is None and off.warming.ident is None
    off.text.value = "flu"
    assert _ids(off) == ["p6", "p5", "p3", "p1"]


def test_warming_server_makes_the_index_every_view_then_searches(tmp_path: Path) -> None:
    lake = _small_lake(tmp_path)
    assert prepare_index(Lake(str(tmp_path / "empty"), storage_options={})) is None
    thread = prepare_index(lake)
    assert thread is not None
    thread.join(timeout=60)
    view = PostsView(lake)
    index = view.index()
    assert index is not None and index is make_index(lake)
    assert index.height == 5 and view.warming.ident is None  # made before, not by the view


def test_view_honours_the_agency_restriction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kit, "allowed_agencies", lambda user=None: frozenset({"CDC"}))
    view = PostsView(_small_lake(tmp_path))
    assert _ids(view) == ["p2", "p1"]
    assert view.agency.options == [pf.ALL, "CDC"]
    assert view._export_frame()["agency"].unique().to_list() == ["CDC"]
    view.post.value = "bluesky:p3"  # an FDA post, e.g. from a shared link
    assert view.drilldown.objects == [view.hint]
    assert "not among the posts you can see" in view.hint.object

    # new searches over the search index, which holds every agency's posts, keep to CDC's
    view.warm()
    view.warming.join(timeout=60)
    index = view.index()
    assert index is not None and set(index["agency"].drop_nulls()) == {"CDC", "FDA"}
    view.text.value = "flu"  # FDA's flu recall and the unassigned flu video are left out
    assert _ids(view) == ["p1"]
    view.text.value = ""
    view.sort.value = "Oldest first"
    assert _ids(view) == ["p1", "p2"]
    assert view._export_frame()["agency"].unique().to_list() == ["CDC"]


def test_page_without_posts_says_what_to_run(tmp_path: Path) -> None:
    shown = page(Lake(str(tmp_path / "empty"), storage_options={}))
    text = " ".join(str(getattr(o, "object", "")) for o in shown.select(pn.pane.Alert))
    assert "Nothing to show yet" in text and "posts" in text
