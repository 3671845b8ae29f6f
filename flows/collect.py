"""The collection flow: registry → connectors (on Dask) → bronze → silver → gold, with a run summary."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from prefect import Flow, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.futures import wait
from prefect.runtime import flow_run

from flows.alerts import collect_failure_hook
from hhs_platform import pipeline, webhooks
from hhs_platform.backfill import BackfillWindow, backfill_window, clip_to_window
from hhs_platform.collect import (
    BatchOutcome,
    collect_batch,
    plan_batches,
    select_tiers,
    skipped_platforms,
)
from hhs_platform.deploy import ensure_limits, platform_limit_name
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.registry import load_registry
from hhs_platform.reports.run_summary import run_quality, run_summary_markdown, run_summary_rows
from hhs_platform.runtime import prepare_worker
from hhs_platform.secrets import install_redaction
from hhs_platform.settings import Settings
from hhs_platform.taskrunner import KeyedDaskTaskRunner
from hhs_platform.transforms.curves import repoll_accounts

#: Lease of a held platform limit, renewed while the run lives: a killed run frees its platforms
#: within this many seconds (a resumed run waits at most that long).
PLATFORM_LEASE_S = 60.0


def task_runner(settings: Settings) -> KeyedDaskTaskRunner:
    """An existing cluster when HHS_DASK_ADDRESS is set, else a LocalCluster of the configured size."""
    if settings.dask_address:
        return KeyedDaskTaskRunner(address=settings.dask_address)
    return KeyedDaskTaskRunner(
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": settings.dask_threads_per_worker,
            "processes": settings.dask_processes,
            "dashboard_address": ":0" if settings.dask_local_dashboard else None,
        }
    )


# Every task of the flows has cache_policy=NO_CACHE. A run is idempotent through the lake (bronze's
# fetch log, MERGEs on keys), never through Prefect's result cache, which the flows do not use.
# Prefect's default policy still computes a key from each task run's inputs, by pickling them when
# they are not JSON: write-silver's input is every batch's silver rows, so each run pickled and
# hashed all of them (53 MiB and 0.15 s for 44,568 posts; 2.5-3.3 s of the 10x run) before
# writing them (docs/performance.md, "Seventh round" under "The CPU-bound pipeline").
@task(name="collect-batch", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def collect_batch_task(
    batch: list[dict[str, Any]],
    run_id: str,
    batch_id: str,
    lake_uri: str,
    accounts_file: str | None,
    since: datetime | None,
    window: BackfillWindow | None = None,
) -> BatchOutcome:
    settings = prepare_worker()
    registry = load_registry(accounts_file or settings.accounts_file)
    outcome = collect_batch(
        batch,
        run_id=run_id,
        batch_id=batch_id,
        lake=Lake(lake_uri),
        settings=settings,
        registry=registry,
        since=window.start if window else since,
    )
    if window is not None:
        outcome.silver = clip_to_window(outcome.silver, window)
    get_run_logger().info("batch %s: %s", batch_id, outcome.summary())
    return outcome


@task(name="write-silver", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def write_silver_task(
    outcomes: list[BatchOutcome], lake_uri: str
) -> tuple[dict[str, dict[str, int]], list[BatchOutcome]]:
    """Write every batch's silver rows; returns the counts written and the batches' outcomes
    without their rows (for the run's summary): the rows never travel to the flow's process."""
    prepare_worker()
    return pipeline.write_outcomes(Lake(lake_uri), outcomes), [o.summarised() for o in outcomes]


@task(name="enrich", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def enrich_task(lake_uri: str) -> dict[str, int]:
    """Text features, topics, places (changed posts only) and cross-platform campaign links."""
    prepare_worker()
    return pipeline.enrich(Lake(lake_uri))


@task(name="build-gold", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def build_gold_task(lake_uri: str) -> tuple[dict[str, int], date | None]:
    """Gold up to date (incremental), and the first day whose daily figures changed."""
    prepare_worker()
    return pipeline.refresh_gold(Lake(lake_uri))


@task(name="build-analytics", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def build_analytics_task(lake_uri: str, since: date) -> dict[str, int]:
    """Explained anomalies from ``since`` on (with their trailing window) and forecasts."""
    prepare_worker()
    return pipeline.refresh_analytics(Lake(lake_uri), since)


@task(name="build-quality", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def build_quality_task(lake_uri: str, run_id: str) -> dict[str, int]:
    prepare_worker()
    return pipeline.score_quality(Lake(lake_uri), run_id)


@task(name="build-slo", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def build_slo_task(lake_uri: str) -> int:
    """The ops/slo rows of the days since the last build (collection success, freshness...)."""
    prepare_worker()
    return pipeline.refresh_slo(Lake(lake_uri))


@flow(
    name="hhs-collect",
    description="Collect HHS accounts into the lake: bronze, silver and gold.",
    on_failure=[collect_failure_hook],
)
@audited
def collect_flow(
    platforms: list[str] | None = None,
    accounts_file: str | None = None,
    lake_uri: str | None = None,
    since: datetime | None = None,
    run_id: str | None = None,
    repoll: bool = False,
    tiers: list[int] | None = None,
    backfill_from: date | None = None,
    backfill_to: date | None = None,
    lookback_days: int | None = None,
) -> dict[str, Any]:
    """Collect every account of the registry (or of some platforms or tiers) and rebuild gold.

    ``tiers`` keeps the registry accounts of those tiers (1 hourly, 2 every 6 h, 3 daily).
    Batches run tier 1 first, so the high tier is served when a quota runs short.

    ``repoll`` collects only the accounts with a post whose engagement-curve age (1 h ... 28 d)
    falls due within the next ``HHS_REPOLL_HORIZON_MINUTES``: run it on that schedule.

    ``backfill_from``/``backfill_to`` (UTC days, both included) collect the posts published in
    that window and their current counters, and no account snapshot (see
    ``hhs_platform.backfill``).

    ``lookback_days`` reads each feed back to the posts published that many days before the run
    (``since`` relative to now): what the scheduled deployments do, so a collection reads the
    posts whose counters still move (the curve ages reach 28 days) instead of whole feeds. A
    monthly full read (no lookback) picks up edits and deletions of older posts.

    ``run_id`` resumes an interrupted run: accounts it already archived are not fetched again.
    A flow retry keeps the flow run's id, so it resumes the same way.

    While it fetches, the run holds the Prefect global concurrency limit ``collect-<platform>``
    of every platform it collects (``HHS_PLATFORM_CONCURRENCY``), so two runs never fetch one
    platform at once: the later one waits.
    """
    log = get_run_logger()
    settings = Settings()
    install_redaction(settings)
    window = backfill_window(backfill_from, backfill_to)
    if sum(x is not None for x in (window, since, lookback_days)) > 1:
        raise ConfigurationError("give one of since, lookback_days or a backfill window")
    if lookback_days is not None:
        if lookback_days < 1:
            raise ConfigurationError(f"lookback_days must be 1 or more, not {lookback_days}")
        since = datetime.now(UTC) - timedelta(days=lookback_days)
    lake_uri = lake_uri or settings.lake_uri
    accounts_file = accounts_file or (
        str(settings.accounts_file) if settings.accounts_file else None
    )
    registry = select_tiers(load_registry(accounts_file, platforms), tiers)
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
    if window is not None:
        log.info("backfill: posts published %s .. %s (UTC days)", window.first, window.last)
    for platform, why in left_out.items():
        log.info("not collected: %s (%d accounts): %s", platform, why["accounts"], why["reason"])
    limits = sorted({platform_limit_name(b[0]["platform"]) for b in batches})
    if settings.platform_concurrency and limits:
        created = ensure_limits(dict.fromkeys(limits, 1))
        if created:
            log.info("created concurrency limits %s (limit 1)", ", ".join(created))
    waited = datetime.now(UTC)
    held = (
        concurrency(limits, occupy=1, strict=True, lease_duration=PLATFORM_LEASE_S)
        if settings.platform_concurrency and limits
        else nullcontext()
    )
    with held:
        log.info(
            "holding %s after %.1f s",
            ", ".join(limits) or "nothing",
            (datetime.now(UTC) - waited).total_seconds(),
        )
        fetch_started = datetime.now(UTC)
        futures = [
            collect_batch_task.submit(
                b, run_id, f"{b[0]['platform']}-{i:04d}", lake_uri, accounts_file, since, window
            )
            for i, b in enumerate(batches)
        ]
        wait(futures)
        fetch_ended = datetime.now(UTC)
    # Futures, not results: the batches move between workers instead of through the flow.
    # Prefect resolves futures passed as arguments; its stubs type only the resolved values.
    silver, outcomes = write_silver_task.submit(futures, lake_uri).result()  # type: ignore[arg-type]
    # Written: the workers may drop the batches' rows (the run's largest objects) before the
    # build steps read the tables back.
    del futures
    enriched = enrich_task.submit(lake_uri).result()
    gold, changed = build_gold_task.submit(lake_uri).result()
    # a failed fetch changes no daily figure but is a collection gap: today is always looked at
    today = datetime.now(UTC).date()
    analytics = build_analytics_task.submit(lake_uri, min(changed or today, today)).result()
    quality = build_quality_task.submit(lake_uri, run_id).result()
    slo = build_slo_task.submit(lake_uri).result()
    # failed runs, freshness breaches and this build's anomalies to webhook subscribers
    webhooks.emit_and_deliver(Lake(lake_uri), settings)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "lake_uri": lake_uri,
        "tiers": sorted(tiers) if tiers else None,
        "backfill": [str(window.first), str(window.last)] if window else None,
        "accounts": sum(o.accounts for o in outcomes),
        "responses": sum(o.responses for o in outcomes),
        "fetched_accounts": sum(o.fetched for o in outcomes),
        "fetch_started_at": fetch_started.isoformat(),
        "fetch_ended_at": fetch_ended.isoformat(),
        "errors": [e.__dict__ for o in outcomes for e in o.errors],
        "silver": silver,
        "enriched": enriched,
        "gold": gold,
        "analytics": analytics,
        "quality": quality,
        "slo_rows": slo,
        "quality_score": run_quality(Lake(lake_uri), registry, today),
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
    tiers: list[int] | None = None,
    backfill: tuple[date, date] | None = None,
    timeout_seconds: float | None = None,
    lookback_days: int | None = None,
) -> dict[str, Any]:
    """Run the flow on the configured Dask cluster (what ``hhs collect`` calls).

    ``backfill`` is the (FROM, TO) pair of UTC days; ``timeout_seconds`` stops the run (Prefect
    marks it TimedOut) if it lasts longer.
    """
    settings = settings or Settings()
    # DaskTaskRunner is a TaskRunner of PrefectDaskFutures; Prefect types the option more narrowly.
    runner_flow = collect_flow.with_options(
        task_runner=task_runner(settings),  # type: ignore[arg-type]
        timeout_seconds=timeout_seconds,
    )
    return runner_flow(
        platforms=platforms,
        accounts_file=accounts_file,
        lake_uri=lake_uri,
        since=since,
        run_id=run_id,
        repoll=repoll,
        tiers=tiers,
        backfill_from=backfill[0] if backfill else None,
        backfill_to=backfill[1] if backfill else None,
        lookback_days=lookback_days,
    )


def scheduled(timeout_minutes: float, retries: int = 1) -> Flow[..., dict[str, Any]]:
    """The collection flow as a deployment runs it: on the configured Dask cluster, with a
    timeout (a run longer than its schedule's interval is stopped, not left to pile up; Prefect
    does not retry a timed-out run) and flow retries for other failures (a retry keeps the flow
    run's id, so it resumes: archived accounts are parsed from bronze, not fetched again)."""
    return collect_flow.with_options(
        task_runner=task_runner(Settings()),  # type: ignore[arg-type]
        timeout_seconds=timeout_minutes * 60,
        retries=retries,
        retry_delay_seconds=120,
    )


# Entry points of the deployments in prefect.yaml (docs/operations/scheduling.md).
#: tier 1, hourly: must end before the next hour's run.
collect_hourly = scheduled(timeout_minutes=50)
#: engagement re-polls, every HHS_REPOLL_HORIZON_MINUTES (60 by default).
collect_repoll = scheduled(timeout_minutes=50, retries=0)
#: tier 2, every 6 hours.
collect_6h = scheduled(timeout_minutes=300)
#: tier 3, daily.
collect_daily = scheduled(timeout_minutes=720)
