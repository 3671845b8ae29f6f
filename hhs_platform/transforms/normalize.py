"""Bronze → silver: parse archived responses with their connector, add lineage, check contracts."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import polars as pl
import pyarrow as pa

from hhs_platform import jsonio
from hhs_platform.connectors import CONNECTORS, get_connector
from hhs_platform.connectors.base import decode_json_body
from hhs_platform.errors import ConfigurationError
from hhs_platform.metrics import METRIC_SOURCES
from hhs_platform.quality.contracts import quarantine_frame, validate
from hhs_platform.quality.drift import DriftCheck
from hhs_platform.quality.rules import apply_row_rules
from schemas import table_spec

SILVER_TABLES = (
    "silver/accounts",
    "silver/account_snapshots",
    "silver/posts",
    "silver/post_metrics",
)
_ATTR = {
    "silver/accounts": "accounts",
    "silver/account_snapshots": "account_snapshots",
    "silver/posts": "posts",
    "silver/post_metrics": "post_metrics",
}


@dataclass
class SilverBatch:
    """Valid rows per silver table and the quarantined ones, from one set of bronze rows."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: pl.DataFrame = field(default_factory=lambda: table_spec("quarantine/rows").empty())
    responses: int = 0
    #: (platform, account_id) whose whole feed is in this batch: posts missing from it are gone.
    complete_feeds: set[tuple[str, str]] = field(default_factory=set)
    #: quality/field_drift rows: fields the connectors rely on that responses stopped sending.
    drift: pl.DataFrame = field(default_factory=lambda: table_spec("quality/field_drift").empty())
    #: quality/metric_sources rows: the native field behind each canonical metric.
    metric_sources: pl.DataFrame = field(
        default_factory=lambda: table_spec("quality/metric_sources").empty()
    )
    #: Responses checked for drift per (platform, endpoint, run), so batches can be added up.
    drift_checked: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: The rows per table of a batch whose rows were dropped once written (see ``summarised``).
    written_counts: dict[str, int] | None = None

    @staticmethod
    def concat(batches: list[SilverBatch]) -> SilverBatch:
        out = SilverBatch()
        for name in SILVER_TABLES:
            frames = [b.tables[name] for b in batches if name in b.tables]
            out.tables[name] = pl.concat(frames) if frames else table_spec(name).empty()
        out.quarantine = pl.concat([b.quarantine for b in batches] or [out.quarantine])
        out.responses = sum(b.responses for b in batches)
        out.complete_feeds = set().union(*(b.complete_feeds for b in batches))
        # One run's batches add up: a (run, field) row is the sum over them, not the last one.
        for b in batches:
            for key, n in b.drift_checked.items():
                out.drift_checked[key] = out.drift_checked.get(key, 0) + n
        out.drift = _sum_drift(pl.concat([b.drift for b in batches] or [out.drift]), out)
        out.metric_sources = _sum_sources(
            pl.concat([b.metric_sources for b in batches] or [out.metric_sources])
        )
        return out

    def counts(self) -> dict[str, int]:
        if self.written_counts is not None:
            return dict(self.written_counts)
        return {
            **{k: v.height for k, v in self.tables.items()},
            "quarantine/rows": self.quarantine.height,
        }

    def summarised(self) -> SilverBatch:
        """The batch without its rows, once they are written: its counts, drift and metric
        sources (a few rows) stay, for the run's summary; the silver and quarantine rows (the
        bulk of a run's memory) go."""
        return SilverBatch(
            quarantine=self.quarantine.head(0),
            responses=self.responses,
            drift=self.drift,
            metric_sources=self.metric_sources,
            drift_checked=dict(self.drift_checked),
            written_counts=self.counts(),
        )


def _sum_sources(df: pl.DataFrame) -> pl.DataFrame:
    """quality/metric_sources rows of several batches, one per key: rows summed."""
    keys = list(table_spec("quality/metric_sources").keys)
    if df.height < 2 or not df.select(keys).is_duplicated().any():
        return df
    return (
        df.group_by(keys, maintain_order=True)
        .agg(
            pl.col("status").first(),
            pl.col("rows").sum(),
            pl.col("first_seen_at").min(),
            pl.col("last_seen_at").max(),
        )
        .select(df.columns)
    )


