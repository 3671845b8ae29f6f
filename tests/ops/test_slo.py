"""SLO rows (ops/slo) from fetch log, scorecard and probes written with known counts, and the
dashboard probe against real local servers."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from hhs_platform.dashboards.operations_figures import ErrorBudget
from hhs_platform.lake import Lake
from hhs_platform.ops.slo import (
    budget_burned,
    build_slo,
    format_summary,
    probe_dashboard,
    slo_summary,
)
from hhs_platform.settings import Settings

UTC = dt.UTC
D1 = dt.date(2026, 3, 9)
D2 = dt.date(2026, 3, 10)
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def _settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def _at(day: dt.date, hour: float) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + dt.timedelta(hours=hour)


def _fetches(run: str, day: dt.date, platform: str, n: int, failed: int) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run,
            "batch_id": "b",
            "platform": platform,
            "account_key": f"{platform}:acct{i}",
            "status": "failed" if i < failed else ("partial" if i % 2 else "complete"),
            "error": None,
            "terminal": False,
            "responses": 1,
            "started_at": _at(day, 1 + i / 10_000),
            "finished_at": _at(day, 2),
        }
        for i in range(n)
    ]


def _card(day: dt.date, key: str, tier: int | None, newest: dt.datetime | None) -> dict[str, Any]:
    cadence = {1: 1.0, 2: 6.0, 3: 24.0}
    return {
        "date": day,
        "platform": "bluesky",
        "account_id": key,
        "account_key": f"bluesky:{key}",
        "tier": tier,
        "posts_collected": 0,
        "completeness_basis": "unknown",
        "newest_observation_at": newest,
        "cadence_hours": cadence[tier or 3],
        "rows_valid": 0,
        "rows_quarantined": 0,
        "fields_expected": 0,
        "fields_missing": 0,
        "flags": 0,
        "computed_at": _at(day, 12),
    }


def _probe(at: dt.datetime, ok: bool) -> dict[str, Any]:
    return {
        "url": "http://dash.test",
        "checked_at": at,
        "ok": ok,
        "status": 200 if ok else 502,
        "elapsed_ms": 12.5,
        "error": None if ok else "HTTP 502",
    }


def _rows(lake: Lake) -> dict[tuple[dt.date, str, str], dict[str, Any]]:
    return {
        (r["date"], r["slo"], r["scope"]): r for r in lake.read("ops/slo").iter_rows(named=True)
    }


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """D1: 1,000 fetches, 7 failed (Bluesky 600/4, YouTube 400/3); D2: 500 fetches, none failed.
    A resumed run logged one account twice: failed, then complete (it counts once, complete)."""
    lake = Lake(str(tmp_path / "lake"))
    log = (
        _fetches("r1", D1, "bluesky", 600, 4)
        + _fetches("r1", D1, "youtube", 400, 3)
        + _fetches("r2", D2, "bluesky", 500, 0)
    )
    retried = dict(log[-1], status="failed", started_at=_at(D2, 0.5))
    lake.append("bronze/fetch_log", pl.DataFrame([*log, retried]))
    return lake


def test_budget_burned_is_the_operations_pages_maths() -> None:
    assert budget_burned(7, 1000, 0.995) == pytest.approx(1.4)
    assert budget_burned(0, 0, 0.995) is None
    assert budget_burned(0, 10, 1.0) is None
    assert budget_burned(1, 10, 1.0) == float("inf")
    budget = ErrorBudget(slo=0.995, runs=2, runs_meeting_slo=1, fetches=1000, succeeded=993)
    assert budget.burned == budget_burned(7, 1000, 0.995)


def test_empty_lake_builds_no_rows(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "empty"))
    assert build_slo(lake, now=NOW, settings=_settings()).rows_in == 0
    assert lake.read("ops/slo").is_empty() and lake.exists("ops/probes")
    assert format_summary(slo_summary(lake.read("ops/slo"))).startswith("no SLO rows yet")


def test_collection_success_per_day_platform_and_window(lake: Lake) -> None:
    build_slo(lake, now=NOW, settings=_settings(), days=2)
    rows = _rows(lake)
    all1 = rows[(D1, "collection_success", "all")]
    assert (all1["good"], all1["total"]) == (993, 1000)
    assert all1["value"] == pytest.approx(0.993) and all1["met"] is False
    assert all1["target"] == 0.995 and all1["window_days"] == 28
    assert all1["budget_burned"] == pytest.approx(1.4)  # 7 / (0.005 x 1,000)
    bsky1, yt1 = (
        rows[(D1, "collection_success", "bluesky")],
        rows[(D1, "collection_success", "youtube")],
    )
    assert (bsky1["good"], bsky1["total"], yt1["good"], yt1["total"]) == (596, 600, 397, 400)
    assert bsky1["budget_burned"] == pytest.approx(4 / 3)
    assert yt1["budget_burned"] == pytest.approx(1.5)
    # D2: all good that day; the window (D1 + D2) still holds D1's failures
    all2 = rows[(D2, "collection_success", "all")]
    assert (all2["good"], all2["total"], all2["met"]) == (500, 500, True)
    assert all2["budget_burned"] == pytest.approx(7 / 7.5)
    # YouTube had no fetch on D2: a row without events, its window still burned
    yt2 = rows[(D2, "collection_success", "youtube")]
    assert (yt2["total"], yt2["value"], yt2["met"]) == (0, None, None)
    assert yt2["budget_burned"] == pytest.approx(1.5)
    assert not any(k[1] == "dashboard_availability" for k in rows)  # never probed: no rows

    # A one-day window forgets D1's failures on D2.
    build_slo(lake, now=NOW, settings=_settings(slo_window_days=1), days=1)
    all2 = _rows(lake)[(D2, "collection_success", "all")]
    assert all2["budget_burned"] == 0.0 and all2["window_days"] == 1


def test_freshness_per_tier_at_the_end_of_the_day_or_now(lake: Lake) -> None:
    cards = [
        # D2 is today, judged at NOW (10:00); tier 1 allows 1 h + 1 h grace, tier 3 24 h + 1 h.
        _card(D2, "a", 1, _at(D2, 9)),  # 1 h old: fresh
        _card(D2, "b", 1, _at(D2, 7.5)),  # 2.5 h old: stale
        _card(D2, "c", 1, None),  # never observed: stale
        _card(D2, "d", 3, _at(D1, 12)),  # 22 h old: fresh
        _card(D2, "e", None, _at(D1, 8)),  # no tier: the loosest (tier 3); 26 h old: stale
        # D1 is judged at its last instant (24:00).
        _card(D1, "a", 1, _at(D1, 22.5)),  # 1.5 h old at the end of D1: fresh
        _card(D1, "b", 1, _at(D1, 20)),  # 4 h: stale
        _card(D1, "d", 3, _at(D1, 1)),  # 23 h: fresh
    ]
    lake.append("quality/scorecard", pl.DataFrame(cards))
    build_slo(lake, now=NOW, settings=_settings(slo_freshness=0.9), days=2)
    rows = _rows(lake)
    got = {
        (d, scope): (rows[(d, "freshness", scope)]["good"], rows[(d, "freshness", scope)]["total"])
        for d in (D1, D2)
        for scope in ("all", "tier-1", "tier-3")
    }
    assert got == {
        (D2, "all"): (2, 5),
        (D2, "tier-1"): (1, 3),
        (D2, "tier-3"): (1, 2),
        (D1, "all"): (2, 3),
        (D1, "tier-1"): (1, 2),
        (D1, "tier-3"): (1, 1),
    }
    t3 = rows[(D1, "freshness", "tier-3")]
    assert t3["met"] is True and t3["budget_burned"] == 0.0 and t3["target"] == 0.9
    # tier 1 over D1 + D2: 3 stale of 5, 10 % allowed: 3 / 0.5
    assert rows[(D2, "freshness", "tier-1")]["budget_burned"] == pytest.approx(6.0)


def test_availability_and_idempotent_rebuild(lake: Lake) -> None:
    probes = [_probe(_at(D2, 0) + dt.timedelta(minutes=5 * i), i != 3) for i in range(10)]
    lake.append("ops/probes", pl.DataFrame(probes))
    build_slo(lake, now=NOW, settings=_settings(), days=2)
    first = lake.read("ops/slo").sort("date", "slo", "scope")
    avail = _rows(lake)[(D2, "dashboard_availability", "dashboard")]
    assert (avail["good"], avail["total"], avail["met"]) == (9, 10, False)
    assert avail["budget_burned"] == pytest.approx(100.0)  # 1 / (0.001 x 10)
    assert (D1, "dashboard_availability", "dashboard") not in _rows(lake)

    # The same build again: the same rows, none added.
    again = build_slo(lake, now=NOW, settings=_settings(), days=2)
    assert again.inserted == 0 and again.updated == first.height
    second = lake.read("ops/slo").sort("date", "slo", "scope")
    assert second.drop("computed_at").equals(first.drop("computed_at"))

    # Later the same day: one more failed fetch and the late probe count; D2's rows are updated.
    lake.append("bronze/fetch_log", pl.DataFrame(_fetches("r3", D2, "x", 1, 1)))
    lake.append("ops/probes", pl.DataFrame([_probe(_at(D2, 11), False)]))
    later = NOW + dt.timedelta(hours=2)
    result = build_slo(lake, now=later, settings=_settings())  # default: since the last build
    rows = _rows(lake)
    assert (result.inserted, result.updated) == (1, first.filter(pl.col("date") == D2).height)
    assert lake.read("ops/slo").height == first.height + 1  # a row for X on D2
    assert rows[(D2, "collection_success", "all")]["total"] == 501
    assert rows[(D2, "collection_success", "x")]["good"] == 0
    assert rows[(D2, "dashboard_availability", "dashboard")]["total"] == 11
    assert rows[(D1, "collection_success", "all")]["computed_at"] == NOW  # D1 not rebuilt


@pytest.mark.slow
def test_summary_and_cli_show(lake: Lake) -> None:
    build_slo(lake, now=NOW, settings=_settings(), days=2)
    summary = slo_summary(lake.read("ops/slo"))
    by = {(r["slo"], r["scope"]): r for r in summary.iter_rows(named=True)}
    overall = by[("collection_success", "all")]
    assert overall["date"] == D2 and overall["value"] == 1.0
    assert (overall["window_good"], overall["window_total"]) == (1493, 1500)
    assert overall["window_value"] == pytest.approx(1493 / 1500)
    assert overall["budget_burned"] == pytest.approx(7 / 7.5) and overall["status"] == "at risk"
    assert by[("collection_success", "youtube")]["status"] == "budget spent"
    assert summary["scope"].to_list()[0] == "all"
    assert slo_summary(lake.read("ops/slo"), as_of=D1).filter(pl.col("scope") == "all")[
        "status"
    ].to_list() == ["budget spent"]

    text = format_summary(summary)
    assert "collection_success" in text and "1,493/1,500" in text and "93%" in text

    env = {k: v for k, v in os.environ.items() if not k.startswith("HHS_")}
    hhs = str(Path(sys.executable).with_name("hhs"))
    out = subprocess.run(
        [hhs, "slo", "show", "--lake", lake.uri],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    assert out == text


# -- the probe ----------------------------------------------------------------------------------
PASSWORD = "probe-secret-pw-81f3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboards() -> Iterator[str]:
    """A local aiohttp server: /ok (200), /broken (500), /slow (3 s), /guarded (HTTP basic auth)."""

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="dashboards")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def guarded(request: web.Request) -> web.Response:
        want = "Basic " + base64.b64encode(f"hhs-probe:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != want:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="hhs"'})
        return web.Response(text="welcome")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    app.router.add_get("/slow", slow)
    app.router.add_get("/guarded", guarded)
    loop = asyncio.new_event_loop()
    port = _free_port()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_probe_records_up_down_and_unreachable(dashboards: str, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    settings = _settings()
    up = probe_dashboard(lake, f"{dashboards}/ok", settings=settings)
    down = probe_dashboard(lake, f"{dashboards}/broken", settings=settings)
    closed = probe_dashboard(lake, f"http://127.0.0.1:{_free_port()}/", settings=settings)
    late = probe_dashboard(lake, f"{dashboards}/slow", settings=settings, timeout_s=0.3)
    assert (up.ok, up.status, up.error) == (True, 200, None)
    assert (down.ok, down.status, down.error) == (False, 500, "HTTP 500")
    assert closed.ok is False and closed.status is None and "Connect" in (closed.error or "")
    assert late.ok is False and late.error == "no answer in 0.3 s" and late.elapsed_ms < 2000
    rows = lake.read("ops/probes").sort("checked_at")
    assert rows["ok"].to_list() == [True, False, False, False]
    assert rows["status"].to_list() == [200, 500, None, None]
    assert rows["url"].to_list()[:2] == [f"{dashboards}/ok", f"{dashboards}/broken"]

    # the probes make the day's availability: 1 of 4 answered
    build_slo(lake, settings=settings, days=1)
    avail = lake.read("ops/slo").filter(pl.col("slo") == "dashboard_availability")
    assert (avail["good"].item(), avail["total"].item(), avail["met"].item()) == (1, 4, False)


def test_probe_logs_in_without_keeping_the_password(dashboards: str, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    refused = probe_dashboard(lake, f"{dashboards}/guarded", settings=_settings())
    assert (refused.ok, refused.status) == (False, 401)
    let_in = probe_dashboard(
        lake, f"{dashboards}/guarded", settings=_settings(dashboard_password=PASSWORD)
    )
    assert (let_in.ok, let_in.status) == (True, 200)
    # credentials in the URL are used, then dropped from what is stored
    host = dashboards.removeprefix("http://")
    inline = probe_dashboard(lake, f"http://hhs-probe:{PASSWORD}@{host}/guarded")
    assert inline.ok and inline.url == f"{dashboards}/guarded"
    wrong = probe_dashboard(lake, f"http://hhs-probe:{PASSWORD}x@{host}/guarded")
    assert not wrong.ok
    stored = lake.read("ops/probes")
    assert stored.height == 4
    for row in stored.iter_rows(named=True):
        assert PASSWORD not in str(row)
    assert PASSWORD.encode() not in b"".join(
        p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
    )


@pytest.mark.slow
def test_probe_logs_in_to_the_real_dashboards(tmp_path: Path) -> None:
    """Panel's login is a form and a cookie: the probe fills it in with HHS_DASHBOARD_PASSWORD."""
    from hhs_platform.dashboards import kit
    from hhs_platform.dashboards.server import serve_dashboards

    guarded = _settings(dashboard_password=PASSWORD, dashboard_cookie_secret="c" * 40)
    port = _free_port()
    server = serve_dashboards(
        port=port, lake_uri=str(tmp_path / "empty"), threaded=True, settings=guarded
    )
    lake = Lake(str(tmp_path / "lake"))
    page = f"http://127.0.0.1:{port}/"  # the index: the same login, no page to build
    try:
        anonymous = probe_dashboard(lake, page, settings=_settings())
        wrong = probe_dashboard(lake, page, settings=_settings(dashboard_password="not-it-42"))
        right = probe_dashboard(lake, page, settings=guarded)
    finally:
        server.stop()
        kit.use_settings(None)
    assert not anonymous.ok and "HHS_DASHBOARD_PASSWORD" in (anonymous.error or "")
    assert not wrong.ok and "refused the login" in (wrong.error or "")
    assert (right.ok, right.status, right.error) == (True, 200, None)
    assert lake.read("ops/probes").sort("checked_at")["ok"].to_list() == [False, False, True]
    assert PASSWORD not in str(lake.read("ops/probes").to_dicts())


@pytest.mark.slow
def test_probe_flow_and_its_deployment(
    prefect_harness: None, dashboards: str, tmp_path: Path
) -> None:
    import importlib

    import yaml

    from flows.probe import probe_flow

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "prefect.yaml").read_text())
    deployment = {d["name"]: d for d in config["deployments"]}["dashboard-probe"]
    assert deployment["schedules"][0]["cron"] == "*/5 * * * *"
    module, _, name = deployment["entrypoint"].partition(":")
    assert getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)

    lake = Lake(str(tmp_path / "lake"))
    up = probe_flow(url=f"{dashboards}/ok", lake_uri=lake.uri)
    down = probe_flow(url=f"{dashboards}/broken", lake_uri=lake.uri)  # recorded, not raised
    assert (up["ok"], up["status"], down["ok"], down["status"]) == (True, 200, False, 500)
    assert lake.read("ops/probes").height == 2
    avail = lake.read("ops/slo").filter(pl.col("slo") == "dashboard_availability")
    assert (avail["good"].item(), avail["total"].item()) == (1, 2)
