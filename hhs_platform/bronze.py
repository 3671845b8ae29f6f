"""Bronze: turn received responses into ``bronze/raw_responses`` rows, and rows back into records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from hhs_platform.connectors.base import RawResponse
from schemas import table_spec


def response_id(r: RawResponse) -> str:
    """A stable id for one response: the same request at the same fetch time has the same id."""
    material = "|".join(
        [
            r.platform,
            r.endpoint,
            r.account_key,
            r.request_url,
            str(r.page),
            r.fetched_at.isoformat(),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def to_frame(
    responses: Sequence[RawResponse], *, run_id: str, connector_versions: dict[str, str]
) -> pl.DataFrame:
    """Bronze rows for responses, in the catalogue schema."""
    spec = table_spec("bronze/raw_responses")
    if not responses:
        return spec.empty()
    rows = [
        {
            "response_id": response_id(r),
            "run_id": run_id,
            "platform": r.platform,
            "endpoint": r.endpoint,
            "account_key": r.account_key,
            "request_url": r.request_url,
            "status": r.status,
            "headers": json.dumps(dict(r.headers), sort_keys=True),
            "body": r.body,
            "payload_hash": hashlib.sha256(r.body).hexdigest(),
            "fetched_at": r.fetched_at,
            "fetched_date": r.fetched_at.date(),
            "elapsed_ms": float(r.elapsed_ms),
            "page": r.page,
            "connector_version": connector_versions.get(r.platform, "unknown"),
        }
        for r in responses
    ]
    return pl.DataFrame(rows, schema=spec.schema)


def records(bronze: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Bronze rows as plain mappings, the input of every connector's ``parse``."""
    yield from bronze.iter_rows(named=True)