def _sum_drift(df: pl.DataFrame, batch: SilverBatch) -> pl.DataFrame:
    """quality/field_drift rows of several batches, one per key: missing and checked summed."""
    keys = list(table_spec("quality/field_drift").keys)
    if df.is_empty():
        return df
    checked = pl.DataFrame(
        [(*k, n) for k, n in batch.drift_checked.items()],
        schema={"platform": pl.Utf8, "endpoint": pl.Utf8, "run_id": pl.Utf8, "_checked": pl.Int64},
        orient="row",
    )
    summed = df.group_by(keys, maintain_order=True).agg(
        pl.col("responses_missing").sum(),
        pl.col("responses_checked").max(),
        pl.col("first_missing_at").min(),
        pl.col("last_missing_at").max(),
        pl.col("example_response_id").first(),
    )
    return (
        summed.join(checked, on=["platform", "endpoint", "run_id"], how="left")
        .with_columns(
            responses_checked=pl.max_horizontal("responses_checked", "_checked").cast(pl.Int64)
        )
        .select(df.columns)
    )


def parse_bronze(
    bronze: pl.DataFrame,
    registry: pl.DataFrame | None = None,
    decoded: Mapping[str, tuple[Any, None]] | None = None,
) -> SilverBatch:
    """Parse bronze rows (any platforms) into validated silver rows plus quarantine rows.

    Only 2xx responses of a known platform are parsed; payload problems become quarantine rows
    (table ``bronze/raw_responses``) so a malformed response is never silently dropped.

    ``decoded``: bodies already decoded as JSON by the fetch that archived them, by response id.
    A response of a connector that keeps what it fetched as it was
    (``Connector.keeps_fetched_json``) is parsed from that decode instead of its body decoded
    again (the same bytes, the same decoder: the same value).
    """
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SILVER_TABLES}
    problems: list[dict[str, Any]] = []
    used: list[tuple[Any, ...]] = []
    parsed = 0
    check = DriftCheck({p: c.expected_fields for p, c in CONNECTORS.items() if c.expected_fields})
    for rec in bronze.filter(pl.col("status").is_between(200, 299)).iter_rows(named=True):
        parsed += 1
        try:
            connector = get_connector(rec["platform"])
        except ConfigurationError:
            problems.append(_problem(rec, f"no connector for platform {rec['platform']!r}"))
            continue
        if decoded and connector.keeps_fetched_json:
            pre = decoded.get(rec["response_id"])
            if pre is not None:
                rec[jsonio.DECODED] = pre
        if check.fields(rec):  # decoded once, for the drift check and the parser
            rec[jsonio.DECODED] = body = decode_json_body(rec)
            check.add(rec, body)
        try:
            out = connector.parse(rec)
        except Exception as exc:  # a parser must not raise; if it does, nothing is lost
            problems.append(_problem(rec, f"parser crashed: {type(exc).__name__}: {exc}"))
            continue
        problems.extend(_problem(rec, p) for p in out.problems)
        for metric, fields in out.metric_fields.items():
            for native, n in fields.items():
                used.append(
                    (
                        rec["platform"],
                        rec["endpoint"],
                        rec["run_id"],
                        metric,
                        native,
                        n,
                        rec["fetched_at"],
                    )
                )
        lineage = {
            "platform": rec["platform"],
            "run_id": rec["run_id"],
            "response_id": rec["response_id"],
            "connector_version": rec["connector_version"],
        }
        seen = {"first_seen_at": rec["fetched_at"], "last_seen_at": rec["fetched_at"]}
        observed = {"observed_at": rec["fetched_at"], "last_observed_at": rec["fetched_at"]}
        for name, attr in _ATTR.items():
            extra = (
                observed if name in ("silver/account_snapshots", "silver/post_metrics") else seen
            )
            rows[name].extend({**r, **lineage, **extra} for r in getattr(out, attr))
    batch = SilverBatch(responses=parsed)
    batch.drift = check.rows()
    batch.drift_checked = check.totals
    batch.metric_sources = metric_source_rows(used)
    quarantined = [quarantine_frame(problems)]
    fetched = bronze.select("response_id", "fetched_at")
    for name in SILVER_TABLES:
        df = _one_per_key(name, _frame(name, rows[name]))
        if name == "silver/accounts":
            df = _join_registry(df, registry)
        valid, bad = validate(name, df)
        valid, broken = apply_row_rules(name, valid, fetched)  # social-data rules (quality.md)
        batch.tables[name] = valid
        quarantined += [bad, broken]
    batch.quarantine = pl.concat(quarantined)
    return batch


