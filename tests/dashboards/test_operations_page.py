"""End to end: the Operations page over the world lake, read in headless Chromium.

Every figure checked here is computed in the test from the lake's tables with polars.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from browser import (
    ARTIFACTS,
    CHROMIUM,
    DEEP_TEXT,
    INJECTED,
    browser,
    dialogs_of,
    page_text,
    wait_text,
)

from hhs_platform.dashboards.operations_figures import DEFAULT_WINDOW, WINDOWS, rule_name
from hhs_platform.dashboards.server import serve_dashboards
from hhs_platform.lake import Lake
from hhs_platform.settings import get_settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

PREFECT_UI = "http://prefect.example.test:4200"
DASK_DASHBOARD = "http://dask.example.test:8787/status"
# Every Tabulator row of the page (shadow roots included) as {field: cell text}.
TABLE_ROWS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.classList && node.classList.contains("tabulator-row")) {
      const row = {};
      for (const cell of node.querySelectorAll(".tabulator-cell")) {
        row[cell.getAttribute("tabulator-field")] = cell.textContent.trim();
      }
      out.push(row);
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out;
}"""
# Every link of the page (shadow roots included).
LINKS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeName === "A") out.push({text: node.textContent, href: node.getAttribute("href"),
      target: node.getAttribute("target"), rel: node.getAttribute("rel")});
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out;
}"""


@pytest.fixture
def configured_links(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Prefect and Dask URLs set the way an operator would (the page reads them per session)."""
    monkeypatch.setenv("HHS_PREFECT_UI_URL", PREFECT_UI)
    monkeypatch.setenv("HHS_DASK_DASHBOARD_URL", DASK_DASHBOARD)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _wait_flat(page: Any, text: str, timeout: int = 30_000) -> None:
    """Wait until ``text`` is on the page, whitespace between text nodes collapsed."""
    page.wait_for_function(
        f"() => ({DEEP_TEXT})().replace(/\\s+/g, ' ').includes({text!r})", timeout=timeout
    )


def _expected(lake: Lake, platform: str | None) -> dict[str, Any]:
    """What the page must show for a platform (None: all) over the default window."""
    log = lake.read("bronze/fetch_log")
    scorecard = lake.read("quality/scorecard")
    latest = max(log["started_at"].max().date(), scorecard["date"].max())  # type: ignore[union-attr]
    days = WINDOWS[DEFAULT_WINDOW]
    assert days is not None
    start = latest - dt.timedelta(days=days - 1)
    if platform is not None:
        log = log.filter(pl.col("platform") == platform)
        scorecard = scorecard.filter(pl.col("platform") == platform)
    log = log.filter(pl.col("started_at").dt.date() >= start)
    # One outcome per account and run: the last logged.
    final = log.sort("started_at").group_by("run_id", "account_key").agg(pl.col("status").last())
    runs = (
        final.group_by("run_id")
        .agg(
            pl.len().alias("accounts"),
            (pl.col("status") == "complete").sum().alias("complete"),
            (pl.col("status") == "partial").sum().alias("partial"),
            (pl.col("status") == "failed").sum().alias("failed"),
        )
        .with_columns(success_rate=(pl.col("complete") + pl.col("partial")) / pl.col("accounts"))
    )
    fetches = int(runs["accounts"].sum())
    succeeded = int(runs["complete"].sum()) + int(runs["partial"].sum())
    quarantine = lake.read("quarantine/rows", columns=["run_id", "table", "platform", "rules"])
    quarantine = quarantine.filter(pl.col("run_id").is_in(runs["run_id"].implode()))
    if platform is not None:
        quarantine = quarantine.filter(pl.col("platform") == platform)
    by_rule = (
        quarantine.with_row_index("i")
        .explode("rules")
        .with_columns(rule=pl.col("rules").map_elements(rule_name, return_dtype=pl.String))
        .unique(["i", "rule"])
        .group_by("rule", "table", pl.col("platform").fill_null("unknown"))
        .len()
    )
    latest_scores = scorecard.sort("date").group_by("account_key").agg(pl.all().last())
    return {
        "runs": {r["run_id"]: r for r in runs.to_dicts()},
        "run_count": runs.height,
        "fetches": fetches,
        "succeeded": succeeded,
        "failed": fetches - succeeded,
        "quarantine": {(r, t, p): n for r, t, p, n in by_rule.iter_rows()},
        "scores": {r["account_key"]: r for r in latest_scores.to_dicts()},
    }


