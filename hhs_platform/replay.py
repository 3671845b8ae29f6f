"""Rebuild silver from bronze without a single request: how a parser fix reaches history.

Each run is replayed the way it was collected: the responses its ``bronze/fetch_log`` rows cover
go through ``silver_from_bronze`` (the same path collection takes) and ``write_silver``, run after
run in the order they were collected, so deletions and run-length encoded series come out as they
did live. Runs archived before the fetch log existed are replayed from all their responses (their
feeds are not called complete, so they mark nothing deleted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from hhs_platform.analytics.anomalies import build_anomalies
from hhs_platform.analytics.forecasts import build_forecasts
from hhs_platform.collect import archived_responses, silver_from_bronze
from hhs_platform.enrich import enrich_posts, link_campaigns
from hhs_platform.errors import LakeError
from hhs_platform.lake.silver import write_silver
from hhs_platform.lake.store import Lake
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.transforms.gold import build_gold
from hhs_platform.transforms.normalize import SILVER_TABLES
from schemas import table_spec

#: Tables a full replay empties first and rebuilds: everything parsing bronze produces.
REBUILT = (
    *SILVER_TABLES,
    "quarantine/rows",
    "quality/field_drift",
    "quality/metric_sources",
    "quality/flags",
)


@dataclass
class ReplayReport:
    """What a replay did."""

    runs: list[str] = field(default_factory=list)
    responses: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    skipped_responses: int = 0  # archived by an attempt killed before its fetch log was written
    full: bool = False

    def add(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            self.rows[name] = self.rows.get(name, 0) + n


def plan_replay(
    lake: Lake, run_ids: list[str] | None = None, since: datetime | None = None
) -> pl.DataFrame:
    """The runs to replay, oldest first: run_id, started (first response), logged (has a fetch log)."""
    if not lake.exists("bronze/raw_responses"):
        return pl.DataFrame(
            schema={"run_id": pl.Utf8, "started": pl.Datetime("us", "UTC"), "logged": pl.Boolean}
        )
    runs = (
        lake.scan("bronze/raw_responses")
        .group_by("run_id")
        .agg(pl.col("fetched_at").min().alias("started"))
        .collect()
    )
    logged = (
        lake.scan("bronze/fetch_log").select("run_id").unique().collect()["run_id"].to_list()
        if lake.exists("bronze/fetch_log")
        else []
    )
    runs = runs.with_columns(logged=pl.col("run_id").is_in(logged))
    if run_ids:
        unknown = sorted(set(run_ids) - set(runs["run_id"]))
        if unknown:
            raise LakeError(f"no responses of run(s) {', '.join(unknown)} in bronze at {lake.uri}")
        runs = runs.filter(pl.col("run_id").is_in(run_ids))
    if since is not None:
        runs = runs.filter(pl.col("started") >= since)
    return runs.sort("started", "run_id")


def replay(
    lake: Lake,
    *,
    run_ids: list[str] | None = None,
    since: datetime | None = None,
    registry: pl.DataFrame | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> ReplayReport:
    """Re-parse archived responses into silver (and rebuild gold). Makes no request.

    Without ``run_ids`` or ``since`` it is a full rebuild: the tables parsing produces are emptied
    first (a new Delta version; the old one stays readable by time travel) and every run is
    replayed. With them, the chosen runs are merged into silver as they stand, which is
    idempotent: replaying a run twice changes nothing.
    """
    plan = plan_replay(lake, run_ids, since)
    report = ReplayReport(full=not run_ids and since is None)
    if plan.is_empty():
        progress("nothing to replay: no runs in bronze match")
        return report
    if report.full:
        for name in REBUILT:
            if lake.exists(name):
                lake.overwrite(name, table_spec(name).empty())
    for i, (run_id, started, logged) in enumerate(plan.iter_rows(), 1):
        fetches = _fetches(lake, run_id, logged)
        covered = 0
        for (platform,), group in fetches.group_by(["platform"], maintain_order=True):
            frame = (
                archived_responses(lake, group)
                if logged
                else lake.scan("bronze/raw_responses")
                .filter((pl.col("platform") == platform) & (pl.col("run_id") == run_id))
                .collect()
            )
            silver = silver_from_bronze(frame, group, registry)
            write_silver(lake, silver)
            covered += frame.height
            report.add(silver.counts())
        report.responses += covered
        report.skipped_responses += _responses_of(lake, run_id) - covered
        build_quality(lake, run_id)  # the run's flags, and today's scorecard
        report.runs.append(run_id)
        progress(
            f"[{i}/{plan.height}] run {run_id} (started {started:%Y-%m-%d %H:%M:%S}Z) replayed"
        )
    enrich_posts(lake)  # features of posts whose content the replay changed
    link_campaigns(lake)
    build_gold(lake, full=True)  # replayed rows carry their old times: no watermark applies
    build_anomalies(lake)
    build_forecasts(lake)
    return report


def _fetches(lake: Lake, run_id: str, logged: bool) -> pl.DataFrame:
    """The run's latest fetch per account; for a run without a log, one pseudo-row per platform."""
    spec = table_spec("bronze/fetch_log")
    if logged:
        return (
            lake.scan("bronze/fetch_log")
            .filter(pl.col("run_id") == run_id)
            .sort("started_at")
            .group_by("account_key", maintain_order=True)
            .last()
            .select(spec.schema.names())
            .sort("platform", "account_key")
            .collect()
        )
    platforms = (
        lake.scan("bronze/raw_responses")
        .filter(pl.col("run_id") == run_id)
        .select("platform")
        .unique()
        .collect()["platform"]
        .sort()
        .to_list()
    )
    # No log: nothing is known complete, so the pseudo-rows say "partial" (no tombstones).
    return pl.DataFrame(
        {"platform": platforms, "account_key": platforms, "status": ["partial"] * len(platforms)}
    )


def _responses_of(lake: Lake, run_id: str) -> int:
    """How many responses bronze holds for a run (the ones outside every logged fetch window
    belong to attempts killed, or failed and fetched again, and are kept but not parsed)."""
    n = (
        lake.scan("bronze/raw_responses")
        .filter(pl.col("run_id") == run_id)
        .select(pl.len())
        .collect()
        .item()
    )
    return int(n)
