"""Incremental-run benchmark: the same daily run into an empty lake and into a lake that already
holds millions of ``silver/post_metrics`` rows.

A daily run should cost what the day's data costs, not what the lake holds. This benchmark
collects a simulated world's accounts at one simulated instant, then lands that collection and
runs every downstream step of the collection flow twice, each time timed step by step:

* into an **empty** lake;
* into a **full** lake: the same accounts with ``--rows`` older post observations (``--days``
  days of older posts, written with :class:`hhs_platform.lake.Lake` in a few commits,
  partitioned as the catalogue says), then a real collection of the previous day with every
  build (enrichment, gold, analytics, quality, SLO) run once before timing, so gold is
  consistent with silver and the timed build is incremental as in production.

Steps timed (the collection flow's, in its order): bronze (raw responses and fetch log
appended), silver (``write_silver``: the MERGEs), enrich (features and campaign links), gold
(``pipeline.refresh_gold``: incremental gold with its before/after read), anomalies, forecasts,
quality (flags and scorecard), SLO. The HTTP fetch of the simulated platforms runs once, into a
scratch lake, and both lakes land the same responses; its time is reported apart and added to
both totals.

Cost is wall time and CPU seconds; the ratio full / empty is the figure against the target
(**1.3**). The Delta commit metrics of every commit the run made (files scanned, skipped by
partition pruning, rewritten; rows copied) are summed per table. ``--profile`` profiles the run
into the full lake (cProfile) and writes its hottest functions to
``benchmarks/results/profile-incremental.txt``.

Usage::

    python -m benchmarks.incremental                       # 10 M rows, 300 accounts, 730 days
    python -m benchmarks.incremental --rows 1000000 --accounts 60 --days 120 --profile
    python -m benchmarks.incremental --maintained          # after `hhs maintain`
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.report import (
    RESULTS,
    cpu_seconds,
    fmt,
    machine,
    peak_rss_mib,
    print_table,
    ratio,
    write_results,
)
from benchmarks.worlds import registry as synthetic_registry
from hhs_platform import pipeline
from hhs_platform.analytics import build_anomalies, build_forecasts
from hhs_platform.collect import (
    archived_responses,
    logged_fetches,
    silver_from_bronze,
)
from hhs_platform.enrich import enrich_posts, link_campaigns
from hhs_platform.lake import Lake
from hhs_platform.lake.maintenance import maintain
from hhs_platform.lake.silver import write_silver
from hhs_platform.ops.slo import build_slo
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.runtime import tune_gc
from hhs_platform.sandbox.history import fetch_day
from hhs_platform.sandbox.server import SandboxThread
from hhs_platform.sandbox.world import SUPPORTED_PLATFORMS, World
from hhs_platform.settings import Settings
from hhs_platform.transforms.gold import build_gold
from schemas import CATALOGUE, table_spec

TARGET = 1.3
#: Days of the simulated world's own posts before its epoch (what the warm-up run backfills).
WORLD_HISTORY_DAYS = 7
#: Hour (UTC) of the daily collections.
HOUR = 12
#: The daily run reads each feed back this far (as ``collect_history``'s daily runs do).
LOOKBACK = timedelta(days=3)
#: Post ids of the padding start with this (no simulated platform's ids do).
PAD_PREFIX = "pad-"
#: Rows per commit when writing the padding's observations.
CHUNK_ROWS = 2_500_000
#: The steps of a run after the fetch, in the collection flow's order.
STEPS = ("bronze", "silver", "enrich", "gold", "anomalies", "forecasts", "quality", "slo")
_METRICS = ("likes", "reposts", "replies", "quotes", "views")
#: Delta commit metrics summed per table (those a commit does not report count as 0).
COMMIT_METRICS = (
    "num_target_files_scanned",
    "num_target_files_skipped_during_scan",
    "num_target_files_added",
    "num_target_files_removed",
    "num_target_rows_copied",
    "num_target_rows_inserted",
    "num_target_rows_updated",
    "num_added_files",
    "num_removed_files",
    "num_added_rows",
)


@dataclass(frozen=True)
class Collection:
    """One collection of the world at an instant: its responses and fetch log, re-stamped."""

    run_id: str
    at: datetime
    since: datetime | None
    responses: pl.DataFrame
    fetches: pl.DataFrame
    errors: list[str]
    seconds: float
    cpu: float


@dataclass
class Run:
    """One timed run into one lake: wall and CPU seconds per step, and its Delta commits."""

    lake: str
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    commits: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, what: str) -> float:
        return sum(s[what] for s in self.steps.values())


def fetch(
    world: World,
    registry: pl.DataFrame,
    at: datetime,
    since: datetime | None,
    scratch: Lake,
    run_id: str,
) -> Collection:
    """Collect ``registry`` from the simulated platforms at ``at`` into ``scratch``.

    The first half of :func:`hhs_platform.sandbox.history.collect_day`: the responses and fetch
    log are re-stamped with the simulated instant, ready to land in any lake.
    """
    wall, cpu = time.perf_counter(), cpu_seconds()
    world.clock.set(at)
    # A sandbox per collection: the simulated X counts its rate-limit windows in wall time.
    with SandboxThread(world=world) as sb:
        errors = fetch_day(sb, scratch, registry, run_id, since)
    fetches = logged_fetches(scratch, run_id)
    frame = archived_responses(scratch, fetches)
    if not fetches.is_empty():
        shift = at - fetches["started_at"].min()  # type: ignore[operator]
        frame = frame.with_columns(fetched_at=pl.col("fetched_at") + shift).with_columns(
            fetched_date=pl.col("fetched_at").dt.date()
        )
        fetches = fetches.with_columns(pl.col("started_at", "finished_at") + shift)
    return Collection(
        run_id,
        at,
        since,
        frame,
        fetches,
        errors,
        time.perf_counter() - wall,
        cpu_seconds() - cpu,
    )


def daily_steps(
    lake: Lake, collection: Collection, registry: pl.DataFrame
) -> list[tuple[str, Callable[[], Any]]]:
    """The steps of a run after fetching, in the collection flow's order (each a callable)."""
    at, run_id = collection.at, collection.run_id
    state: dict[str, Any] = {}

    def bronze() -> None:
        lake.append("bronze/raw_responses", collection.responses)
        lake.append("bronze/fetch_log", collection.fetches)

    def silver() -> None:
        write_silver(lake, silver_from_bronze(collection.responses, collection.fetches, registry))

    def enrich() -> None:
        enrich_posts(lake)
        link_campaigns(lake)

    def gold() -> None:
        _written, state["changed"] = pipeline.refresh_gold(lake)

    def anomalies() -> None:
        changed = state.get("changed")
        build_anomalies(lake, min(changed or at.date(), at.date()), now=at)

    steps = [
        bronze,
        silver,
        enrich,
        gold,
        anomalies,
        lambda: build_forecasts(lake, now=at),
        lambda: build_quality(lake, run_id, now=at),
        lambda: build_slo(lake, now=at),
    ]
    return list(zip(STEPS, steps, strict=True))


