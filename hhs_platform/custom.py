"""Custom gold tables: a metric a data scientist builds, published to the lake with a contract.

A custom table is named ``gold/custom/<snake_case>`` and has a Pandera (polars) model: its
contract and its data dictionary (the model's docstring and ``Field(description=...)``).
``publish`` checks the rows against the model, quarantines the rows that fail it
(``quarantine/rows``, with the failed checks), MERGEs the others on the table's keys (so a
publish repeated with the same rows changes nothing) and records the definition in
``gold/custom_tables``, where any later reader (another notebook, the dashboards' process)
finds it: ``load`` registers every published table, so ``Lake`` and
``hhs_platform.connect()`` read it like a catalogue table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandera.polars as pa
import polars as pl

from hhs_platform.errors import LakeError
from hhs_platform.lake.store import Lake
from hhs_platform.quality.contracts import quarantine_frame, validate
from schemas.catalogue import CATALOGUE, CUSTOM, CUSTOM_PREFIX, TableSpec

DEFINITIONS = "gold/custom_tables"
NAME = re.compile(r"^gold/custom/[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PublishResult:
    """What one ``publish`` did."""

    table: str
    rows_in: int
    inserted: int
    updated: int
    quarantined: int


def define(
    name: str,
    model: type[pa.DataFrameModel],
    keys: Sequence[str],
    partition_by: Sequence[str] = (),
) -> TableSpec:
    """Check a custom table's definition and register it in this process.

    Raises:
        LakeError: A name outside ``gold/custom/<snake_case>``, a model that is not a Pandera
            polars ``DataFrameModel`` with a docstring, or keys/partitions it has no column for.
    """
    if not NAME.match(name):
        raise LakeError(
            f"custom table name {name!r} must look like gold/custom/<snake_case> "
            "(lower-case letters, digits and _, starting with a letter)"
        )
    if not (isinstance(model, type) and issubclass(model, pa.DataFrameModel)):
        raise LakeError(f"{name}: model must be a pandera.polars DataFrameModel class")
    if not (model.__doc__ or "").strip():
        raise LakeError(f"{name}: give the model a docstring: its first line describes the table")
    columns = list(model.to_schema().columns)
    keys, partition_by = tuple(keys), tuple(partition_by)
    if not keys:
        raise LakeError(f"{name}: give the keys that identify a row (a publish merges on them)")
    for label, wanted in (("key", keys), ("partition", partition_by)):
        unknown = [c for c in wanted if c not in columns]
        if unknown:
            raise LakeError(
                f"{name}: {label} column(s) {', '.join(unknown)} are not in the model "
                f"(its columns: {', '.join(columns)})"
            )
    spec = TableSpec(name, model, keys, partition_by, "merge", "gold")
    CUSTOM[name] = spec
    return spec


def publish(
    lake: Lake,
    name: str,
    frame: pl.DataFrame,
    *,
    model: type[pa.DataFrameModel],
    keys: Sequence[str],
    partition_by: Sequence[str] = (),
) -> PublishResult:
    """Write ``frame`` to the custom gold table ``name`` under the contract ``model``.

    Args:
        lake: The lake to publish to.
        name: ``gold/custom/<snake_case>``.
        frame: The rows; its columns must be the model's (in any order), castable to its types.
        model: A ``pandera.polars.DataFrameModel``: the contract and the data dictionary.
        keys: The columns that identify a row: a publish MERGEs on them (insert or refresh).
        partition_by: Partition columns, for a table too big to rewrite whole files.

    Returns:
        Rows given, inserted, updated and quarantined.

    Raises:
        LakeError: A bad definition (see ``define``), a frame whose columns or types do not
            fit the model, or a model that changed the keys, partitions or types of the
            table already published under that name.
    """
    if not isinstance(frame, pl.DataFrame):
        raise LakeError(f"{name}: publish a polars DataFrame (collect a LazyFrame first)")
    spec = define(name, model, keys, partition_by)
    load(lake)
    _check_compatible(lake, spec)
    schema = spec.schema
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        raise LakeError(
            f"{name}: the frame's columns do not fit the model"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not in the model: {', '.join(extra)}" if extra else "")
        )
    try:
        frame = frame.select([pl.col(c).cast(t) for c, t in schema.items()])
    except pl.exceptions.PolarsError as exc:
        raise LakeError(f"{name}: a column does not cast to the model's type: {exc}") from None
    valid, quarantine = validate(name, frame)
    valid, duplicates = _split_duplicate_keys(name, valid, spec.keys)
    quarantine = pl.concat([quarantine, duplicates])
    if not quarantine.is_empty():
        # The same rows published again quarantine the same entries (a MERGE on the run id).
        digest = hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()[:16]
        lake.write("quarantine/rows", quarantine.with_columns(run_id=pl.lit(f"publish-{digest}")))
    written = lake.write(name, valid)
    _record(lake, spec, rows_in=frame.height, quarantined=quarantine.height)
    return PublishResult(name, frame.height, written.inserted, written.updated, quarantine.height)


def _split_duplicate_keys(
    name: str, frame: pl.DataFrame, keys: tuple[str, ...]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows whose key appears once, and quarantine rows for those sharing a key: which of them
    is right is not for the lake to guess."""
    shared = frame.select(pl.struct(keys).is_duplicated()).to_series()
    if not shared.any():
        return frame, quarantine_frame([])
    rule = f"row: duplicate key ({', '.join(keys)})"
    entries = [
        {"table": name, "run_id": "", "rules": [rule], "row": row}
        for row in frame.filter(shared).iter_rows(named=True)
    ]
    return frame.filter(~shared), quarantine_frame(entries)


