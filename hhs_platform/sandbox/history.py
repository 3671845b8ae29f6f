"""Collect a simulated world day by day through the real pipeline, to build a lake with history.

A single collection sees the accounts' figures once; dashboards, anomalies and the quality
scorecard need days of observations. :func:`collect_history` moves the simulated world's clock
one day at a time, collects every account over real sockets (bronze, fetch log, silver), and
builds everything downstream after each day the way the collection flow does (enrichment, gold,
anomalies, quality), then forecasts once at the end. The demo lake of the dashboard tests and
``hhs demo --history-days N`` are built this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from hhs_platform import pipeline
from hhs_platform.analytics import build_anomalies, build_forecasts
from hhs_platform.collect import (
    archived_responses,
    collect_batch,
    logged_fetches,
    plan_batches,
    silver_from_bronze,
)
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.ops.slo import build_slo
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.sandbox.faults import FaultProfile
from hhs_platform.sandbox.server import SandboxThread
from hhs_platform.sandbox.world import World
from hhs_platform.settings import Settings

#: A day's registry: the accounts collected on that simulated day (e.g. leave one out for a gap).
RegistryFor = Callable[[datetime], pl.DataFrame]


@dataclass
class History:
    """What :func:`collect_history` did: one run per day, and the instants the clock read."""

    run_ids: list[str] = field(default_factory=list)
    instants: list[datetime] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sandbox_settings(
    sb: SandboxThread, lake: Lake, platforms: Iterable[str], **overrides: Any
) -> Settings:
    """Settings that point every connector at the simulated platforms (which accept any token)."""
    token = "history-sandbox-token"  # noqa: S105 - accepted by the simulated platforms only
    values: dict[str, Any] = {
        "lake_uri": lake.uri,
        "youtube_api_key": token,
        "x_bearer_token": token,
        "facebook_access_token": token,
        "instagram_access_token": token,
        "instagram_business_account_id": "17841400000000001",
        "linkedin_access_token": token,
        "flickr_api_key": token,
    }
    for platform in platforms:
        values[f"{platform}_api_base"] = sb.url(platform)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fetch_day(
    sb: SandboxThread,
    scratch: Lake,
    registry: pl.DataFrame,
    run_id: str,
    since: datetime | None,
    *,
    parse: bool = True,
) -> list[str]:
    """Fetch ``registry`` from the simulated platforms into ``scratch`` (bronze and fetch log)
    in batches of 10, as run ``run_id``, each batch parsed as a collection task parses it
    (``parse=False``: not parsed); the accounts' collection errors, as text."""
    settings = sandbox_settings(sb, scratch, registry["platform"].unique().to_list())
    errors: list[str] = []
    for i, batch in enumerate(plan_batches(registry, 10, settings)):
        outcome = collect_batch(
            batch,
            run_id=run_id,
            batch_id=str(i),
            lake=scratch,
            settings=settings,
            registry=registry,
            since=since,
            parse=parse,
        )
        errors += [f"{e.account_key}: {e.error}: {e.message}" for e in outcome.errors]
    return errors


def collect_day(
    sb: SandboxThread,
    scratch: Lake,
    lake: Lake,
    registry: pl.DataFrame,
    at: datetime,
    run_id: str,
    since: datetime | None,
) -> list[str]:
    """Collect ``registry`` at the simulated instant ``at`` into ``lake`` (bronze and silver).

    The real collection (HTTP, bronze, fetch log) runs into ``scratch``; its responses and fetch
    log, stamped with the simulated instant instead of the wall clock, are archived in ``lake``
    and go to silver by the path collection takes (``silver_from_bronze``).

    Returns:
        The accounts' collection errors, as text.
    """
    # parsed once below, after re-stamping (the live parse would be thrown away)
    errors = fetch_day(sb, scratch, registry, run_id, since, parse=False)
    fetches = logged_fetches(scratch, run_id)
    if fetches.is_empty():
        return errors
    frame = archived_responses(scratch, fetches)
    first: datetime = fetches["started_at"].min()  # type: ignore[assignment]
    shift = at - first
    frame = frame.with_columns(fetched_at=pl.col("fetched_at") + shift).with_columns(
        fetched_date=pl.col("fetched_at").dt.date()
    )
    fetches = fetches.with_columns(pl.col("started_at", "finished_at") + shift)
    lake.append("bronze/raw_responses", frame)
    lake.append("bronze/fetch_log", fetches)
    write_silver(lake, silver_from_bronze(frame, fetches, registry))
    return errors


def collect_history(
    world: World,
    lake: Lake,
    scratch: Lake,
    *,
    days: int,
    registry: pl.DataFrame,
    collected: RegistryFor | None = None,
    hour: int = 12,
    settings: Settings | None = None,
    faults: FaultProfile | None = None,
) -> History:
    """Collect ``world`` once a day for ``days`` days from its epoch, building gold each day.

    Args:
        world: The simulated world, built from ``registry`` (its clock is moved).
        lake: The lake to build.
        scratch: A scratch lake the live collections write to before being re-stamped.
        days: Daily collections to run.
        registry: The registry the world was built from: the accounts collected.
        collected: The accounts to collect on a day, as a function of the day's instant (to
            leave some out on some days); default: every account of ``registry``.
        hour: UTC hour of each day's collection.
        settings: Analytics and quality settings (anomaly thresholds, ...); default: defaults.
        faults: Faults the simulated platforms inject (e.g. malformed pages for quarantine).

    Returns:
        The run ids and instants of the collections, and any collection errors.
    """
    history = History()
    epoch = world.now()
    with SandboxThread(world=world, faults=faults) as sb:
        for n in range(days):
            at = epoch + timedelta(days=n, hours=hour)
            world.clock.set(at)
            accounts = collected(at) if collected is not None else registry
            run_id = f"history-{n:03d}"
            recent = None if n == 0 else at - timedelta(days=3)  # daily runs read recent pages
            history.errors += collect_day(sb, scratch, lake, accounts, at, run_id, recent)
            pipeline.enrich(lake)
            _, changed = pipeline.refresh_gold(lake)
            since = None if n == 0 else min(changed or at.date(), at.date())
            build_anomalies(lake, since, settings=settings, now=at)
            build_quality(lake, run_id, settings=settings, now=at)
            build_slo(lake, now=at, settings=settings)
            history.run_ids.append(run_id)
            history.instants.append(at)
        build_forecasts(lake, settings=settings, now=history.instants[-1] if days else None)
    return history


__all__ = [
    "History",
    "RegistryFor",
    "collect_day",
    "collect_history",
    "fetch_day",
    "sandbox_settings",
]