def _expected_slo(lake: Lake) -> dict[str, dict[str, str]]:
    """The collection-success SLO per scope on the latest day, from the fetch log (28-day window,
    every day of the world's history), as the SLO table must format it."""
    log = lake.read("bronze/fetch_log")
    final = (
        log.sort("started_at")
        .group_by("run_id", "account_key")
        .agg(pl.col("platform", "status", "started_at").last())
        .with_columns(day=pl.col("started_at").dt.date())
    )
    last = final["day"].max()
    assert isinstance(last, dt.date) and last - final["day"].min() < dt.timedelta(days=28)
    target = get_settings().slo_success_rate
    out = {}
    for scope in ["all", *sorted(final["platform"].unique())]:
        rows = final if scope == "all" else final.filter(pl.col("platform") == scope)
        good = rows["status"].is_in(["complete", "partial"])
        today = good.filter(rows["day"] == last)
        bad = rows.height - int(good.sum())
        out[scope] = {
            "target": f"{target:.2%}",
            "value": f"{today.mean():.2%}" if today.len() else "",
            "window_value": f"{good.mean():.2%}",
            "window_total": f"{rows.height:,}",
            "budget_burned": f"{bad / ((1 - target) * rows.height):.1%}",
        }
    return out


def _check_slo(page: Any, expected: dict[str, dict[str, str]]) -> None:
    rows = [r for r in page.evaluate(TABLE_ROWS) if r.get("slo") == "collection_success"]
    shown = {r["scope"]: {k: r[k] for k in expected["all"]} for r in rows}
    assert shown == expected
    slos = {r.get("slo") for r in page.evaluate(TABLE_ROWS)}
    assert {"collection_success", "freshness"} <= slos


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _check(page: Any, expected: dict[str, Any]) -> None:
    """The runs, SLO summary, quarantine and scorecard on the page equal the expected values."""
    text = _flat(page_text(page))
    assert f"{expected['run_count']:,} runs" in text
    assert f"{expected['fetches']:,} account fetches" in text
    assert f"{expected['succeeded']:,} complete or partial, {expected['failed']:,} failed" in text
    rate = expected["succeeded"] / expected["fetches"]
    assert f"{100 * rate:.2f}%" in text  # the success-rate indicator
    rows = page.evaluate(TABLE_ROWS)

    runs = [r for r in rows if "run_id" in r]
    assert 0 < len(runs) <= 10  # the first page of the runs table
    for row in runs:
        want = expected["runs"][row["run_id"]]
        for column in ("accounts", "complete", "partial", "failed"):
            assert row[column] == f"{want[column]:,}", (row, column)
        assert row["success_rate"] == f"{want['success_rate']:.2%}"

    shown = {
        (r["rule"], r["table"], r["platform"]): int(r["rows"].replace(",", ""))
        for r in rows
        if "rule" in r and "rows" in r
    }
    assert shown == expected["quarantine"]

    scores = {r["account_key"]: r for r in rows if "account_key" in r and "overall" in r}
    assert set(scores) == set(expected["scores"])
    for key, row in scores.items():
        want = expected["scores"][key]
        for column in ("completeness", "freshness", "validity", "drift", "overall"):
            assert row[column] == _score(want[column]), (key, column)
        assert row["flags"] == str(want["flags"])


