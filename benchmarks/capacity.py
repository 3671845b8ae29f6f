"""Capacity benchmark: storage, requests and API quota per account, measured on simulated days.

Collects the shipped registry (or ``--accounts-file``) from the simulated platforms through the
real pipeline into a fresh lake in a temporary folder, then reports:

1. **Storage per table**: rows, files and bytes on disk after ``--days`` daily collections
   (:func:`hhs_platform.sandbox.history.collect_history`: bronze, silver, gold, analytics,
   quality built each day), before and after ``maintain`` (compaction, Z-order, vacuum with a
   0-hour window), and rows and compacted bytes per account per day in the steady state (after
   the first, backfilling, collection).
2. **Requests per account per collection, per platform**, from ``bronze/raw_responses`` (count
   and summed body length) in five modes: the first collection (backfill of the world's 60 days),
   a *full read* (no ``since``: every page of the feed, what ``collect-full-monthly`` does), a
   *30-day lookback* (``since`` = 30 days back, what the shipped ``collect-tier-N`` deployments
   and, with 29 days, ``collect-repoll`` do), a *daily incremental* read (``since`` = 3 days
   back) and an *hourly incremental* read (``since`` = the previous hour). The full, lookback and
   hourly reads run ``--hours`` times each at hourly instants after the daily ones, into a second
   lake, which also gives the silver rows an hourly collection adds.
3. **Engagement re-polls** (``hhs collect --repoll``), simulated hour by hour over the lake's
   posts (:func:`simulate_repolls`): the shipped schedule's reads (tier 1 at :00, tier 2 at
   :15 every 6 h, tier 3 at 04:45, the whole feeds on the 2nd at 08:00, each observing the
   account's posts of its lookback) and the hourly re-poll at :30, which collects the accounts
   :func:`~hhs_platform.transforms.curves.due_for_repoll` selects given those observations
   (and observes their posts in turn). Re-polls per account per day, per platform and tier.
4. **Per account per year at each tier's cadence** (tier 1 hourly = 8,760 collections, tier 2
   every 6 h = 1,460, tier 3 daily = 365, plus re-polls and 12 whole-feed reads): requests,
   response bytes, bronze and lake bytes, and **quota use against each platform's published
   limits**, with the largest registry each limit allows per credential.

Nothing is written outside a temporary folder (``--keep DIR`` keeps the lakes there instead).
Numbers are printed; ``--json FILE`` also writes them.

Usage::

    python -m benchmarks.capacity                     # 7 days + 4 hourly rounds, ~5 min
    python -m benchmarks.capacity --days 14 --hours 6
    python -m benchmarks.capacity --platforms youtube,x --days 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform as pyplatform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import polars as pl

from hhs_platform.connectors import CONNECTORS
from hhs_platform.lake import Lake
from hhs_platform.lake.maintenance import maintain, table_statistics
from hhs_platform.ratelimit.quota import unit_cost
from hhs_platform.registry.loader import load_registry
from hhs_platform.sandbox.history import collect_day, collect_history
from hhs_platform.sandbox.server import SandboxThread
from hhs_platform.sandbox.world import SUPPORTED_PLATFORMS, World
from hhs_platform.transforms.curves import AGES_H, due_for_repoll
from schemas import CATALOGUE

#: Collections per account per year at each registry tier's cadence.
COLLECTIONS_PER_YEAR: dict[int, int] = {1: 8760, 2: 1460, 3: 365}
CADENCE = {1: "hourly", 2: "every 6 h", 3: "daily"}
#: Silver tables that are run-length encoded time series: their growth follows the cadence.
TIME_SERIES = ("silver/account_snapshots", "silver/post_metrics")
#: Tables whose size follows the collections, not the days (one row per response / fetch).
PER_COLLECTION = ("bronze/raw_responses", "bronze/fetch_log")
#: Read modes of the daily collections (what the first lake's bronze holds).
DAILY_MODES = ("backfill", "daily incremental")
#: Read modes of the hourly rounds (second lake), with the ``since`` each reads back to.
HOURLY_MODES: dict[str, timedelta | None] = {
    "full read": None,
    "30-day lookback": timedelta(days=30),
    "hourly incremental": timedelta(hours=1),
}
#: The shipped schedule (prefect.yaml): lookbacks of the tier and re-poll deployments, and the
#: minute past the hour each starts at (re-polls hourly at :30, ``HHS_REPOLL_HORIZON_MINUTES``
#: = 60; tier 2 at :15 every 6 h; tier 3 at 04:45; every feed whole on the 2nd at 08:00).
TIER_LOOKBACK = timedelta(days=30)
REPOLL_LOOKBACK = timedelta(days=29)
REPOLL_HORIZON = timedelta(hours=1)
#: Tiers ``collect-repoll`` takes (prefect.yaml): an hourly tier-1 read stands for every age.
REPOLL_TIERS = (2, 3)
FULL_READS_PER_YEAR = 12


@dataclass(frozen=True)
class Limit:
    """A platform's published limit, as requests (or units) per day per credential."""

    per_day: int
    text: str
    #: Only requests whose endpoint contains this count against it ("" = every request).
    endpoint: str = ""
    #: What the budget is per: IP, key, app, token, ...
    per: str = "credential"


