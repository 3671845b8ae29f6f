"""Benchmark: a network-bound collection against every platform's documented rate limits.

Target: collecting 3,000 accounts on the ten simulated platforms, with 50-300 ms of latency on
every request and each platform's documented rate limits enforced, takes at most 1.10 x the
lower bound that those limits and that latency set.

What it runs: the simulated platforms (:mod:`hhs_platform.sandbox`, a frozen clock) serve a
synthetic registry (:func:`benchmarks.worlds.registry`) with the latency injected into every
request and their documented limits (``SandboxConfig``: X 300 user lookups and 1,500 timeline
pages per 15 minutes, Bluesky 3,000 requests per 5 minutes, Mastodon 300 per 5 minutes, Reddit
1,000 per 10 minutes, Flickr 3,600 per hour, ...). The fetch stage of the collection flow runs
on a Dask ``LocalCluster`` as the flow runs it: the registry split by
:func:`hhs_platform.collect.plan_batches` (``--batch-size`` accounts a batch, tier 1 first, each
platform's batches spread over its tier), one
:func:`hhs_platform.collect.collect_batch` task per batch (fetch, bronze, silver rows) submitted
in that order, the rate-limit budgets shared by every worker; then the silver rows are written
(:func:`hhs_platform.pipeline.write_outcomes`). Prefect and the steps after silver (enrichment,
gold, analytics) are left out: they are not network-bound.

The lower bound, per platform and per limit (a limit of ``L`` requests per ``W`` seconds, on
some endpoints): ``N x W / L`` where ``N`` is the requests of the run the platform served on those
endpoints (its own statistics, 429 answers excluded); a limit whose window holds every request
of the run (``N <= L``) never makes the collector wait and counts 0. An account's requests are
sequential where each needs the previous answer (a page needs the previous page's cursor), so
the platform also needs at least ``c x latency``: ``c`` the longest chain of one account's
requests that followed one another (none overlapping, from the archived responses' times),
latency the mean of the injected range. The platform's bound is the larger of the two; the
slowest platform decides the run's::

    bound = max over platforms of max(max over its limits of (N > L ? N x W / L : 0),
                                      c x mean latency)
    ratio = wall time of the fetch stage / bound          (target <= 1.10)

The ``pacing floor`` column is the least time the collector's own token bucket gives those
``N`` requests (``hhs_platform.ratelimit.pacing``: 10 % of the limit at once, then evenly
spaced with a 2 % margin, so that no window ever holds more than ``L``): what the collector
could reach with the deciding platform busy from the first second to the last.

``--time-scale K`` divides every rate-limit window by ``K`` (rounded to whole seconds), on the
platforms and in the collector's documented limits alike, and keeps the requests per window: the
allowed rates are ``K`` times higher, so the bound is about ``K`` times shorter (a run at the
real windows lasts more than half an hour, X's user lookups deciding). Latency is not scaled.
YouTube's daily unit quota and LinkedIn's daily limits are quotas of a day, not scaled.

Prints a table per platform (requests, limit, bound) and the ratio, the 429 answers received (0
when the collector paces itself) and whether every account reached silver; writes
``benchmarks/results/collection.json``. Exit code 1 when accounts are missing from silver.

Usage::

    python -m benchmarks.collection                               # 3,000 accounts, K = 10
    python -m benchmarks.collection --accounts 300 --time-scale 60   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks import worlds
from benchmarks.report import (
    BATCH_SIZE,
    cpu_seconds,
    fmt,
    load_average,
    machine,
    print_table,
    ratio,
    write_results,
)
from benchmarks.scale_out import SANDBOX_TOKEN, silver_counts
from benchmarks.scale_out import sandbox_env as scale_out_env

#: The target: wall time at most this many times the lower bound.
TARGET = 1.10
#: The rate-limit window settings of the sandbox, by platform (seconds).
WINDOWS = {
    "x": "x_rate_window",
    "bluesky": "bluesky_rate_window",
    "mastodon": "mastodon_rate_window",
    "reddit": "reddit_rate_window",
    "flickr": "flickr_rate_window",
    "threads": "threads_rate_window",
    "facebook": "facebook_usage_window",
    "instagram": "instagram_usage_window",
}


@dataclass(frozen=True)
class Limit:
    """A documented limit: ``limit`` requests per ``window_s`` seconds on some endpoints.

    ``endpoints`` are the sandbox's names of the endpoints the limit counts (its statistics
    key requests by them); empty: every endpoint of the platform.
    """

    platform: str
    name: str
    limit: int
    window_s: float
    endpoints: tuple[str, ...] = ()


def documented_limits(config: Any, platforms: Sequence[str]) -> list[Limit]:
    """The request limits the sandbox enforces (``SandboxConfig``), per platform.

    Per token or IP: the collector uses one credential per platform, so each limit holds for
    the whole run. Meta's per-page budgets (Facebook) count the calls of one page and never bind
    in a collection; Instagram's per-asking-account budget does (every call asks as the one
    business account). YouTube has a unit quota per day, not a request rate: no limit here.
    """
    out: list[Limit] = []
    for p in platforms:
        if p == "x":
            window = float(config.x_rate_window)
            for endpoint, n in sorted(config.x_rate_limits.items()):
                out.append(Limit(p, endpoint, int(n), window, (endpoint,)))
        elif p in ("bluesky", "mastodon", "reddit", "flickr", "threads"):
            limit = int(getattr(config, f"{p}_rate_limit"))
            out.append(Limit(p, "all", limit, float(getattr(config, f"{p}_rate_window"))))
        elif p == "facebook":
            budget, window = config.facebook_app_call_budget, config.facebook_usage_window
            out.append(Limit(p, "app calls", int(budget), float(window)))
        elif p == "instagram":
            budget, window = config.instagram_buc_call_budget, config.instagram_usage_window
            out.append(Limit(p, "business calls", int(budget), float(window)))
        elif p == "linkedin":
            for resource, n in sorted(config.linkedin_daily_limits.items()):
                out.append(Limit(p, resource, int(n), 86_400.0, (resource,)))
    return out


def scaled_windows(time_scale: float) -> dict[str, int]:
    """Sandbox settings with every rate-limit window divided by ``time_scale`` (whole seconds)."""
    from hhs_platform.sandbox import SandboxConfig

    defaults = SandboxConfig()
    return {
        key: max(1, round(float(getattr(defaults, key)) / time_scale)) for key in WINDOWS.values()
    }


def scale_collector_rules(factors: dict[str, float]) -> None:
    """Shorten the collector's documented windows (``hhs_platform.ratelimit``) in this process.

    ``factors``: new window / documented window, by platform. Run in every worker process
    before collecting, so that the collector paces itself by the scaled limits the sandbox
    enforces, as it paces itself by the documented ones in production. Idempotent: it scales
    the documented rules, whatever an earlier call set.
    """
    from hhs_platform.ratelimit import budget

    if not _ORIGINAL_RULES:
        _ORIGINAL_RULES["default"] = dict(budget.DEFAULT_RULES)
        _ORIGINAL_RULES["endpoint"] = budget.ENDPOINT_RULES

    def scaled(platform: str, rule: Any) -> Any:
        factor = factors.get(platform)
        return rule if factor is None else replace(rule, window_s=rule.window_s * factor)

    budget.DEFAULT_RULES.update(  # the same keys: never empty while others read it
        {p: scaled(p, rule) for p, rule in _ORIGINAL_RULES["default"].items()}
    )
    budget.ENDPOINT_RULES = tuple(
        (p, pattern, scaled(p, rule)) for p, pattern, rule in _ORIGINAL_RULES["endpoint"]
    )
    _APPLIED["factors"] = dict(factors)


def restore_collector_rules() -> None:
    """Undo :func:`scale_collector_rules` in this process."""
    scale_collector_rules({})


#: The collector's documented rules as this process first found them.
_ORIGINAL_RULES: dict[str, Any] = {}
_APPLIED: dict[str, dict[str, float]] = {}


def _collect_batch(
    batch: list[dict[str, Any]],
    run_id: str,
    batch_id: str,
    lake_uri: str,
    registry: pl.DataFrame,
    factors: dict[str, float],
) -> Any:
    """The flow's collect-batch task without Prefect: settings from the environment."""
    from hhs_platform.collect import collect_batch
    from hhs_platform.lake import Lake
    from hhs_platform.settings import Settings

    if _APPLIED.get("factors") != factors:  # a worker started (or restarted) after the warm-up
        scale_collector_rules(factors)
    return collect_batch(
        batch,
        run_id=run_id,
        batch_id=batch_id,
        lake=Lake(lake_uri, storage_options={}),
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        registry=registry,
    )


