"""The table catalogue: name, model, keys, partitioning and write mode of every lake table."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import pandera.polars as pa
import polars as pl

from schemas import tables as t

WriteMode = Literal["append", "merge", "overwrite"]


@dataclass(frozen=True)
class TableSpec:
    """Everything a writer, reader or doc needs to know about one table."""

    name: str
    model: type[pa.DataFrameModel]
    keys: tuple[str, ...]
    partition_by: tuple[str, ...]
    mode: WriteMode
    layer: str
    #: Within a partition, rows are written sorted by these columns into files of about
    #: ``file_bytes``: each file then covers a range of them, and replacing the newest rows
    #: (a ``date IN (...)`` or ``created_at >= ...`` filter) rewrites only the files holding them.
    cluster_by: tuple[str, ...] = ()
    file_bytes: int | None = None

    @property
    def schema(self) -> pl.Schema:
        """The polars schema derived from the Pandera model."""
        return pl.Schema(_columns(self.model)[0])

    @property
    def description(self) -> str:
        return (self.model.__doc__ or "").strip().splitlines()[0]

    @property
    def descriptions(self) -> dict[str, str]:
        """Each column's meaning as written in the model (empty string where none)."""
        return dict(_columns(self.model)[1])

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


@functools.cache
def _columns(
    model: type[pa.DataFrameModel],
) -> tuple[tuple[tuple[str, pl.DataType], ...], tuple[tuple[str, str], ...]]:
    """Each column's polars type and description, read from the model once per process.

    Pandera builds a model's schema once per *thread*: a dashboard session, built on a thread of
    the server's pool, paid about 90 ms for the catalogue's models.
    """
    cols = model.to_schema().columns
    return (
        tuple((name, col.dtype.type) for name, col in cols.items()),
        tuple((name, col.description or "") for name, col in cols.items()),
    )


