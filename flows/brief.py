"""The executive brief flow: render a period's brief (HTML + PDF) and publish its headline."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from hhs_platform import webhooks
from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.reports.brief import brief_markdown, write_brief
from hhs_platform.settings import Settings


@task(name="render-brief", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def render_brief_task(
    lake_uri: str,
    period: str,
    out_dir: str,
    end: date | None,
    formats: list[str],
    agencies: list[str] | None,
) -> dict[str, Any]:
    """Write the brief's files; the headline, the paths and the markdown note."""
    result = write_brief(
        Lake(lake_uri), period, out_dir=out_dir, end=end, formats=formats, agencies=agencies
    )
    h = result.highlights
    return {
        "headline": h.headline(),
        "period_start": h.period.start if h.period else None,
        "period_end": h.period.end if h.period else None,
        "paths": {k: str(v) for k, v in result.paths.items()},
        "dashboard": result.dashboard_link,
        "anomalies": h.anomalies.height,
        "markdown": brief_markdown(result),
    }


@flow(
    name="hhs-brief",
    description="Render the executive brief of a period (HTML and PDF) from the lake's gold.",
)
@audited
def brief_flow(
    period: str = "week",
    end: date | None = None,
    out_dir: str = "briefs",
    lake_uri: str | None = None,
    formats: list[str] | None = None,
    agencies: list[str] | None = None,
) -> dict[str, Any]:
    """Render the brief of the ``period`` (week, month, <N>d) ending at ``end`` (default: the
    latest day of gold) into ``out_dir``, and publish a markdown artifact with its headline and
    file paths (key ``executive-brief``)."""
    log = get_run_logger()
    lake_uri = lake_uri or Settings().lake_uri
    summary = render_brief_task(
        lake_uri, period, str(Path(out_dir)), end, formats or ["html", "pdf"], agencies
    )
    log.info("%s brief: %s; %s", period, summary["headline"], summary["paths"])
    event = webhooks.brief_event(summary, period, agencies)
    webhooks.emit_and_deliver(Lake(lake_uri), events=[event])
    create_markdown_artifact(
        summary.pop("markdown"), key="executive-brief", description=f"Executive brief ({period})"
    )
    return summary
