"""Format drift: fields a connector relies on that a platform's responses stopped sending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from hhs_platform import jsonio
from schemas import table_spec


def _values(node: Any, path: Sequence[str]) -> list[Any]:
    """Every value at ``path`` below ``node``; a segment ending in ``[]`` fans out over a list
    (``[]`` alone fans out over the node itself, for APIs that answer with a bare array)."""
    nodes = [node]
    for seg in path:
        nxt: list[Any] = []
        fan = seg.endswith("[]")
        key = seg[:-2] if fan else seg
        for n in nodes:
            if fan and not key:  # "[]" alone: the node itself is the list (a bare JSON array)
                nxt.extend(n if isinstance(n, list) else [])
                continue
            if not isinstance(n, Mapping) or key not in n:
                continue
            v = n[key]
            if fan:
                nxt.extend(v if isinstance(v, list) else [])
            else:
                nxt.append(v)
        nodes = nxt
    return nodes


def missing_fields(body: bytes | None, expected: Sequence[str]) -> list[str]:
    """Expected fields absent from every item of a payload that has items.

    A path such as ``feed[].post.likeCount`` is checked on every element of ``feed``: a field that
    some items lack is ordinary (a hidden like count); one that all items lack is drift. Payloads
    that are not JSON, or have no items at the list level, say nothing.
    """
    try:
        payload = jsonio.loads(body or b"")
    except ValueError:
        return []
    out = []
    for field in expected:
        parts = field.split(".")
        fan_at = next((i for i, p in enumerate(parts) if p.endswith("[]")), None)
        if fan_at is None:
            parent = _values(payload, parts[:-1])
            if parent and all(isinstance(p, Mapping) and parts[-1] not in p for p in parent):
                out.append(field)
            continue
        items = _values(payload, parts[: fan_at + 1])
        if not items:
            continue
        rest = parts[fan_at + 1 :]
        if not any(_values(item, rest) for item in items):
            out.append(field)
    return out


def drift_totals(
    records: Sequence[Mapping[str, Any]], expected: Mapping[str, Mapping[str, Sequence[str]]]
) -> dict[tuple[str, str, str], int]:
    """Responses checked for drift per (platform, endpoint, run): the denominator of a run's
    drift, which batches of one run add up (``SilverBatch.concat``)."""
    totals: dict[tuple[str, str, str], int] = {}
    for rec in records:
        fields = expected.get(rec["platform"], {}).get(rec["endpoint"])
        if fields and 200 <= int(rec["status"]) < 300:
            key3 = (rec["platform"], rec["endpoint"], rec["run_id"])
            totals[key3] = totals.get(key3, 0) + 1
    return totals


def drift_rows(
    records: Sequence[Mapping[str, Any]], expected: Mapping[str, Mapping[str, Sequence[str]]]
) -> pl.DataFrame:
    """``quality/field_drift`` rows for one run: per platform, endpoint and missing field.

    ``expected`` maps platform → endpoint → field paths (the connectors' ``expected_fields``).
    """
    counts: dict[tuple[str, str, str, str], list[Any]] = {}
    totals: dict[tuple[str, str, str], int] = {}
    for rec in records:
        fields = expected.get(rec["platform"], {}).get(rec["endpoint"])
        if not fields or not 200 <= int(rec["status"]) < 300:
            continue
        key3 = (rec["platform"], rec["endpoint"], rec["run_id"])
        totals[key3] = totals.get(key3, 0) + 1
        fetched: datetime = rec["fetched_at"]
        for f in missing_fields(rec["body"], fields):
            entry = counts.setdefault((*key3, f), [0, fetched, fetched, rec["response_id"]])
            entry[0] += 1
            entry[1] = min(entry[1], fetched)
            entry[2] = max(entry[2], fetched)
    spec = table_spec("quality/field_drift")
    rows = [
        {
            "platform": p,
            "endpoint": e,
            "run_id": r,
            "field": f,
            "responses_missing": n,
            "responses_checked": totals[(p, e, r)],
            "first_missing_at": first,
            "last_missing_at": last,
            "example_response_id": rid,
        }
        for (p, e, r, f), (n, first, last, rid) in sorted(counts.items())
    ]
    return pl.DataFrame(rows, schema=spec.schema) if rows else spec.empty()
