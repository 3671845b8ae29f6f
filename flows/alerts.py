"""The alerts flow (every 15 minutes) and the collection flow's failure hook: both wire
``hhs_platform.ops.alerts`` to Prefect."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from hhs_platform import webhooks
from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.ops.alerts import alert_flow_failure, check
from hhs_platform.settings import Settings

log = logging.getLogger(__name__)


@flow(
    name="hhs-alerts",
    description="Check the lake for pipeline and content alerts and notify (deduplicated).",
)
@audited
def alerts_flow(lake_uri: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Run every alert rule, send what is new and record it in ``ops/alerts``.

    A delivery failure does not fail the run (it is retried at the next check); a markdown
    artifact (key ``alerts-check``) lists the alerts and what was done with each.
    """
    settings = Settings()
    report = check(Lake(lake_uri or settings.lake_uri), settings, dry_run=dry_run)
    lines = report.lines()
    logger = get_run_logger()
    for line in lines:
        logger.info(line)
    create_markdown_artifact(
        "```\n" + "\n".join(lines) + "\n```", key="alerts-check", description="Alerts check"
    )
    return {
        "alerts": len(report.alerts),
        "messages": len(report.messages),
        "sent": report.sent,
        "failed": report.failed,
        "resolved": len(report.resolved),
        "actions": report.actions,
    }


def collect_failure_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` of the collection flow: send the "run failed" alert. Never raises."""
    try:
        settings = Settings()
        params = dict(getattr(flow_run, "parameters", None) or {})
        run_id = str(params.get("run_id") or flow_run.id)
        lake = Lake(params.get("lake_uri") or settings.lake_uri)
        report = alert_flow_failure(
            lake, settings, run_id, getattr(flow, "name", "hhs-collect"), state.message or ""
        )
        for line in report.lines():
            log.info(line)
    except Exception:  # a hook that raises would hide the flow's own failure
        log.exception("the run-failed alert could not be sent")
    try:  # the run.failed webhook event, then every pending delivery
        settings = Settings()
        params = dict(getattr(flow_run, "parameters", None) or {})
        lake = Lake(params.get("lake_uri") or settings.lake_uri)
        event = webhooks.run_failed_event(
            str(flow_run.id), getattr(flow, "name", "hhs-collect"), state.message or None
        )
        webhooks.emit_and_deliver(lake, settings, events=[event])
    except Exception:
        log.exception("the run.failed webhook event could not be recorded")