def test_operations_page_shows_runs_quality_and_budgets(
    world_server: str, world_lake: str, configured_links: None
) -> None:
    lake = Lake(world_lake)
    everything = _expected(lake, None)
    bluesky = _expected(lake, "bluesky")
    assert everything["fetches"] > bluesky["fetches"] > 0
    assert everything["quarantine"] != bluesky["quarantine"]

    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        dialogs = dialogs_of(page)
        page.goto(f"{world_server}/operations", wait_until="domcontentloaded")
        wait_text(page, "account fetches", "Rate-limit and quota headroom", timeout=60_000)
        page.wait_for_function(f"() => ({TABLE_ROWS})().some(r => 'run_id' in r)")
        _check(page, everything)
        _check_slo(page, _expected_slo(lake))

        # Links to the orchestration UIs: the configured URLs, in a new tab, without opener.
        links = {a["text"]: a for a in page.evaluate(LINKS)}
        for label, url in (("Prefect UI", PREFECT_UI), ("Dask dashboard", DASK_DASHBOARD)):
            assert links[label]["href"] == url
            assert links[label]["target"] == "_blank"
            assert "noopener" in links[label]["rel"]

        # Rate-limit headroom of Bluesky: what its latest response's headers said.
        raw = lake.read(
            "bronze/raw_responses",
            columns=["platform", "fetched_at", "headers"],
            where=pl.col("platform") == "bluesky",
        ).sort("fetched_at")
        said = [json.loads(h) for h in raw["headers"]]
        said = [{k.lower(): v for k, v in h.items()} for h in said]
        last = [h for h in said if "ratelimit-remaining" in h][-1]
        headroom = [
            r for r in page.evaluate(TABLE_ROWS) if "endpoint" in r and r["platform"] == "bluesky"
        ]
        assert len(headroom) == 1
        assert headroom[0]["remaining"] == f"{int(last['ratelimit-remaining']):,}"
        assert headroom[0]["limit"] == f"{int(last['ratelimit-limit']):,}"
        remaining, limit = int(last["ratelimit-remaining"]), int(last["ratelimit-limit"])
        assert headroom[0]["headroom"] == f"{remaining / limit:.1%}"

        # YouTube units: one per API call archived on the latest Pacific day.
        text = _flat(page_text(page))
        assert "YouTube quota" in text and "units used" in text

        # Untrusted text never becomes markup; nothing ran.
        assert page.evaluate(INJECTED) == 0
        page.screenshot(path=str(ARTIFACTS / "operations-1280.png"), full_page=True)

        # The platform filter: every figure follows, and the URL carries it.
        page.locator("select").first.select_option("bluesky")
        _wait_flat(page, f"{bluesky['fetches']:,} account fetches", timeout=20_000)
        page.wait_for_function(
            f"() => ({TABLE_ROWS})().filter(r => 'account_key' in r && 'overall' in r)"
            f".length === {len(bluesky['scores'])}"
        )
        _check(page, bluesky)
        assert "platform=bluesky" in page.url
        page.screenshot(path=str(ARTIFACTS / "operations-bluesky-1280.png"), full_page=True)

        # Export the runs as shown (Bluesky only), read the file back, compare with the log.
        with page.expect_download() as info:
            page.get_by_text("Download CSV").first.click()
        path = Path(str(info.value.path()))
        exported = pl.read_csv(path)
        assert exported["run_id"].to_list() and set(exported["run_id"]) == set(bluesky["runs"])
        for row in exported.iter_rows(named=True):
            want = bluesky["runs"][row["run_id"]]
            for column in ("accounts", "complete", "partial", "failed"):
                assert row[column] == want[column]
            assert row["success_rate"] == pytest.approx(want["success_rate"])

        # The filtered view is shareable: opening its URL restores it.
        shared = b.new_page(viewport={"width": 390, "height": 844})
        shared.goto(page.url, wait_until="domcontentloaded")
        _wait_flat(shared, f"{bluesky['fetches']:,} account fetches", timeout=60_000)
        shared.screenshot(path=str(ARTIFACTS / "operations-390.png"), full_page=True)
        width = shared.evaluate("() => document.documentElement.scrollWidth")
        # Tables scroll inside themselves; the page itself may not need more than a nudge.
        assert width <= 390 * 1.1, f"the page is {width}px wide on a 390px phone"
        assert dialogs == []


# The heatmap's cells in the page's Bokeh document, read from its image (a row per account of the
# figure's y range, a column per day from x): [day (ms), account, value or null], a day without
# a score left out. NO_SCORE and NOT_JUDGED are operations.Heatmap's.
HEATMAP_CELLS = """() => {
  for (const doc of Bokeh.documents) for (const plot of doc.all_models) {
    for (const r of plot.renderers ?? []) {
      if (r.glyph?.type !== "Image") continue;
      const d = r.data_source.data instanceof Map ? Object.fromEntries(r.data_source.data) : r.data_source.data;
      if (d.image.length === 0) return [];
      const image = d.image[0], [rows, days] = image.shape, accounts = plot.y_range.factors;
      const cells = [];
      for (let j = 0; j < rows; j++) for (let i = 0; i < days; i++) {
        const value = image[j * days + i];
        if (value === NO_SCORE) continue;
        cells.push([d.x[0] + i * 86400000, accounts[j], value === NOT_JUDGED ? null : value]);
      }
      return cells;
    }
  }
  return [];
}"""


