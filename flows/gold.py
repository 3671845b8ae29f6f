"""The gold flow: rebuild gold, analytics and quality from silver, without collecting (daily)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from hhs_platform.analytics.anomalies import build_anomalies
from hhs_platform.analytics.forecasts import build_forecasts
from hhs_platform.enrich import enrich_posts, link_campaigns
from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.runtime import prepare_worker
from hhs_platform.settings import Settings
from hhs_platform.transforms.gold import build_gold


@task(name="rebuild-gold", retries=2, retry_delay_seconds=30, cache_policy=NO_CACHE)
def rebuild_task(lake_uri: str, full: bool, run_id: str) -> list[dict[str, Any]]:
    """Enrich, gold, anomalies over the trailing window, forecasts, quality: the writes."""
    lake = Lake(lake_uri)
    settings = prepare_worker()
    today = datetime.now(UTC).date()
    results = [enrich_posts(lake), link_campaigns(lake), *build_gold(lake, full=full).values()]
    since = today - timedelta(days=settings.anomaly_window_days)
    results += [build_anomalies(lake, since), build_forecasts(lake)]
    results += list(build_quality(lake, run_id).values())
    return [{"table": r.table, "rows": r.rows_in} for r in results]


@flow(
    name="hhs-gold",
    description="Rebuild gold, analytics (anomalies, forecasts) and quality from silver.",
    timeout_seconds=2 * 3600,
    retries=1,
    retry_delay_seconds=300,
)
@audited
def gold_flow(lake_uri: str | None = None, full: bool = False) -> list[dict[str, Any]]:
    """Bring gold, analytics and the quality scorecard up to date with silver.

    Collection runs already do this incrementally; the daily run catches what they could not
    (a collection that failed after silver, a day that rolled over with no run, a changed rule).
    ``full`` rebuilds gold from scratch instead of the changed accounts only. Publishes a table
    artifact (key ``gold-rebuild``).
    """
    lake_uri = lake_uri or Settings().lake_uri
    rows = rebuild_task(lake_uri, full, str(flow_run.get_id() or "local"))
    get_run_logger().info("gold rebuilt: %s", {r["table"]: r["rows"] for r in rows})
    create_table_artifact(rows, key="gold-rebuild", description="Gold, analytics, quality")
    return rows