#: Published limits (docs/platforms.md, hhs_platform/ratelimit/budget.py and quota.py).
#: Meta's Business Use Case limits scale with the page's engaged users / impressions: the
#: floor (4,800 calls a day) is used. LinkedIn's daily limits are set per app in its portal.
LIMITS: dict[str, list[Limit]] = {
    "bluesky": [Limit(3000 * 288, "3,000 requests / 5 min", per="IP")],
    "youtube": [Limit(10_000, "10,000 units / day", per="API key (project)")],
    "x": [
        Limit(1500 * 96, "users/:id/tweets 1,500 / 15 min", "x.users.tweets", "app"),
        Limit(300 * 96, "users/by/username 300 / 15 min", "x.users.by", "app"),
    ],
    "facebook": [Limit(4800, "4,800 calls / 24 h x engaged users (floor)", per="page token")],
    "instagram": [Limit(4800, "4,800 calls / 24 h x impressions (floor)", per="asking account")],
    "threads": [Limit(48_000, "4,800 x impressions / 24 h (floor 48,000)", per="user token")],
    "linkedin": [Limit(100_000, "per-app daily limit per endpoint (portal)", per="app")],
    "flickr": [Limit(3600 * 24, "3,600 / hour", per="API key")],
    "mastodon": [Limit(300 * 288, "300 / 5 min", per="IP or token")],
    "truthsocial": [Limit(300 * 288, "Mastodon-style, unpublished (300 / 5 min assumed)")],
    "reddit": [Limit(100 * 1440, "100 / min", per="OAuth client")],
}


# -- measuring --------------------------------------------------------------------------------
@dataclass
class TableSize:
    """One table's size: live rows and bytes (current version) and everything on disk."""

    rows: int = 0
    live_bytes: int = 0
    disk_bytes: int = 0
    files: int = 0


def disk_usage(path: Path) -> tuple[int, int]:
    """Bytes and data files under ``path`` (every file counts for bytes; parquet for files)."""
    total, files = 0, 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
            files += name.endswith(".parquet")
    return total, files


def table_sizes(lake: Lake) -> dict[str, TableSize]:
    """Every existing table's size (the Delta log's add actions, and a walk of its folder)."""
    out: dict[str, TableSize] = {}
    for name in CATALOGUE:
        delta = lake.delta(name)
        if delta is None:
            continue
        rows, live = table_statistics(delta)
        disk, files = disk_usage(Path(lake.path(name)))
        out[name] = TableSize(rows or 0, live, disk, files)
    return out


