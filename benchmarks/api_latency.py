"""Latency of the HTTP API (/v1) under concurrent load on a synthetic lake at 10x HHS scale.

Starts the real server (``hhs api serve``, uvicorn, in its own process) on loopback over the
benchmark lake of ``benchmarks/large_lake.py`` (``--scale large``: 3,000 accounts, two years),
creates an API token, and drives the common queries with ``--clients`` concurrent aiohttp
clients: the accounts list (all, and one agency's), one account's daily figures, a page of posts
with filters and the pages after it (following ``meta.next_cursor``), agency figures, anomalies
and freshness. Each client first runs ``--warmup`` rounds of every query (not counted), then
``--rounds`` measured rounds. Prints count, p50/p95/p99 and max per endpoint and overall against
the 200 ms p95 target (ratio = p95 / 200 ms) and writes ``benchmarks/results/api_latency.json``.
It asserts nothing: numbers are for people to read.

The server writes its tokens and request log (``ops/``) into a working lake under
``benchmarks/.cache/api/`` whose data tables link to the cached lake's, so the cache itself stays
as generated.

Usage::

    python -m benchmarks.api_latency                         # large lake, 4 clients
    python -m benchmarks.api_latency --scale small --clients 4 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.large_lake import ROOT, add_scale_args, ensure_lake, scale_from_args
from benchmarks.report import machine, percentile, print_table, ratio, write_results

RESULTS = ROOT / "results"
WORK = ROOT / ".cache" / "api"
#: Target: p95 of the common queries, in milliseconds.
TARGET_P95_MS = 200.0


# -- the lake and the server ----------------------------------------------------------------------
def server_tables() -> set[str]:
    """The tables the server writes: its tokens and its request log."""
    from hhs_platform.httpapi.auth import REQUESTS
    from hhs_platform.httpapi.tokens import TOKENS

    return {TOKENS, REQUESTS}


def working_lake(source: Path, work: Path) -> Path:
    """A lake at ``work`` whose tables are links to ``source``'s, except the server's own.

    The server writes its token and request-log tables there, leaving the source lake unchanged.
    """
    own = server_tables()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for layer in sorted(p for p in source.iterdir() if p.is_dir()):
        (work / layer.name).mkdir()
        for table in sorted(p for p in layer.iterdir() if p.is_dir()):
            if f"{layer.name}/{table.name}" not in own:
                (work / layer.name / table.name).symlink_to(table.resolve(), True)
    return work


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_token(lake: Path) -> str:
    """A token for every agency with a rate limit no benchmark reaches."""
    from hhs_platform.httpapi import tokens
    from hhs_platform.lake import Lake

    token, _ = tokens.create(
        Lake(str(lake), {}), "api latency benchmark", rate_limit_per_minute=10_000_000
    )
    return token


def _wait_until_up(url: str, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the API server exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API server did not answer on {url} in {timeout:.0f} s")
        time.sleep(0.1)


@contextmanager
def api_server(lake: Path, *, in_process: bool = False, timeout: float = 60.0) -> Iterator[str]:
    """The API served over ``lake`` on loopback; yields its base URL.

    By default the server is ``hhs api serve`` in its own process, as deployed, so that the load
    generator does not share its interpreter. ``in_process`` runs it in a thread of this process
    instead (faster to start; what the smoke test uses).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if in_process:
        from hhs_platform.httpapi.app import Server, create_app
        from hhs_platform.settings import Settings

        settings = Settings(_env_file=None, lake_uri=str(lake))  # type: ignore[call-arg]
        server = Server(create_app(settings, str(lake)), "127.0.0.1", port).start()
        try:
            yield url
        finally:
            server.stop()
        return
    command = [sys.executable, "-m", "hhs_platform.cli", "api", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--lake", str(lake)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        _wait_until_up(url, timeout, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- what the clients ask -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Query:
    """One request of a round: the endpoint it is counted under, its path and parameters.

    ``pages`` > 1 follows ``meta.next_cursor`` that many pages in all; the pages after the first
    are counted under ``<endpoint> next page``.
    """

    endpoint: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    pages: int = 1


def plan(lake: Path, *, seed: int = 11, accounts: int = 20, page_size: int = 50) -> list[Query]:
    """The queries of one round, with parameters drawn from the lake (deterministic per seed).

    Args:
        lake: The lake the server serves.
        seed: Random seed for the accounts and agencies asked about.
        accounts: Distinct accounts whose figures are asked for (one per round, in turn).
        page_size: ``limit`` of the posts pages.
    """
    rng = random.Random(seed)
    known = (
        pl.read_delta(
            str(lake / "silver" / "accounts"), columns=["platform", "account_id", "agency"]
        )
        .drop_nulls()
        .sort("platform", "account_id")
    )
    end = pl.read_delta(str(lake / "gold" / "daily_account_metrics"), columns=["date"])[
        "date"
    ].max()
    assert isinstance(end, dt.date), "the lake has no daily figures"
    agencies = sorted(set(known["agency"].to_list()))
    platforms = sorted(set(known["platform"].to_list()))
    rows = known.rows(named=True)
    picked = rng.sample(rows, min(accounts, len(rows)))
    month = (end - dt.timedelta(days=29)).isoformat()
    quarter = (end - dt.timedelta(days=89)).isoformat()
    year = (end - dt.timedelta(days=364)).isoformat()
    queries: list[Query] = []
    for i, row in enumerate(picked):
        agency = agencies[i % len(agencies)]
        platform_ = platforms[i % len(platforms)]
        queries += [
            Query("accounts", "/v1/accounts"),
            Query("accounts by agency", "/v1/accounts", (("agency", agency),)),
            Query(
                "account metrics",
                f"/v1/accounts/{row['platform']}/{row['account_id']}/metrics",
                (("since", quarter),),
            ),
            Query("posts", "/v1/posts", (("limit", str(page_size)),), pages=3),
            Query(
                "posts filtered",
                "/v1/posts",
                (
                    ("agency", row["agency"]),
                    ("platform", row["platform"]),
                    ("since", quarter),
                    ("limit", str(page_size)),
                ),
                pages=3,
            ),
            Query(
                "agency metrics",
                "/v1/agency-metrics",
                (("agency", agency), ("platform", "all"), ("since", year)),
            ),
            Query(
                "agency metrics weekly",
                "/v1/agency-metrics",
                (("agency", agency), ("platform", platform_), ("period", "week")),
            ),
            Query("anomalies", "/v1/anomalies", (("since", month),)),
            Query("anomalies by agency", "/v1/anomalies", (("agency", agency),)),
            Query("freshness", "/v1/freshness"),
        ]
    return queries


# -- the load generator ---------------------------------------------------------------------------
@dataclasses.dataclass
class Sample:
    """One answered (or failed) request."""

    endpoint: str
    ms: float
    status: int
    bytes: int


async def _client(
    session: Any, url: str, rounds: list[list[Query]], headers: dict[str, str]
) -> list[Sample]:
    samples: list[Sample] = []
    for queries in rounds:
        for query in queries:
            params: list[tuple[str, str]] = list(query.params)
            for page in range(query.pages):
                name = query.endpoint if page == 0 else f"{query.endpoint} next page"
                start = time.perf_counter()
                try:
                    async with session.get(
                        url + query.path, params=params, headers=headers
                    ) as answer:
                        body = await answer.read()
                        status = answer.status
                except Exception:  # a refused or cut connection counts as a failure
                    body, status = b"", 0
                samples.append(
                    Sample(name, (time.perf_counter() - start) * 1000, status, len(body))
                )
                if status != 200:
                    break
                cursor = json.loads(body)["meta"].get("next_cursor")
                if not cursor:
                    break
                params = [*query.params, ("cursor", cursor)]
    return samples


async def load(
    url: str, token: str, queries: list[Query], *, clients: int, warmup: int, rounds: int
) -> tuple[list[Sample], float]:
    """Run ``clients`` concurrent clients over ``queries``: ``warmup`` rounds (discarded), then
    ``rounds`` measured rounds each. Each client starts at a different query of the round.

    Returns:
        The measured samples and the measured phase's wall time in seconds.
    """
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=300)

    def rotated(k: int) -> list[Query]:
        shift = (k * len(queries)) // max(clients, 1)
        return queries[shift:] + queries[:shift]

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if warmup:
            await asyncio.gather(
                *(_client(session, url, [rotated(k)] * warmup, headers) for k in range(clients))
            )
        start = time.perf_counter()
        results = await asyncio.gather(
            *(_client(session, url, [rotated(k)] * rounds, headers) for k in range(clients))
        )
        wall = time.perf_counter() - start
    return [s for r in results for s in r], wall


