"""The backup flow: copy the lake's new files to the backup location and verify it (nightly)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.lake.audit import audited
from hhs_platform.lake.backup import backup, verify_backup
from hhs_platform.settings import Settings


@flow(
    name="hhs-backup",
    description="Incremental backup of every lake table with checksums, then verification.",
)
@audited
def backup_flow(
    dest_uri: str | None = None,
    tables: list[str] | None = None,
    verify: bool = True,
    lake_uri: str | None = None,
) -> list[dict[str, Any]]:
    """Back up the lake (see ``hhs_platform.lake.backup``) to ``dest_uri`` (default
    ``HHS_BACKUP_URI``), verify the backup's checksums, and publish a table artifact (key
    ``lake-backup``); fails when a copy or a checksum fails."""
    log = get_run_logger()
    settings = Settings()
    dest = dest_uri or settings.backup_uri
    if not dest:
        raise ConfigurationError("no backup location: set HHS_BACKUP_URI or pass dest_uri")
    manifest = backup(
        Lake(lake_uri or settings.lake_uri),
        dest,
        settings.backup_storage_options,
        tables,
        progress=log.info,
    )
    rows = [t.__dict__.copy() for t in manifest.tables.values()]
    create_table_artifact(
        rows, key="lake-backup", description=f"Backup #{manifest.number} to {dest}"
    )
    if verify:
        verify_backup(
            dest, settings.backup_storage_options, number=manifest.number, progress=log.info
        )
    return rows