def timed_run(
    name: str,
    lake: Lake,
    collection: Collection,
    registry: pl.DataFrame,
    profile: cProfile.Profile | None = None,
) -> Run:
    """Run the daily steps into ``lake``, timing each; the fetch is counted as a step too."""
    run = Run(name)
    run.steps["fetch (shared)"] = {"wall_s": collection.seconds, "cpu_s": collection.cpu}
    versions = {t: lake.version(t) for t in CATALOGUE}
    for step, fn in daily_steps(lake, collection, registry):
        wall, cpu = time.perf_counter(), cpu_seconds()
        if profile is not None:
            profile.enable()
        try:
            fn()
        finally:
            if profile is not None:
                profile.disable()
        run.steps[step] = {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_seconds() - cpu}
    run.commits = commit_metrics(lake, versions)
    return run


def commit_metrics(lake: Lake, before: dict[str, int | None]) -> dict[str, dict[str, int]]:
    """Per table: the commits made since the versions ``before`` and their summed metrics."""
    out: dict[str, dict[str, int]] = {}
    for table, version in before.items():
        now = lake.version(table)
        if now is None or now == version:
            continue
        start = -1 if version is None else version
        entries = [h for h in lake.history(table, now - start) if h.get("version", 0) > start]
        sums = {"commits": len(entries)}
        for h in entries:
            metrics = h.get("operationMetrics") or {}
            for key in COMMIT_METRICS:
                value = metrics.get(key)
                if isinstance(value, int | float):
                    sums[key] = sums.get(key, 0) + int(value)
        # MERGEs report target files added/removed, other writes added/removed files
        sums["files_added"] = sums.get("num_target_files_added", 0) + sums.get("num_added_files", 0)
        sums["files_removed"] = sums.get("num_target_files_removed", 0) + sums.get(
            "num_removed_files", 0
        )
        out[table] = sums
    return out


