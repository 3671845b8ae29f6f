"""Table maintenance: compaction, Z-order on the columns readers filter on, vacuum, checkpoints.

Every collection appends or merges small files; readers then open many files and the Delta log
grows. :func:`maintain` runs, per table: ``optimize.compact`` (small files into large ones),
``optimize.z_order`` on the columns the dashboards and the read API filter on (so a filter skips
most files by their statistics), ``vacuum`` of the files no version inside the retention window
needs (time travel stays possible for that window), and a checkpoint of the log. Each step is a
normal Delta commit: readers see the same rows before and after.

Run it when no collection writes (a concurrent writer makes the optimize commit fail; the table
is then reported as failed and left as it was).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl
from deltalake import DeltaTable

from hhs_platform.custom import known_tables
from hhs_platform.lake.store import Lake
from hhs_platform.settings import get_settings
from schemas import table_spec

#: Columns to Z-order each table by (never a partition column). Tables not listed are only
#: compacted.
ZORDER: dict[str, tuple[str, ...]] = {
    # clustered tables (TableSpec.cluster_by): ordered by their first cluster column, in files of
    # the table's size, so a daily replace of the newest rows, or a MERGE of the rows the last
    # runs touched, keeps rewriting only the newest files
    "silver/posts": ("last_seen_at",),
    "silver/post_metrics": ("last_observed_at",),
    "silver/post_features": ("source_last_seen_at",),
    "silver/account_snapshots": ("last_observed_at",),
    "silver/campaign_items": ("created_at",),
    "gold/daily_account_metrics": ("date",),
    "gold/weekly_account_metrics": ("agency", "week"),
    "gold/agency_metrics": ("period_start",),
    "gold/leaderboards": ("period_start",),
    "gold/post_curves": ("created_at",),
    "gold/post_counters": ("last_observed_at",),
    "gold/trends": ("agency", "date"),
    "quality/scorecard": ("date", "account_id"),
    "bronze/fetch_log": ("run_id", "account_key"),
}


@dataclass
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    files_before: int = 0
    files_after: int = 0
    files_compacted: int = 0
    zordered_by: tuple[str, ...] = ()
    files_vacuumed: int = 0
    version_before: int | None = None
    version_after: int | None = None
    rows: int | None = None
    bytes_after: int | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class MaintenanceReport:
    """Every table's maintenance, in order."""

    tables: list[TableMaintenance] = field(default_factory=list)

    @property
    def failed(self) -> list[TableMaintenance]:
        return [t for t in self.tables if t.error]

    def render(self) -> str:
        """One line per table: files before → after, vacuumed, Z-order, time (or the error)."""
        lines = []
        for t in self.tables:
            if t.error:
                lines.append(f"{t.table:32s} FAILED: {t.error}")
                continue
            z = f", z-ordered by {', '.join(t.zordered_by)}" if t.zordered_by else ""
            lines.append(
                f"{t.table:32s} files {t.files_before:>6,} -> {t.files_after:>6,}, "
                f"{t.files_vacuumed:,} vacuumed{z}, version {t.version_before} -> "
                f"{t.version_after}, {t.rows or 0:,} rows in {(t.bytes_after or 0) / 1e6:,.1f} MB "
                f"({t.seconds:.1f} s)"
            )
        return "\n".join(lines) + "\n"


def maintain(
    lake: Lake,
    tables: Iterable[str] | None = None,
    *,
    retention_hours: int | None = None,
    zorder: bool = True,
    progress: Callable[[str], None] | None = None,
) -> MaintenanceReport:
    """Compact, Z-order, vacuum and checkpoint the lake's tables.

    Args:
        lake: The lake.
        tables: Tables to maintain (default: every table of the catalogue that exists).
        retention_hours: Keep the files of every version of the last this many hours (time
            travel window); default ``HHS_LAKE_RETENTION_HOURS``. 0 keeps only the current
            version's files.
        zorder: Z-order the tables of :data:`ZORDER` (it rewrites them whole; compaction only
            when False).
        progress: Called with a line per table done.

    Returns:
        What was done to each table; a table whose maintenance failed carries the error and is
        left at its last successful commit.
    """
    hours = retention_hours if retention_hours is not None else get_settings().lake_retention_hours
    names = list(tables) if tables is not None else known_tables(lake)
    report = MaintenanceReport()
    for name in names:
        table_spec(name)  # an unknown table is an error, not a skip
        delta = lake.delta(name)
        if delta is None:
            continue
        entry = TableMaintenance(name, version_before=delta.version())
        started = time.monotonic()
        try:
            _maintain_one(delta, entry, name, hours, zorder)
        except Exception as exc:
            entry.error = f"{type(exc).__name__}: {exc}"
        entry.seconds = time.monotonic() - started
        report.tables.append(entry)
        if progress is not None:
            progress(MaintenanceReport([entry]).render().rstrip("\n"))
    return report


def _maintain_one(
    delta: DeltaTable, entry: TableMaintenance, name: str, hours: int, zorder: bool
) -> None:
    entry.files_before = len(delta.file_uris())
    columns = ZORDER.get(name, ()) if zorder else ()
    size = table_spec(name).file_bytes  # None: the default
    if columns:
        metrics = delta.optimize.z_order(list(columns), target_size=size)
        entry.zordered_by = columns
    else:
        metrics = delta.optimize.compact(target_size=size)
    entry.files_compacted = int(metrics.get("numFilesRemoved", 0))
    delta.update_incremental()
    removed = delta.vacuum(
        retention_hours=hours, dry_run=False, enforce_retention_duration=hours >= 168
    )
    entry.files_vacuumed = len(removed)
    delta.update_incremental()
    delta.create_checkpoint()
    entry.files_after = len(delta.file_uris())
    entry.version_after = delta.version()
    entry.rows, entry.bytes_after = table_statistics(delta)


def table_statistics(delta: DeltaTable) -> tuple[int | None, int]:
    """Rows and bytes of the table's current files, from the log's add actions (no data read).

    Rows are None when a file was written without statistics.
    """
    adds = pl.DataFrame(delta.get_add_actions(flatten=True))
    if adds.is_empty():
        return 0, 0
    records = adds["num_records"]
    rows = None if records.null_count() else int(records.sum())
    return rows, int(adds["size_bytes"].sum())


__all__ = ["ZORDER", "MaintenanceReport", "TableMaintenance", "maintain", "table_statistics"]
