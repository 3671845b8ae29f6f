"""Rows of the tables the alert rules read, built with the catalogue's schemas (test helpers)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from schemas import table_spec

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def frame(table: str, rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """``rows`` as a frame of ``table``'s schema (columns not given are null)."""
    schema = table_spec(table).schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def fetch_log(runs: Sequence[tuple[str, datetime, Mapping[str, str]]]) -> pl.DataFrame:
    """``bronze/fetch_log``: per run (id, start, {account_key: status}) one row per account."""
    rows = []
    for run_id, start, outcomes in runs:
        for i, (account, status) in enumerate(sorted(outcomes.items())):
            failed = status == "failed"
            rows.append(
                {
                    "run_id": run_id,
                    "batch_id": f"{run_id}-b0",
                    "platform": account.split(":")[0],
                    "account_key": account,
                    "status": status,
                    "error_type": "ServerError" if failed else None,
                    "error": "x answered 503 for /2/users/1/tweets" if failed else None,
                    "terminal": False,
                    "responses": 0 if failed else 3,
                    "started_at": start + timedelta(seconds=i),
                    "finished_at": start + timedelta(seconds=i + 1),
                }
            )
    return frame("bronze/fetch_log", rows)


def runs_of(statuses: Mapping[str, Sequence[str]], end: datetime = NOW) -> pl.DataFrame:
    """A fetch log of ``len(statuses[a])`` hourly runs ending at ``end``: account -> statuses."""
    n = max(len(s) for s in statuses.values())
    runs = []
    for k in range(n):
        start = end - timedelta(hours=n - k)
        outcomes = {a: s[k] for a, s in statuses.items() if k < len(s)}
        runs.append((f"run-{k:02d}", start, outcomes))
    return fetch_log(runs)


def slo_row(slo: str, scope: str, day: date, met: bool, burned: float = 0.5) -> dict[str, Any]:
    good = 990 if met else 900
    return {
        "date": day,
        "slo": slo,
        "scope": scope,
        "target": 0.95,
        "good": good,
        "total": 1000,
        "value": good / 1000,
        "met": met,
        "window_days": 28,
        "budget_burned": burned,
        "computed_at": NOW,
    }


def response(platform: str, at: datetime, headers: Mapping[str, str], url: str) -> dict[str, Any]:
    return {
        "response_id": f"{platform}-{at.isoformat()}-{url}",
        "run_id": "run-x",
        "platform": platform,
        "endpoint": "ep",
        "account_key": f"{platform}:acct",
        "request_url": url,
        "status": 200,
        "headers": json.dumps(dict(headers)),
        "body": b"{}",
        "payload_hash": "h",
        "fetched_at": at,
        "fetched_date": at.date(),
        "elapsed_ms": 1.0,
        "page": 0,
        "connector_version": "1",
    }


def drift_row(platform: str, endpoint: str, field: str, last: datetime) -> dict[str, Any]:
    return {
        "platform": platform,
        "endpoint": endpoint,
        "run_id": "run-d",
        "field": field,
        "responses_missing": 4,
        "responses_checked": 5,
        "first_missing_at": last - timedelta(minutes=5),
        "last_missing_at": last,
        "example_response_id": "resp-1",
    }


def quarantine_rows(run_id: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "table": "silver/posts",
            "row_hash": f"{run_id}-{i}",
            "run_id": run_id,
            "response_id": None,
            "platform": "x",
            "rules": ["created_at: future_timestamp (2027 is after now)"],
            "row": json.dumps({"account_id": "1", "i": i}),
            "quarantined_at": NOW,
        }
        for i in range(n)
    ]


def anomaly(kind: str, confidence: float, detected: datetime, account: str = "1") -> dict:
    return {
        "platform": "x",
        "account_id": account,
        "metric": "followers" if kind.startswith("follower") else "collection",
        "date": detected.date() - timedelta(days=1),
        "kind": kind,
        "end_date": detected.date() - timedelta(days=1),
        "days": 1,
        "agency": "CDC",
        "handle": "CDCgov",
        "value": 10000.0,
        "baseline": 10500.0,
        "change": -500.0,
        "change_pct": -4.8,
        "usual_change": 20.0,
        "score": -25.0,
        "confidence": confidence,
        "sentence": f"CDC followers on X fell 4.8% ({kind}, account {account})",
        "detected_at": detected,
    }