# -- the padding: older posts and observations of the same accounts ---------------------------
def pad(lake: Lake, rows: int, days: int, before: datetime, seed: int = 11) -> dict[str, int]:
    """Append ``rows`` older ``silver/post_metrics`` rows for the accounts of ``lake``.

    Each account of ``silver/accounts`` gets one post a day for the ``days`` days before
    ``before`` (ids ``pad-<n>``, plain text), each post the same number of observations (the
    last post fewer, so the total is exactly ``rows``) within 14 days of publication and before
    ``before``, with growing counters; and a daily ``silver/account_snapshots`` row. Post
    features are left to the enrichment. Returns the rows appended per table.
    """
    accounts = lake.read("silver/accounts", columns=["platform", "account_id", "agency"]).sort(
        "platform", "account_id"
    )
    if accounts.is_empty():
        raise ValueError("pad needs silver/accounts: collect the accounts first")
    n_posts = accounts.height * days
    per_post = max(1, math.ceil(rows / n_posts))
    n_posts = math.ceil(rows / per_post)
    rng = np.random.default_rng(seed)
    stamp = {"run_id": "padding", "response_id": "padding", "connector_version": "padding"}
    # Posts: account a posts on day d (counted back from `before`) at a random second of it.
    idx = np.arange(n_posts)
    account = idx % accounts.height
    day = idx // accounts.height + 1
    offset_s = rng.integers(0, 86_400, n_posts)
    start = before.replace(hour=0, minute=0, second=0, microsecond=0)
    created = pl.select(
        pl.lit(start).cast(pl.Datetime("us", "UTC"))
        - pl.duration(days=pl.Series(day), seconds=pl.Series(-offset_s))
    ).to_series()
    meta = accounts[account]
    finals = {m: rng.lognormal(3.0, 1.5, n_posts).astype(np.int64) for m in _METRICS}
    posts = pl.DataFrame(
        {
            "platform": meta["platform"],
            "post_id": [f"{PAD_PREFIX}{i}" for i in idx],
            "account_id": meta["account_id"],
            "created_at": created,
        }
    )
    # observations within 14 days of publication and an hour before `before` at the latest
    before_s = int(before.timestamp())
    window_s = np.minimum(14 * 86_400, before_s - created.dt.epoch("s").to_numpy() - 3_600)
    written = {"silver/post_metrics": 0}
    first_obs: np.ndarray = np.zeros(n_posts, dtype=np.int64)
    last_obs: np.ndarray = np.zeros(n_posts, dtype=np.int64)
    posts_per_chunk = max(1, CHUNK_ROWS // per_post)
    for lo in range(0, n_posts, posts_per_chunk):
        hi = min(n_posts, lo + posts_per_chunk)
        p = np.repeat(np.arange(lo, hi), per_post)
        j = np.tile(np.arange(per_post), hi - lo)
        keep = p * per_post + j < rows
        p, j = p[keep], j[keep]
        share = (j + 1) / per_post
        base = created.dt.epoch("s").to_numpy()[p]
        at_s = base + (window_s[p] * share**2).astype(np.int64) + j  # strictly increasing
        np.maximum.at(last_obs, p, at_s)
        first_obs[p[j == 0]] = at_s[j == 0]
        observed = pl.Series(at_s * 1_000_000).cast(pl.Datetime("us", "UTC"))
        frame = pl.DataFrame(
            {
                "platform": posts["platform"].gather(p),
                "post_id": posts["post_id"].gather(p),
                "account_id": posts["account_id"].gather(p),
                "observed_at": observed,
                "last_observed_at": observed,
                **{m: (finals[m][p] * np.sqrt(share)).astype(np.int64) + j for m in _METRICS},
                **{k: pl.repeat(v, len(p), eager=True) for k, v in stamp.items()},
            }
        )
        lake.append("silver/post_metrics", frame)
        written["silver/post_metrics"] += frame.height
    n = n_posts
    silver_posts = posts.with_columns(
        author_id=pl.col("account_id"),
        utc_offset_minutes=pl.lit(0, pl.Int64),
        post_type=pl.lit("original"),
        text=pl.Series(_texts(rng, n), dtype=pl.Utf8),
        lang=pl.lit("en"),
        hashtags=pl.lit([], pl.List(pl.Utf8)),
        mentions=pl.lit([], pl.List(pl.Utf8)),
        links=pl.lit([], pl.List(pl.Utf8)),
        media_count=pl.lit(0, pl.Int64),
        is_deleted=pl.lit(False),
        first_seen_at=pl.Series(first_obs * 1_000_000).cast(pl.Datetime("us", "UTC")),
        last_seen_at=pl.Series(last_obs * 1_000_000).cast(pl.Datetime("us", "UTC")),
        **{k: pl.lit(v) for k, v in stamp.items()},
    )
    lake.append("silver/posts", silver_posts)
    written["silver/posts"] = n
    # One snapshot a day per account, followers growing toward the first real observation.
    snap_days = np.arange(days, 0, -1)
    a = np.repeat(np.arange(accounts.height), days)
    d = np.tile(snap_days, accounts.height)
    observed = pl.select(
        pl.lit(start).cast(pl.Datetime("us", "UTC")) - pl.duration(days=pl.Series(d), hours=-HOUR)
    ).to_series()
    followers = (rng.integers(1_000, 100_000, accounts.height)[a] * (1 - d / (4 * days))).astype(
        np.int64
    )
    snapshots = pl.DataFrame(
        {
            "platform": accounts["platform"].gather(a),
            "account_id": accounts["account_id"].gather(a),
            "observed_at": observed,
            "last_observed_at": observed,
            "followers": followers,
            "following": pl.repeat(100, len(a), eager=True, dtype=pl.Int64),
            "posts_count": pl.Series(days - d, dtype=pl.Int64),
            **{k: pl.repeat(v, len(a), eager=True) for k, v in stamp.items()},
        }
    )
    lake.append("silver/account_snapshots", snapshots)
    written["silver/account_snapshots"] = snapshots.height
    return written


def _texts(rng: np.random.Generator, n: int, words: int = 14) -> list[str]:
    """``n`` texts of ``words`` words drawn from a vocabulary of 6,000 made-up words, so that
    posts are as unlike each other as real ones (the campaign linker compares them)."""
    syllables = np.array(["ba", "ke", "lo", "mi", "nu", "ra", "se", "ti", "vo", "zu"])
    s = np.array(np.meshgrid(*[syllables] * 3, indexing="ij")).reshape(3, -1)
    base = np.char.add(np.char.add(s[0], s[1]), s[2])  # 1,000 words
    vocab = np.concatenate([base] + [np.char.add(base, suffix) for suffix in "nstrl"])
    draws = vocab[rng.integers(0, len(vocab), (n, words))]
    return [" ".join(row) for row in draws.tolist()]


def prepare_full(
    lake: Lake, warmup: Collection, registry: pl.DataFrame, rows: int, days: int, before: datetime
) -> dict[str, Any]:
    """The full lake: the previous day's real collection, the padding, every build once."""
    wall = time.perf_counter()
    steps = dict(daily_steps(lake, warmup, registry))
    steps["bronze"]()
    steps["silver"]()
    padded = pad(lake, rows, days, before)
    enrich_posts(lake)
    link_campaigns(lake)
    build_gold(lake)
    build_anomalies(lake, None, now=warmup.at)
    build_forecasts(lake, now=warmup.at)
    build_quality(lake, warmup.run_id, now=warmup.at)
    build_slo(lake, now=warmup.at)
    return {"padded": padded, "seconds": round(time.perf_counter() - wall, 1)}


def table_rows(lake: Lake, tables: list[str]) -> dict[str, int]:
    """Rows per table (0 when the table does not exist)."""
    return {t: lake.scan(t).select(pl.len()).collect().item() for t in tables}


def day_rows(lake: Lake, at: datetime) -> dict[str, pl.DataFrame]:
    """The run's observations: silver rows last seen at ``at`` or later, keyed and sorted, with
    the columns that do not depend on what the lake held before (the run-length encoding keeps
    an unchanged row's ``observed_at``)."""
    metrics = (
        lake.scan("silver/post_metrics")
        .filter(pl.col("last_observed_at") >= at)
        .select("platform", "post_id", "account_id", "last_observed_at", *_METRICS)
    )
    snapshots = (
        lake.scan("silver/account_snapshots")
        .filter(pl.col("last_observed_at") >= at)
        .select("platform", "account_id", "last_observed_at", "followers", "following")
    )
    posts = (
        lake.scan("silver/posts")
        .filter(pl.col("last_seen_at") >= at)
        .select("platform", "post_id", "account_id", "created_at", "text", "last_seen_at")
    )
    out = {}
    for name, lf in (
        ("silver/post_metrics", metrics),
        ("silver/account_snapshots", snapshots),
        ("silver/posts", posts),
    ):
        keys = [k for k in table_spec(name).keys if k != "observed_at"]
        out[name] = lf.collect().sort(keys)
    return out


def profile_text(profile: cProfile.Profile, top: int = 80) -> str:
    """The ``top`` functions by cumulative and by own time, and what each step's entry point
    of ``hhs_platform`` calls."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    for entry in (
        "write_silver",
        "enrich_posts",
        "link_campaigns",
        "build_gold",
        "_gold_tail",
        "build_anomalies",
        "build_quality",
        "build_slo",
    ):
        stats.print_callees(rf"\({entry}\)")
    return out.getvalue()


def measure(
    *,
    rows: int,
    accounts: int,
    days: int,
    seed: int,
    workdir: Path,
    profile: bool = False,
    maintained: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build both lakes in ``workdir`` and time the daily run into each (see module doc).

    ``maintained``: run ``hhs maintain`` (compaction, Z-order, vacuum of files older than the
    default retention) on the full lake before the daily run, as a production lake's weekly
    maintenance leaves it."""
    registry = synthetic_registry(accounts, seed=seed)
    registry = registry.filter(pl.col("platform").is_in(SUPPORTED_PLATFORMS))
    world = World(
        registry,
        seed=seed,
        platforms=sorted(set(registry["platform"])),
        history_days=WORLD_HISTORY_DAYS,
    )
    epoch = world.now()
    previous = epoch + timedelta(hours=HOUR)
    at = epoch + timedelta(days=1, hours=HOUR)
    scratch = Lake(str(workdir / "scratch"))
    empty, full = Lake(str(workdir / "empty")), Lake(str(workdir / "full"))

    say(f"collecting {registry.height} accounts at {previous:%Y-%m-%d %H:%M} (warm-up)")
    warmup = fetch(world, registry, previous, None, scratch, "incremental-warmup")
    say(f"building the full lake ({rows:,} padding rows over {days} days)")
    before = epoch - timedelta(days=WORLD_HISTORY_DAYS)
    prepared = prepare_full(full, warmup, registry, rows, days, before)
    held = table_rows(full, ["silver/post_metrics", "silver/posts", "silver/account_snapshots"])
    say(f"full lake ready in {prepared['seconds']:.0f} s: {held}")
    if maintained:
        wall = time.perf_counter()
        maintenance = maintain(full)
        prepared["maintain_s"] = round(time.perf_counter() - wall, 1)
        prepared["files_after_maintenance"] = {t.table: t.files_after for t in maintenance.tables}
        say(f"maintained the full lake in {prepared['maintain_s']:.0f} s")

    say(f"collecting at {at:%Y-%m-%d %H:%M} (the daily run, since {at - LOOKBACK:%Y-%m-%d})")
    daily = fetch(world, registry, at, at - LOOKBACK, scratch, "incremental-daily")
    runs = {"empty": timed_run("empty", empty, daily, registry)}
    profiler = cProfile.Profile() if profile else None
    runs["full"] = timed_run("full", full, daily, registry, profiler)

    new_empty, new_full = day_rows(empty, at), day_rows(full, at)
    same = {name: new_empty[name].equals(new_full[name]) for name in new_empty}
    result: dict[str, Any] = {
        "settings": {
            "rows": rows,
            "accounts": accounts,
            "days": days,
            "seed": seed,
            "maintained": maintained,
        },
        "collected_accounts": registry.height,
        "at": at.isoformat(),
        "collection_errors": warmup.errors + daily.errors,
        "padded": prepared["padded"],
        "prepare_s": prepared["seconds"],
        "maintain_s": prepared.get("maintain_s"),
        "files_after_maintenance": prepared.get("files_after_maintenance"),
        "full_lake_rows": held,
        "day_rows": {name: df.height for name, df in new_empty.items()},
        "day_rows_equal": same,
        "runs": {name: {"steps": r.steps, "commits": r.commits} for name, r in runs.items()},
    }
    for what in ("wall_s", "cpu_s"):
        e, f = runs["empty"].total(what), runs["full"].total(what)
        fetched = daily.seconds if what == "wall_s" else daily.cpu
        result[what] = {
            "empty": e,
            "full": f,
            "ratio": ratio(f, e),
            "ratio_without_fetch": ratio(f - fetched, e - fetched),
        }
    if profiler is not None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / "profile-incremental.txt"
        path.write_text(profile_text(profiler))
        result["profile"] = str(path)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def report(result: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """Print the per-step table, the totals with the ratio against the target, the commits."""
    if result["settings"].get("maintained"):
        files = result["files_after_maintenance"] or {}
        silver = {t: n for t, n in files.items() if t.startswith("silver/")}
        out(f"the full lake was maintained first ({result['maintain_s']} s): files {silver}")
    steps = result["runs"]["empty"]["steps"]
    rows = []
    for step in steps:
        e = result["runs"]["empty"]["steps"][step]
        f = result["runs"]["full"]["steps"][step]
        rows.append(
            {
                "step": step,
                "empty_wall": e["wall_s"],
                "full_wall": f["wall_s"],
                "empty_cpu": e["cpu_s"],
                "full_cpu": f["cpu_s"],
                "ratio": ratio(f["wall_s"], e["wall_s"]),
            }
        )
    rows.append(
        {
            "step": "total",
            "empty_wall": result["wall_s"]["empty"],
            "full_wall": result["wall_s"]["full"],
            "empty_cpu": result["cpu_s"]["empty"],
            "full_cpu": result["cpu_s"]["full"],
            "ratio": result["wall_s"]["ratio"],
        }
    )
    out("")
    print_table(
        rows,
        [
            ("step", "step", 0),
            ("empty_wall", "empty wall s", 2),
            ("full_wall", "full wall s", 2),
            ("empty_cpu", "empty CPU s", 2),
            ("full_cpu", "full CPU s", 2),
            ("ratio", "full/empty", 2),
        ],
        out,
    )
    out("")
    for what, label in (("wall_s", "wall time"), ("cpu_s", "CPU time")):
        r = result[what]
        verdict = "meets" if r["ratio"] is not None and r["ratio"] <= TARGET else "misses"
        out(
            f"{label}: full {fmt(r['full'])} s / empty {fmt(r['empty'])} s = "
            f"x{fmt(r['ratio'])} ({verdict} the target x{TARGET}); "
            f"without the shared fetch x{fmt(r['ratio_without_fetch'])}"
        )
    out("")
    commits = []
    for lake in ("empty", "full"):
        for table, m in sorted(result["runs"][lake]["commits"].items()):
            commits.append({"lake": lake, "table": table, **m})
    print_table(
        commits,
        [
            ("lake", "lake", 0),
            ("table", "table", 0),
            ("commits", "commits", 0),
            ("num_target_files_scanned", "files scanned", 0),
            ("num_target_files_skipped_during_scan", "files skipped", 0),
            ("files_added", "added", 0),
            ("files_removed", "removed", 0),
            ("num_target_rows_copied", "rows copied", 0),
        ],
        out,
    )
    out("")
    out(f"full lake: {result['full_lake_rows']}")
    out(
        f"the run's rows per table: {result['day_rows']}; equal in both: {result['day_rows_equal']}"
    )
    if result["collection_errors"]:
        out(f"collection errors: {result['collection_errors'][:5]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the same daily run into an empty lake and into one holding --rows "
        f"older post observations; the ratio full/empty against x{TARGET}."
    )
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="silver/post_metrics rows of the padding"
    )
    parser.add_argument(
        "--accounts", type=int, default=300, help="accounts of the synthetic registry collected"
    )
    parser.add_argument(
        "--days", type=int, default=730, help="days of older posts the padding spreads over"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", action="store_true", help="profile the run into the full lake (cProfile)"
    )
    parser.add_argument(
        "--keep", type=Path, help="build the lakes in this folder and keep them (default: temp)"
    )
    parser.add_argument(
        "--maintained",
        action="store_true",
        help="run `hhs maintain` on the full lake before the daily run (compaction, Z-order); "
        "results go to incremental-maintained.json",
    )
    args = parser.parse_args(argv)
    if args.rows < 1 or args.accounts < 1 or args.days < 1:
        parser.error("--rows, --accounts and --days must be at least 1")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    if args.keep and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tune_gc(Settings(_env_file=None).gc_threshold)  # type: ignore[call-arg]  # as workers do
    try:
        result = measure(
            rows=args.rows,
            accounts=args.accounts,
            days=args.days,
            seed=args.seed,
            workdir=workdir,
            profile=args.profile,
            maintained=args.maintained,
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(result)
    name = "incremental-maintained" if args.maintained else "incremental"
    path = write_results(name, {"machine": machine(), **result})
    print(f"\nwrote {path}")
    return 0 if all(result["day_rows_equal"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