def sandbox_env(sandbox: Any, platforms: Sequence[str]) -> dict[str, str]:
    """``HHS_*`` variables pointing every collected platform at the sandbox, with credentials;
    platforms not collected get no credential (the collector leaves them out)."""
    env = scale_out_env(sandbox) | {
        "HHS_MASTODON_API_BASE": sandbox.url("mastodon"),
        "HHS_THREADS_API_BASE": sandbox.url("threads"),
        "HHS_THREADS_ACCESS_TOKEN": SANDBOX_TOKEN,
        "HHS_REDDIT_API_BASE": sandbox.url("reddit"),
        "HHS_REDDIT_ACCESS_TOKEN": SANDBOX_TOKEN,
    }
    credentials = {
        "youtube": "HHS_YOUTUBE_API_KEY",
        "x": "HHS_X_BEARER_TOKEN",
        "facebook": "HHS_FACEBOOK_ACCESS_TOKEN",
        "instagram": "HHS_INSTAGRAM_ACCESS_TOKEN",
        "linkedin": "HHS_LINKEDIN_ACCESS_TOKEN",
        "flickr": "HHS_FLICKR_API_KEY",
        "threads": "HHS_THREADS_ACCESS_TOKEN",
        "reddit": "HHS_REDDIT_ACCESS_TOKEN",
    }
    for p, name in credentials.items():
        if p not in platforms:
            env[name] = ""
    return env


