"""The dashboard probe flow: request the dashboards, record the answer, refresh today's SLO rows."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.ops.slo import build_slo, probe_dashboard
from hhs_platform.settings import Settings


@task(name="probe-dashboard", cache_policy=NO_CACHE)
def probe_task(lake_uri: str, url: str | None) -> dict[str, Any]:
    return probe_dashboard(Lake(lake_uri), url).row()


@task(name="build-slo", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def build_slo_task(lake_uri: str) -> int:
    result = build_slo(Lake(lake_uri), days=1)
    return result.inserted + result.updated


@flow(
    name="hhs-probe",
    description="Probe the dashboards (availability SLO) and refresh today's ops/slo rows.",
)
@audited
def probe_flow(url: str | None = None, lake_uri: str | None = None) -> dict[str, Any]:
    """Probe ``url`` (default ``HHS_DASHBOARD_URL``) once into ``ops/probes`` and rebuild today's
    SLO rows. A dashboard that is down is recorded, not raised: the run itself succeeds."""
    log = get_run_logger()
    lake_uri = lake_uri or Settings().lake_uri
    probe = probe_task(lake_uri, url)
    if probe["ok"]:
        log.info(
            "%s answered HTTP %s in %.0f ms", probe["url"], probe["status"], probe["elapsed_ms"]
        )
    else:
        log.warning("%s is down: %s", probe["url"], probe["error"])
    return probe | {"slo_rows": build_slo_task(lake_uri)}
