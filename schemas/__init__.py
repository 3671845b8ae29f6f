"""The contract of every table: one Pandera model per table and the catalogue derived from them."""

from schemas.catalogue import CATALOGUE, TableSpec, table_spec
from schemas.tables import (
    Accounts,
    AccountSnapshots,
    DailyAccountMetrics,
    FieldDrift,
    MetricSources,
    PostMetrics,
    Posts,
    QuarantineRows,
    RawResponses,
    Registry,
)

__all__ = [
    "CATALOGUE",
    "AccountSnapshots",
    "Accounts",
    "DailyAccountMetrics",
    "FieldDrift",
    "MetricSources",
    "PostMetrics",
    "Posts",
    "QuarantineRows",
    "RawResponses",
    "Registry",
    "TableSpec",
    "table_spec",
]
