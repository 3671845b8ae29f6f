"""Smoke test of the benchmark lake generator at tiny scale: every table valid, nothing timed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import dashboards, large_lake  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402
from schemas import CATALOGUE, table_spec  # noqa: E402

TINY = dataclasses.replace(
    large_lake.SCALES["small"], name="tiny", accounts=24, days=15, end=dt.date(2026, 3, 15)
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    cache = tmp_path_factory.mktemp("bench-cache")
    return large_lake.ensure_lake(TINY, cache)


def test_every_table_exists_and_validates_against_its_schema(
    tiny: tuple[Path, dict[str, object]],
) -> None:
    path, manifest = tiny
    lake = Lake(str(path), storage_options={})
    rows = manifest["rows"]
    assert isinstance(rows, dict)
    for name in CATALOGUE:
        frame = lake.read(name)
        assert frame.schema == table_spec(name).schema, name
        table_spec(name).model.validate(frame, lazy=True)  # raises with every failing check
        assert frame.height == rows.get(name, 0), name
    # no campaigns, no forecast history, and no custom table published by a user
    empty = {"silver/campaign_items", "gold/forecasts", "gold/forecast_backtest"}
    empty.add("gold/custom_tables")
    # the synthetic lake holds collected data, not the history of operating it (SLOs, alerts)
    empty |= {name for name in CATALOGUE if name.startswith("ops/")}
    assert {name for name in CATALOGUE if not rows.get(name)} <= empty


def test_figures_are_consistent_across_tables(tiny: tuple[Path, dict[str, object]]) -> None:
    path, _ = tiny
    lake = Lake(str(path), storage_options={})
    daily = lake.read("gold/daily_account_metrics")
    assert daily.height == TINY.accounts * TINY.days
    assert daily["date"].max() == TINY.end
    posts = lake.read("silver/posts", columns=["post_id", "post_type"])
    assert daily["posts_published"].sum() == posts.filter(pl.col("post_type") != "repost").height
    # Every post has its observations (fewer for the newest posts), and one curve point each.
    metrics = lake.read("silver/post_metrics", columns=["post_id"])
    assert set(metrics["post_id"].unique()) <= set(posts["post_id"])
    assert lake.read("gold/post_curves").height == metrics.height
    # The agency roll-up of HHS (every agency is below it) over all platforms is the grand total.
    hhs = lake.read(
        "gold/agency_metrics",
        where=(pl.col("agency") == "HHS")
        & (pl.col("platform") == "all")
        & (pl.col("period") == "day"),
    )
    assert hhs["engagement"].sum() == daily["engagement"].sum()
    assert hhs["accounts"].max() <= TINY.accounts


def test_the_lake_is_cached_by_its_parameters(
    tiny: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    path, manifest = tiny
    again, manifest_again = large_lake.ensure_lake(TINY, path.parent)
    assert again == path
    assert manifest_again == manifest  # read back, not generated again
    other = dataclasses.replace(TINY, seed=TINY.seed + 1)
    assert other.key() != TINY.key()
    stored = json.loads((path / large_lake.MANIFEST).read_text())
    assert stored["key"] == TINY.key()


def test_summary_ratios_and_percentiles() -> None:
    result = dashboards.PageResult(page="p", probe="x", first_cold_s=3.0)
    result.first_warm_s = [1.0, 3.0, 2.0]
    result.filter_ms = [100.0, 200.0, 300.0, 400.0, 500.0]
    summary = result.summary()
    assert summary["first_warm_median_s"] == 2.0
    assert summary["ratio_first_warm"] == 1.0
    assert summary["ratio_first_cold"] == 1.5
    assert summary["filter_p50_ms"] == 300.0
    assert summary["filter_p95_ms"] == pytest.approx(480.0)
    assert summary["ratio_filter_p95"] == 1.6
    assert dashboards.PageResult(page="q", probe="y").summary()["filter_p95_ms"] is None


def test_errors_the_server_logs_mark_a_pages_results_not_valid() -> None:
    import logging

    import panel  # noqa: F401  (its logger keeps its records from the root logger)

    errors = dashboards._ServerErrors()
    errors.attach()
    try:
        logging.getLogger("panel.reactive").info("received events")
        logging.getLogger("panel.reactive").error("Callback failed for 'Period'\nTraceback ...")
        logging.getLogger("tornado.application").error("Uncaught exception GET /executive")
    finally:
        errors.detach()
    logging.getLogger("panel.reactive").error("after the page: not counted")
    assert errors.lines == [
        "panel.reactive: Callback failed for 'Period'",
        "tornado.application: Uncaught exception GET /executive",
    ]
    result = dashboards.PageResult(page="p", probe="x", filter_ms=[90.0])
    result.server_errors = errors.lines
    lines: list[str] = []
    dashboards.print_table([result.summary()], lines.append, header=False)
    assert lines[0].endswith("2 server error(s), results not valid;")


@pytest.mark.slow
@pytest.mark.skipif(not Path(dashboards.CHROMIUM).exists(), reason="needs /usr/bin/chromium")
def test_both_probes_time_filter_changes_of_a_served_page(
    tiny: tuple[Path, dict[str, object]],
) -> None:
    from playwright.sync_api import sync_playwright

    from hhs_platform.dashboards.server import serve_dashboards

    path, _ = tiny
    port = dashboards._free_port()
    server = serve_dashboards(port=port, lake_uri=str(path), threaded=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=dashboards.CHROMIUM, args=dashboards.CHROMIUM_ARGS
            )
            try:
                results = {
                    kind: dashboards.measure_page(
                        browser,
                        f"http://127.0.0.1:{port}",
                        "anomalies",
                        visits=0,
                        changes=2,
                        quiet_ms=300,
                        timeout_s=60,
                        filter_timeout_s=3,
                        screenshot=None,
                        kind=kind,
                    )
                    for kind in dashboards.PROBE_KINDS
                }
            finally:
                browser.close()
    finally:
        server.stop()
    for kind, result in results.items():
        assert result.error is None, (kind, result.error)
        assert result.first_cold_s is not None and result.first_cold_s > 0
        # the tiny lake's first agency and platform both move the events table
        timed = len(result.filter_ms)
        assert timed == 2, (kind, result.filters_tried, result.filter_errors)
        assert len(result.filter_first_ms) == len(result.filter_call_ms) == timed
        for first, last, call in zip(
            result.filter_first_ms, result.filter_ms, result.filter_call_ms, strict=True
        ):
            # the page answers a change only after the server's round trip
            assert 0 < first <= last <= call, (kind, first, last, call)
    # the poll probe times from the call; the mutation probe from the input event, after it
    assert results["poll"].filter_ms == results["poll"].filter_call_ms
    mutations = results["mutations"]
    assert all(m < c for m, c in zip(mutations.filter_ms, mutations.filter_call_ms, strict=True))
