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
    return missing_in(payload, expected)


def missing_in(payload: Any, expected: Sequence[str]) -> list[str]:
    """:func:`missing_fields` of a payload already decoded."""
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


class DriftCheck:
    """Format drift of a run's responses, one bronze record at a time: ``quality/field_drift``
    rows per platform, endpoint and missing field, and the responses checked.

    ``expected`` maps platform → endpoint → field paths (the connectors' ``expected_fields``).
    """

    def __init__(self, expected: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        self.expected = expected
        #: Responses checked per (platform, endpoint, run): the denominator of a run's drift,
        #: which batches of one run add up (``SilverBatch.concat``).
        self.totals: dict[tuple[str, str, str], int] = {}
        self._counts: dict[tuple[str, str, str, str], list[Any]] = {}

    def fields(self, rec: Mapping[str, Any]) -> Sequence[str]:
        """The fields to check in this record's body (none: it is not checked)."""
        fields = self.expected.get(rec["platform"], {}).get(rec["endpoint"])
        return fields if fields and 200 <= int(rec["status"]) < 300 else ()

    def add(self, rec: Mapping[str, Any], decoded: tuple[Any, str | None]) -> None:
        """Check one record whose body is ``decoded`` as ``(value, problem)``
        (:func:`hhs_platform.connectors.base.decode_json_body`)."""
        fields = self.fields(rec)
        if not fields:
            return
        key3 = (rec["platform"], rec["endpoint"], rec["run_id"])
        self.totals[key3] = self.totals.get(key3, 0) + 1
        fetched: datetime = rec["fetched_at"]
        value, problem = decoded
        for f in [] if problem else missing_in(value, fields):
            entry = self._counts.setdefault((*key3, f), [0, fetched, fetched, rec["response_id"]])
            entry[0] += 1
            entry[1] = min(entry[1], fetched)
            entry[2] = max(entry[2], fetched)

    def rows(self) -> pl.DataFrame:
        """The ``quality/field_drift`` rows of the records checked so far."""
        spec = table_spec("quality/field_drift")
        rows = [
            {
                "platform": p,
                "endpoint": e,
                "run_id": r,
                "field": f,
                "responses_missing": n,
                "responses_checked": self.totals[(p, e, r)],
                "first_missing_at": first,
                "last_missing_at": last,
                "example_response_id": rid,
            }
            for (p, e, r, f), (n, first, last, rid) in sorted(self._counts.items())
        ]
        return pl.DataFrame(rows, schema=spec.schema) if rows else spec.empty()
