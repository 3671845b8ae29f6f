"""The alerts flow and the collection flow's on_failure hook, run for real on a Prefect test
server, delivering to a local webhook; the alerts-check deployment in prefect.yaml."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from alert_lakes import runs_of
from alert_receivers import webhook

from hhs_platform.lake import Lake

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_checks_alerts_every_15_minutes() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    d = {x["name"]: x for x in config["deployments"]}["alerts-check"]
    assert d["entrypoint"] == "flows/alerts.py:alerts_flow"
    assert d["schedules"][0]["cron"] == "*/15 * * * *" and d["concurrency_limit"] == 1


@pytest.mark.slow
def test_alerts_flow_sends_and_records_then_dedups(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.alerts import alerts_flow

    lake = Lake(str(tmp_path / "lake"), {})
    now = datetime.now(UTC)
    lake.append("bronze/fetch_log", runs_of({"x:a": ["failed"] * 3, "x:b": ["complete"] * 3}, now))
    with webhook() as hook:
        monkeypatch.setenv("HHS_ALERT_URLS", hook.url())
        first = alerts_flow(lake_uri=lake.uri)
        second = alerts_flow(lake_uri=lake.uri)
    assert sorted(m["title"] for m in hook.received) == [
        "Collection run run-02: 1 of 2 accounts failed",
        "x:a failed 3 collection runs in a row",
    ]
    assert (first["sent"], first["failed"], second["sent"]) == (2, 0, 0)
    assert all(a.startswith("duplicate") for a in second["actions"].values())
    assert lake.read("ops/alerts").height == 2


@pytest.mark.slow
def test_a_failed_collection_run_sends_run_failed(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.alerts import collect_failure_hook
    from flows.collect import collect_flow, collect_hourly

    assert collect_failure_hook in collect_hourly.on_failure_hooks  # deployments keep the hook
    lake = Lake(str(tmp_path / "lake"), {})
    with webhook() as hook:
        monkeypatch.setenv("HHS_ALERT_URLS", hook.url())
        with pytest.raises(Exception, match="give one of since"):
            # a bad pair of parameters: the flow fails at once
            collect_flow(
                lake_uri=lake.uri,
                run_id="run-broken",
                since=datetime.now(UTC) - timedelta(days=1),
                backfill_from=date(2026, 1, 1),
                backfill_to=date(2026, 1, 2),
            )
    [got] = hook.received
    assert got["title"] == "Flow hhs-collect failed (run run-broken)" and got["type"] == "failure"
    assert "give one of since, lookback_days or a backfill window" in got["message"]
    [row] = lake.read("ops/alerts").to_dicts()
    assert (row["key"], row["delivered"]) == ("run_failed:run-broken", True)
