"""The collection flow: registry → connectors (on Dask) → bronze → silver → gold, with a run summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect_dask import DaskTaskRunner

from hhs_platform.analytics.anomalies import build_anomalies, changed_since
from hhs_platform.analytics.forecasts import build_forecasts
from hhs_platform.collect import BatchOutcome, collect_batch, plan_batches, skipped_platforms
from hhs_platform.enrich import enrich_posts, link_campaigns
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.registry import load_registry
from hhs_platform.reports.run_summary import run_summary_markdown, run_summary_rows
from hhs_platform.settings import Settings
from hhs_platform.transforms.curves import repoll_accounts
from hhs_platform.transforms.gold import build_gold
from hhs_platform.transforms.normalize import SilverBatch


def task_runner(settings: Settings) -> DaskTaskRunner:
    """An existing cluster when HHS_DASK_ADDRESS is set, else a LocalCluster of the configured size."""
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": settings.dask_threads_per_worker,
            "processes": settings.dask_processes,
            "dashboard_address": ":0",
        }
    )


@task(name="collect-batch", retries=1, retry_delay_seconds=5)
def collect_batch_task(
    batch: list[dict[str, Any]],
    run_id: str,
    batch_id: str,
    lake_uri: str,
    accounts_file: str | None,
    since: datetime | None,
) -> BatchOutcome:
    settings = Settings()
    registry = load_registry(accounts_file or settings.accounts_file)
    outcome = collect_batch(
        batch,
        run_id=run_id,
        batch_id=batch_id,
        lake=Lake(lake_uri),
        settings=settings,
        registry=registry,
        since=since,
    )
    get_run_logger().info("batch %s: %s", batch_id, outcome.summary())
    return outcome


@task(name="write-silver", retries=2, retry_delay_seconds=5)
def write_silver_task(outcomes: list[BatchOutcome], lake_uri: str) -> dict[str, dict[str, int]]:
    results = write_silver(Lake(lake_uri), SilverBatch.concat([o.silver for o in outcomes]))
    return {
        name: {"rows": r.rows_in, "inserted": r.inserted, "updated": r.updated}
        for name, r in results.items()
    }


@task(name="enrich", retries=2, retry_delay_seconds=5)
def enrich_task(lake_uri: str) -> dict[str, int]:
    """Text features, topics, places (changed posts only) and cross-platform campaign links."""
    lake = Lake(lake_uri)
    return {r.table: r.rows_in for r in (enrich_posts(lake), link_campaigns(lake))}


@task(name="build-gold", retries=2, retry_delay_seconds=5)
def build_gold_task(lake_uri: str) -> tuple[dict[str, int], date | None]:
    """Gold up to date (incremental), and the first day whose daily figures changed."""
    lake = Lake(lake_uri)
    before = lake.read("gold/daily_account_metrics")
    written = {name: r.rows_in for name, r in build_gold(lake).items()}
    return written, changed_since(before, lake.read("gold/daily_account_metrics"))


@task(name="build-analytics", retries=2, retry_delay_seconds=5)
def build_analytics_task(lake_uri: str, since: date) -> dict[str, int]:
    """Explained anomalies from ``since`` on (with their trailing window) and forecasts."""
    lake = Lake(lake_uri)
    return {r.table: r.rows_in for r in (build_anomalies(lake, since), build_forecasts(lake))}


@task(name="build-quality", retries=2, retry_delay_seconds=5)
def build_quality_task(lake_uri: str, run_id: str) -> dict[str, int]:
    return {
        name: r.inserted + r.updated for name, r in build_quality(Lake(lake_uri), run_id).items()
    }


@flow(
    name="hhs-collect", description="Collect HHS accounts into the lake: bronze, silver and gold."
)
def collect_flow(
    platforms: list[str] | None = None,
    accounts_file: str | None = None,
    lake_uri: str | None = None,
    since: datetime | None = None,
    run_id: str | None = None,
    repoll: bool = False,
) -> dict[str, Any]:
    """Collect every account of the registry (or of some platforms) and rebuild gold.

    ``repoll`` collects only the accounts with a post whose engagement-curve age (1 h ... 28 d)
    falls due within the next ``HHS_REPOLL_HORIZON_MINUTES``: run it on that schedule.

    ``run_id`` resumes an interrupted run: accounts it already archived are not fetched again.
    """
    log = get_run_logger()
    settings = Settings()
    lake_uri = lake_uri or settings.lake_uri
    accounts_file = accounts_file or (
        str(settings.accounts_file) if settings.accounts_file else None
    )
    registry = load_registry(accounts_file, platforms)
    if repoll:
        horizon = timedelta(minutes=settings.repoll_horizon_minutes)
        due = repoll_accounts(Lake(lake_uri), datetime.now(UTC), horizon)
        keys = pl.concat_str(pl.col("platform"), pl.lit(":"), pl.col("handle"))
        registry = registry.filter(keys.is_in(list(due)))
        log.info("re-poll: %d accounts have a post age due within %s", registry.height, horizon)
    resumed = run_id is not None
    run_id = run_id or str(flow_run.get_id() or "local")
    batches = plan_batches(registry, settings.batch_size, settings)
    left_out = skipped_platforms(registry, settings)
    log.info(
        "%s run %s: %d accounts in %d batches into %s (if interrupted: hhs collect --resume %s)",
        "resuming" if resumed else "starting",
        run_id,
        sum(map(len, batches)),
        len(batches),
        lake_uri,
        run_id,
    )
    for platform, why in left_out.items():
        log.info("not collected: %s (%d accounts): %s", platform, why["accounts"], why["reason"])
    futures = [
        collect_batch_task.submit(
            b, run_id, f"{b[0]['platform']}-{i:04d}", lake_uri, accounts_file, since
        )
        for i, b in enumerate(batches)
    ]
    # Futures, not results: the batches move between workers instead of through the flow.
    # Prefect resolves futures passed as arguments; its stubs type only the resolved values.
    silver = write_silver_task.submit(futures, lake_uri).result()  # type: ignore[arg-type]
    outcomes = [f.result() for f in futures]
    enriched = enrich_task.submit(lake_uri).result()
    gold, changed = build_gold_task.submit(lake_uri).result()
    # a failed fetch changes no daily figure but is a collection gap: today is always looked at
    today = datetime.now(UTC).date()
    analytics = build_analytics_task.submit(lake_uri, min(changed or today, today)).result()
    quality = build_quality_task.submit(lake_uri, run_id).result()
    summary: dict[str, Any] = {
        "run_id": run_id,
        "lake_uri": lake_uri,
        "accounts": sum(o.accounts for o in outcomes),
        "responses": sum(o.responses for o in outcomes),
        "fetched_accounts": sum(o.fetched for o in outcomes),
        "errors": [e.__dict__ for o in outcomes for e in o.errors],
        "silver": silver,
        "enriched": enriched,
        "gold": gold,
        "analytics": analytics,
        "quality": quality,
        "skipped_platforms": left_out,
        "per_platform": run_summary_rows(outcomes),
        "drift": [r for o in outcomes for r in o.silver.drift.to_dicts()],
    }
    create_markdown_artifact(
        run_summary_markdown(summary), key="collection-summary", description="Collection run"
    )
    create_table_artifact(
        summary["per_platform"], key="collection-by-platform", description="Per platform"
    )
    return summary


def run_collect(
    platforms: list[str] | None = None,
    accounts_file: str | None = None,
    lake_uri: str | None = None,
    since: datetime | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
    repoll: bool = False,
) -> dict[str, Any]:
    """Run the flow on the configured Dask cluster (what ``hhs collect`` calls)."""
    settings = settings or Settings()
    # DaskTaskRunner is a TaskRunner of PrefectDaskFutures; Prefect types the option more narrowly.
    runner_flow = collect_flow.with_options(task_runner=task_runner(settings))  # type: ignore[arg-type]
    return runner_flow(
        platforms=platforms,
        accounts_file=accounts_file,
        lake_uri=lake_uri,
        since=since,
        run_id=run_id,
        repoll=repoll,
    )