@dataclass
class PlatformRow:
    """One platform of a run: its requests, limits and bound."""

    platform: str
    accounts: int
    requests: int  # served (429 answers excluded), from the platform's statistics
    rate_limited: int  # 429 answers
    responses: int  # archived by the collector (bronze), every attempt
    max_chain: int  # most requests of one account
    limits: list[dict[str, Any]] = field(default_factory=list)
    rate_bound_s: float = 0.0
    chain_bound_s: float = 0.0
    #: First request sent and last answer received, seconds after the fetch stage started.
    first_s: float | None = None
    last_s: float | None = None

    @property
    def bound_s(self) -> float:
        """The platform's lower bound: its limits or its longest request chain."""
        return max(self.rate_bound_s, self.chain_bound_s)


def limit_bound(requests: int, limit: int, window_s: float) -> float:
    """Seconds ``requests`` need under ``limit`` per ``window_s``: 0 when one window holds them
    all, else ``requests x window_s / limit`` (the allowed rate, sustained)."""
    return 0.0 if requests <= limit else requests * window_s / limit


def round_trips(responses: pl.DataFrame) -> pl.DataFrame:
    """Per account: the most of its responses that followed one another (none overlapping).

    A response spans ``fetched_at - elapsed_ms`` to ``fetched_at`` (``bronze/raw_responses``);
    the largest set of pairwise disjoint spans (earliest end first) is the account's chain of
    sequential requests: a page needs the previous page's cursor, while requests the connector
    sends at once (Threads' per-post insights) overlap and count once.
    Columns: platform, account_key, responses, round_trips.
    """
    spans = responses.select(
        "platform",
        "account_key",
        end=pl.col("fetched_at"),
        start=pl.col("fetched_at") - pl.duration(microseconds=(pl.col("elapsed_ms") * 1000)),
    ).sort("account_key", "end")
    rows = []
    for (platform, key), group in spans.group_by(["platform", "account_key"]):
        count, last_end = 0, None
        for start, end in group.select("start", "end").iter_rows():
            if last_end is None or start >= last_end:
                count, last_end = count + 1, end
        rows.append(
            {
                "platform": platform,
                "account_key": key,
                "responses": group.height,
                "round_trips": count,
            }
        )
    schema = {"platform": pl.String, "account_key": pl.String, "responses": pl.Int64,
              "round_trips": pl.Int64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def sandbox_endpoint(platform: str, url: str) -> str:
    """The sandbox's name of the endpoint of a request URL (its statistics' key), for the
    platforms whose limits count per endpoint (X) or resource (LinkedIn)."""
    from urllib.parse import urlsplit

    from hhs_platform.sandbox import linkedin, x

    path = urlsplit(url).path
    if platform == "x":
        return x._endpoint(path)
    if platform == "linkedin":
        return linkedin._resource(path)
    return ""


def limited_on(responses: pl.DataFrame, platform: str, endpoints: Sequence[str]) -> int:
    """429 answers of ``platform`` (on ``endpoints``; empty: any) among the run's responses."""
    rows = responses.filter((pl.col("platform") == platform) & (pl.col("status") == 429))
    if not endpoints:
        return rows.height
    return sum(sandbox_endpoint(platform, u) in endpoints for u in rows["request_url"])


def pacing_floor_s(
    platform: str, endpoint: str, requests: int, limit: int, window_s: float
) -> float:
    """The least time the collector's own pacing gives ``requests`` under a limit of ``limit``
    per ``window_s``: its token bucket (``hhs_platform.ratelimit.pacing``, the rule's burst)
    lets ``capacity`` through at once, then one every ``interval``."""
    from hhs_platform.ratelimit import pacing, rule_for

    path = {"users_by_username": "/2/users/by/username/", "users_tweets": "/2/users/1/tweets"}
    rule = rule_for(platform, path.get(endpoint, ""))
    if rule is None or requests <= limit:
        return 0.0
    interval, tolerance = pacing(limit, window_s, rule.burst)
    capacity = round(tolerance / interval) + 1
    return max(0, requests - capacity) * interval


def platform_rows(
    limits: Sequence[Limit],
    served: Counter[tuple[str, str]],
    rate_limited: Counter[str],
    responses: pl.DataFrame,
    mean_latency_s: float,
    started_at: datetime | None = None,
) -> list[PlatformRow]:
    """Per platform: requests served (by endpoint, from the sandbox), the bound of every limit,
    and the chain bound from the accounts' responses (``bronze/raw_responses`` of the run)."""
    per_account = (
        round_trips(responses)
        .group_by("platform")
        .agg(
            pl.len().alias("accounts"),
            pl.col("responses").sum().alias("responses"),
            pl.col("round_trips").max().alias("max_chain"),
        )
    )
    sent = pl.col("fetched_at") - pl.duration(microseconds=pl.col("elapsed_ms") * 1000)
    spans = {
        p: (first, last)
        for p, first, last in responses.group_by("platform")
        .agg(sent.min().alias("first"), pl.col("fetched_at").max().alias("last"))
        .iter_rows()
    }
    rows = []
    for r in per_account.sort("platform").iter_rows(named=True):
        p = r["platform"]
        requests = sum(n for (q, _), n in served.items() if q == p) - rate_limited.get(p, 0)
        row = PlatformRow(
            platform=p,
            accounts=int(r["accounts"]),
            requests=requests,
            rate_limited=int(rate_limited.get(p, 0)),
            responses=int(r["responses"]),
            max_chain=int(r["max_chain"] or 0),
        )
        for lim in (x for x in limits if x.platform == p):
            n = sum(
                c
                for (q, e), c in served.items()
                if q == p and (not lim.endpoints or e in lim.endpoints)
            )
            n -= limited_on(responses, p, lim.endpoints)
            bound = limit_bound(n, lim.limit, lim.window_s)
            endpoint = lim.endpoints[0] if lim.endpoints else ""
            row.limits.append(
                {
                    "name": lim.name,
                    "requests": n,
                    "limit": lim.limit,
                    "window_s": lim.window_s,
                    "bound_s": bound,
                    "pacing_floor_s": pacing_floor_s(p, endpoint, n, lim.limit, lim.window_s),
                }
            )
            row.rate_bound_s = max(row.rate_bound_s, bound)
        row.chain_bound_s = row.max_chain * mean_latency_s
        if started_at is not None and p in spans:
            row.first_s = (spans[p][0] - started_at).total_seconds()
            row.last_s = (spans[p][1] - started_at).total_seconds()
        rows.append(row)
    return rows


@dataclass
class Result:
    """One measured collection."""

    accounts: int
    platforms: list[str]
    time_scale: float
    latency_ms: tuple[int, int]
    workers: int
    threads_per_worker: int
    batch_size: int
    batches: int
    wall_s: float  # the fetch stage: first batch submitted to last batch done
    silver_write_s: float
    #: CPU seconds of the fetch stage: the worker processes (fetch, bronze, parsing) and this
    #: process (the sandbox serving every platform, and the workers when they are threads).
    workers_cpu_s: float
    sandbox_cpu_s: float
    load_before: float | None
    load_after: float | None
    rows: list[PlatformRow]
    silver_accounts: int
    silver_rows: dict[str, int]
    errors: list[dict[str, Any]]
    sandbox: dict[str, Any]
    windows: dict[str, int]

    @property
    def bound_s(self) -> float:
        """The run's lower bound: the slowest platform's."""
        return max((r.bound_s for r in self.rows), default=0.0)

    @property
    def deciding(self) -> str:
        """The platform whose bound is the run's."""
        return max(self.rows, key=lambda r: r.bound_s).platform if self.rows else "-"

    @property
    def ratio(self) -> float | None:
        """Wall time over the bound."""
        return ratio(self.wall_s, self.bound_s)

    @property
    def rate_limited(self) -> int:
        """429 answers received, every platform."""
        return sum(r.rate_limited for r in self.rows)

    def payload(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["rows"] = [asdict(r) | {"bound_s": r.bound_s} for r in self.rows]
        out |= {
            "bound_s": self.bound_s,
            "deciding": self.deciding,
            "ratio": self.ratio,
            "target": TARGET,
            "rate_limited": self.rate_limited,
        }
        return out


def bench_registry(accounts: int, platforms: Sequence[str], seed: int) -> pl.DataFrame:
    """:func:`benchmarks.worlds.registry` of ``accounts`` over ``platforms``."""
    return worlds.registry(accounts, platforms=platforms, seed=seed)


def measure(
    accounts: int = 3000,
    *,
    platforms: Sequence[str] = worlds.PLATFORMS,
    latency_ms: tuple[int, int] = (50, 300),
    time_scale: float = 10.0,
    workers: int = 2,
    threads: int = 2,
    batch_size: int = BATCH_SIZE,
    processes: bool = True,
    seed: int = 7,
    config: dict[str, Any] | None = None,
    work_dir: Path | None = None,
) -> Result:
    """Collect ``accounts`` synthetic accounts of ``platforms`` and measure the fetch stage.

    ``config`` overrides sandbox settings after the time scaling (e.g. tighter limits).
    """
    from dask.distributed import Client, LocalCluster

    from hhs_platform.collect import plan_batches
    from hhs_platform.demo import patched_env
    from hhs_platform.lake import Lake
    from hhs_platform.pipeline import write_outcomes
    from hhs_platform.sandbox import SandboxConfig, SandboxThread, SimClock
    from hhs_platform.sandbox.faults import FaultProfile
    from hhs_platform.settings import Settings

    if time_scale <= 0:
        raise ValueError("time_scale must be positive")
    registry = bench_registry(accounts, platforms, seed)
    documented = SandboxConfig()
    windows = scaled_windows(time_scale)
    threads_owner = registry.filter(pl.col("platform") == "threads")["handle"].head(1).to_list()
    settings_: dict[str, Any] = dict(windows)
    if threads_owner:  # the token is the agency's own profile (others are public profiles)
        settings_["threads_access_tokens"] = {SANDBOX_TOKEN: threads_owner[0]}
    settings_ |= config or {}
    sandbox_config = SandboxConfig(**settings_)
    factors = {
        p: float(getattr(sandbox_config, key)) / float(getattr(documented, key))
        for p, key in WINDOWS.items()
    }
    factors["truthsocial"] = factors["mastodon"]
    limits = documented_limits(sandbox_config, platforms)
    low, high = latency_ms
    own_dir = work_dir is None
    work = work_dir or Path(tempfile.mkdtemp(prefix="hhs-bench-collection-"))
    lake_uri = str(work / "lake")
    run_id = f"bench-{time.time_ns()}"
    with contextlib.ExitStack() as stack:
        if own_dir:
            stack.callback(shutil.rmtree, work, True)
        stack.callback(restore_collector_rules)
        sandbox = stack.enter_context(
            SandboxThread(
                accounts=registry,
                seed=seed,
                platforms=tuple(platforms),
                clock=SimClock(datetime.now(UTC), frozen=True),
                faults=FaultProfile(latency=1.0, latency_ms=(low, high), seed=seed),
                config=sandbox_config,
            )
        )
        env = sandbox_env(sandbox, platforms) | {
            "HHS_HTTP_STATE_DIR": str(work / "http-state"),
            "HHS_BATCH_SIZE": str(batch_size),
            "HHS_ALLOW_UNVERIFIED_ACCOUNTS": "true",
        }
        stack.enter_context(patched_env(env))
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        batches = plan_batches(registry, batch_size, settings)
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=workers,
                threads_per_worker=threads,
                processes=processes,
                dashboard_address=":0",
            )
        )
        client = stack.enter_context(Client(cluster))
        # Warm workers, as in a long-lived cluster: imports and the scaled rules before the clock.
        client.run(scale_collector_rules, factors)
        client.run(_import_collect)
        before = Counter(sandbox.stats.requests)
        limited_before = Counter(sandbox.stats.rate_limited)
        cpu_before = sum(client.run(cpu_seconds).values()) if processes else 0.0
        own_before = cpu_seconds()
        load_before = load_average()
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        futures = [
            client.submit(
                _collect_batch,
                b,
                run_id,
                f"{b[0]['platform']}-{i:04d}",
                lake_uri,
                registry,
                factors,
                pure=False,
                priority=len(batches) - i,  # the flow's order: tier 1 first
            )
            for i, b in enumerate(batches)
        ]
        outcomes = client.gather(futures)
        wall = time.perf_counter() - t0
        own_cpu = cpu_seconds() - own_before
        load_after = load_average()
        workers_cpu = sum(client.run(cpu_seconds).values()) - cpu_before if processes else 0.0
        served = Counter(sandbox.stats.requests)
        served.subtract(before)
        limited = Counter(sandbox.stats.rate_limited)
        limited.subtract(limited_before)
        t1 = time.perf_counter()
        write_outcomes(Lake(lake_uri, storage_options={}), list(outcomes))  # type: ignore[arg-type]
        silver_write = time.perf_counter() - t1
        snapshot = sandbox.stats.snapshot()
        lake = Lake(lake_uri, storage_options={})
        responses = lake.read("bronze/raw_responses").filter(pl.col("run_id") == run_id)
        silver = silver_counts(lake_uri)
        silver_accounts = lake.read("silver/accounts").height
    rows = platform_rows(limits, served, limited, responses, (low + high) / 2000, started_at)
    return Result(
        accounts=registry.height,
        platforms=list(platforms),
        time_scale=time_scale,
        latency_ms=(low, high),
        workers=workers,
        threads_per_worker=threads,
        batch_size=batch_size,
        batches=len(batches),
        wall_s=wall,
        silver_write_s=silver_write,
        workers_cpu_s=workers_cpu,
        sandbox_cpu_s=own_cpu,
        load_before=load_before,
        load_after=load_after,
        rows=rows,
        silver_accounts=silver_accounts,
        silver_rows=silver,
        errors=[e.__dict__ for o in outcomes for e in o.errors],
        sandbox=snapshot,
        windows={k: int(getattr(sandbox_config, k)) for k in WINDOWS.values()},
    )


