"""Benchmark: the CPU-bound pipeline against the scripts a user would write, and its scale-out.

The simulated platforms serve a world of ``--accounts`` synthetic accounts over the ten platforms
(:func:`benchmarks.worlds.registry`, 3,000 by default) from their own process, so the clients'
CPU time is measured apart from the server's: zero latency, every rate limit and quota of the
sandbox set out of reach and the collector's own pacing by the documented limits lifted
(``NO_LIMITS``), a frozen clock (every run sees the same posts). Then:

1. **Against the baselines** (Bluesky's endpoints, the world's Bluesky accounts): each baseline
   of :mod:`benchmarks.baselines` that is present and whose libraries are installed (``bare``:
   aiohttp + polars, the practical limit; ``naive``: requests + pandas; ``dlt_rest``: dlt's
   rest_api source writing Delta) runs as its own process on the same endpoints and actors, and
   the platform collects the same accounts through the real flow (:func:`flows.collect.run_collect`:
   fetch, bronze, parse, Pandera validation, silver MERGE, enrichment, gold, analytics, quality,
   on a warmed Dask ``LocalCluster`` of ``--compare-workers`` workers, with a local Prefect
   server). Every reader reads every page of every feed (our collector's page cap, 200 pages of
   100, is far above the deepest feed; no ``since``): the posts each wrote are printed next to
   the world's count. Prints posts/s, CPU seconds per 1,000 posts and the ratios
   ours/bare (target >= 0.7), ours/naive (>= 2) and ours/dlt (>= 5).
2. **Scale-out** (the 10x run: every account of every platform): the same flow on LocalClusters
   of ``--workers`` (1, 2, 4) worker processes, each into a fresh lake. Per worker count: wall
   time, posts/s, speed-up against the first count, CPU seconds per 1,000 posts, the peak
   resident memory of each worker process (target <= 2 GiB) and the task timeline (the fetch
   tasks against the build tasks after them), so the step that serialises the run shows. The
   silver row counts must be the same in every lake.

``--profile`` also runs the comparison's steps in this process, without Prefect and Dask
(:func:`hhs_platform.collect.collect_batch` per batch, then
:func:`hhs_platform.pipeline.write_outcomes` and :func:`hhs_platform.pipeline.refresh`), under
cProfile, and writes the hottest functions to ``benchmarks/results/profile-pipeline.txt``.

Writes ``benchmarks/results/pipeline.json``; exit code 1 when a run lost posts (the baselines
and ours disagree with the world, or the scale-out lakes differ). Usage::

    python -m benchmarks.pipeline                                 # 3,000 accounts, 1/2/4 workers
    python -m benchmarks.pipeline --accounts 300 --workers 1,2    # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib
import importlib.util
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.baselines import BaselineResult
from benchmarks.collection import restore_collector_rules, scale_collector_rules
from benchmarks.report import (
    BATCH_SIZE,
    RESULTS,
    cpu_seconds,
    fmt,
    machine,
    print_table,
    ratio,
    write_results,
)
from benchmarks.scale_out import SANDBOX_TOKEN, finished_task_runs, warm_cluster
from benchmarks.scale_out import sandbox_env as scale_out_sandbox_env
from benchmarks.scale_out import silver_counts as scale_out_silver_counts
from benchmarks.worlds import PLATFORMS

NAME = "pipeline"
#: Every rate limit, quota and call budget of the sandbox is set to this: out of reach.
UNLIMITED = 10**9
#: The baselines, in the order they run, and the library each needs beyond the project's own.
BASELINES: dict[str, str | None] = {"bare": None, "naive": None, "dlt_rest": "dlt"}
#: Targets: our posts/s at least this many times the baseline's.
TARGETS = {"bare": 0.7, "naive": 2.0, "dlt_rest": 5.0}
#: Peak resident memory per Dask worker in the 10x run.
WORKER_MEMORY_TARGET_MIB = 2048.0
#: The collector's documented rate-limit windows divided by 10^6: no limits on our side either,
#: as on the simulated platforms' (``unlimited_config``). Without it the collector paces itself
#: by the documented limits where the platform reports none: LinkedIn's 100,000 calls a day
#: alone spaces the 10x world's 2,494 LinkedIn requests over about 205 s.
NO_LIMITS = {p: 1e-6 for p in (*PLATFORMS, "truthsocial")}


# -- the simulated platforms in their own process -------------------------------------------------
def unlimited_config(threads_user: str | None = None) -> Any:
    """A ``SandboxConfig`` whose rate limits, quotas and call budgets nobody reaches; the
    benchmark's Threads token belongs to ``threads_user`` (a user token reads its own profile
    fully, the others through the public endpoints)."""
    from hhs_platform.sandbox import SandboxConfig
    from hhs_platform.sandbox.platforms import config_defaults

    values: dict[str, Any] = {}
    for key, default in config_defaults().items():
        if key.endswith(("_rate_limit", "_daily_quota", "_call_budget")):
            values[key] = UNLIMITED
        elif key in ("x_rate_limits", "linkedin_daily_limits"):
            values[key] = dict.fromkeys(default, UNLIMITED)
    if threads_user:
        values["threads_access_tokens"] = {SANDBOX_TOKEN: threads_user}
    return SandboxConfig(**values)


def serve_sandbox(registry_csv: Path, seed: int, epoch: str, ready: Path) -> None:
    """The child process: build the world, serve it, write ``ready`` (base URL, the Bluesky actors,
    the posts per platform the world serves), serve until terminated."""
    from hhs_platform.registry import load_registry
    from hhs_platform.sandbox import SimClock, World, run_sandbox

    world = World(
        load_registry(registry_csv),
        seed=seed,
        clock=SimClock(datetime.fromisoformat(epoch), frozen=True),
    )
    threads = world.platform_accounts("threads")
    threads_user = threads[0].handle if threads else None
    truth = world.truth()["posts"]
    served = dict(truth.group_by("platform").len().iter_rows())

    async def serve() -> None:
        async with run_sandbox(world, config=unlimited_config(threads_user)) as sb:
            info = {
                "base_url": sb.base_url,
                "bluesky_actors": [a.handle for a in world.platform_accounts("bluesky")],
                "posts": served,
                "threads_user": threads_user,
            }
            tmp = ready.with_suffix(".tmp")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            tmp.replace(ready)
            await asyncio.Event().wait()

    asyncio.run(serve())


@dataclass
class SandboxProcess:
    """The simulated platforms served by a child process (see :func:`serve_sandbox`)."""

    process: subprocess.Popen[bytes]
    base_url: str
    bluesky_actors: list[str]
    posts: dict[str, int]
    threads_user: str | None

    def url(self, platform: str) -> str:
        """The base URL replacing ``platform``'s origin."""
        return f"{self.base_url}/{platform}"

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far."""
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


@contextlib.contextmanager
def sandbox_process(
    registry_csv: Path, seed: int, work: Path, timeout_s: float = 600.0
) -> Iterator[SandboxProcess]:
    """Start :func:`serve_sandbox` in a child process; stop it when the block ends."""
    ready = work / "sandbox-ready.json"
    log = (work / "sandbox.log").open("ab")
    epoch = datetime.now(UTC).replace(microsecond=0).isoformat()
    cmd = [sys.executable, "-m", "benchmarks.pipeline", "--serve-sandbox", str(registry_csv)]
    cmd += ["--seed", str(seed), "--epoch", epoch, "--ready", str(ready)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + timeout_s
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {proc.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sandbox was not ready within {timeout_s:.0f} s")
            time.sleep(0.2)
        info = json.loads(ready.read_text(encoding="utf-8"))
        yield SandboxProcess(
            proc, info["base_url"], info["bluesky_actors"], info["posts"], info["threads_user"]
        )
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def flow_env(sb: SandboxProcess, registry_csv: Path, batch_size: int) -> dict[str, str]:
    """``HHS_*`` variables pointing every platform's connector at the sandbox."""
    env = scale_out_sandbox_env(sb) | {
        "HHS_MASTODON_API_BASE": sb.url("mastodon"),
        "HHS_THREADS_API_BASE": sb.url("threads"),
        "HHS_THREADS_ACCESS_TOKEN": SANDBOX_TOKEN,
        "HHS_REDDIT_API_BASE": sb.url("reddit"),
        "HHS_REDDIT_ACCESS_TOKEN": SANDBOX_TOKEN,
        "HHS_ACCOUNTS_FILE": str(registry_csv),
        "HHS_BATCH_SIZE": str(batch_size),
        # The flow's and tasks' INFO lines (one per batch) would bury the report.
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    return env


# -- the baselines --------------------------------------------------------------------------------
def baseline_status(name: str) -> str | None:
    """Why baseline ``name`` cannot run here (None when it can)."""
    if importlib.util.find_spec(f"benchmarks.baselines.{name}") is None:
        return "not written"
    needs = BASELINES.get(name)
    if needs is not None:
        try:
            importlib.import_module(needs)
        except ImportError:
            return "not installed"
    return None


def run_baseline(
    name: str,
    base_url: str,
    actors_file: Path,
    out: Path,
    *,
    page_size: int | None = None,
    timeout_s: float = 1800.0,
) -> BaselineResult:
    """Run ``python -m benchmarks.baselines.<name>`` on the endpoints (its table in
    ``out/<name>/posts``); its result."""
    result = out / f"{name}.json"
    cmd = [sys.executable, "-m", f"benchmarks.baselines.{name}", "--base-url", base_url]
    cmd += ["--actors-file", str(actors_file), "--out", str(out / name), "--result", str(result)]
    if page_size is not None:
        cmd += ["--page-size", str(page_size)]
    done = subprocess.run(  # noqa: S603 - our own interpreter and modules
        cmd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        if not result.exists():
            raise RuntimeError(
                f"baseline {name} failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        # A crash while the interpreter shuts down, after the result was written: keep the result.
        print(f"baseline {name} exited with {done.returncode} after writing its result")
    return load_baseline(result)


def load_baseline(path: Path) -> BaselineResult:
    """A :class:`BaselineResult` from its JSON file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return BaselineResult(**{f.name: raw[f.name] for f in fields(BaselineResult)})


# -- our pipeline ---------------------------------------------------------------------------------
@dataclass
class TaskGroup:
    """The task runs of one name in a flow run: how many, when, how long in all (s)."""

    name: str
    runs: int
    start_s: float  # from the first task's start
    end_s: float
    busy_s: float  # sum of the runs' durations


@dataclass
class Run:
    """One run of the collection flow on a LocalCluster, and what it cost."""

    label: str
    workers: int
    threads_per_worker: int
    platforms: list[str] | None
    accounts: int = 0
    responses: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    posts: int = 0  # silver/posts rows
    posts_by_platform: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    cluster_start_s: float = 0.0
    cpu_s: float = 0.0  # this process (flow, scheduler) + the workers
    worker_cpu_s: float = 0.0
    prefect_server_cpu_s: float | None = None
    sandbox_cpu_s: float | None = None
    worker_peak_rss_mib: dict[str, float] = field(default_factory=dict)
    silver_rows: dict[str, int] = field(default_factory=dict)
    tasks: list[TaskGroup] = field(default_factory=list)
    #: The flow's per-platform summary: accounts, responses, posts, wall seconds of its batches.
    per_platform: list[dict[str, Any]] = field(default_factory=list)
    load_before: float | None = None
    load_after: float | None = None

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_per_1000(self) -> float | None:
        return self.cpu_s / self.posts * 1000 if self.posts else None

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "posts_per_s": round(self.posts_per_s, 1),
            "cpu_s_per_1000_posts": self.cpu_per_1000,
        }


def _peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def task_groups(flow_run_id: str) -> list[TaskGroup]:
    """The flow run's task runs grouped by name (``collect-batch``, ``write-silver``, ...), in the
    order they started; empty when Prefect did not record them."""
    runs = finished_task_runs(flow_run_id)
    if not runs:
        return []
    zero = min(r.start_time for r in runs)
    groups: dict[str, list[Any]] = {}
    for r in runs:
        groups.setdefault(r.name.rsplit("-", 1)[0], []).append(r)
    out = [
        TaskGroup(
            name=name,
            runs=len(rs),
            start_s=round((min(r.start_time for r in rs) - zero).total_seconds(), 2),
            end_s=round((max(r.end_time for r in rs) - zero).total_seconds(), 2),
            busy_s=round(sum((r.end_time - r.start_time).total_seconds() for r in rs), 2),
        )
        for name, rs in groups.items()
    ]
    return sorted(out, key=lambda g: g.start_s)


def silver_counts(lake_uri: str) -> tuple[dict[str, int], dict[str, int]]:
    """Rows of every silver table, and silver/posts rows per platform."""

    from hhs_platform.lake import Lake

    posts = Lake(lake_uri, storage_options={}).read("silver/posts").group_by("platform").len()
    return scale_out_silver_counts(lake_uri), dict(posts.sort("platform").iter_rows())


def run_flow(
    label: str,
    workers: int,
    threads: int,
    platforms: list[str] | None,
    work: Path,
    sb: SandboxProcess,
    prefect_pid: int | None,
) -> Run:
    """Collect (``platforms`` of) the registry through the real flow on a fresh, warmed
    LocalCluster of ``workers`` processes into a new lake."""
    import psutil

    from flows.collect import run_collect
    from hhs_platform.demo import patched_env
    from hhs_platform.settings import Settings

    run = Run(label=label, workers=workers, threads_per_worker=threads, platforms=platforms)
    lake_uri = str(work / f"lake-{label}-{time.monotonic_ns()}")
    prefect = psutil.Process(prefect_pid) if prefect_pid else None

    def prefect_cpu() -> float:
        if prefect is None:
            return 0.0
        t = prefect.cpu_times()
        return float(t.user + t.system)

    with warm_cluster(workers, threads) as (cluster, client, started_s):
        client.run(scale_collector_rules, NO_LIMITS)
        run.cluster_start_s = round(started_s, 2)
        run.load_before = os.getloadavg()[0]
        workers_before = client.run(_cpu_s)
        me, srv, box = cpu_seconds(), prefect_cpu(), sb.cpu_s()
        with patched_env({"HHS_DASK_ADDRESS": cluster.scheduler_address}):
            t1 = time.perf_counter()
            summary = run_collect(
                platforms=platforms,
                lake_uri=lake_uri,
                settings=Settings(_env_file=None),  # type: ignore[call-arg]
            )
            run.wall_s = round(time.perf_counter() - t1, 3)
        mine = cpu_seconds() - me
        workers_after = client.run(_cpu_s)
        run.worker_cpu_s = round(
            sum(workers_after[w] - workers_before.get(w, 0.0) for w in workers_after), 2
        )
        run.cpu_s = round(mine + run.worker_cpu_s, 2)
        run.prefect_server_cpu_s = round(prefect_cpu() - srv, 2) if prefect else None
        run.sandbox_cpu_s = round(sb.cpu_s() - box, 2)
        run.worker_peak_rss_mib = dict(client.run(_peak_rss_mib))
        run.load_after = os.getloadavg()[0]
    run.accounts = int(summary["accounts"])
    run.responses = int(summary["responses"])
    run.errors = len(summary["errors"])
    run.first_errors = [f"{e['account_key']}: {e['message']}" for e in summary["errors"][:5]]
    run.tasks = task_groups(str(summary["run_id"]))
    run.per_platform = list(summary["per_platform"])
    run.silver_rows, run.posts_by_platform = silver_counts(lake_uri)
    run.posts = sum(run.posts_by_platform.values())
    shutil.rmtree(lake_uri, ignore_errors=True)
    return run


def profile_steps(
    platforms: list[str], registry_csv: Path, env: dict[str, str], work: Path, top: int = 40
) -> str:
    """The flow's steps for ``platforms`` in this process (no Prefect, no Dask) under cProfile;
    the hottest functions by cumulative and by own time, as text."""
    from hhs_platform import pipeline
    from hhs_platform.collect import collect_batch, plan_batches
    from hhs_platform.demo import patched_env
    from hhs_platform.lake import Lake
    from hhs_platform.registry import load_registry
    from hhs_platform.runtime import tune_gc
    from hhs_platform.settings import Settings

    with patched_env(env):
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        tune_gc(settings.gc_threshold)  # as the flow's workers do
        registry = load_registry(registry_csv, platforms)
        lake = Lake(str(work / "lake-profile"), storage_options={})
        batches = plan_batches(registry, settings.batch_size, settings)
        scale_collector_rules(NO_LIMITS)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        outcomes = [
            collect_batch(
                b,
                run_id="profile",
                batch_id=f"{b[0]['platform']}-{i:04d}",
                lake=lake,
                settings=settings,
                registry=registry,
            )
            for i, b in enumerate(batches)
        ]
        t1 = time.perf_counter()
        pipeline.write_outcomes(lake, outcomes)
        t2 = time.perf_counter()
        pipeline.refresh(lake, run_id="profile", progress=None)
        prof.disable()
        t3 = time.perf_counter()
        restore_collector_rules()
    RESULTS.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(RESULTS / "profile-pipeline.prof")  # for pstats/snakeviz: callers, callees
    out = io.StringIO()
    out.write(
        f"steps in one process, {len(batches)} batches: fetch+bronze+parse {t1 - t0:.1f} s, "
        f"silver MERGE {t2 - t1:.1f} s, enrich/gold/analytics/quality/slo {t3 - t2:.1f} s\n\n"
    )
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- the report -----------------------------------------------------------------------------------
def comparison_rows(
    ours: Run, baselines: dict[str, BaselineResult | str], served: int
) -> list[dict[str, Any]]:
    """One row per reader: posts written (and the world's count), posts/s, CPU s per 1,000 posts,
    peak memory, and ours/baseline with its target. A baseline that could not run is a row with
    its reason."""
    rows: list[dict[str, Any]] = [
        {
            "reader": f"platform ({ours.workers} worker x {ours.threads_per_worker} threads)",
            "posts": ours.posts,
            "served": served,
            "wall_s": ours.wall_s,
            "posts_per_s": ours.posts_per_s,
            "cpu_per_1000": ours.cpu_per_1000,
            "peak_mib": max(ours.worker_peak_rss_mib.values(), default=None),
            "ours_over": None,
            "target": None,
            "met": None,
        }
    ]
    for name, result in baselines.items():
        if isinstance(result, str):
            rows.append({"reader": f"{name}: {result}", "target": TARGETS.get(name)})
            continue
        r = ratio(ours.posts_per_s, result.posts_per_s)
        target = TARGETS.get(name)
        rows.append(
            {
                "reader": name,
                "posts": result.posts,
                "served": served,
                "wall_s": result.wall_s,
                "posts_per_s": result.posts_per_s,
                "cpu_per_1000": result.cpu_s / result.posts * 1000 if result.posts else None,
                "peak_mib": result.peak_rss_mib,
                "ours_over": r,
                "target": target,
                "met": None if r is None or target is None else r >= target,
            }
        )
    return rows


COMPARISON_COLUMNS = (
    ("reader", "reader", 0),
    ("posts", "posts", 0),
    ("served", "world", 0),
    ("wall_s", "wall s", 2),
    ("posts_per_s", "posts/s", 0),
    ("cpu_per_1000", "CPU s/1k posts", 3),
    ("peak_mib", "peak MiB", 0),
    ("ours_over", "ours/it", 2),
    ("target", ">= target", 1),
    ("met", "met", 0),
)


def scale_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One row per worker count: wall, posts/s, speed-up against the first, CPU per 1,000 posts,
    the largest worker's peak memory, the fetch and build phases."""
    rows = []
    base = runs[0].wall_s if runs else 0.0
    for r in runs:
        fetch = [g for g in r.tasks if g.name == "collect-batch"]
        build = [g for g in r.tasks if g.name != "collect-batch"]
        fetch_end = fetch[0].end_s if fetch else None
        last = max((g.end_s for g in r.tasks), default=None)
        peak = max(r.worker_peak_rss_mib.values(), default=None)
        rows.append(
            {
                "workers": r.workers,
                "wall_s": r.wall_s,
                "posts": r.posts,
                "posts_per_s": r.posts_per_s,
                "speed_up": round(base / r.wall_s, 2) if r.wall_s else None,
                "cpu_per_1000": r.cpu_per_1000,
                "peak_worker_mib": peak,
                "memory_met": None if peak is None else peak <= WORKER_MEMORY_TARGET_MIB,
                "fetch_s": fetch_end,
                "fetch_parallelism": (
                    round(fetch[0].busy_s / fetch[0].end_s, 2) if fetch and fetch[0].end_s else None
                ),
                "build_s": (
                    round(last - fetch_end, 2)
                    if last is not None and fetch_end is not None
                    else None
                ),
                "build_busy_s": round(sum(g.busy_s for g in build), 2) if build else None,
                "errors": r.errors,
            }
        )
    return rows


SCALE_COLUMNS = (
    ("workers", "workers", 0),
    ("wall_s", "wall s", 1),
    ("posts", "posts", 0),
    ("posts_per_s", "posts/s", 0),
    ("speed_up", "speed-up", 2),
    ("cpu_per_1000", "CPU s/1k posts", 3),
    ("peak_worker_mib", "peak MiB/worker", 0),
    ("memory_met", "<= 2 GiB", 0),
    ("fetch_s", "fetch s", 1),
    ("fetch_parallelism", "fetch tasks in parallel", 2),
    ("build_s", "build s", 1),
    ("build_busy_s", "build task s", 1),
    ("errors", "errors", 0),
)

TIMELINE_COLUMNS = (
    ("name", "task", 0),
    ("runs", "runs", 0),
    ("start_s", "from s", 1),
    ("end_s", "to s", 1),
    ("busy_s", "task s", 1),
)


def report(payload: dict[str, Any]) -> list[str]:
    """The printed report of a results payload (as written to ``pipeline.json``)."""
    lines: list[str] = []
    out = lines.append
    cmp = payload.get("comparison")
    if cmp:
        out(
            f"Against the baselines: {cmp['accounts']} Bluesky accounts, {cmp['served']:,} posts "
            "served, every page read"
        )
        print_table(cmp["rows"], COMPARISON_COLUMNS, out)
        ours = cmp["ours"]
        out(
            f"our CPU: {ours['cpu_s']:.1f} s (flow process + workers); apart from it the Prefect "
            f"server {fmt(ours['prefect_server_cpu_s'], 1)} s and the sandbox "
            f"{fmt(ours['sandbox_cpu_s'], 1)} s"
        )
    scale = payload.get("scale_out")
    if scale:
        out("")
        out(
            f"Scale-out: {scale['accounts']:,} accounts on {len(scale['served'])} platforms, "
            f"{sum(scale['served'].values()):,} posts served"
        )
        print_table(scale["rows"], SCALE_COLUMNS, out)
        for run in scale["runs"]:
            out("")
            out(f"task timeline, {run['workers']} worker(s):")
            print_table(run["tasks"], TIMELINE_COLUMNS, out)
        first = scale["runs"][0]
        out("")
        out("posts per platform (first run's lake / the world):")
        for platform, n in sorted(scale["served"].items()):
            got = first["posts_by_platform"].get(platform, 0)
            out(f"  {platform:<10} {got:>9,} / {n:>9,}")
        for r in scale["runs"]:
            for line in r["first_errors"]:
                out(f"  error ({r['workers']} workers): {line}")
        out(scale["check"])
    return lines


def _same_silver(runs: Sequence[Run]) -> tuple[bool, str]:
    if not runs:
        return True, ""
    same = all(r.silver_rows == runs[0].silver_rows for r in runs)
    total = sum(runs[0].silver_rows.values())
    if same:
        return True, f"silver rows: {total:,} in {len(runs[0].silver_rows)} tables, every lake"
    tables = sorted({t for r in runs for t in r.silver_rows})
    diff = [
        f"{t} {[r.silver_rows.get(t, 0) for r in runs]}"
        for t in tables
        if len({r.silver_rows.get(t, 0) for r in runs}) > 1
    ]
    return False, "silver rows DIFFER between lakes: " + "; ".join(diff)


# -- the command ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every reader wrote the posts served and the lakes agree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=3000, help="accounts of the world")
    parser.add_argument("--workers", default="1,2,4", help="scale-out worker counts, comma sep.")
    parser.add_argument("--threads", type=int, default=2, help="threads per Dask worker")
    parser.add_argument(
        "--compare-workers", type=int, default=1, help="workers of our run against the baselines"
    )
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="accounts per fetch task"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the registry and the world")
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help="baselines to run (comma separated; empty: none)",
    )
    parser.add_argument("--skip-compare", action="store_true", help="no baseline comparison")
    parser.add_argument("--skip-scale", action="store_true", help="no scale-out runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the steps in-process")
    parser.add_argument("--serve-sandbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--epoch", help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sandbox:  # the child process of sandbox_process()
        serve_sandbox(args.serve_sandbox, args.seed, args.epoch, args.ready)
        return 0

    from benchmarks.worlds import registry
    from hhs_platform.demo import patched_env
    from hhs_platform.services import PrefectServer, free_port

    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    chosen = [b for b in args.baselines.split(",") if b.strip()]
    work = Path(tempfile.mkdtemp(prefix="hhs-bench-pipeline-"))
    payload: dict[str, Any] = {
        "machine": machine(("polars", "deltalake", "dask", "prefect", "aiohttp")),
        "parameters": {
            k: v for k, v in vars(args).items() if k not in ("serve_sandbox", "epoch", "ready")
        },
    }
    ok = True
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        csv = work / "registry.csv"
        registry(args.accounts, seed=args.seed).write_csv(csv)
        print(f"building and serving a world of {args.accounts:,} accounts ...", flush=True)
        sb = stack.enter_context(sandbox_process(csv, args.seed, work))
        env = flow_env(sb, csv, args.batch_size)
        server = PrefectServer(free_port(), work / "prefect")
        prefect_pid = None
        if not os.environ.get("PREFECT_API_URL"):
            print(f"starting a Prefect server on {server.api_url} ...", flush=True)
            server.start()
            stack.callback(server.stop)
            stack.callback(_drain_prefect_logs)
            env["PREFECT_API_URL"] = server.api_url
            prefect_pid = server.process.pid if server.process else None
        stack.enter_context(patched_env(env))

        if not args.skip_compare:
            served = int(sb.posts.get("bluesky", 0))
            actors_file = work / "actors.txt"
            actors_file.write_text("\n".join(sb.bluesky_actors) + "\n", encoding="utf-8")
            results: dict[str, BaselineResult | str] = {}
            for name in chosen:
                why = baseline_status(name)
                if why is not None:
                    results[name] = why
                    print(f"baseline {name}: {why}", flush=True)
                    continue
                print(f"baseline {name} ...", flush=True)
                results[name] = run_baseline(name, sb.url("bluesky"), actors_file, work)
            print(f"our pipeline on the {len(sb.bluesky_actors)} Bluesky accounts ...", flush=True)
            ours = run_flow("compare", args.compare_workers, args.threads, ["bluesky"], work, sb,
                            prefect_pid)  # fmt: skip
            rows = comparison_rows(ours, results, served)
            ok &= all(r.get("posts") in (None, served) for r in rows)
            payload["comparison"] = {
                "accounts": len(sb.bluesky_actors),
                "served": served,
                "rows": rows,
                "ours": ours.to_json(),
                "baselines": {
                    k: v if isinstance(v, str) else v.to_json() for k, v in results.items()
                },
            }
            write_results(NAME, payload)
            if args.profile:
                print("profiling the steps in this process ...", flush=True)
                text = profile_steps(["bluesky"], csv, env, work)
                RESULTS.mkdir(parents=True, exist_ok=True)
                (RESULTS / "profile-pipeline.txt").write_text(text, encoding="utf-8")
                print(text.split("\n", 1)[0])

        if not args.skip_scale and counts:
            runs: list[Run] = []
            same = True
            for n in counts:
                print(f"the whole world on {n} worker(s) x {args.threads} threads ...", flush=True)
                runs.append(run_flow(f"{n}w", n, args.threads, None, work, sb, prefect_pid))
                print(f"  {runs[-1].wall_s:.1f} s, {runs[-1].posts:,} posts", flush=True)
                same, check = _same_silver(runs)
                payload["scale_out"] = {
                    "accounts": args.accounts,
                    "served": sb.posts,
                    "rows": scale_rows(runs),
                    "runs": [r.to_json() for r in runs],
                    "check": check,
                }
                write_results(NAME, payload)  # what is done so far, should a later run fail
            ok &= same
    path = write_results(NAME, payload)
    print()
    print("\n".join(report(payload)))
    print(f"written to {path}")
    return 0 if ok else 1


def _drain_prefect_logs() -> None:
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
