"""The one-query check of a batch (``contracts.passes``) against Pandera's own validation.

``passes`` lets a batch skip Pandera, so it must never pass a frame Pandera rejects. Real silver
rows of every platform (a collection from the simulated platforms) are broken one column and one
check at a time, and both verdicts compared; the clean rows must pass both.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandera.errors
import pandera.polars as pa
import polars as pl
import pytest

from hhs_platform.collect import archived_responses, logged_fetches
from hhs_platform.lake import Lake
from hhs_platform.quality import contracts
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread
from hhs_platform.sandbox.history import fetch_day
from hhs_platform.sandbox.server import PLATFORM_APPS
from hhs_platform.transforms.normalize import SILVER_TABLES, parse_bronze
from schemas import CATALOGUE, table_spec
from schemas.catalogue import TableSpec

#: Values put in one cell, by the column's type: each one breaks some check or condition.
CANDIDATES: dict[type[pl.DataType], list[Any]] = {
    pl.Int64: [None, -1, -(10**9), 10**9, 0, 18 * 60 + 1, -18 * 60 - 1],
    pl.Float64: [None, -1.0, math.nan, math.inf, -math.inf, 0.0, 1.5],
    pl.Utf8: [None, "", "not-a-member", "x" * 300, "zz", " "],
    pl.Boolean: [None],
    pl.Datetime: [None, datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)],
    pl.Date: [None],
    pl.List: [None],
    pl.Struct: [None],
}


def _pandera_passes(table: str, df: pl.DataFrame) -> bool:
    try:
        table_spec(table).model.validate(df, lazy=True)
    except (pandera.errors.SchemaErrors, pandera.errors.SchemaError):
        return False
    return True


def _with_cell(df: pl.DataFrame, column: str, value: Any) -> pl.DataFrame:
    dtype = df.schema[column]
    cell = pl.Series(column, [value], dtype=dtype, strict=False)
    return df.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(cell)).otherwise(pl.col(column))
    )


@pytest.fixture(scope="module")
def silver(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """Valid silver rows of every platform: two accounts each, collected and parsed."""
    registry = (
        load_registry()
        .filter(pl.col("platform").is_in(list(PLATFORM_APPS)))
        .group_by("platform", maintain_order=True)
        .head(2)
    )
    lake = Lake(str(tmp_path_factory.mktemp("contracts") / "lake"))
    with SandboxThread(accounts=registry, seed=5) as sb:
        errors = fetch_day(sb, lake, registry, "contracts", None, parse=False)
    assert not errors, errors
    bronze = archived_responses(lake, logged_fetches(lake, "contracts"))
    batch = parse_bronze(bronze, registry)
    assert batch.quarantine.is_empty(), batch.quarantine
    platforms = set(registry["platform"])
    assert set(batch.tables["silver/posts"]["platform"]) == platforms
    return batch.tables


def test_every_table_contract_is_one_query() -> None:
    """No table of the catalogue falls back to Pandera alone for its clean batches."""
    assert [name for name, spec in CATALOGUE.items() if contracts._plan(spec.model) is None] == []


@pytest.mark.parametrize("table", SILVER_TABLES)
def test_clean_rows_pass_both(table: str, silver: dict[str, pl.DataFrame]) -> None:
    df = silver[table]
    assert df.height >= 10
    assert _pandera_passes(table, df)
    assert contracts.passes(table_spec(table), df)
    valid, quarantine = contracts.validate(table, df)
    assert valid.equals(df) and quarantine.is_empty()


@pytest.mark.parametrize("table", SILVER_TABLES)
def test_no_broken_cell_passes_the_query_that_pandera_rejects(
    table: str, silver: dict[str, pl.DataFrame]
) -> None:
    df = silver[table]
    spec = table_spec(table)
    columns = spec.model.to_schema().columns
    rejected: dict[str, int] = {}
    compared = 0
    for name, dtype in df.schema.items():
        for value in CANDIDATES[dtype.base_type()]:
            broken = _with_cell(df, name, value)
            by_pandera = _pandera_passes(table, broken)
            # never more lenient; and no stricter either, so a clean batch never pays Pandera
            assert contracts.passes(spec, broken) == by_pandera, (name, value, by_pandera)
            compared += 1
            if not by_pandera:
                rejected[name] = rejected.get(name, 0) + 1
                if rejected[name] == 1:  # what validate then does with the batch
                    valid, quarantine = contracts.validate(table, broken)
                    assert valid.height == broken.height - 1, (name, value)
                    assert quarantine.height == 1, (name, value)
                    assert any(r.startswith(f"{name}:") for r in quarantine["rules"][0])
    # every column Pandera constrains was broken at least once
    constrained = {n for n, c in columns.items() if c.checks or not c.nullable}
    assert constrained <= set(rejected), constrained - set(rejected)
    assert compared >= 3 * len(columns)


@pytest.mark.parametrize("table", SILVER_TABLES)
def test_duplicate_keys_columns_and_types_are_left_to_pandera(
    table: str, silver: dict[str, pl.DataFrame]
) -> None:
    df = silver[table]
    spec = table_spec(table)
    duplicated = pl.concat([df, df.head(1)])
    extra = df.with_columns(pl.lit(1).alias("extra"))
    missing = df.drop(df.columns[-1])
    reordered = df.select(reversed(df.columns))
    int_column = next((n for n, t in df.schema.items() if t == pl.Int64), None)
    frames = [duplicated, extra, missing, reordered]
    if int_column is not None:
        frames.append(df.with_columns(pl.col(int_column).cast(pl.Int32)))
    for frame in frames:
        assert not contracts.passes(spec, frame)
    assert not _pandera_passes(table, duplicated)
    valid, quarantine = contracts.validate(table, duplicated)
    assert quarantine.height == 2 and valid.height == df.height - 1


class _WithFrameCheck(pa.DataFrameModel):
    a: pl.Int64 = pa.Field(ge=0)

    @pa.dataframe_check
    @classmethod
    def below_ten(cls, data: Any) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("a") < 10)


def test_a_contract_it_cannot_translate_is_left_to_pandera(tmp_path: Path) -> None:
    """A dataframe-level check (as a custom table's model may hold): no plan, Pandera decides."""
    assert contracts._plan(_WithFrameCheck) is None
    spec = TableSpec(
        name="custom/x",
        model=_WithFrameCheck,
        keys=("a",),
        partition_by=(),
        mode="append",
        layer="gold",
    )
    assert not contracts.passes(spec, pl.DataFrame({"a": [1, 2]}))