def _drawn_cells(page: Any) -> list[list[Any]]:
    """The heatmap's cells in the browser, once it has some, sorted by day and account."""
    from hhs_platform.dashboards.operations import Heatmap

    cells = HEATMAP_CELLS.replace("NO_SCORE", str(Heatmap.NO_SCORE))
    cells = cells.replace("NOT_JUDGED", str(Heatmap.NOT_JUDGED))
    page.wait_for_function(f"() => ({cells})().length > 0")
    return sorted(page.evaluate(cells), key=lambda r: (r[0], r[1]))


def _heatmap_cells(lake: Lake, metric: str) -> list[list[Any]]:
    """The cells the heatmap should draw for every platform and the default window."""
    from hhs_platform.dashboards import operations
    from hhs_platform.dashboards import operations_figures as of

    data = operations.load(lake, get_settings())
    start = of.window_start(data.latest, WINDOWS[DEFAULT_WINDOW])
    cells = of.lowest_accounts(
        of.in_window(data.scorecard, "date", start), metric, of.HEATMAP_ACCOUNTS
    )
    ms = cells.select(
        pl.col("date").str.to_date().cast(pl.Datetime("ms")).dt.epoch("ms").cast(pl.Float64),
        "account_key",
        "value",
    )
    return sorted([list(row) for row in ms.iter_rows()], key=lambda r: (r[0], r[1]))


def test_operations_heatmap_has_a_table_fallback(world_server: str, world_lake: str) -> None:
    lake = Lake(world_lake)
    scorecard = lake.read("quality/scorecard", columns=["date", "account_key", "completeness"])
    last = scorecard["date"].max()
    assert isinstance(last, dt.date)
    want = {
        k: _score(v)
        for k, v in scorecard.filter(pl.col("date") == last)
        .select("account_key", "completeness")
        .iter_rows()
    }
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{world_server}/operations?metric=completeness", wait_until="domcontentloaded")
        wait_text(page, "As a table", timeout=60_000)
        assert "Completeness" in page.locator("select").nth(2).input_value()
        # the heatmap's cells, as the browser holds them: the default window's lowest accounts
        assert _drawn_cells(page) == _heatmap_cells(lake, "completeness")
        page.get_by_text("As a table").click()
        column = last.isoformat()
        page.wait_for_function(f"() => ({TABLE_ROWS})().some(r => {column!r} in r)")
        rows = [r for r in page.evaluate(TABLE_ROWS) if column in r]
        assert {r["account_key"]: r[column] for r in rows} == want
        page.screenshot(path=str(ARTIFACTS / "operations-heatmap-table.png"), full_page=True)


def test_operations_page_without_runs(tmp_path: Path) -> None:
    from dashboard_lakes import free_port

    port = free_port()
    server = serve_dashboards(port=port, lake_uri=str(tmp_path / "empty"), threaded=True)
    try:
        with browser() as b:
            page = b.new_page()
            page.goto(f"http://127.0.0.1:{port}/operations")
            text = wait_text(page, "Nothing to show yet", timeout=30_000)
            assert "collection runs" in text
    finally:
        server.stop()


# -- the page object, without a browser ----------------------------------------------------------
def _whole_recompute(
    data: Any, platform: str, window: str, metric: str, slo: float
) -> dict[str, Any]:
    """Every figure of one choice, computed at once from the page's data (no layers)."""
    from hhs_platform.dashboards import operations_figures as of

    start = of.window_start(data.latest, WINDOWS[window])
    fetches = of.in_window(of.select_platform(data.fetch_log, platform), "started_at", start)
    runs = of.run_summary(fetches, slo)
    scores = of.in_window(of.select_platform(data.scorecard, platform), "date", start)
    quarantine = of.in_runs_or_window(
        of.select_platform(data.quarantine, platform),
        runs["run_id"].to_list(),
        "quarantined_at",
        start,
    )
    flags = of.in_window(of.select_platform(data.flags, platform), "observed_at", start)
    return {
        "start": start,
        "runs": runs,
        "budget": of.error_budget(runs, slo),
        "scored": scores,
        "metric": metric,
        "drawn": of.lowest_accounts(scores, metric, of.HEATMAP_ACCOUNTS),
        "accounts": scores["account_key"].n_unique(),
        "cells": of.heatmap_cells(scores, metric),
        "heatmap_table": of.heatmap_table(of.heatmap_cells(scores, metric)),
        "scores": of.latest_scorecard(scores),
        "quarantine": of.quarantine_by_rule(quarantine),
        "flags": of.flags_by_rule(flags),
        "headroom": of.select_platform(data.headroom, platform),
    }