def _import_collect() -> None:
    import hhs_platform.collect  # noqa: F401


def report(result: Result, out: Any = print) -> None:
    """Print the table per platform and the ratio."""
    table = []
    for r in result.rows:
        lims = r.limits or [{"name": "-", "requests": None, "limit": None, "window_s": None}]
        for i, lim in enumerate(lims):
            table.append(
                {
                    "platform": r.platform if i == 0 else "",
                    "accounts": r.accounts if i == 0 else None,
                    "requests": r.requests if i == 0 else None,
                    "429": r.rate_limited if i == 0 else None,
                    "limit": lim["name"],
                    "counted": lim.get("requests"),
                    "per window": (
                        f"{lim['limit']:,} / {fmt(lim['window_s'], 0)} s" if lim["limit"] else "-"
                    ),
                    "limit bound s": lim.get("bound_s"),
                    "pacing floor s": lim.get("pacing_floor_s"),
                    "chain": r.max_chain if i == 0 else None,
                    "bound s": r.bound_s if i == 0 else None,
                    "first s": r.first_s if i == 0 else None,
                    "last s": r.last_s if i == 0 else None,
                }
            )
    print_table(
        table,
        [
            ("platform", "platform", 0),
            ("accounts", "accounts", 0),
            ("requests", "requests", 0),
            ("429", "429", 0),
            ("limit", "limit", 0),
            ("counted", "counted", 0),
            ("per window", "per window", 0),
            ("limit bound s", "limit bound s", 1),
            ("pacing floor s", "pacing floor s", 1),
            ("chain", "chain", 0),
            ("bound s", "bound s", 1),
            ("first s", "first s", 1),
            ("last s", "last s", 1),
        ],
        out,
    )
    out(
        f"\n{result.accounts:,} accounts in {result.batches} batches of {result.batch_size} on "
        f"{result.workers} worker(s) x {result.threads_per_worker} threads; latency "
        f"{result.latency_ms[0]}-{result.latency_ms[1]} ms; windows / {result.time_scale:g}"
    )
    out(
        f"wall (fetch stage) {result.wall_s:.1f} s; bound {result.bound_s:.1f} s "
        f"({result.deciding} decides); ratio {fmt(result.ratio)} (target <= {TARGET})"
    )
    cores = os.cpu_count() or 1
    out(
        f"CPU of the fetch stage: workers {result.workers_cpu_s:.0f} s, sandbox and client "
        f"{result.sandbox_cpu_s:.0f} s ({(result.workers_cpu_s + result.sandbox_cpu_s) / result.wall_s:.2f} "
        f"of {cores} cores); load average {fmt(result.load_before)} before, "
        f"{fmt(result.load_after)} after"
    )
    out(
        f"429 answers: {result.rate_limited}; errors: {len(result.errors)}; silver accounts "
        f"{result.silver_accounts:,} of {result.accounts:,}; silver write {result.silver_write_s:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every account reached silver, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=3000, help="accounts of the registry")
    parser.add_argument(
        "--platforms", default=",".join(worlds.PLATFORMS), help="platforms, comma separated"
    )
    parser.add_argument(
        "--latency-ms", default="50,300", help="injected delay per request: low,high (ms)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="divide every rate-limit window by this (requests per window kept): the allowed "
        "rates, and so the bound, grow this many times",
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="accounts per task")
    parser.add_argument("--seed", type=int, default=7, help="seed of the registry and world")
    args = parser.parse_args(argv)
    low, high = (int(v) for v in args.latency_ms.split(","))
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    print(
        f"collecting {args.accounts:,} accounts on {len(platforms)} platforms "
        f"(windows / {args.time_scale:g}) ...",
        flush=True,
    )
    result = measure(
        args.accounts,
        platforms=platforms,
        latency_ms=(low, high),
        time_scale=args.time_scale,
        workers=args.workers,
        threads=args.threads,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    report(result)
    path = write_results(
        "collection", {"machine": machine(("polars", "deltalake", "dask"))} | result.payload()
    )
    print(f"written to {path}")
    return 0 if result.silver_accounts == result.accounts else 1


if __name__ == "__main__":
    sys.exit(main())