@dataclass
class Measurement:
    """Everything measured in one run (the report is computed from it)."""

    days: int
    hours: int
    seed: int
    accounts: dict[str, dict[int, int]]  # platform -> tier -> accounts collected
    left_out: dict[str, int]  # platform -> accounts the sandbox/connectors cannot collect
    after_first_day: dict[str, TableSize] = field(default_factory=dict)
    before_maintain: dict[str, TableSize] = field(default_factory=dict)
    after_maintain: dict[str, TableSize] = field(default_factory=dict)
    hourly_sizes: list[dict[str, TableSize]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    lookback_sizes: list[dict[str, TableSize]] = field(default_factory=list)
    #: platform -> tier -> re-polls per account per day, with the fix (observations count) and
    #: without it (``due_for_repoll`` without ``observed``, the code before the fix).
    repolls: dict[str, dict[int, float]] = field(default_factory=dict)
    unfixed_repolls: dict[str, dict[int, float]] = field(default_factory=dict)
    repoll_days: float = 0.0
    history_days: int = 60
    posts_per_account_day: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def response_stats(lake: Lake, mode_of: dict[str, str]) -> pl.DataFrame:
    """Requests, body bytes, YouTube units and X posts read per run, platform and endpoint."""
    bronze = lake.read(
        "bronze/raw_responses", columns=["run_id", "platform", "endpoint", "request_url", "body"]
    )
    bronze = bronze.filter(pl.col("run_id").is_in(list(mode_of)))
    units = [
        unit_cost(p, urlparse(u).path)
        for p, u in zip(bronze["platform"], bronze["request_url"], strict=True)
    ]
    posts = [
        _x_posts(b) if e == "x.users.tweets" else 0
        for e, b in zip(bronze["endpoint"], bronze["body"], strict=True)
    ]
    return (
        bronze.with_columns(
            mode=pl.col("run_id").replace_strict(mode_of),
            body_bytes=pl.col("body").bin.size().fill_null(0),
            units=pl.Series(units, dtype=pl.Int64),
            x_posts=pl.Series(posts, dtype=pl.Int64),
        )
        .group_by("mode", "run_id", "platform", "endpoint")
        .agg(
            requests=pl.len(),
            body_bytes=pl.col("body_bytes").sum(),
            units=pl.col("units").sum(),
            x_posts=pl.col("x_posts").sum(),
        )
        .sort("mode", "run_id", "platform", "endpoint")
    )


def _x_posts(body: bytes | None) -> int:
    try:
        return len(json.loads(body or b"{}").get("data") or [])
    except (ValueError, AttributeError):
        return 0


def _scheduled_reads(at: datetime) -> list[tuple[datetime, int | None, timedelta | None]]:
    """The shipped schedule's reads in the hour starting at ``at``: (instant, tier or None for
    every account, lookback or None for the whole feed), in time order."""
    reads: list[tuple[datetime, int | None, timedelta | None]] = [(at, 1, TIER_LOOKBACK)]
    if at.day == 2 and at.hour == 8:
        reads.append((at, None, None))
    if at.hour % 6 == 0:
        reads.append((at + timedelta(minutes=15), 2, TIER_LOOKBACK))
    if at.hour == 4:
        reads.append((at + timedelta(minutes=45), 3, TIER_LOOKBACK))
    return sorted(reads, key=lambda r: r[0])


def simulate_repolls(
    posts: pl.DataFrame,
    accounts: pl.DataFrame,
    start: datetime,
    count_from: datetime,
    end: datetime,
    *,
    fixed: bool = True,
) -> dict[str, dict[int, float]]:
    """Re-poll collections per account per day, per platform and tier, on the shipped schedule.

    Hour by hour from ``start`` (hour-aligned, no post observed before it) to ``end``: the
    scheduled reads (:func:`_scheduled_reads`) observe their accounts' posts created within
    their lookback; at :30 the re-poll collects the accounts with a post age due
    (:func:`due_for_repoll`, horizon one hour, on the posts observed so far: a post the lake has
    not read yet cannot be due) and observes their posts of the last 29 days. Accounts re-polled
    from ``count_from`` on are counted. Observations are stamped at the run's start (a real run
    observes a few minutes later). ``fixed=False`` selects as the code did before the fix
    (``observed`` not passed: every passed age stays due for its catch-up window).

    Args:
        posts: ``silver/posts`` (platform, account_id, post_id, created_at, post_type,
            is_deleted).
        accounts: ``silver/accounts`` (platform, account_id, tier).
        start: First simulated hour.
        count_from: First hour counted (leave a month after ``start`` for a steady state).
        end: End of the simulation (exclusive).
        fixed: Whether the re-poll skips ages an observation already stands for.
    """
    tiers = accounts.select("platform", "account_id", pl.col("tier").fill_null(2))
    state = (
        posts.filter((pl.col("post_type") != "repost") & ~pl.col("is_deleted"))
        .select("platform", "account_id", "post_id", "created_at", "post_type", "is_deleted")
        .join(tiers, on=["platform", "account_id"])
        .with_columns(
            key=pl.concat_str("platform", "account_id", separator=":"),
            last_observed_at=pl.lit(None, pl.Datetime("us", "UTC")),
        )
    )

    def observe(
        state: pl.DataFrame, who: pl.Expr, t: datetime, back: timedelta | None
    ) -> pl.DataFrame:
        seen = who & (pl.col("created_at") <= t)
        if back is not None:
            seen = seen & (pl.col("created_at") >= t - back)
        return state.with_columns(
            last_observed_at=pl.when(seen).then(pl.lit(t)).otherwise(pl.col("last_observed_at"))
        )

    counts: dict[tuple[str, int], int] = {}
    at = start
    while at < end:
        for t, tier, back in _scheduled_reads(at):
            state = observe(
                state, pl.lit(True) if tier is None else pl.col("tier") == tier, t, back
            )
        t = at + timedelta(minutes=30)
        known = state.filter(pl.col("last_observed_at").is_not_null())
        if fixed:  # the shipped schedule: re-polls of tiers 2 and 3 only
            known = known.filter(pl.col("tier").is_in(REPOLL_TIERS))
        observed = known.select("platform", "post_id", "last_observed_at") if fixed else None
        due = due_for_repoll(known, t, REPOLL_HORIZON, observed)
        due = due.select("platform", "account_id").unique()
        if due.height:
            if at >= count_from:
                hit = due.join(tiers, on=["platform", "account_id"])
                for (plat, tier), group in hit.group_by("platform", "tier"):
                    key = (str(plat), int(tier))
                    counts[key] = counts.get(key, 0) + group.height
            keys = due.select(pl.concat_str("platform", "account_id", separator=":"))
            state = observe(
                state, pl.col("key").is_in(keys.to_series().to_list()), t, REPOLL_LOOKBACK
            )
        at += timedelta(hours=1)
    days = (end - count_from).total_seconds() / 86400
    out: dict[str, dict[int, float]] = {}
    for row in tiers.group_by("platform", "tier").len().iter_rows(named=True):
        n = counts.get((row["platform"], row["tier"]), 0)
        out.setdefault(row["platform"], {})[row["tier"]] = n / row["len"] / days if days else 0.0
    return out


def measure_repolls(m: Measurement, lake: Lake, start: datetime, end: datetime) -> None:
    """Simulate the re-polls over ``lake``'s posts from ``start`` (the oldest post) to ``end``,
    with and without the fix, counting from 31 days after ``start`` (the 28-day age plus its
    tolerance: by then every age of every post has had its chance) for at most 35 days, or over
    the second half if the world is shorter."""
    posts = lake.read(
        "silver/posts",
        columns=["platform", "account_id", "post_id", "created_at", "post_type", "is_deleted"],
    )
    accounts = lake.read("silver/accounts", columns=["platform", "account_id", "tier"])
    # At most 35 counted days (a longer world only costs time: the rates agree within a few %)
    start = max(start, end - timedelta(days=31 + 35)).replace(minute=0, second=0, microsecond=0)
    posts = posts.filter(pl.col("created_at") >= start - timedelta(days=31))
    count_from = start + timedelta(days=31)
    if count_from >= end - timedelta(days=1):  # a short world (--history-days < 30): 2nd half
        count_from = start + (end - start) / 2
    m.repoll_days = round((end - count_from).total_seconds() / 86400, 2)
    m.repolls = simulate_repolls(posts, accounts, start, count_from, end)
    m.unfixed_repolls = simulate_repolls(posts, accounts, start, count_from, end, fixed=False)


def repoll_rate(m: Measurement, platform: str, tier: int) -> float:
    """Re-polls per account per day of a platform's tier (0 where none was measured)."""
    return m.repolls.get(platform, {}).get(tier, 0.0)


def posting_rate(lake: Lake, start: datetime, end: datetime) -> dict[str, float]:
    """Own posts (not reposts) published per account per day in ``[start, end)``, per platform."""
    posts = lake.read("silver/posts", columns=["platform", "created_at", "post_type"]).filter(
        (pl.col("post_type") != "repost")
        & (pl.col("created_at") >= start)
        & (pl.col("created_at") < end)
    )
    per = posts["platform"].value_counts()
    n = lake.read("silver/accounts", columns=["platform"])["platform"].value_counts()
    accounts = dict(zip(n["platform"], n["count"], strict=True))
    days = (end - start).total_seconds() / 86400
    got = dict(zip(per["platform"], per["count"], strict=True))
    return {p: got.get(p, 0) / accounts[p] / days for p in accounts}


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    seconds[name] = round(time.monotonic() - started, 1)


def measure(
    registry: pl.DataFrame,
    *,
    days: int,
    hours: int,
    seed: int,
    workdir: Path,
    history_days: int = 60,
) -> Measurement:
    """Run the collections and maintenance in ``workdir`` and measure them (see module doc)."""
    served = set(SUPPORTED_PLATFORMS) & set(CONNECTORS)
    collected = registry.filter(pl.col("platform").is_in(sorted(served)))
    left = registry.filter(~pl.col("platform").is_in(sorted(served)))["platform"].value_counts()
    accounts: dict[str, dict[int, int]] = {}
    for row in collected.group_by("platform", "tier").len().iter_rows(named=True):
        accounts.setdefault(row["platform"], {})[int(row["tier"] or 2)] = row["len"]
    m = Measurement(
        days=days,
        hours=hours,
        seed=seed,
        accounts=accounts,
        left_out=dict(zip(left["platform"], left["count"], strict=True)),
        history_days=history_days,
    )
    world = World(
        collected,
        seed=seed,
        platforms=sorted(set(collected["platform"])),
        history_days=history_days,
    )
    lake, scratch = Lake(str(workdir / "lake")), Lake(str(workdir / "scratch"))

    def on_day(at: datetime) -> pl.DataFrame:
        if at.date() == (world.clock.epoch + timedelta(days=1)).date():
            m.after_first_day = table_sizes(lake)  # the backfill is done, the steady state starts
        return collected

    with _timed(m.seconds, "daily collections"):
        history = collect_history(
            world, lake, scratch, days=days, registry=collected, collected=on_day
        )
    if history.errors:
        print(f"collection errors: {history.errors[:5]}", file=sys.stderr)
    m.before_maintain = table_sizes(lake)
    first, last = history.instants[0], history.instants[-1]
    m.posts_per_account_day = posting_rate(lake, first - timedelta(days=history_days), last)
    with _timed(m.seconds, "re-poll simulation"):
        measure_repolls(m, lake, first - timedelta(days=history_days), last)

    # Hourly rounds on a second lake: full reads (no since), 30-day lookbacks, incremental.
    hourly, hourly_scratch = Lake(str(workdir / "hourly")), Lake(str(workdir / "hourly-scratch"))
    mode_of = {run: DAILY_MODES[min(i, 1)] for i, run in enumerate(history.run_ids)}
    at = last
    with _timed(m.seconds, "hourly collections"):
        for mode, back in HOURLY_MODES.items():
            # A sandbox per mode: the simulated X counts its rate-limit windows in wall-clock
            # time, and 12 rounds in a few minutes would exceed users/by's 300 per 15 min.
            with SandboxThread(world=world) as sb:
                for k in range(hours):
                    at = at + timedelta(hours=1)
                    world.clock.set(at)
                    run = f"{mode.split()[0]}-{k:03d}"
                    since = None if back is None else at - back
                    collect_day(sb, hourly_scratch, hourly, collected, at, run, since)
                    mode_of[run] = mode
                    if mode == "full read":
                        m.hourly_sizes.append(table_sizes(hourly))
                    elif back == TIER_LOOKBACK:
                        m.lookback_sizes.append(table_sizes(hourly))
    stats = pl.concat([response_stats(lake, mode_of), response_stats(hourly, mode_of)])
    m.responses = stats.to_dicts()

    with _timed(m.seconds, "maintain"):
        report = maintain(lake, retention_hours=0, zorder=True)
    if report.failed:
        print(report.render(), file=sys.stderr)
    m.after_maintain = table_sizes(lake)
    return m


# -- computing the report ---------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A way of collecting: what a scheduled collection reads, whether the hourly re-poll runs
    (its reads cost a 30-day lookback's), and whether every feed is read whole once a month."""

    reads: str
    repolls: bool = False
    monthly_full: bool = False
    short: str = ""


#: The ways of collecting compared; the first is what prefect.yaml ships.
VARIANTS: dict[str, Variant] = {
    "shipped: 30-day lookback + re-polls + monthly full": Variant(
        "30-day lookback", True, True, "shipped"
    ),
    "30-day lookback, no re-polls": Variant("30-day lookback", short="lookback"),
    "full reads, no re-polls": Variant("full read", short="full"),
    "incremental (1 h / 3 d), no re-polls": Variant("incremental", short="incremental"),
}
SHIPPED = next(iter(VARIANTS))


def per_collection(m: Measurement) -> pl.DataFrame:
    """Per platform and mode: requests, body bytes, units, X posts per account per collection."""
    n = pl.DataFrame(
        {"platform": list(m.accounts), "accounts": [sum(t.values()) for t in m.accounts.values()]}
    )
    stats = pl.DataFrame(m.responses)
    runs = stats.group_by("mode").agg(runs=pl.col("run_id").n_unique())
    return (
        stats.group_by("mode", "platform")
        .agg(pl.col("requests", "body_bytes", "units", "x_posts").sum())
        .join(runs, on="mode")
        .join(n, on="platform")
        .with_columns(
            (pl.col(c) / pl.col("runs") / pl.col("accounts")).alias(c)
            for c in ("requests", "body_bytes", "units", "x_posts")
        )
        .sort("platform", "mode")
    )


def _cost(
    m: Measurement, cols: pl.DataFrame, platform: str, mode: str, what: str, endpoint: str = ""
) -> float:
    """``what`` (requests, body_bytes, units) per account per collection in ``mode``."""
    row = cols.filter((pl.col("platform") == platform) & (pl.col("mode") == mode))
    if not row.height:
        return 0.0
    value = float(row[what][0])
    if endpoint:
        stats = pl.DataFrame(m.responses).filter(
            (pl.col("mode") == mode) & (pl.col("platform") == platform)
        )
        part = int(stats.filter(pl.col("endpoint").str.starts_with(endpoint))["requests"].sum())
        value *= part / int(stats["requests"].sum()) if stats.height else 0.0
    return value


def _schedule_mode(reads: str, tier: int) -> str:
    if reads != "incremental":
        return reads
    return "hourly incremental" if tier == 1 else "daily incremental"


def yearly_cost(
    m: Measurement,
    cols: pl.DataFrame,
    platform: str,
    tier: int,
    variant: str,
    what: str,
    endpoint: str = "",
) -> float:
    """``what`` per account per year at the tier's cadence, in a collection variant."""
    v = VARIANTS[variant]
    sched = _cost(m, cols, platform, _schedule_mode(v.reads, tier), what, endpoint)
    total = sched * COLLECTIONS_PER_YEAR[tier]
    if v.repolls:  # a re-poll reads 29 days back: costed as a 30-day lookback
        lookback = _cost(m, cols, platform, "30-day lookback", what, endpoint)
        total += lookback * 365 * repoll_rate(m, platform, tier)
    if v.monthly_full:
        total += _cost(m, cols, platform, "full read", what, endpoint) * FULL_READS_PER_YEAR
    return total


def storage_rates(m: Measurement) -> pl.DataFrame:
    """Per table: size before and after maintain, compacted bytes per row, growth per account.

    ``rows_per_account_day`` is the steady-state growth (after the first, backfilling, day);
    null for tables built only once at the end (the forecasts): their size per account is
    ``rows_per_account``.
    """
    n = sum(sum(t.values()) for t in m.accounts.values())
    rows = []
    hourly_rows: dict[str, float] = {}
    lookback_rows: dict[str, float] = {}
    for sizes, out in ((m.hourly_sizes, hourly_rows), (m.lookback_sizes, lookback_rows)):
        if len(sizes) >= 2:
            a, b = sizes[0], sizes[-1]
            for name in (*TIME_SERIES, *PER_COLLECTION):
                grown = b.get(name, TableSize()).rows - a.get(name, TableSize()).rows
                out[name] = grown / (len(sizes) - 1) / n
    for name, end in m.before_maintain.items():
        start = m.after_first_day.get(name)
        after = m.after_maintain.get(name, end)
        per_day = None
        if start is not None:
            per_day = (end.rows - start.rows) / max(m.days - 1, 1) / n
        rows.append(
            {
                "table": name,
                "rows": end.rows,
                "files_before": end.files,
                "mb_before": end.disk_bytes / 1e6,
                "files_after": after.files,
                "mb_after": after.disk_bytes / 1e6,
                "bytes_per_row": after.live_bytes / after.rows if after.rows else 0.0,
                "rows_per_account": end.rows / n,
                "rows_per_account_day": per_day,
                "rows_per_hourly_collection": hourly_rows.get(name),
                "rows_per_hourly_lookback": lookback_rows.get(name),
            }
        )
    return pl.DataFrame(rows).sort("mb_after", descending=True)


def bronze_disk_per_body_byte(m: Measurement) -> float:
    """Compacted bytes of ``bronze/raw_responses`` per byte of response body it holds."""
    bronze = m.after_maintain["bronze/raw_responses"]
    body = sum(r["body_bytes"] for r in m.responses if r["mode"] in DAILY_MODES)
    return bronze.live_bytes / body if body else 1.0


def yearly_storage(m: Measurement, rates: pl.DataFrame, cols: pl.DataFrame) -> pl.DataFrame:
    """Compacted MB per account per year at each tier, by layer, in each collection variant.

    Bronze follows the responses (body bytes x the measured bytes on disk per body byte); the
    fetch log one row per collection; the silver time series follow the collections (tier 1:
    the rows an hourly collection of the variant's reads added; tiers 2 and 3: the rows a daily
    one added, an upper bound for six-hourly ones, or an hourly lookback's if more; re-polls as
    hourly lookbacks, monthly whole feeds as hourly full reads); every other table follows the days
    (its steady-state rows per account per day x 365). Forecast tables (fixed size per
    account) are left out.
    """
    ratio = bronze_disk_per_body_byte(m)
    n_total = sum(sum(t.values()) for t in m.accounts.values())
    weights = {p: sum(t.values()) / n_total for p, t in m.accounts.items()}
    by_table = {r["table"]: r for r in rates.iter_rows(named=True)}

    def per_row(name: str) -> float:
        return float(by_table[name]["bytes_per_row"]) if name in by_table else 0.0

    daily_other = sum(
        (r["rows_per_account_day"] or 0.0) * 365 * r["bytes_per_row"]
        for t, r in by_table.items()
        if t not in TIME_SERIES and t not in PER_COLLECTION
    )
    out = []
    for tier in (1, 2, 3):
        for variant, v in VARIANTS.items():
            bronze = sum(
                w * yearly_cost(m, cols, p, tier, variant, "body_bytes") * ratio
                for p, w in weights.items()
            )
            extra = sum(w * 365 * repoll_rate(m, p, tier) for p, w in weights.items())
            extra = extra if v.repolls else 0.0
            full = FULL_READS_PER_YEAR if v.monthly_full else 0
            collections = COLLECTIONS_PER_YEAR[tier] + extra + full
            series = 0.0
            for name in TIME_SERIES:
                if name not in by_table:
                    continue
                hourly = by_table[name]["rows_per_hourly_collection"] or 0.0
                lookback = by_table[name]["rows_per_hourly_lookback"] or 0.0
                daily = by_table[name]["rows_per_account_day"] or 0.0
                if v.reads == "30-day lookback":
                    scheduled = lookback if tier == 1 else max(daily, lookback)
                else:
                    scheduled = hourly if tier == 1 else daily
                rows = scheduled * COLLECTIONS_PER_YEAR[tier] + lookback * extra + hourly * full
                series += rows * per_row(name)
            fetch_log = collections * per_row("bronze/fetch_log")
            other = daily_other + fetch_log
            total = bronze + series + other
            out.append(
                {
                    "tier": tier,
                    "variant": variant,
                    "collections": collections,
                    "bronze_mb": bronze / 1e6,
                    "silver_series_mb": series / 1e6,
                    "other_mb": other / 1e6,
                    "total_mb": total / 1e6,
                    "bronze_share": bronze / total if total else 0.0,
                }
            )
    return pl.DataFrame(out)


def quota_table(m: Measurement, cols: pl.DataFrame) -> pl.DataFrame:
    """Per platform, limit and tier: requests (YouTube: units) per account per day in each
    variant, and the largest registry one credential serves at that tier alone."""
    out = []
    for p in sorted(m.accounts):
        for limit in LIMITS.get(p, []):
            what = "units" if p == "youtube" else "requests"
            for tier in (1, 2, 3):
                row: dict[str, Any] = {
                    "platform": p,
                    "limit": limit.text,
                    "per": limit.per,
                    "limit_per_day": limit.per_day,
                    "tier": tier,
                    "in_registry": m.accounts[p].get(tier, 0),
                }
                for variant, v in VARIANTS.items():
                    short = v.short
                    per_day = yearly_cost(m, cols, p, tier, variant, what, limit.endpoint) / 365
                    row[f"{short}_per_day"] = per_day
                    row[f"max_{short}"] = math.floor(limit.per_day / per_day) if per_day else None
                out.append(row)
    return pl.DataFrame(out)


def x_posts_read(m: Measurement, cols: pl.DataFrame) -> pl.DataFrame:
    """Posts the X timeline returned per account per month (30 days), per tier and variant.

    ``billed_per_month`` counts a post once per UTC day, as X's monthly post cap does (it
    deduplicates the posts returned within a day): at most the widest read's posts a day (the
    whole feed, or the last 30 days' for lookbacks), plus the whole feed once for the monthly
    full read (an upper bound: that day's other reads overlap it).
    """
    if "x" not in m.accounts:
        return pl.DataFrame()
    whole_feed = _cost(m, cols, "x", "full read", "x_posts")
    window = _cost(m, cols, "x", "30-day lookback", "x_posts")
    rows = []
    for tier in (1, 2, 3):
        for variant, v in VARIANTS.items():
            per_day = yearly_cost(m, cols, "x", tier, variant, "x_posts") / 365
            monthly = whole_feed if v.monthly_full else 0.0
            cap = window if v.reads == "30-day lookback" else whole_feed
            rows.append(
                {
                    "tier": tier,
                    "variant": variant,
                    "returned_per_month": per_day * 30,
                    "billed_per_month": min(per_day - monthly * 12 / 365, cap) * 30 + monthly,
                }
            )
    return pl.DataFrame(rows)


def registry_growth(m: Measurement, yearly: pl.DataFrame) -> pl.DataFrame:
    """GB per year for the collected registry and for ten times as many accounts per tier."""
    per_tier: dict[int, int] = {}
    for tiers in m.accounts.values():
        for tier, k in tiers.items():
            per_tier[tier] = per_tier.get(tier, 0) + k
    out = []
    for variant in VARIANTS:
        total = 0.0
        bronze = 0.0
        for tier, k in per_tier.items():
            row = yearly.filter((pl.col("tier") == tier) & (pl.col("variant") == variant))
            total += k * float(row["total_mb"][0])
            bronze += k * float(row["bronze_mb"][0])
        out.append(
            {
                "variant": variant,
                "accounts": sum(per_tier.values()),
                "gb_per_year": total / 1e3,
                "bronze_gb_per_year": bronze / 1e3,
                "gb_per_year_10x": 10 * total / 1e3,
            }
        )
    return pl.DataFrame(out)


# -- printing ---------------------------------------------------------------------------------
def _print(title: str, df: pl.DataFrame) -> None:
    print(f"\n## {title}\n")
    with pl.Config(
        tbl_rows=200,
        tbl_cols=30,
        tbl_width_chars=220,
        fmt_str_lengths=60,
        float_precision=2,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        thousands_separator=",",
    ):
        print(df)


def repoll_table(m: Measurement) -> pl.DataFrame:
    """Per platform and tier: accounts, re-polls per account per day (fixed and before the
    fix) and own posts per account per day."""
    rows = [
        {
            "platform": p,
            "tier": tier,
            "accounts": k,
            "repolls_per_day": repoll_rate(m, p, tier),
            "before_fix_per_day": m.unfixed_repolls.get(p, {}).get(tier, 0.0),
            "posts_per_day": m.posts_per_account_day.get(p, 0.0),
        }
        for p in sorted(m.accounts)
        for tier, k in sorted(m.accounts[p].items())
    ]
    return pl.DataFrame(rows)


def report(m: Measurement) -> dict[str, pl.DataFrame]:
    """Print every table of the report; return them (for ``--json`` and tests)."""
    n = sum(sum(t.values()) for t in m.accounts.values())
    print(
        f"# Capacity: {n} accounts on {len(m.accounts)} platforms ({m.history_days} days of "
        f"posts before the first collection), {m.days} daily collections, {m.hours} hourly "
        f"rounds of each of {', '.join(HOURLY_MODES)} (seed {m.seed})"
    )
    if m.left_out:
        print(f"not collectable here (no simulated platform or connector): {m.left_out}")
    print(f"seconds: {m.seconds}; machine: {pyplatform.machine()}, {os.cpu_count()} cores")
    rates = storage_rates(m)
    cols = per_collection(m)
    yearly = yearly_storage(m, rates, cols)
    quota = quota_table(m, cols)
    growth = registry_growth(m, yearly)
    before = sum(s.disk_bytes for s in m.before_maintain.values())
    after = sum(s.disk_bytes for s in m.after_maintain.values())
    _print(
        f"Storage per table after {m.days} days: before / after maintain (compaction, Z-order, "
        f"vacuum 0 h); all tables {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB",
        rates,
    )
    print(
        f"\nbronze/raw_responses on disk per byte of response body: "
        f"{bronze_disk_per_body_byte(m):.2f}"
    )
    _print("Per account per collection: requests, response body bytes, YouTube units", cols)
    repolls = repoll_table(m)
    _print(
        f"Engagement re-polls per account per day (hourly --repoll at :30, ages "
        f"{', '.join(map(str, AGES_H))} h), simulated over {m.repoll_days:g} days on the shipped "
        "schedule: with the fix (observations count) and without it; own posts per account "
        "per day",
        repolls,
    )
    _print("Per account per year, MB on disk (compacted), by tier and variant", yearly)
    _print("Whole registry per year, GB on disk (compacted), and at 10x", growth)
    _print(
        "API quota: requests (YouTube: units) per account per day and the largest registry one "
        "credential serves at that tier alone",
        quota,
    )
    x_posts = x_posts_read(m, cols)
    if x_posts.height:
        _print(
            "X: posts read per account per month, and counted against the plan's monthly post "
            "cap (deduplicated per UTC day)",
            x_posts,
        )
    return {
        "storage": rates,
        "per_collection": cols,
        "repolls": repolls,
        "yearly": yearly,
        "quota": quota,
        "growth": growth,
        "x_posts": x_posts,
    }


def load_measurement(path: Path) -> Measurement:
    """The measurement of a run saved with ``--json``."""
    raw = json.loads(path.read_text())["measurement"]

    def sizes(d: dict[str, Any]) -> dict[str, TableSize]:
        return {k: TableSize(**v) for k, v in d.items()}

    raw["accounts"] = {p: {int(t): n for t, n in v.items()} for p, v in raw["accounts"].items()}
    for key in ("after_first_day", "before_maintain", "after_maintain"):
        raw[key] = sizes(raw[key])
    raw["hourly_sizes"] = [sizes(d) for d in raw["hourly_sizes"]]
    raw["lookback_sizes"] = [sizes(d) for d in raw.get("lookback_sizes", [])]
    for key in ("repolls", "unfixed_repolls"):
        raw[key] = {p: {int(t): r for t, r in v.items()} for p, v in raw.get(key, {}).items()}
    known = {f.name for f in fields(Measurement)}  # older runs saved fields since dropped
    return Measurement(**{k: v for k, v in raw.items() if k in known})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=7, help="daily collections (2..30)")
    parser.add_argument("--hours", type=int, default=4, help="hourly rounds of each read mode")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--history-days", type=int, default=60, help="days of posts before the first collection"
    )
    parser.add_argument("--accounts-file", default=None, help="registry CSV (default: shipped)")
    parser.add_argument("--platforms", default="", help="comma-separated subset of platforms")
    parser.add_argument("--keep", type=Path, default=None, help="keep the lakes in this folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="print the report of a run saved with --json, without collecting again",
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        report(load_measurement(args.from_json))
        return 0
    if not 2 <= args.days <= 30 or args.hours < 2:
        parser.error("--days must be 2..30 (the world has 30 future days) and --hours >= 2")
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()] or None
    registry = load_registry(args.accounts_file, platforms)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="hhs-capacity-"))
    try:
        m = measure(
            registry,
            days=args.days,
            hours=args.hours,
            seed=args.seed,
            workdir=workdir,
            history_days=args.history_days,
        )
        tables = report(m)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json is not None:
        payload = {
            "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "measurement": asdict(m),
            **{k: v.to_dicts() for k, v in tables.items()},
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
