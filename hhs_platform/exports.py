"""Export any table or view to CSV, Excel or Parquet, with a data dictionary from the schemas.

One function turns a polars frame into the bytes of a file (the dashboards' download buttons and
``hhs export`` both use it). The data dictionary names each column's type and meaning, taken from
the table's Pandera model in ``schemas/`` when the frame is a table (or a view of one), and from
the metric definitions for derived columns:

- CSV: nested values (lists, structs) are written as JSON text; the dictionary is its own file.
- Excel: a ``data`` sheet and a ``data dictionary`` sheet; times are written in UTC.
- Parquet: types kept as they are; each column's meaning is stored in its field metadata
  (``description``) and the table name in the file's metadata.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from schemas import CATALOGUE, table_spec

#: File formats :func:`to_bytes` writes, with their file suffix.
FORMATS: dict[str, str] = {"csv": ".csv", "xlsx": ".xlsx", "parquet": ".parquet"}
#: MIME types of the formats (for downloads).
MIME_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}

#: Meanings of columns that views derive (not stored in any table's schema).
DERIVED_MEANINGS: dict[str, str] = {
    "date": "UTC day.",
    "engagement": "likes + reposts + replies + quotes (views are not engagement).",
    "engagement_rate": "Engagement divided by followers.",
    "followers_change": "Change in followers against the previous observation or period.",
    "change": "Value minus the previous period's value.",
    "change_pct": "Change in % of the previous value.",
    "previous": "The same figure over the previous period of equal length.",
    "accounts": "Accounts with figures in the period.",
    "series": "The line of a chart: agency, platform or account.",
    "success_rate": "Accounts read completely or partially, divided by accounts attempted.",
}


def column_meanings(table: str | None = None) -> dict[str, str]:
    """Meaning of each column: the table's own description, else a derived column's, else the
    first other table's that describes a column of that name.

    Args:
        table: A table of the catalogue (e.g. ``gold/daily_account_metrics``), or None.

    Returns:
        Column name -> meaning (columns without a description are left out).
    """
    out: dict[str, str] = {}
    for name, spec in CATALOGUE.items():
        if name != table:
            for column, text in spec.descriptions.items():
                if text and column not in out:
                    out[column] = text
    out |= DERIVED_MEANINGS
    if table is not None:
        out |= {c: t for c, t in table_spec(table).descriptions.items() if t}
    return out


def data_dictionary(frame: pl.DataFrame, table: str | None = None) -> pl.DataFrame:
    """The data dictionary of a frame: one row per column with its type and meaning.

    Args:
        frame: The exported frame.
        table: The table it comes from, if any (its schema's descriptions are used first).

    Returns:
        Columns ``column``, ``type``, ``meaning`` and ``source`` (the table, or "derived").
    """
    meanings = column_meanings(table)
    own = set(table_spec(table).schema) if table is not None else set()
    return pl.DataFrame(
        {
            "column": frame.columns,
            "type": [str(t) for t in frame.dtypes],
            "meaning": [meanings.get(c, "") for c in frame.columns],
            "source": [table if c in own and table else "derived" for c in frame.columns],
        },
        schema={"column": pl.Utf8, "type": pl.Utf8, "meaning": pl.Utf8, "source": pl.Utf8},
    )


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, structs) as JSON text and binary ones (bronze bodies) as base64,
    for formats without them (CSV, Excel)."""
    binary = [c for c, t in frame.schema.items() if isinstance(t, pl.Binary)]
    if binary:
        frame = frame.with_columns(pl.col(binary).bin.encode("base64"))
    nested = [c for c, t in frame.schema.items() if isinstance(t, pl.List | pl.Struct | pl.Array)]
    if not nested:
        return frame
    return frame.with_columns(
        pl.Series(
            c, [None if v is None else json.dumps(v, default=str) for v in frame[c].to_list()]
        )
        for c in nested
    )


def _naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None) for c in zoned
    )


def to_bytes(frame: pl.DataFrame, fmt: str, *, table: str | None = None) -> bytes:
    """The frame as the bytes of a CSV, Excel or Parquet file.

    Args:
        frame: What to export.
        fmt: ``csv``, ``xlsx`` or ``parquet``.
        table: The table the frame comes from, for the data dictionary (Excel, Parquet).

    Raises:
        ValueError: An unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    if fmt == "csv":
        flatten(frame).write_csv(buffer)
    elif fmt == "xlsx":
        _write_excel(frame, buffer, table)
    else:
        _write_parquet(frame, buffer, table)
    return buffer.getvalue()


def dictionary_csv(frame: pl.DataFrame, table: str | None = None) -> bytes:
    """The data dictionary of a frame as CSV bytes (the companion of a CSV export)."""
    return data_dictionary(frame, table).write_csv().encode("utf-8")


def _write_excel(frame: pl.DataFrame, buffer: io.BytesIO, table: str | None) -> None:
    from xlsxwriter import Workbook

    with Workbook(buffer, {"in_memory": True}) as book:
        _naive_utc(flatten(frame)).write_excel(
            book, worksheet="data", autofit=True, dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm:ss"}
        )
        data_dictionary(frame, table).write_excel(book, worksheet="data dictionary", autofit=True)


def _write_parquet(frame: pl.DataFrame, buffer: io.BytesIO, table: str | None) -> None:
    arrow = frame.to_arrow()
    meanings = column_meanings(table)
    fields = [
        f.with_metadata({"description": meanings[f.name]}) if meanings.get(f.name) else f
        for f in arrow.schema
    ]
    meta: Mapping[bytes | str, bytes | str] = {"hhs_platform.table": table or "view"}
    schema = pa.schema(fields, metadata=meta)
    pq.write_table(arrow.cast(schema), buffer)


def export_file(
    frame: pl.DataFrame, path: str | Path, *, table: str | None = None, fmt: str | None = None
) -> list[Path]:
    """Write the frame to ``path`` in the format of its suffix (or ``fmt``).

    A CSV gets its data dictionary beside it (``<name>.dictionary.csv``); Excel and Parquet
    carry it inside.

    Returns:
        The files written.
    """
    path = Path(path)
    fmt = fmt or next((f for f, s in FORMATS.items() if path.suffix.lower() == s), None)
    if fmt is None:
        raise ValueError(
            f"cannot tell the format of {path.name!r}: use a {', '.join(FORMATS.values())} "
            "suffix or name the format"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_bytes(frame, fmt, table=table))
    written = [path]
    if fmt == "csv":
        companion = path.with_name(f"{path.stem}.dictionary.csv")
        companion.write_bytes(dictionary_csv(frame, table))
        written.append(companion)
    return written


__all__ = [
    "DERIVED_MEANINGS",
    "FORMATS",
    "MIME_TYPES",
    "column_meanings",
    "data_dictionary",
    "dictionary_csv",
    "export_file",
    "flatten",
    "to_bytes",
]