# -- the report -----------------------------------------------------------------------------------
def _stats(endpoint: str, samples: list[Sample]) -> dict[str, Any]:
    ms = [s.ms for s in samples]
    p95 = percentile(ms, 95)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "endpoint": endpoint,
        "count": len(samples),
        "errors": sum(1 for s in samples if s.status != 200),
        "statuses": {str(k): v for k, v in sorted(_count(s.status for s in samples).items())},
        "p50_ms": rounded(percentile(ms, 50)),
        "p95_ms": rounded(p95),
        "p99_ms": rounded(percentile(ms, 99)),
        "max_ms": rounded(max(ms) if ms else None),
        "mean_bytes": round(sum(s.bytes for s in samples) / len(samples)) if samples else None,
        "ratio_p95": ratio(p95, TARGET_P95_MS),
    }


def _count(values: Any) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def summarise(samples: list[Sample]) -> dict[str, Any]:
    """Per-endpoint statistics in order of first appearance, and the overall ones."""
    by: dict[str, list[Sample]] = {}
    for sample in samples:
        by.setdefault(sample.endpoint, []).append(sample)
    return {
        "endpoints": [_stats(name, group) for name, group in by.items()],
        "overall": _stats("overall", samples),
    }


#: The summary table's columns: (key, heading, decimals).
COLUMNS = [
    ("endpoint", "endpoint", 0),
    ("count", "n", 0),
    ("errors", "err", 0),
    ("p50_ms", "p50 ms", 1),
    ("p95_ms", "p95 ms", 1),
    ("p99_ms", "p99 ms", 1),
    ("max_ms", "max ms", 1),
    ("ratio_p95", "x200ms", 2),
]


