"""Check rows against their table's Pandera contract; split valid rows from quarantined ones."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pandera.errors
import polars as pl

from hhs_platform.errors import LakeError
from schemas import table_spec


def row_hash(row: dict[str, Any]) -> str:
    """sha256 of a row's canonical JSON."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def quarantine_frame(entries: list[dict[str, Any]]) -> pl.DataFrame:
    """Quarantine rows from entries with table, run_id, response_id, platform, rules, row (dict)."""
    spec = table_spec("quarantine/rows")
    if not entries:
        return spec.empty()
    now = datetime.now(UTC)
    rows = [
        {
            "table": e["table"],
            "row_hash": row_hash({"table": e["table"], **e["row"]}),
            "run_id": e["run_id"],
            "response_id": e.get("response_id"),
            "platform": e.get("platform"),
            "rules": sorted(set(e["rules"])),
            "row": json.dumps(e["row"], sort_keys=True, default=str),
            "quarantined_at": now,
        }
        for e in entries
    ]
    return pl.DataFrame(rows, schema=spec.schema)


def validate(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into rows that meet the table's contract and quarantine rows for the others.

    Raises:
        LakeError: a schema-level failure (missing column, wrong type): the whole batch is wrong,
            which is a bug to fix, not data to quarantine.
    """
    spec = table_spec(table)
    if df.is_empty():
        return df, quarantine_frame([])
    try:
        spec.model.validate(df, lazy=True)
        return df, quarantine_frame([])
    except pandera.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    rowwise = fc.filter(pl.col("index").is_not_null())
    schema_level = fc.filter(pl.col("index").is_null())
    # Uniqueness failures on the key are reported per row; they are still row problems.
    if not schema_level.is_empty():
        detail = "; ".join(
            f"{r['column']}: {r['check']} ({r['failure_case']})"
            for r in schema_level.head(5).iter_rows(named=True)
        )
        raise LakeError(f"{table}: the batch breaks the table's schema: {detail}")
    reasons: dict[int, list[str]] = {}
    for r in rowwise.iter_rows(named=True):
        reasons.setdefault(int(r["index"]), []).append(f"{r['column'] or 'row'}: {r['check']}")
    bad = sorted(reasons)
    indexed = df.with_row_index("_i")
    valid = indexed.filter(~pl.col("_i").is_in(bad)).drop("_i")
    entries = []
    for i in bad:
        row = df.row(i, named=True)
        entries.append(
            {
                "table": table,
                "run_id": row.get("run_id", ""),
                "response_id": row.get("response_id"),
                "platform": row.get("platform"),
                "rules": reasons[i],
                "row": row,
            }
        )
    return valid, quarantine_frame(entries)
