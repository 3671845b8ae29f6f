"""The weekly maintenance deployment (prefect.yaml) and its flow run for real on a Prefect test
server over a real lake of many small files."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lake"))

from test_maintenance import GOLD, _day  # noqa: E402

from hhs_platform.lake import Lake  # noqa: E402


def test_prefect_yaml_schedules_weekly_maintenance() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    d = {x["name"]: x for x in config["deployments"]}["weekly-maintenance"]
    module_path, _, func = d["entrypoint"].partition(":")
    flow = getattr(importlib.import_module(module_path.removesuffix(".py").replace("/", ".")), func)
    assert flow.name == "hhs-maintain"
    assert set(d["parameters"]) <= set(inspect.signature(flow.fn).parameters)
    assert d["schedules"] == [{"cron": "0 3 * * 0", "timezone": "America/New_York", "active": True}]
    assert d["concurrency_limit"] == 1


def test_maintenance_flow_compacts_and_keeps_rows(prefect_harness: None, tmp_path: Path) -> None:
    from flows.maintenance import maintenance_flow

    lake = Lake(str(tmp_path / "lake"))
    for n in range(4):
        lake.append(GOLD, _day(n))
    before = lake.read(GOLD).sort("date", "platform", "account_id")
    rows = maintenance_flow(lake_uri=lake.uri, retention_hours=0)
    # the run's own audit trail (ops/runs, ops/changes) is maintained with the rest
    assert {r["table"] for r in rows} == {GOLD, "ops/runs", "ops/changes"}
    (gold,) = [r for r in rows if r["table"] == GOLD]
    assert (gold["files_before"], gold["files_after"]) == (8, 2)
    assert gold["files_vacuumed"] == 8 and gold["error"] is None
    assert lake.read(GOLD).sort("date", "platform", "account_id").equals(before)
    (run,) = lake.read("ops/runs").to_dicts()
    assert (run["flow"], run["status"]) == ("hhs-maintain", "completed")
