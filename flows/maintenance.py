"""The maintenance flow: compact, Z-order, vacuum and checkpoint the lake (weekly, at night)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.lake.maintenance import maintain
from hhs_platform.lake.retention import apply_retention, archive_lake
from hhs_platform.settings import Settings


@flow(
    name="hhs-maintain",
    description="Delete rows past retention (archived first), then compact, Z-order, vacuum "
    "(keeping the time-travel window) and checkpoint tables.",
)
@audited
def maintenance_flow(
    tables: list[str] | None = None,
    retention_hours: int | None = None,
    zorder: bool = True,
    lake_uri: str | None = None,
    retention: bool = True,
) -> list[dict[str, Any]]:
    """Maintain the lake's tables (see ``hhs_platform.lake.maintenance``) and publish a table
    artifact (key ``lake-maintenance``); fails when a table could not be maintained.

    With ``retention`` (default) the rows past ``HHS_RETENTION_DAYS`` are first archived
    (``HHS_ARCHIVE_URI``) and deleted (artifact ``lake-retention``), so the vacuum frees them.
    """
    log = get_run_logger()
    lake = Lake(lake_uri or Settings().lake_uri)
    kept = None
    if retention:
        kept = apply_retention(
            lake, archive=archive_lake(), retention_hours=retention_hours, progress=log.info
        )
        create_table_artifact(
            [t.__dict__ | {"cutoff": t.cutoff.isoformat()} for t in kept.tables],
            key="lake-retention",
            description="Rows past retention archived and deleted",
        )
    report = maintain(
        lake,
        tables,
        retention_hours=retention_hours,
        zorder=zorder,
        progress=log.info,
    )
    rows = [t.__dict__ | {"zordered_by": ", ".join(t.zordered_by)} for t in report.tables]
    create_table_artifact(rows, key="lake-maintenance", description="Table maintenance")
    if kept is not None and kept.failed:
        raise RuntimeError(
            f"retention failed on {', '.join(t.table for t in kept.failed)}: "
            + "; ".join(str(t.error) for t in kept.failed)
        )
    if report.failed:
        raise RuntimeError(
            f"maintenance failed on {', '.join(t.table for t in report.failed)}: "
            + "; ".join(str(t.error) for t in report.failed)
        )
    return rows