def print_summary(summary: dict[str, Any], out: Any = print) -> None:
    """The statistics as a fixed-width table with the ratio against the p95 target."""
    print_table([*summary["endpoints"], summary["overall"]], COLUMNS, out)
    out(f"target: p95 <= {TARGET_P95_MS:.0f} ms per endpoint; ratios > 1 miss it")


# -- the run --------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark as the command line asks; return what it writes to the JSON file."""
    scale = scale_from_args(args)
    source, manifest = ensure_lake(scale, args.cache, log=print)
    lake = working_lake(source, Path(args.work) / scale.key())
    token = make_token(lake)
    queries = plan(lake, seed=args.seed_queries, accounts=args.accounts_asked, page_size=args.limit)
    print(
        f"lake {source} ({sum(manifest['rows'].values()):,} rows, "
        f"{manifest['scale']['accounts']:,} accounts); {len(queries)} queries a round, "
        f"{args.clients} clients x ({args.warmup} warm-up + {args.rounds} measured) rounds",
        flush=True,
    )
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with api_server(lake, in_process=args.in_process) as url:
        start_s = time.perf_counter() - started
        samples, wall = asyncio.run(
            load(
                url,
                token,
                queries,
                clients=args.clients,
                warmup=args.warmup,
                rounds=args.rounds,
            )
        )
    summary = summarise(samples)
    print()
    print_summary(summary)
    load_after = os.getloadavg()[0]
    print(
        f"{len(samples):,} requests in {wall:.1f} s ({len(samples) / wall:.1f} requests/s); "
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after"
    )
    return {
        "benchmark": "api_latency",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.api_latency", *sys.argv[1:]]),
        "machine": machine(),
        "lake": {
            "path": str(source),
            "scale": manifest["scale"],
            "rows": manifest["rows"],
            "bytes": manifest["bytes"],
        },
        "target": {"p95_ms": TARGET_P95_MS},
        "settings": {
            "clients": args.clients,
            "warmup_rounds": args.warmup,
            "rounds": args.rounds,
            "queries_per_round": len(queries),
            "accounts_asked": args.accounts_asked,
            "page_size": args.limit,
            "server": "in-process thread" if args.in_process else "hhs api serve (own process)",
        },
        "server_start_s": round(start_s, 2),
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(samples) / wall, 1) if wall else None,
        "load_average_1m": {"before": round(load_before, 2), "after": round(load_after, 2)},
        **summary,
    }


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scale_args(parser)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up rounds per client")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per client")
    parser.add_argument(
        "--accounts-asked", type=int, default=4, help="distinct accounts (queries) in a round"
    )
    parser.add_argument("--limit", type=int, default=50, help="posts per page")
    parser.add_argument("--seed-queries", type=int, default=11, help="seed of the query plan")
    parser.add_argument(
        "--in-process", action="store_true", help="serve from a thread of this process"
    )
    parser.add_argument("--work", default=str(WORK), help="folder of the working lakes")
    parser.add_argument("--out", default=str(RESULTS / "api_latency.json"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    args = parser().parse_args(argv)
    results = run(args)
    out = Path(args.out)
    print(f"results: {write_results(out.stem, results, out.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
