"""Retention: delete the rows of a table older than its window, after copying them to an archive.

The policy (``HHS_RETENTION_DAYS``) maps a table to the days its rows stay in the hot lake; a
table it does not name is kept forever. :func:`apply_retention` takes each named table's rows
older than the window by the table's time column (:data:`TIME_COLUMNS`), appends them to the
archive lake (``HHS_ARCHIVE_URI``) when one is given, then deletes them with one Delta
``DELETE`` (a literal predicate on the date partition where the table has one, so whole files
go without being read). A window counts whole UTC days: with 400 days on 2026-11-29, every row
before 2025-10-25T00:00Z goes.

The delete is a normal Delta commit: earlier versions (time travel) still hold the rows until
the vacuum that follows removes their files, which keeps the ``HHS_LAKE_RETENTION_HOURS``
window unless ``purge`` asks for immediate removal.

Bronze past retention can no longer rebuild silver (``hhs replay``) unless it was archived: see
docs/operations/retention.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from hhs_platform.errors import ConfigurationError, LakeError
from hhs_platform.lake.audit import commit_properties, record_changes
from hhs_platform.lake.store import Lake
from hhs_platform.settings import get_settings
from schemas import CATALOGUE, TableSpec

#: The time column retention reads per table, and the date partition column derived from it
#: (deleted by a literal partition predicate). Tables not listed use the first of
#: :data:`_FALLBACK_TIME_COLUMNS` they have.
TIME_COLUMNS: dict[str, tuple[str, str | None]] = {
    "bronze/raw_responses": ("fetched_at", "fetched_date"),
    "bronze/fetch_log": ("started_at", None),
    "quarantine/rows": ("quarantined_at", None),
    "quality/field_drift": ("last_missing_at", None),
    "quality/metric_sources": ("last_seen_at", None),
    "quality/flags": ("observed_at", None),
    "quality/scorecard": ("date", None),
    "gold/builds": ("built_at", None),
    "ops/slo": ("date", None),
    "ops/probes": ("checked_at", None),
    "ops/alerts": ("window_start", None),
    # the audit trail: kept forever unless the policy names them (a records schedule)
    "ops/runs": ("started_at", None),
    "ops/changes": ("committed_at", None),
    # the HTTP API's request log and the webhooks' outbox and attempts
    "ops/api_requests": ("requested_at", None),
    "ops/webhook_events": ("emitted_at", None),
    "ops/webhook_deliveries": ("attempted_at", None),
}
_FALLBACK_TIME_COLUMNS = (
    "checked_at",
    "fetched_at",
    "observed_at",
    "evaluated_at",
    "computed_at",
    "requested_at",
    "created_at",
    "date",
)


@dataclass
class TableRetention:
    """What retention did (or, in a dry run, would do) to one table."""

    table: str
    days: int
    cutoff: datetime
    time_column: str
    rows_expired: int = 0  # rows older than the window found in the hot table
    rows_archived: int = 0  # of those, newly written to the archive (0 without one)
    rows_deleted: int = 0
    files_removed: int = 0  # data files the DELETE took out of the current version
    files_vacuumed: int = 0  # files physically deleted by the vacuum that followed
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RetentionReport:
    """Every table's retention, in policy order."""

    tables: list[TableRetention] = field(default_factory=list)
    dry_run: bool = False
    archive: str | None = None

    @property
    def failed(self) -> list[TableRetention]:
        return [t for t in self.tables if t.error]

    def render(self) -> str:
        """One line per table: cutoff, rows expired, archived, deleted, files (or the error)."""
        lines = []
        for t in self.tables:
            head = f"{t.table:28s} {t.days:>5d} d, before {t.cutoff:%Y-%m-%d}:"
            if t.error:
                lines.append(f"{head} FAILED: {t.error}")
            elif self.dry_run:
                lines.append(f"{head} {t.rows_expired:,} rows would be deleted (dry run)")
            else:
                lines.append(
                    f"{head} {t.rows_archived:,} archived, {t.rows_deleted:,} deleted, "
                    f"{t.files_removed:,} files removed, {t.files_vacuumed:,} vacuumed "
                    f"({t.seconds:.1f} s)"
                )
        return "\n".join(lines) + "\n"


