"""The maintenance flow: compact, Z-order, vacuum and checkpoint the lake (weekly, at night)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from hhs_platform.lake import Lake
from hhs_platform.lake.maintenance import maintain
from hhs_platform.settings import Settings


@flow(
    name="hhs-maintain",
    description="Compact, Z-order, vacuum (keeping the time-travel window) and checkpoint tables.",
)
def maintenance_flow(
    tables: list[str] | None = None,
    retention_hours: int | None = None,
    zorder: bool = True,
    lake_uri: str | None = None,
) -> list[dict[str, Any]]:
    """Maintain the lake's tables (see ``hhs_platform.lake.maintenance``) and publish a table
    artifact (key ``lake-maintenance``); fails when a table could not be maintained."""
    log = get_run_logger()
    report = maintain(
        Lake(lake_uri or Settings().lake_uri),
        tables,
        retention_hours=retention_hours,
        zorder=zorder,
        progress=log.info,
    )
    rows = [t.__dict__ | {"zordered_by": ", ".join(t.zordered_by)} for t in report.tables]
    create_table_artifact(rows, key="lake-maintenance", description="Table maintenance")
    if report.failed:
        raise RuntimeError(
            f"maintenance failed on {', '.join(t.table for t in report.failed)}: "
            + "; ".join(str(t.error) for t in report.failed)
        )
    return rows