def metric_source_rows(used: list[tuple[Any, ...]]) -> pl.DataFrame:
    """quality/metric_sources rows from (platform, endpoint, run, metric, field, rows, time)."""
    spec = table_spec("quality/metric_sources")
    if not used:
        return spec.empty()
    status = {(s.platform, s.metric, s.field): s.status for s in METRIC_SOURCES}
    frame = pl.DataFrame(
        used,
        schema=["platform", "endpoint", "run_id", "metric", "field", "rows", "seen_at"],
        orient="row",
    )
    keys = ["platform", "endpoint", "run_id", "metric", "field"]
    out = frame.group_by(keys).agg(
        pl.col("rows").sum().cast(pl.Int64),
        pl.col("seen_at").min().alias("first_seen_at"),
        pl.col("seen_at").max().alias("last_seen_at"),
    )
    out = out.with_columns(
        status=pl.struct("platform", "metric", "field").map_elements(
            lambda r: status.get((r["platform"], r["metric"], r["field"]), "unknown"),
            return_dtype=pl.Utf8,
        )
    )
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def _problem(rec: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "table": "bronze/raw_responses",
        "run_id": rec["run_id"],
        "response_id": rec["response_id"],
        "platform": rec["platform"],
        "rules": [reason],
        "row": {
            "response_id": rec["response_id"],
            "endpoint": rec["endpoint"],
            "account_key": rec["account_key"],
            "reason": reason,
        },
    }


def _one_per_key(name: str, df: pl.DataFrame) -> pl.DataFrame:
    """One row per natural key: the same item served twice in a batch (a page repeated by the
    platform, a listing that shifted while it was read) is one item seen twice, not two rows
    breaking the table's uniqueness. The latest sighting wins; ``first_seen_at`` is the earliest.
    """
    keys = list(table_spec(name).keys)
    if df.height < 2 or not df.select(keys).is_duplicated().any():
        return df
    order = next((c for c in ("last_seen_at", "last_observed_at") if c in df.columns), None)
    latest = df.sort(order, maintain_order=True) if order else df
    latest = latest.unique(subset=keys, keep="last", maintain_order=True)
    if "first_seen_at" not in df.columns:
        return latest
    first = df.group_by(keys).agg(pl.col("first_seen_at").min().alias("_first"))
    return (
        latest.join(first, on=keys, how="left", nulls_equal=True)
        .with_columns(first_seen_at=pl.col("_first"))
        .drop("_first")
    )


def _frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The table's frame of parsed rows: keys a parser did not emit become nulls, unknown keys
    are ignored (schema drift lands later).

    Arrow's converter builds it (3.7 times faster than polars' for the posts' lists of media
    structs, which polars builds a Series at a time). It refuses a value of another type where
    polars casts (a bool where a count belongs): then polars builds the frame as before.
    """
    spec = table_spec(name)
    if not rows:
        return spec.empty()
    try:
        table = pa.Table.from_pylist(rows, schema=_arrow_schema(name))
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return pl.DataFrame(rows, schema=spec.schema, strict=False)
    return cast(pl.DataFrame, pl.from_arrow(table))  # a Table gives a DataFrame


@functools.cache
def _arrow_schema(name: str) -> pa.Schema:
    return table_spec(name).empty().to_arrow().schema


def _join_registry(accounts: pl.DataFrame, registry: pl.DataFrame | None) -> pl.DataFrame:
    if registry is None or accounts.is_empty():
        return accounts
    # A registry built in code may have all-null columns; give them the registry's types.
    types = {"agency": pl.Utf8, "agency_name": pl.Utf8, "parent_agency": pl.Utf8, "tier": pl.Int64}
    types |= {"platform": pl.Utf8, "handle": pl.Utf8, "platform_id": pl.Utf8}
    registry = registry.with_columns(
        pl.col(c).cast(t) for c, t in types.items() if c in registry.columns
    )
    reg = registry.select(
        (pl.col("platform") + ":" + pl.col("handle")).alias("account_key"),
        pl.col("agency").alias("_agency"),
        pl.col("agency_name").alias("_agency_name"),
        pl.col("parent_agency").alias("_parent_agency"),
        pl.col("tier").alias("_tier"),
    ).unique("account_key")
    joined = accounts.join(reg, on="account_key", how="left")
    facts = ("agency", "agency_name", "parent_agency", "tier")
    if "platform_id" in registry.columns:
        # Ids outlive handles: a row whose handle was renamed since the response was archived
        # (a replay of old bronze) still finds its registry row through the platform id.
        by_id = (
            registry.filter(pl.col("platform_id").is_not_null())
            .select(
                "platform",
                pl.col("platform_id").alias("account_id"),
                *(pl.col(c).alias(f"_id_{c}") for c in facts),
            )
            .unique(["platform", "account_id"])
        )
        joined = joined.join(by_id, on=["platform", "account_id"], how="left")
        joined = joined.with_columns(pl.coalesce(f"_id_{c}", f"_{c}").alias(f"_{c}") for c in facts)
    return joined.with_columns(pl.coalesce(c, f"_{c}").alias(c) for c in facts).select(
        accounts.columns
    )
