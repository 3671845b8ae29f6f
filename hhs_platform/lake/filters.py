"""Row filters written as text (``agency=CDC``, a date range) turned into typed polars filters.

Used where people type filters: ``hhs export`` and other commands. Values are cast to the
column's type from the table's schema, so ``followers=10`` compares numbers and
``date=2026-01-31`` compares dates; a column the table does not have is an error that lists the
columns it has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl

from schemas import table_spec

#: Columns a date range applies to, in order of preference.
DATE_COLUMNS: tuple[str, ...] = (
    "date",
    "period_start",
    "week",
    "fetched_date",
    "created_at",
    "observed_at",
    "quarantined_at",
    "started_at",
)


def _cast(table: str, column: str, value: str, dtype: pl.DataType) -> object:
    try:
        if dtype == pl.Date:
            return dt.date.fromisoformat(value)
        if isinstance(dtype, pl.Datetime):
            ts = dt.datetime.fromisoformat(value)
            return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
        if dtype.is_integer():
            return int(value)
        if dtype.is_float():
            return float(value)
        if dtype == pl.Boolean:
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
    except ValueError:
        raise ValueError(f"{table}.{column} is {dtype}: {value!r} is not one") from None
    return value


def date_column(table: str) -> str | None:
    """The column a date range filters on (see :data:`DATE_COLUMNS`), or None."""
    schema = table_spec(table).schema
    return next((c for c in DATE_COLUMNS if c in schema), None)


def row_filter(
    table: str,
    where: Iterable[str] = (),
    *,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
) -> pl.Expr | None:
    """A filter over ``table`` from ``COLUMN=VALUE`` terms and an inclusive date range.

    Terms on the same column are alternatives (OR); different columns must all match (AND).

    Args:
        table: A table of the catalogue.
        where: ``COLUMN=VALUE`` terms.
        since: First day to keep (ISO date), on the table's date column.
        until: Last day to keep (ISO date).

    Returns:
        The filter, or None when there is nothing to filter.

    Raises:
        ValueError: A malformed term, an unknown column, a value of the wrong type, or a date
            range on a table without a date column.
    """
    schema = table_spec(table).schema
    values: dict[str, list[object]] = {}
    for term in where:
        column, sep, value = term.partition("=")
        column = column.strip()
        if not sep or not column:
            raise ValueError(f"{term!r} is not COLUMN=VALUE (e.g. agency=CDC)")
        if column not in schema:
            raise ValueError(f"{table} has no column {column!r}; it has: {', '.join(schema)}")
        values.setdefault(column, []).append(_cast(table, column, value.strip(), schema[column]))
    exprs = [pl.col(c).is_in(v) for c, v in values.items()]
    if since is not None or until is not None:
        on = date_column(table)
        if on is None:
            raise ValueError(f"{table} has no date column for --since/--until")
        is_date = schema[on] == pl.Date
        for bound, keep in ((since, "ge"), (until, "le")):
            if bound is None:
                continue
            day = bound if isinstance(bound, dt.date) else _day(bound)
            lit: object = day
            if not is_date:
                start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
                lit = start if keep == "ge" else start + dt.timedelta(days=1)
                keep = "ge" if keep == "ge" else "lt"
            exprs.append(getattr(pl.col(on), keep)(pl.lit(lit)))
    return pl.all_horizontal(exprs) if exprs else None


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date such as 2026-01-31") from None


__all__ = ["DATE_COLUMNS", "date_column", "row_filter"]