CATALOGUE: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "bronze/raw_responses",
            t.RawResponses,
            ("response_id",),
            ("platform", "fetched_date"),
            "append",
            "bronze",
        ),
        TableSpec(
            "bronze/fetch_log",
            t.FetchLog,
            ("run_id", "account_key", "started_at"),
            (),
            "append",
            "bronze",
        ),
        TableSpec("silver/accounts", t.Accounts, ("platform", "account_id"), (), "merge", "silver"),
        # The merged tables are ordered by when each row was last touched (appends sort by it,
        # `hhs maintain` Z-orders by it): a run's MERGE matches the rows of the previous runs,
        # so it reads and rewrites only the newest files, also after compaction.
        TableSpec(
            "silver/account_snapshots",
            t.AccountSnapshots,
            ("platform", "account_id", "observed_at"),
            ("platform",),
            "merge",
            "silver",
            cluster_by=("last_observed_at",),
            file_bytes=250_000,
        ),
        TableSpec(
            "silver/posts",
            t.Posts,
            ("platform", "post_id"),
            ("platform",),
            "merge",
            "silver",
            cluster_by=("last_seen_at",),
            file_bytes=500_000,
        ),
        TableSpec(
            "silver/post_metrics",
            t.PostMetrics,
            ("platform", "post_id", "observed_at"),
            ("platform",),
            "merge",
            "silver",
            cluster_by=("last_observed_at",),
            file_bytes=2_000_000,
        ),
        TableSpec(
            "silver/post_features",
            t.PostFeatures,
            ("platform", "post_id"),
            ("platform",),
            "merge",
            "silver",
            cluster_by=("source_last_seen_at",),
            file_bytes=250_000,
        ),
        # Written by agency (Lake.replace): a relinked post may change campaign_id, a key column.
        # Relinking starts at each agency's first changed post: ordered by publication time, a
        # daily relink rewrites only the newest files.
        TableSpec(
            "silver/campaign_items",
            t.CampaignItems,
            ("campaign_id", "platform", "post_id"),
            (),
            "overwrite",
            "silver",
            cluster_by=("created_at", "post_id"),
            file_bytes=500_000,
        ),
        TableSpec(
            "quarantine/rows",
            t.QuarantineRows,
            ("table", "row_hash", "run_id"),
            (),
            "merge",
            "quarantine",
        ),
        TableSpec(
            "quality/field_drift",
            t.FieldDrift,
            ("platform", "endpoint", "run_id", "field"),
            (),
            "merge",
            "quality",
        ),
        TableSpec(
            "quality/metric_sources",
            t.MetricSources,
            ("platform", "endpoint", "run_id", "metric", "field"),
            (),
            "merge",
            "quality",
        ),
        TableSpec(
            "quality/flags",
            t.QualityFlags,
            ("platform", "entity", "entity_id", "rule", "metric", "observed_at"),
            (),
            "merge",
            "quality",
        ),
        TableSpec(
            "quality/scorecard",
            t.QualityScorecard,
            ("date", "platform", "account_id"),
            (),
            "merge",
            "quality",
        ),
        TableSpec(
            "gold/weekly_account_metrics",
            t.WeeklyAccountMetrics,
            ("week", "platform", "account_id"),
            ("platform",),
            "overwrite",
            "gold",
        ),
        TableSpec(
            "gold/agency_metrics",
            t.AgencyMetrics,
            ("period", "period_start", "agency", "platform"),
            (),
            "overwrite",
            "gold",
            cluster_by=("period_start", "agency"),
            file_bytes=1_000_000,
        ),
        TableSpec(
            "gold/post_curves",
            t.PostCurves,
            ("platform", "post_id", "age_hours"),
            ("platform",),
            "overwrite",
            "gold",
            cluster_by=("created_at", "post_id"),
            file_bytes=500_000,
        ),
        # Merged (Lake.merge) with the posts observed since the previous build; clustered by when
        # each post was last observed, so a daily MERGE rewrites only the newest files.
        TableSpec(
            "gold/post_counters",
            t.PostCounters,
            ("platform", "post_id"),
            ("platform",),
            "merge",
            "gold",
            cluster_by=("last_observed_at",),
            file_bytes=250_000,
        ),
        TableSpec(
            "gold/trends", t.Trends, ("date", "agency", "kind", "term"), (), "overwrite", "gold"
        ),
        TableSpec(
            "gold/leaderboards",
            t.Leaderboards,
            ("period_start", "entity_type", "entity", "platform", "board"),
            (),
            "overwrite",
            "gold",
            cluster_by=("period_start", "entity"),
            file_bytes=500_000,
        ),
        TableSpec("gold/builds", t.GoldBuilds, ("built_at",), (), "append", "gold"),
        TableSpec("gold/custom_tables", t.CustomTables, ("name",), (), "merge", "gold"),
        TableSpec(
            "gold/daily_account_metrics",
            t.DailyAccountMetrics,
            ("date", "platform", "account_id"),
            ("platform",),
            "overwrite",
            "gold",
            cluster_by=("date", "account_id"),
            file_bytes=500_000,
        ),
        # Analytics over gold (hhs_platform/analytics): built after it, not by build_gold.
        TableSpec(
            "gold/anomalies",
            t.Anomalies,
            ("platform", "account_id", "metric", "date", "kind"),
            (),
            "overwrite",
            "analytics",
        ),
        TableSpec(
            "gold/forecasts",
            t.Forecasts,
            ("level", "platform", "entity", "metric", "date", "interval"),
            (),
            "overwrite",
            "analytics",
        ),
        TableSpec(
            "gold/forecast_backtest",
            t.ForecastBacktest,
            ("level", "platform", "entity", "metric", "horizon_days"),
            (),
            "overwrite",
            "analytics",
        ),
        TableSpec("ops/slo", t.OpsSlo, ("date", "slo", "scope"), (), "merge", "ops"),
        TableSpec("ops/deletions", t.OpsDeletions, ("request_id",), (), "append", "ops"),
        TableSpec("ops/alerts", t.OpsAlerts, ("key", "window_start"), (), "merge", "ops"),
        TableSpec("ops/probes", t.OpsProbes, ("url", "checked_at"), (), "append", "ops"),
        TableSpec("ops/api_tokens", t.OpsApiTokens, ("token_id",), (), "merge", "ops"),
        TableSpec("ops/api_requests", t.OpsApiRequests, ("request_id",), (), "append", "ops"),
        TableSpec("ops/runs", t.OpsRuns, ("run_id",), (), "merge", "ops"),
        TableSpec(
            "ops/changes",
            t.OpsChanges,
            ("table", "version", "committed_at"),
            (),
            "merge",
            "ops",
        ),
        TableSpec("ops/webhooks", t.OpsWebhooks, ("subscription_id",), (), "merge", "ops"),
        TableSpec("ops/webhook_events", t.OpsWebhookEvents, ("event_id",), (), "append", "ops"),
        TableSpec(
            "ops/webhook_deliveries",
            t.OpsWebhookDeliveries,
            ("delivery_id", "attempt"),
            (),
            "append",
            "ops",
        ),
    ]
}


#: Custom gold tables users publish (``hhs_platform.custom``), registered in this process.
#: Their definitions live in the lake (``gold/custom_tables``); ``hhs_platform.custom`` loads them.
CUSTOM: dict[str, TableSpec] = {}
CUSTOM_PREFIX = "gold/custom/"


def table_spec(name: str) -> TableSpec:
    """Return the spec of a table by name, with a clear error for an unknown one."""
    spec = CATALOGUE.get(name) or CUSTOM.get(name)
    if spec is None:
        known = ", ".join(sorted(CATALOGUE))
        raise KeyError(f"unknown table {name!r}; known tables: {known}")
    return spec


#: Tables a clean first collection legitimately leaves empty: nothing rejected, drifted,
#: flagged or anomalous, too little history to forecast, and no dashboard probed yet (the probe
#: is its own deployment). Every other table has rows.
EMPTY_ON_CLEAN_DATA = (
    "quarantine/rows",
    "quality/field_drift",
    "quality/flags",
    "gold/anomalies",
    "gold/forecasts",
    "gold/forecast_backtest",
    "ops/alerts",
    "ops/probes",
    "ops/deletions",
    "ops/api_tokens",  # HTTP API tokens and requests: none until someone creates a token
    "ops/api_requests",
    "gold/custom_tables",
    # recorded by flow runs (hhs_platform.lake.audit), not by the collection steps themselves
    "ops/runs",
    "ops/changes",
    # webhooks: subscriptions are added by hand; no anomaly, failure or breach on clean data
    "ops/webhooks",
    "ops/webhook_events",
    "ops/webhook_deliveries",
)
