"""The brief deployments (prefect.yaml) and the brief flow run for real on a Prefect test server."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from pathlib import Path
from uuid import UUID

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reports"))

from period_lake import build_period_lake  # noqa: E402


def test_prefect_yaml_schedules_weekly_and_monthly_briefs() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    assert {"weekly-executive-brief", "monthly-executive-brief"} <= set(deployments)
    expected = {
        "weekly-executive-brief": ("week", "0 7 * * 1"),
        "monthly-executive-brief": ("month", "0 7 1 * *"),
    }
    for name, (period, cron) in expected.items():
        d = deployments[name]
        module_path, _, func = d["entrypoint"].partition(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        assert flow.name == "hhs-brief"
        params = inspect.signature(flow.fn).parameters
        assert set(d["parameters"]) <= set(params), d["parameters"]
        assert d["parameters"]["period"] == period
        assert d["schedules"] == [{"cron": cron, "timezone": "America/New_York", "active": True}]
        assert d["work_pool"]["name"] == "hhs-process"
    assert config["pull"][0]["prefect.deployments.steps.set_working_directory"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")
def test_brief_flow_writes_html_and_pdf_and_an_artifact(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.brief import brief_flow

    monkeypatch.setenv("HHS_CHROMIUM_PATH", "/usr/bin/chromium")
    monkeypatch.setenv("HHS_DASHBOARD_URL", "https://dash.example.gov")
    from hhs_platform.settings import get_settings

    get_settings.cache_clear()
    try:
        lake = build_period_lake(tmp_path)
        state = brief_flow(
            period="week", out_dir=str(tmp_path / "briefs"), lake_uri=lake.uri, return_state=True
        )
    finally:
        get_settings.cache_clear()
    summary = state.result()
    assert summary["headline"].startswith("3,555 followers on 2026-03-14")
    html, pdf = Path(summary["paths"]["html"]), Path(summary["paths"]["pdf"])
    assert html.parent == tmp_path / "briefs"
    assert "https://dash.example.gov/executive?period=week" in html.read_text()
    # the charts drawn by the same Chromium session, embedded as PNG images
    assert html.read_text().count('<img class="chart" src="data:image/png;base64,') == 2
    assert pdf.read_bytes().startswith(b"%PDF-")

    async def artifacts() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["executive-brief"]))
            )

    run_id = UUID(str(state.state_details.flow_run_id))
    found = [a for a in asyncio.run(artifacts()) if a.flow_run_id == run_id]
    assert len(found) == 1
    note = str(found[0].data)
    assert "3,555 followers on 2026-03-14" in note
    assert pdf.name in note.replace("\\", "") and "<img" not in note