def archive_lake(uri: str | None = None) -> Lake | None:
    """The archive lake: ``uri``, else ``HHS_ARCHIVE_URI``; None when neither is set.

    Its storage options are ``HHS_ARCHIVE_STORAGE_OPTIONS``, else the lake's.
    """
    settings = get_settings()
    uri = (uri or settings.archive_uri).strip()
    if not uri:
        return None
    return Lake(uri, settings.archive_storage_options or settings.lake_storage_options)


def time_column(spec: TableSpec) -> tuple[str, str | None]:
    """The column a table's rows age by, and its date partition column (if any).

    Raises:
        ConfigurationError: The table has no time column retention could use.
    """
    if spec.name in TIME_COLUMNS:
        return TIME_COLUMNS[spec.name]
    for name in _FALLBACK_TIME_COLUMNS:
        if name in spec.schema and spec.schema[name] in (pl.Date, pl.Datetime):
            return name, None
    raise ConfigurationError(
        f"HHS_RETENTION_DAYS names {spec.name}, which has no time column retention can use; "
        f"remove it from the policy or add it to TIME_COLUMNS in {__name__}"
    )


def cutoff_for(days: int, now: datetime) -> datetime:
    """The start (UTC midnight) of the oldest day kept: rows before it are past retention."""
    day = (now.astimezone(UTC) - timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def check_policy(policy: Mapping[str, int]) -> dict[str, int]:
    """The policy with every table known and every window positive.

    Raises:
        ConfigurationError: An unknown table, or a window below one day.
    """
    unknown = sorted(set(policy) - set(CATALOGUE))
    if unknown:
        raise ConfigurationError(
            f"HHS_RETENTION_DAYS names unknown table(s) {', '.join(unknown)}; "
            "`hhs tables` lists the tables"
        )
    bad = {k: v for k, v in policy.items() if int(v) < 1}
    if bad:
        raise ConfigurationError(f"HHS_RETENTION_DAYS windows must be at least 1 day, got {bad}")
    return {k: int(v) for k, v in policy.items()}


def apply_retention(
    lake: Lake,
    policy: Mapping[str, int] | None = None,
    now: datetime | None = None,
    archive: Lake | None = None,
    dry_run: bool = False,
    *,
    tables: Iterable[str] | None = None,
    purge: bool = False,
    retention_hours: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RetentionReport:
    """Delete every table's rows older than its window, archiving them first when asked.

    Args:
        lake: The hot lake.
        policy: Table -> days kept (default ``HHS_RETENTION_DAYS``); tables not named are kept.
        now: The clock (default: now, UTC); the window counts whole UTC days back from it.
        archive: A lake to append the expired rows to before they are deleted (cold storage).
            Rows it already holds (by the table's keys) are not written again, so a run
            interrupted between archive and delete is safe to repeat.
        dry_run: Only count the rows that would go; write nothing.
        tables: Only these tables of the policy.
        purge: Vacuum with no time-travel window: the deleted rows' files go at once (and
            earlier versions stop being readable). Default: keep ``HHS_LAKE_RETENTION_HOURS``.
        retention_hours: The vacuum's time-travel window (default ``HHS_LAKE_RETENTION_HOURS``;
            ignored with ``purge``).
        progress: Called with a line per table done.

    Returns:
        Per table: rows expired, archived and deleted, files removed and vacuumed. A table that
        failed carries the error; the others are still done.
    """
    settings = get_settings()
    policy = check_policy(settings.retention_days if policy is None else policy)
    if tables is not None:
        wanted = list(tables)
        missing = sorted(set(wanted) - set(policy))
        if missing:
            raise ConfigurationError(
                f"no retention window for {', '.join(missing)}: add it to HHS_RETENTION_DAYS"
            )
        policy = {k: v for k, v in policy.items() if k in wanted}
    now = now or datetime.now(UTC)
    hours = 0 if purge else (retention_hours if retention_hours is not None else None)
    if hours is None:
        hours = settings.lake_retention_hours
    report = RetentionReport(dry_run=dry_run, archive=archive.uri if archive else None)
    for name, days in policy.items():
        spec = CATALOGUE[name]
        column, partition = time_column(spec)
        entry = TableRetention(name, days, cutoff_for(days, now), column)
        if lake.delta(name) is None:
            continue  # never written: nothing to age
        started = time.monotonic()
        try:
            _retain_one(lake, spec, entry, partition, archive, dry_run, hours, purge)
        except Exception as exc:
            entry.error = f"{type(exc).__name__}: {exc}"
        entry.seconds = time.monotonic() - started
        report.tables.append(entry)
        if progress is not None:
            progress(
                RetentionReport([entry], dry_run=dry_run).render().rstrip("\n"),
            )
    if not dry_run:  # ops/changes: the deletions, with their reason, who and which code
        for target in (lake, archive) if archive is not None else (lake,):
            record_changes(target)
    return report


def _expired(spec: TableSpec, column: str, cutoff: datetime) -> pl.Expr:
    bound: datetime | date = cutoff.date() if spec.schema[column] == pl.Date else cutoff
    return pl.col(column) < pl.lit(bound, spec.schema[column])


def _predicate(spec: TableSpec, column: str, partition: str | None, cutoff: datetime) -> str:
    """The SQL of the DELETE: the date partition alone where there is one (whole files go)."""
    if partition is not None:
        # cutoff is a UTC midnight, so day < cutoff's day is exactly time < cutoff
        return f"{partition} < '{cutoff.date().isoformat()}'"
    if spec.schema[column] == pl.Date:
        return f"{column} < '{cutoff.date().isoformat()}'"
    return f"{column} < '{cutoff.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def _retain_one(
    lake: Lake,
    spec: TableSpec,
    entry: TableRetention,
    partition: str | None,
    archive: Lake | None,
    dry_run: bool,
    hours: int,
    purge: bool,
) -> None:
    expired = _expired(spec, entry.time_column, entry.cutoff)
    entry.rows_expired = int(lake.scan(spec.name).filter(expired).select(pl.len()).collect().item())
    if dry_run or entry.rows_expired == 0:
        return
    if archive is not None:
        entry.rows_archived = _archive(lake, archive, spec, expired, partition)
    delta = lake.delta(spec.name)
    assert delta is not None
    metrics = delta.delete(
        _predicate(spec, entry.time_column, partition, entry.cutoff),
        commit_properties=commit_properties(f"retention: rows before {entry.cutoff:%Y-%m-%d}"),
    )
    entry.rows_deleted = int(metrics.get("num_deleted_rows", entry.rows_expired))
    entry.files_removed = int(metrics.get("num_removed_files", 0))
    if entry.rows_deleted != entry.rows_expired:
        raise LakeError(
            f"{spec.name}: {entry.rows_expired} rows were past retention but the DELETE removed "
            f"{entry.rows_deleted} (a writer committed meanwhile?); run retention again"
        )
    delta.update_incremental()
    removed = delta.vacuum(
        retention_hours=hours, dry_run=False, enforce_retention_duration=hours >= 168, full=purge
    )
    entry.files_vacuumed = len(removed)


def _archive(
    lake: Lake, archive: Lake, spec: TableSpec, expired: pl.Expr, partition: str | None
) -> int:
    """Append the expired rows the archive lacks (by key); one batch per day partition."""
    keys = list(spec.keys)
    batches: list[pl.Expr] = [expired]
    if partition is not None:  # bronze bodies: a day at a time, never the whole backlog at once
        days = (
            lake.scan(spec.name)
            .filter(expired)
            .select(pl.col(partition).unique().sort())
            .collect()[partition]
            .to_list()
        )
        batches = [expired & (pl.col(partition) == pl.lit(d)) for d in days]
    written = 0
    for where in batches:
        rows = lake.scan(spec.name).filter(where).collect()
        if archive.exists(spec.name):
            held = archive.scan(spec.name).filter(where).select(keys).collect()
            rows = rows.join(held, on=keys, how="anti", nulls_equal=True)
        if rows.height:
            archive.append(spec.name, rows)
            written += rows.height
    return written


__all__ = [
    "TIME_COLUMNS",
    "RetentionReport",
    "TableRetention",
    "apply_retention",
    "archive_lake",
    "check_policy",
    "cutoff_for",
    "time_column",
]
