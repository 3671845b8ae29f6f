"""Parsed rows become a table's frame: Arrow's converter where it takes the rows, polars' casts
where a parser emitted a value of another type."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from hhs_platform.transforms.normalize import _frame
from schemas import table_spec

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _post(i: int, **extra: object) -> dict[str, object]:
    return {
        "post_id": f"p{i}",
        "account_id": "a1",
        "created_at": NOW,
        "text": f"post {i} é",
        "hashtags": ["flu", "vaccines"] if i % 2 else [],
        "media": [
            {"type": "image", "url": f"https://x.test/{i}.jpg", "width": 640, "height": None,
             "duration_s": None, "alt_text": "a chart"}
        ] if i % 3 == 0 else None,
        "not_in_the_schema": {"ignored": True},
        **extra,
    }  # fmt: skip


def test_rows_become_the_schema_frame_with_nulls_for_keys_not_emitted() -> None:
    spec = table_spec("silver/posts")
    rows = [_post(i) for i in range(6)]
    frame = _frame("silver/posts", rows)
    assert frame.schema == spec.schema
    assert frame.height == 6
    assert frame["post_id"].to_list() == [f"p{i}" for i in range(6)]
    assert frame["hashtags"].to_list() == [[], ["flu", "vaccines"]] * 3
    media = frame["media"].to_list()
    assert media[3] == [
        {"type": "image", "url": "https://x.test/3.jpg", "width": 640, "height": None,
         "duration_s": None, "alt_text": "a chart"}
    ]  # fmt: skip
    assert media[1] is None
    assert frame["created_at"].to_list() == [NOW] * 6
    assert frame["text"][0] == "post 0 é"
    assert frame["url"].null_count() == frame["media_count"].null_count() == 6  # not emitted
    # the same frame polars builds from the same rows
    assert frame.equals(pl.DataFrame(rows, schema=spec.schema, strict=False))


def test_a_value_of_another_type_is_cast_as_polars_casts_it() -> None:
    spec = table_spec("silver/posts")
    rows = [_post(0), _post(1, text=5)]  # Arrow refuses an int where text belongs
    frame = _frame("silver/posts", rows)
    assert frame.schema == spec.schema
    assert frame["text"].to_list() == ["post 0 é", "5"]
    assert frame.equals(pl.DataFrame(rows, schema=spec.schema, strict=False))


def test_no_rows_give_the_empty_frame() -> None:
    assert _frame("silver/post_metrics", []).schema == table_spec("silver/post_metrics").schema