def test_figures_are_kept_in_layers_and_equal_a_whole_recompute(world_lake: str) -> None:
    import dataclasses
    from collections.abc import Callable, Hashable

    from hhs_platform.dashboards import operations
    from hhs_platform.dashboards import operations_figures as of

    settings = get_settings()
    data = operations.load(Lake(world_lake), settings)
    kept: dict[Hashable, Any] = {}
    computed: list[tuple[Any, ...]] = []

    def remember(choice: Hashable, compute: Callable[[], Any]) -> Any:
        if choice not in kept:
            kept[choice] = compute()
            computed.append(choice)  # type: ignore[arg-type]
        return kept[choice]

    view = operations.OperationsView(data, settings, remember)
    platforms = [of.ALL, *data.platforms[:2]]
    for platform in platforms:
        view.platform.value = platform
        for window in WINDOWS:
            view.window.value = window
            for metric in of.HEATMAP_METRICS:
                view.metric.value = metric
                expected = _whole_recompute(data, platform, window, metric, view.slo)
                names = [f.name for f in dataclasses.fields(view.view)]
                names += ["cells", "heatmap_table"]
                shown = {name: getattr(view.view, name) for name in names}
                assert shown.keys() == expected.keys()
                for name, value in expected.items():
                    if isinstance(value, pl.DataFrame):
                        assert shown[name].equals(value), (platform, window, metric, name)
                    else:
                        assert shown[name] == value, (platform, window, metric, name)
    assert view.view.runs.height > 0 and view.view.cells.height > 0

    # each platform's rows, each window's figures and each heatmap computed once
    kinds = [c[0] for c in computed]
    assert kinds.count("platform") == len(platforms)
    assert kinds.count("window") == len(platforms) * len(WINDOWS)
    assert kinds.count("view") == len(platforms) * len(WINDOWS) * len(of.HEATMAP_METRICS)
    # a new heatmap colour of a window already shown colours its scores, and nothing else
    kept.clear()
    view.update()  # the current choice's layers, computed afresh
    assert [c[0] for c in computed[-3:]] == ["platform", "window", "view"]
    computed.clear()
    view.metric.value = next(m for m in of.HEATMAP_METRICS if m != view.metric.value)
    assert [c[0] for c in computed] == ["view"]


def test_heatmap_is_updated_in_its_figure_and_follows_the_metric() -> None:
    import numpy as np
    from bokeh.document import Document

    from hhs_platform.dashboards import operations
    from hhs_platform.dashboards import operations_figures as of

    scorecard = pl.DataFrame(
        {
            "date": [dt.date(2026, 3, d) for d in (1, 2, 3, 1, 3)],
            "account_key": ["x:b", "x:b", "x:b", "x:a", "x:a"],
            "platform": ["x"] * 5,
            "freshness": [0.5, None, 1.0, 0.25, 0.75],
            "completeness": [1.0, 1.0, 0.0, 0.5, None],
        }
    )
    heatmap = operations.Heatmap()
    cells = of.heatmap_cells(scorecard, "freshness")
    assert heatmap.show((cells, "freshness"))
    heatmap.pane.get_root(Document())
    figure, source = heatmap.figure, heatmap.source

    def drawn() -> list[tuple[str, str, float | None]]:
        """The cells the image holds, by day and account."""
        data = source.data
        if not data["image"]:
            return []
        image, start, accounts = data["image"][0], data["x"][0], list(heatmap.y_range.factors)
        assert data["y"] == [0] and data["dh"] == [len(accounts)]
        assert data["dw"] == [image.shape[1] * heatmap.DAY_MS]
        cells = []
        for (row, column), value in np.ndenumerate(image):
            if value == heatmap.NO_SCORE:
                continue
            day = dt.date(1970, 1, 1) + dt.timedelta(milliseconds=start + column * heatmap.DAY_MS)
            score = None if value == heatmap.NOT_JUDGED else float(value)
            cells.append((day.isoformat(), accounts[row], score))
        return sorted(cells, key=lambda c: (c[0], c[1]))

    def shown(frame: pl.DataFrame) -> list[tuple[str, str, float | None]]:
        return list(
            frame.select("date", "account_key", "value").sort("date", "account_key").iter_rows()
        )

    assert drawn() == shown(cells)
    assert list(heatmap.y_range.factors) == ["x:a", "x:b"]
    # each day's cell spans its UTC day
    first = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1000
    assert (heatmap.x_range.start, heatmap.x_range.end) == (first, first + 3 * heatmap.DAY_MS)
    assert figure.height == heatmap.HEADER_PX + 2 * heatmap.ROW_PX
    assert heatmap.title.text == "Freshness per account and day (UTC)"
    assert heatmap.colorbar.title == "Freshness"
    assert heatmap.hover.tooltips[-1] == ("Freshness", "@image{custom}")
    # the same cells are not sent again; another metric is, into the same figure and source
    assert not heatmap.show((cells.clone(), "freshness"))
    other = of.heatmap_cells(scorecard, "completeness")
    assert heatmap.show((other, "completeness"))
    assert heatmap.figure is figure and heatmap.source is source
    assert drawn() == shown(other)
    assert heatmap.title.text == "Completeness per account and day (UTC)"
    assert heatmap.colorbar.title == "Completeness"
    # one account: the figure is one row high; no cells: nothing drawn
    assert heatmap.show((other.filter(pl.col("account_key") == "x:a"), "completeness"))
    assert list(heatmap.y_range.factors) == ["x:a"]
    assert figure.height == heatmap.HEADER_PX + heatmap.ROW_PX
    assert heatmap.show((other.clear(), "completeness"))
    assert drawn() == [] and list(heatmap.y_range.factors) == []