def definitions(lake: Lake) -> pl.DataFrame:
    """The custom tables published to ``lake`` (``gold/custom_tables``), sorted by name."""
    return lake.read(DEFINITIONS).sort("name")


def load(lake: Lake) -> list[str]:
    """Register, in this process, every custom table published to ``lake``; their names.

    A table already defined here by ``define`` keeps that definition (its model has the
    checks; a loaded one has the columns, types, nullability and descriptions only).
    """
    names = []
    for row in definitions(lake).iter_rows(named=True):
        name = row["name"]
        names.append(name)
        if name in CUSTOM:
            continue
        CUSTOM[name] = TableSpec(
            name,
            _model_from_row(lake, row),
            tuple(row["keys"]),
            tuple(row["partition_by"]),
            "merge",
            "gold",
        )
    return names


def known_tables(lake: Lake) -> list[str]:
    """Every table the lake may hold: the catalogue's and its published custom tables (which
    this registers), for the jobs that go over all tables (backup, maintenance)."""
    return [*CATALOGUE, *sorted(load(lake))]


def _model_from_row(lake: Lake, row: dict[str, Any]) -> type[pa.DataFrameModel]:
    """A Pandera model with the recorded columns, their types as stored in the Delta table."""
    stored = pl.scan_delta(
        f"{lake.uri}/{row['name']}", storage_options=lake.storage_options or None
    ).collect_schema()
    annotations: dict[str, Any] = {}
    attrs: dict[str, Any] = {"__doc__": row["description"], "__module__": __name__}
    for col in row["columns"]:
        if col["name"] not in stored:
            continue
        annotations[col["name"]] = stored[col["name"]]
        attrs[col["name"]] = pa.Field(
            nullable=bool(col["nullable"]), description=col["description"] or None
        )
    attrs["__annotations__"] = annotations
    short = row["name"].removeprefix(CUSTOM_PREFIX).title().replace("_", "")
    return type(short, (pa.DataFrameModel,), attrs)


def _columns(spec: TableSpec) -> list[dict[str, Any]]:
    columns = spec.model.to_schema().columns
    meanings = spec.descriptions
    return [
        {
            "name": c,
            "type": str(t),
            "nullable": bool(columns[c].nullable),
            "description": meanings.get(c, ""),
        }
        for c, t in spec.schema.items()
    ]


def _check_compatible(lake: Lake, spec: TableSpec) -> None:
    """Refuse a model that would change what is published under the name: keys, partitions,
    or a column's type (adding nullable columns is fine; the table gains them)."""
    if spec.name in CATALOGUE:
        raise LakeError(f"{spec.name} is a catalogue table")
    rows = lake.read(DEFINITIONS, where=pl.col("name") == spec.name)
    if rows.is_empty():
        return
    old = rows.row(0, named=True)
    problems = []
    if tuple(old["keys"]) != spec.keys:
        problems.append(f"keys {old['keys']} -> {list(spec.keys)}")
    if tuple(old["partition_by"]) != spec.partition_by:
        problems.append(f"partitions {old['partition_by']} -> {list(spec.partition_by)}")
    new_types = {c: str(t) for c, t in spec.schema.items()}
    for col in old["columns"]:
        if col["name"] not in new_types:
            problems.append(f"column {col['name']} dropped")
        elif new_types[col["name"]] != col["type"]:
            problems.append(f"{col['name']}: {col['type']} -> {new_types[col['name']]}")
    if problems:
        raise LakeError(
            f"{spec.name} was published with another contract ({'; '.join(problems)}): "
            "publish under a new name"
        )


def _record(lake: Lake, spec: TableSpec, *, rows_in: int, quarantined: int) -> None:
    now = datetime.now(UTC)
    old = lake.read(DEFINITIONS, columns=["first_published_at"], where=pl.col("name") == spec.name)
    first = old["first_published_at"][0] if old.height else now
    row = {
        "name": spec.name,
        "description": spec.description,
        "keys": list(spec.keys),
        "partition_by": list(spec.partition_by),
        "columns": _columns(spec),
        "model": f"{spec.model.__module__}.{spec.model.__qualname__}",
        "first_published_at": first,
        "last_published_at": now,
        "last_rows_in": rows_in,
        "last_quarantined": quarantined,
    }
    lake.write(DEFINITIONS, pl.DataFrame([row], schema=CATALOGUE[DEFINITIONS].schema))
