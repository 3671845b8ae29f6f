"""Exports: every format reads back equal to the rows, with the data dictionary from the schemas;
``hhs export`` over a real lake; typed row filters typed as text."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.exports import data_dictionary, export_file, to_bytes
from hhs_platform.lake import Lake
from hhs_platform.lake.filters import row_filter
from schemas import table_spec

GOLD = "gold/daily_account_metrics"


def _posts_view() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "text": ['<script>alert(1)</script>, "quoted"\nline', None],
            "hashtags": [["flu", "vaccines"], []],
            "created_at": [
                dt.datetime(2026, 11, 1, 13, 5, tzinfo=dt.UTC),
                dt.datetime(2026, 11, 2, 0, 0, 1, tzinfo=dt.UTC),
            ],
            "engagement": [12, 0],
        }
    )


def test_csv_round_trip_flattens_lists_to_json() -> None:
    frame = _posts_view()
    back = pl.read_csv(io.BytesIO(to_bytes(frame, "csv")), try_parse_dates=True)
    assert back["post_id"].to_list() == ["a", "b"]
    assert back["text"].to_list() == frame["text"].to_list()
    assert [json.loads(v) for v in back["hashtags"]] == [["flu", "vaccines"], []]
    assert back["engagement"].to_list() == [12, 0]


def test_csv_carries_binary_bodies_as_base64() -> None:
    import base64

    bodies = [b'{"data": []}', bytes(range(256)), None]
    frame = pl.DataFrame({"response_id": ["a", "b", "c"], "body": bodies})
    back = pl.read_csv(io.BytesIO(to_bytes(frame, "csv")))
    decoded = [None if v is None else base64.b64decode(v) for v in back["body"]]
    assert decoded == bodies


def test_excel_round_trip_with_dictionary_sheet(lake: Lake) -> None:
    gold = lake.read(GOLD).sort("date", "platform", "account_id").head(40)
    data = to_bytes(gold, "xlsx", table=GOLD)
    back = pl.read_excel(io.BytesIO(data), sheet_name="data")
    assert back.height == gold.height
    assert back["followers"].to_list() == gold["followers"].to_list()
    assert back["handle"].to_list() == gold["handle"].to_list()  # <script> handles as text
    assert back["date"].cast(pl.Date).to_list() == gold["date"].to_list()
    dictionary = pl.read_excel(io.BytesIO(data), sheet_name="data dictionary")
    meanings = dict(zip(dictionary["column"], dictionary["meaning"], strict=True))
    assert dictionary["column"].to_list() == gold.columns
    assert meanings["followers"] == table_spec(GOLD).descriptions["followers"]
    assert set(dictionary["source"]) == {GOLD}


def test_parquet_keeps_types_and_carries_meanings(lake: Lake) -> None:
    gold = lake.read(GOLD)
    data = to_bytes(gold, "parquet", table=GOLD)
    assert pl.read_parquet(io.BytesIO(data)).equals(gold)
    schema = pq.read_schema(io.BytesIO(data))
    assert schema.metadata[b"hhs_platform.table"] == GOLD.encode()
    assert (
        schema.field("engagement").metadata[b"description"].decode()
        == (table_spec(GOLD).descriptions["engagement"])
    )
    nested = _posts_view()
    assert pl.read_parquet(io.BytesIO(to_bytes(nested, "parquet"))).equals(nested)


def test_dictionary_of_a_view_names_derived_columns() -> None:
    view = pl.DataFrame({"date": [dt.date(2026, 1, 1)], "engagement": [3], "change_pct": [1.5]})
    d = data_dictionary(view, GOLD)
    assert d["source"].to_list() == [GOLD, GOLD, "derived"]
    assert d.filter(column="change_pct")["meaning"].item() == "Change in % of the previous value."


def test_export_file_by_suffix_and_errors(tmp_path: Path) -> None:
    frame = _posts_view()
    written = export_file(frame, tmp_path / "out" / "posts.csv")
    assert [p.name for p in written] == ["posts.csv", "posts.dictionary.csv"]
    assert pl.read_csv(written[1])["column"].to_list() == frame.columns
    with pytest.raises(ValueError, match="cannot tell the format"):
        export_file(frame, tmp_path / "posts.txt")
    with pytest.raises(ValueError, match="unknown export format"):
        to_bytes(frame, "json")


def test_row_filter_types_values_from_the_schema(lake: Lake) -> None:
    gold = lake.read(GOLD)
    expr = row_filter(GOLD, ["agency=CDC", "agency=FDA", "platform=x"], since="2026-03-05")
    assert expr is not None
    got = gold.filter(expr)
    want = gold.filter(
        pl.col("agency").is_in(["CDC", "FDA"])
        & (pl.col("platform") == "x")
        & (pl.col("date") >= dt.date(2026, 3, 5))
    )
    assert got.height == want.height > 0
    assert gold.filter(row_filter(GOLD, ["followers=1000000"]))["account_id"].to_list() == [
        "cdc-x-1"
    ]
    # a date range on a timestamp column covers whole UTC days
    posts_expr = row_filter("silver/posts", since="2026-11-01", until="2026-11-01")
    posts = _posts_view().with_columns(pl.col("created_at"))
    assert posts.filter(posts_expr)["post_id"].to_list() == ["a"]
    assert row_filter(GOLD) is None
    for bad, message in [
        (["agency"], "is not COLUMN=VALUE"),
        (["nope=1"], "has no column 'nope'"),
        (["followers=many"], "is Int64: 'many' is not one"),
    ]:
        with pytest.raises(ValueError, match=message):
            row_filter(GOLD, bad)
    with pytest.raises(ValueError, match="not an ISO date"):
        row_filter(GOLD, since="last week")


def test_hhs_export_command(lake_uri: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cdc.parquet"
    result = runner.invoke(
        app,
        ["export", GOLD, "--out", str(out), "--lake", lake_uri, "--where", "agency=CDC"],
    )
    assert result.exit_code == 0, result.output
    want = Lake(lake_uri).read(GOLD).filter(agency="CDC")
    got = pl.read_parquet(out)
    assert got.sort("date", "account_id").equals(want.sort("date", "account_id"))
    assert f"{want.height:,} rows of {GOLD} written" in result.output

    bad = runner.invoke(
        app, ["export", GOLD, "--out", str(out), "--lake", lake_uri, "--where", "x=1"]
    )
    assert bad.exit_code == 2
    assert "has no column 'x'" in bad.output
    missing = runner.invoke(app, ["export", "gold/nope", "--out", str(out), "--lake", lake_uri])
    assert missing.exit_code == 2 and "unknown table" in missing.output