# The rows of the tooltip shown, as [label, value] (Bokeh draws it inside shadow roots).
TOOLTIP_ROWS = """() => {
  const rows = [];
  const walk = (node) => {
    if (node.classList?.contains("bk-tooltip-row-label")) rows.push([node.textContent.trim()]);
    if (node.classList?.contains("bk-tooltip-row-value")) rows.at(-1).push(node.textContent.trim());
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return rows;
}"""
# Where a heatmap cell's middle is on the page: [x, y] of (day as ms at midnight UTC, row).
CELL_MIDDLE = """([day, row]) => {
  const view = [...Bokeh.index.roots][0];
  const canvas = view.canvas_view.el.getBoundingClientRect();
  return [canvas.left + view.frame.x_scale.compute(day + 43200000),
          canvas.top + view.frame.y_scale.compute(row + 0.5)];
}"""


def test_heatmap_hover_reads_the_day_account_and_score_under_the_pointer(tmp_path: Path) -> None:
    """The hover's day, account and score are worked out in the browser from the image (the
    figure holds no per-cell labels): every cell, one without a score and one that cannot be
    judged among them, is hovered in Chromium."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from hhs_platform.dashboards import operations
    from hhs_platform.dashboards import operations_figures as of

    scorecard = pl.DataFrame(
        {
            "date": [dt.date(2026, 3, d) for d in (1, 2, 3, 1, 3)],
            "account_key": ["x:b", "x:b", "x:b", "x:a", "x:a"],
            "platform": ["x"] * 5,
            "drift": [0.5, None, 1.0, 0.25, 0.125],
        }
    )
    heatmap = operations.Heatmap()
    heatmap.show((of.heatmap_cells(scorecard, "drift"), "drift"))
    heatmap.figure.sizing_mode, heatmap.figure.width = "fixed", 900
    html = tmp_path / "heatmap.html"
    html.write_text(file_html(heatmap.figure, INLINE, "heatmap"))
    want = {
        ("2026-03-01", "x:a"): "0.250",
        ("2026-03-02", "x:a"): "no score",
        ("2026-03-03", "x:a"): "0.125",
        ("2026-03-01", "x:b"): "0.500",
        ("2026-03-02", "x:b"): "cannot be judged",
        ("2026-03-03", "x:b"): "1.000",
    }
    assert heatmap.hover.tooltips[-1][0] == "Drift"
    seen: dict[tuple[str, str], str] = {}
    with browser() as b:
        page = b.new_page(viewport={"width": 1000, "height": 400})
        page.goto(html.as_uri())
        page.wait_for_function("() => window.Bokeh && [...Bokeh.index.roots].length > 0")
        for day, account in want:
            ms = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp() * 1000
            x, y = page.evaluate(CELL_MIDDLE, [ms, ["x:a", "x:b"].index(account)])
            page.mouse.move(x, y)
            page.wait_for_function(
                f"() => JSON.stringify(({TOOLTIP_ROWS})()).includes({json.dumps(day)})"
                f" && JSON.stringify(({TOOLTIP_ROWS})()).includes({json.dumps(account)})",
                timeout=10_000,
            )
            rows = dict(page.evaluate(TOOLTIP_ROWS))
            assert rows["Day:"] == day and rows["Account:"] == account
            seen[day, account] = rows["Drift:"]
    assert seen == want


def test_warm_up_computes_the_other_windows_and_platforms_of_the_choice_shown(
    world_lake: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import threading
    from collections.abc import Callable, Hashable

    from hhs_platform.dashboards import operations
    from hhs_platform.dashboards import operations_figures as of

    settings = get_settings()
    data = operations.load(Lake(world_lake), settings)
    kept: dict[Hashable, Any] = {}
    lock = threading.Lock()

    def remember(choice: Hashable, compute: Callable[[], Any]) -> Any:
        with lock:
            if choice in kept:
                return kept[choice]
        value = compute()
        with lock:
            return kept.setdefault(choice, value)

    view = operations.OperationsView(data, settings, remember)
    shown = ("view", of.ALL, DEFAULT_WINDOW, view.metric.value, view.slo)
    assert set(kept) == {("platform", of.ALL), ("window", of.ALL, DEFAULT_WINDOW, view.slo), shown}
    with caplog.at_level(logging.WARNING, logger=operations.__name__):
        view.warm()
        assert view.warming is not None
        view.warming.join(120)
    assert not view.warming.is_alive() and caplog.records == []
    # every window of the platform and colour shown is kept, and equals a whole recompute
    for window in WINDOWS:
        warmed = kept[("view", of.ALL, window, view.metric.value, view.slo)]
        expected = _whole_recompute(data, of.ALL, window, view.metric.value, view.slo)
        assert warmed.runs.equals(expected["runs"]) and warmed.cells.equals(expected["cells"])
    # and so is the window and colour shown of every other platform
    assert len(data.platforms) > 1
    for platform in data.platforms:
        warmed = kept[("view", platform, DEFAULT_WINDOW, view.metric.value, view.slo)]
        expected = _whole_recompute(data, platform, DEFAULT_WINDOW, view.metric.value, view.slo)
        assert warmed.runs.equals(expected["runs"]) and warmed.drawn.equals(expected["drawn"])
    # choosing one of them then computes nothing
    before = dict(kept)
    view.platform.value = data.platforms[-1]
    assert kept == before
    view.platform.value = of.ALL
    view.window.value = next(w for w in WINDOWS if w != DEFAULT_WINDOW)
    assert kept == before


def test_runs_chart_is_updated_in_its_figure() -> None:
    from bokeh.document import Document

    from hhs_platform.dashboards import operations

    runs = pl.DataFrame(
        {
            "run_id": ["b", "a", "c"],
            "started_at": [
                dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC),
                dt.datetime(2026, 3, 1, 6, tzinfo=dt.UTC),
                dt.datetime(2026, 3, 3, 6, tzinfo=dt.UTC),
            ],
            "success_rate": [0.97, 1.0, None],
        }
    )
    chart = operations.RunsChart()
    assert chart.show((runs, 0.995))
    chart.pane.get_root(Document())
    figure, source = chart.figure, chart.source

    def drawn() -> list[tuple[str, str, float | None]]:
        data = source.data
        return [
            (r, str(t.astype("datetime64[h]")), None if v != v else round(float(v), 6))
            for r, t, v in zip(data["run_id"], data["started_at"], data["success"], strict=True)
        ]

    # in time order, as percentages; the y axis holds the lowest run and the SLO
    assert drawn() == [
        ("a", "2026-03-01T06", 100.0),
        ("b", "2026-03-02T06", 97.0),
        ("c", "2026-03-03T06", None),
    ]
    assert (chart.y_range.start, chart.y_range.end) == (96.0, 100.5)
    assert chart.target.location == 99.5
    assert chart.title.text == "Success rate per run (dashed: SLO 99.5%)"
    assert not chart.show((runs.clone(), 0.995))
    # another SLO moves the dashed line and the title; without runs the axis starts under it
    assert chart.show((runs.head(0), 0.995 - 0.005))
    assert chart.figure is figure and chart.source is source and drawn() == []
    assert chart.target.location == 99.0
    assert (chart.y_range.start, chart.y_range.end) == (98.0, 100.5)
    assert chart.title.text == "Success rate per run (dashed: SLO 99.0%)"
