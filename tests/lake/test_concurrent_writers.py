"""Two processes writing the same tables at once: commit conflicts are retried, nothing is doubled,
lost or left half-written.

The writers are separate processes (spawned, as two flows on two machines would be), released
together by a barrier, each merging rows whose keys overlap the other's, one commit per row.
"""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from hhs_platform.lake import Lake
from schemas import table_spec

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = 24


def _drift_row(i: int, writer: int) -> dict[str, Any]:
    return {
        "platform": "bluesky",
        "endpoint": "app.bsky.feed.getAuthorFeed",
        "run_id": "run-1",
        "field": f"feed[].post.f{i}",
        "responses_missing": 1 + writer,
        "responses_checked": 10,
        "first_missing_at": T0 + timedelta(minutes=i),
    }


def _writer(uri: str, writer: int, barrier: Any, out: Any) -> None:
    lake = Lake(uri, {})
    spec = table_spec("quality/field_drift")
    barrier.wait()
    # writer 0 takes keys 0..KEYS-1, writer 1 takes KEYS/2..KEYS*3/2-1: half of them shared
    start = writer * KEYS // 2
    for i in range(start, start + KEYS):
        lake.merge("quality/field_drift", pl.DataFrame([_drift_row(i, writer)], schema=spec.schema))
    q = table_spec("quarantine/rows")
    row = {
        "table": "t",
        "row_hash": "h",
        "run_id": "r",
        "response_id": None,
        "platform": None,
        "rules": ["x"],
        "row": "{}",
        "quarantined_at": T0,
    }
    # the same batch appended by both (a task retried on another worker): applied once
    out.put(lake.append("quarantine/rows", pl.DataFrame([row], schema=q.schema), txn=("b-1", 1)))


def test_two_writers_at_once_double_nothing_and_lose_nothing(tmp_path) -> None:
    uri = str(tmp_path / "lake")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(uri, w, barrier, out)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    results = [out.get(timeout=5) for _ in procs]

    lake = Lake(uri, {})
    drift = lake.read("quality/field_drift")
    expected = {f"feed[].post.f{i}" for i in range(KEYS * 3 // 2)}
    assert drift.height == len(expected)  # the shared keys are there once
    assert set(drift["field"]) == expected
    # every commit is whole: each version adds what one MERGE wrote, and the table reads at each
    dt = lake.delta("quality/field_drift")
    assert dt is not None
    for version in range(dt.version() + 1):
        table = lake.scan("quality/field_drift", version=version).collect()
        assert table["field"].is_unique().all(), version
    assert lake.read("quarantine/rows").height == 1
    assert sorted(r.skipped for r in results) == [False, True]
