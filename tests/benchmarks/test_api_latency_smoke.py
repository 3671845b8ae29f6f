"""Smoke test of the API latency benchmark on a tiny lake: its whole code path runs, every request
is answered 200 and the JSON report has its shape. Nothing is timed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import api_latency, large_lake  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402

TINY = dataclasses.replace(
    large_lake.SCALES["small"], name="tiny", accounts=24, days=15, end=dt.date(2026, 3, 15)
)
STAT_KEYS = {
    "endpoint",
    "count",
    "errors",
    "statuses",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "mean_bytes",
    "ratio_p95",
}


def test_the_benchmark_answers_every_request_and_reports_each_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "lakes"
    source, manifest = large_lake.ensure_lake(TINY, cache)
    out = tmp_path / "api_latency.json"
    argv = ["--scale", "small", "--accounts", "24", "--days", "15", "--end", "2026-03-15"]
    argv += ["--cache", str(cache), "--work", str(tmp_path / "work"), "--out", str(out)]
    argv += ["--clients", "2", "--warmup", "0", "--rounds", "1", "--accounts-asked", "1"]
    argv += ["--limit", "3", "--in-process"]
    # the same lake as TINY (the command line names it small-custom: another cache key)
    custom = large_lake.scale_from_args(api_latency.parser().parse_args(argv))
    (cache / custom.key()).symlink_to(source, target_is_directory=True)

    assert api_latency.main(argv) == 0
    report = json.loads(out.read_text())

    # the cached lake is untouched: the server's tokens and request log went to the working lake
    work = tmp_path / "work" / custom.key()
    lake = Lake(str(source), storage_options={})
    assert lake.read("ops/api_tokens").height == 0 and lake.read("ops/api_requests").height == 0
    for table in api_latency.server_tables():
        assert (work / table).is_dir() and not (work / table).is_symlink()
    assert Lake(str(work), storage_options={}).read("ops/api_tokens").height == 1
    assert (work / "silver" / "posts").resolve() == (source / "silver" / "posts").resolve()

    queries = api_latency.plan(work, accounts=1, page_size=3)
    assert report["settings"]["queries_per_round"] == len(queries) == 10
    assert report["lake"]["rows"] == manifest["rows"]
    endpoints = {row["endpoint"]: row for row in report["endpoints"]}
    assert set(endpoints) >= {q.endpoint for q in queries}
    assert "posts next page" in endpoints  # the cursor was followed
    for row in [*endpoints.values(), report["overall"]]:
        assert set(row) == STAT_KEYS
        assert row["errors"] == 0 and set(row["statuses"]) == {"200"}, row
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
    # every query of the round, by 2 clients, once each; posts walk 3 pages of 3
    first_pages = sum(row["count"] for name, row in endpoints.items() if "next page" not in name)
    assert first_pages == 2 * len(queries)
    assert endpoints["posts"]["count"] == 2
    assert endpoints["posts next page"]["count"] == 2 * 2
    assert report["overall"]["count"] == sum(row["count"] for row in endpoints.values())
    assert "overall" in capsys.readouterr().out
