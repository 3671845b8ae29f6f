"""The one envelope of every ``/v1`` answer, the row models and the metric definitions.

Every successful response is ``{"data": ..., "meta": {...}}``: ``meta`` gives the API version,
the number of items in ``data``, the cursor of the next page (lists that page) and the unit and
definition of each metric the rows carry. Row models are derived from the lake tables' Pandera
models, so the OpenAPI document describes each field with the wording of docs/tables.md.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal, cast, get_args, get_origin

import pandera.polars as pa
import polars as pl
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from hhs_platform.metrics import CANONICAL_METRICS
from schemas import table_spec

API_VERSION = "v1"

#: Unit of each metric column the API serves; the definition comes from ``DEFINITIONS``.
UNITS: dict[str, str] = {
    "followers": "accounts",
    "followers_change": "accounts",
    "following": "accounts",
    "posts_count": "posts",
    "posts_published": "posts",
    "likes": "interactions",
    "reposts": "interactions",
    "replies": "interactions",
    "quotes": "interactions",
    "views": "views",
    "engagement": "interactions",
    "engagement_rate": "interactions per follower (ratio)",
    "engagement_activity": "interactions",
    "accounts": "accounts",
    "baseline": "interactions",
    "overperformance": "ratio (1.0 = the usual)",
    "completeness": "score in [0, 1]",
    "freshness": "score in [0, 1]",
    "validity": "score in [0, 1]",
    "drift": "score in [0, 1]",
    "overall": "score in [0, 1]",
    "age_hours": "hours",
    "confidence": "probability-like score in [0, 1]",
    "score": "robust z-score (usual_change units)",
}

#: Metrics whose definition is not the canonical one of docs/metrics.md (table of the wording).
_DEFINED_BY: dict[str, str] = {
    "followers_change": "gold/daily_account_metrics",
    "posts_published": "gold/daily_account_metrics",
    "engagement": "gold/daily_account_metrics",
    "engagement_rate": "gold/daily_account_metrics",
    "engagement_activity": "gold/daily_account_metrics",
    "accounts": "gold/agency_metrics",
    "baseline": "gold/post_curves",
    "overperformance": "gold/post_curves",
    "completeness": "quality/scorecard",
    "freshness": "quality/scorecard",
    "validity": "quality/scorecard",
    "drift": "quality/scorecard",
    "overall": "quality/scorecard",
    "confidence": "gold/anomalies",
    "score": "gold/anomalies",
}

_EXTRA_DEFINITIONS: dict[str, str] = {
    "completeness": "Posts collected / posts the platform's own count says exist "
    "(docs/quality.md).",
    "freshness": "How recent the newest observation is against the account's expected "
    "collection interval: 1 within the interval, falling to 0 (docs/quality.md).",
    "validity": "Rows of the day that met every rule / rows of the day (docs/quality.md).",
    "drift": "1 - fields missing / fields the connector relies on (docs/quality.md).",
    "age_hours": "Hours between the observation and the moment of the row.",
}


def _definition(metric: str) -> str:
    if metric in _EXTRA_DEFINITIONS:
        return _EXTRA_DEFINITIONS[metric]
    table = _DEFINED_BY.get(metric)
    if table is not None:
        text = table_spec(table).descriptions.get(metric, "")
        if text:
            return text
    return CANONICAL_METRICS.get(metric, "")


#: ``{metric: {"unit", "definition"}}`` for every metric the API can serve.
DEFINITIONS: dict[str, dict[str, str]] = {
    m: {"unit": unit, "definition": _definition(m)} for m, unit in UNITS.items()
}


class Definition(BaseModel):
    """Unit and meaning of one metric."""

    unit: str = Field(description="Unit of the values, e.g. accounts, interactions, ratio.")
    definition: str = Field(description="What the figure counts (wording of docs/metrics.md).")


class Meta(BaseModel):
    """About the data: API version, item count, next page, metric definitions."""

    api_version: Literal["v1"] = Field("v1", description="Version of the API answering.")
    count: int = Field(description="Items in data (1 for a single object).")
    next_cursor: str | None = Field(
        None,
        description="Pass as cursor= to get the next page; null on the last page and for "
        "endpoints that do not page.",
    )
    definitions: dict[str, Definition] = Field(
        default_factory=dict, description="Unit and definition of each metric present in data."
    )


class Envelope[T](BaseModel):
    """Every successful answer: the data and what it means."""

    data: T
    meta: Meta


def enveloped(item: Any) -> type[BaseModel]:
    """The envelope model of ``item`` (a row model or ``list[...]`` of one), named
    ``<Row>Envelope`` or ``<Row>ListEnvelope`` in the OpenAPI document and generated clients."""
    if get_origin(item) is list:
        name, kind = f"{get_args(item)[0].__name__}ListEnvelope", "A list"
    else:
        name, kind = f"{item.__name__}Envelope", "One item"
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name, __base__=Envelope[item], __doc__=f"{kind} and what it means."
    )
    return model


def envelope(
    data: Any, *, columns: Iterable[str] = (), next_cursor: str | None = None
) -> dict[str, Any]:
    """The envelope around ``data`` (a list of rows or one object) with the definitions of the
    metrics among ``columns``."""
    count = len(data) if isinstance(data, list) else 1
    return {
        "data": data,
        "meta": {
            "api_version": API_VERSION,
            "count": count,
            "next_cursor": next_cursor,
            "definitions": {c: DEFINITIONS[c] for c in columns if c in DEFINITIONS},
        },
    }


# -- row models from the table models ---------------------------------------------------------
def _python_type(dtype: pl.DataType | type[pl.DataType]) -> Any:
    base = dtype.base_type()
    if base == pl.Datetime:
        return dt.datetime
    if base == pl.Date:
        return dt.date
    if base == pl.List:
        inner = dtype.inner if isinstance(dtype, pl.List) else None
        if inner is None or inner.base_type() == pl.Struct:
            return list[dict[str, Any]]
        return list[_python_type(inner)]  # type: ignore[misc,arg-type]
    if base.is_integer():
        return int
    if base.is_float():
        return float
    if base == pl.Boolean:
        return bool
    return str


def row_model(
    name: str,
    table: str | type[pa.DataFrameModel],
    columns: Sequence[str],
    *,
    extra: dict[str, tuple[Any, str]] | None = None,
    doc: str | None = None,
) -> type[BaseModel]:
    """A pydantic model of ``columns`` of the lake table ``table`` (or of a Pandera model), each
    field typed and described as the Pandera model says (nullable columns may be null);
    ``extra`` adds fields ``{name: (type, description)}``."""
    model_cls = table_spec(table).model if isinstance(table, str) else table
    schema = model_cls.to_schema().columns
    fields: dict[str, Any] = {}
    for col in columns:
        kind = _python_type(cast(pl.DataType, schema[col].dtype.type))
        if schema[col].nullable:
            kind = kind | None
        meaning = DEFINITIONS[col]["definition"] if col in DEFINITIONS else schema[col].description
        fields[col] = (kind, Field(description=meaning or None))
    for col, (kind, meaning) in (extra or {}).items():
        fields[col] = (kind, Field(description=meaning))
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name,
        __config__=ConfigDict(extra="forbid"),
        __doc__=doc or (model_cls.__doc__ or "").strip().splitlines()[0],
        **fields,
    )
    return model


def _iso(column: str) -> pl.Expr:
    """A UTC time column as pydantic writes it: seconds, then microseconds only when not 0."""
    moment = pl.col(column).dt.convert_time_zone("UTC")
    return (
        pl.when(moment.dt.microsecond() == 0)
        .then(moment.dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
        .otherwise(moment.dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"))
        .alias(column)
    )


def listing(
    frame: pl.DataFrame, *, columns: Iterable[str] = (), next_cursor: str | None = None
) -> Response:
    """The envelope around ``frame``'s rows, serialised by polars (in Rust) rather than row by
    row through pydantic: what keeps a 3,000-row answer in milliseconds. Values are written as
    pydantic writes them (times ``2026-11-01T12:00:00Z`` or ``...T12:00:00.123456Z``, dates
    ``YYYY-MM-DD``, NaN as null). The rows must have exactly the columns of the route's row model
    (the OpenAPI document and the tests hold them to it)."""
    meta = envelope([], columns=columns, next_cursor=next_cursor)["meta"]
    meta["count"] = frame.height
    frame = frame.with_columns(
        _iso(c) for c, t in frame.schema.items() if isinstance(t, pl.Datetime)
    )
    body = b"".join(
        (
            b'{"data":',
            frame.write_json().encode(),
            b',"meta":',
            json.dumps(meta, separators=(",", ":")).encode(),
            b"}",
        )
    )
    return Response(body, media_type="application/json")


def rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as JSON-ready dicts (times in ISO 8601 with their UTC offset)."""
    return frame.to_dicts()


__all__ = [
    "API_VERSION",
    "DEFINITIONS",
    "UNITS",
    "Definition",
    "Envelope",
    "Meta",
    "envelope",
    "enveloped",
    "listing",
    "row_model",
    "rows",
]
