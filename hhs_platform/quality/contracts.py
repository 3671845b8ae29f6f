"""Check rows against their table's Pandera contract; split valid rows from quarantined ones.

Pandera's polars backend runs each check of each column as a query of its own: about 90 ms for
one batch of ``silver/posts`` (30 columns) whatever its size, which made validation a fifth of a
small collection's CPU. So a batch is first put through :func:`passes`, one polars query made of
the same checks (Pandera's own check functions, on the same frame); only a batch that query does
not pass is validated by Pandera, which then says which rows break which checks. ``passes`` is
never more lenient than Pandera: where a contract holds anything it does not translate, it
declines and Pandera decides alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandera.backends.polars.builtin_checks  # registers the checks' polars functions
import pandera.errors
import pandera.polars as pa
import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.checks import PolarsCheckBackend

from hhs_platform.errors import LakeError
from schemas import table_spec
from schemas.catalogue import TableSpec


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


@dataclass(frozen=True)
class _Plan:
    """A contract as one query: per-row conditions, key sets that must be unique, checks."""

    rows: tuple[pl.Expr, ...]
    unique: tuple[tuple[str, ...], ...]
    checks: tuple[tuple[str, Check], ...]


@functools.cache
def _plan(model: type[pa.DataFrameModel]) -> _Plan | None:
    """``model``'s contract as a :class:`_Plan`, or None where it holds something the plan does
    not translate (dataframe-level checks, coercion, defaults, parsers, regex columns,
    element-wise checks): Pandera then validates every batch itself."""
    schema = model.to_schema()
    if (
        schema.checks
        or schema.parsers
        or schema.coerce
        or schema.strict is not True
        or schema.add_missing_columns
    ):
        return None
    rows: list[pl.Expr] = []
    checks: list[tuple[str, Check]] = []
    for name, column in schema.columns.items():
        if (
            column.regex
            or column.coerce
            or column.parsers
            or not column.required
            or column.default is not None
            or column.dtype is None
        ):
            return None
        if not column.nullable:
            present = pl.col(name).is_not_null()
            if column.dtype.type.is_float():
                present &= pl.col(name).is_not_nan()
            rows.append(present)
        if column.unique:
            rows.append(~pl.col(name).is_duplicated())
        for check in column.checks:
            if check.element_wise or check.groupby is not None or check._check_fn is None:
                return None
            checks.append((name, check))
    unique = schema.unique or []
    keys = [unique] if all(isinstance(x, str) for x in unique) else unique
    return _Plan(tuple(rows), tuple(tuple(k) for k in keys if k), tuple(checks))


def passes(spec: TableSpec, df: pl.DataFrame) -> bool:
    """True only if every row of ``df`` meets ``spec``'s contract, in one polars query.

    False means "not shown": the frame's columns differ from the contract's in name, order or
    type, a check fails, or the contract cannot be put in one query; Pandera then decides. The
    checks are Pandera's own functions with Pandera's treatment of nulls (``ignore_na``), the
    nullable and uniqueness conditions written as its polars backend writes them.
    """
    plan = _plan(spec.model)
    if plan is None or df.schema != spec.schema:
        return False
    frame = df.lazy()
    parts = [frame.select(pl.all_horizontal(*plan.rows).alias("_rows").all())] if plan.rows else []
    parts += [
        frame.select(pl.struct(list(keys)).is_duplicated().not_().all().alias(f"_unique{i}"))
        for i, keys in enumerate(plan.unique)
    ]
    for i, (name, check) in enumerate(plan.checks):
        out = PolarsCheckBackend(check).apply(PolarsData(frame, name))
        if isinstance(out, bool):
            if not out:
                return False
            continue
        parts.append(out.select(pl.first().fill_null(check.ignore_na).all().alias(f"_check{i}")))
    if not parts:
        return True
    verdict = pl.concat(parts, how="horizontal").collect()
    return all(v is True for v in verdict.row(0))


def validate(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into rows that meet the table's contract and quarantine rows for the others.

    A batch :func:`passes` shows valid is returned whole; any other is validated by Pandera.

    Raises:
        LakeError: a schema-level failure (missing column, wrong type): the whole batch is wrong,
            which is a bug to fix, not data to quarantine.
    """
    spec = table_spec(table)
    if df.is_empty() or passes(spec, df):
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
