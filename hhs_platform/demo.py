"""The demo: simulated platforms + Prefect server + Dask cluster + collection + dashboards and the
HTTP API, on one machine."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hhs_platform.services import PrefectServer, free_port

# The simulated platforms accept any key or token; these are not credentials.
DEMO_YOUTUBE_KEY = "demo-sandbox-key"
DEMO_TOKEN = "demo-sandbox-token"  # noqa: S105 - accepted by the simulated platforms only


@dataclass
class DemoOptions:
    lake_uri: str = "./lake"
    seed: int = 7
    serve: bool = True
    prefect_port: int = 4200
    dashboard_port: int = 5006
    api_port: int = 8080
    sandbox_port: int = 8765
    dask_dashboard_port: int = 8787
    workers: int = 2
    state_dir: Path = Path(".hhs")
    echo: Callable[[str], None] = print
    #: A named fault profile for the simulated platforms (``chaos``), or None for none.
    faults: str | None = None


@dataclass
class DemoResult:
    summary: dict[str, Any]
    urls: dict[str, str] = field(default_factory=dict)


def sandbox_env(
    sandbox: Any, token: str = DEMO_TOKEN, youtube_key: str = DEMO_YOUTUBE_KEY
) -> dict[str, str]:
    """``HHS_*`` variables pointing every platform the demo collects at the simulated ones,
    with their (simulated) credentials."""
    return {
        "HHS_BLUESKY_API_BASE": sandbox.url("bluesky"),
        "HHS_YOUTUBE_API_BASE": sandbox.url("youtube"),
        "HHS_YOUTUBE_API_KEY": youtube_key,
        "HHS_X_API_BASE": sandbox.url("x"),
        "HHS_X_BEARER_TOKEN": token,
        "HHS_FACEBOOK_API_BASE": sandbox.url("facebook"),
        "HHS_FACEBOOK_ACCESS_TOKEN": token,
        "HHS_INSTAGRAM_API_BASE": sandbox.url("instagram"),
        "HHS_INSTAGRAM_ACCESS_TOKEN": token,
        "HHS_INSTAGRAM_BUSINESS_ACCOUNT_ID": "17841400000000001",
        "HHS_LINKEDIN_API_BASE": sandbox.url("linkedin"),
        "HHS_LINKEDIN_ACCESS_TOKEN": token,
        "HHS_FLICKR_API_BASE": sandbox.url("flickr"),
        "HHS_FLICKR_API_KEY": token,
    }


@contextlib.contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the block (worker processes inherit it)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def save_truth(truth: Any, at: datetime, lake_uri: str, state_dir: Path) -> Path:
    """Write the truth served (``truth_to_json`` plus the lake's URI) to ``state_dir/truth.json``,
    where ``hhs quality audit`` reads it by default."""
    import json

    from hhs_platform.sandbox import truth_to_json

    path = state_dir / "truth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    local = "://" not in lake_uri
    payload = truth_to_json(truth, at) | {
        "lake_uri": str(Path(lake_uri).resolve()) if local else lake_uri
    }
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def _by_kind(faults: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_platform, kind), n in faults.items():
        out[kind] = out.get(kind, 0) + n
    return dict(sorted(out.items()))


def run_demo(opts: DemoOptions) -> DemoResult:
    """Run the whole path once; serve until interrupted when ``opts.serve``; stop all it started."""
    from dask.distributed import LocalCluster

    from hhs_platform.lake import Lake
    from hhs_platform.quality.accuracy import compare_with_truth
    from hhs_platform.registry import load_registry
    from hhs_platform.sandbox import SandboxThread, SimClock
    from hhs_platform.sandbox.faults import CHAOS_LIMITS, FaultProfile

    echo = opts.echo
    profile = FaultProfile.named(opts.faults, opts.seed) if opts.faults else None
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        registry = load_registry()
        sandbox = stack.enter_context(
            SandboxThread(
                accounts=registry,
                seed=opts.seed,
                # Frozen at the real "now": the world is a snapshot, so the audit below is exact.
                clock=SimClock(datetime.now(UTC), frozen=True),
                port=free_port(opts.sandbox_port),
                faults=profile,
                limits=CHAOS_LIMITS if profile is not None else None,
            )
        )
        echo(f"simulated platforms: {sandbox.base_url} (seed {opts.seed})")
        if profile is not None:
            echo(
                f"fault profile {opts.faults!r}: {profile.failure_rate():.0%} of requests fail "
                f"(timeouts held {profile.timeout_s:g} s)"
            )

        api_url = os.environ.get("PREFECT_API_URL")
        prefect: PrefectServer | None = None
        if not api_url:
            prefect = PrefectServer(free_port(opts.prefect_port), opts.state_dir / "prefect")
            echo(f"starting a local Prefect server on {prefect.ui_url} ...")
            prefect.start()
            stack.callback(prefect.stop)
            # Runs before the stop (LIFO): the run's last log lines reach the server first,
            # instead of failing at exit with "Error logging to API".
            stack.callback(_drain_prefect_logs)
            api_url = prefect.api_url
        ui_url = api_url.removesuffix("/api")
        env = {
            "PREFECT_API_URL": api_url,
            "HHS_LAKE_URI": opts.lake_uri,
            **sandbox_env(sandbox),
        }
        if profile is not None:
            # The client gives up before a held request is answered, and with a fifth of the
            # requests failing it retries more than the default 5 times (which would give up
            # on about one request in 15,000) and tolerates longer runs of failures.
            env["HHS_HTTP_TIMEOUT_S"] = f"{profile.timeout_s / 2:g}"
            env["HHS_HTTP_MAX_RETRIES"] = "10"
            env["HHS_HTTP_BREAKER_FAILURES"] = "25"
        stack.enter_context(patched_env(env))
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=opts.workers,
                threads_per_worker=2,
                dashboard_address=f":{free_port(opts.dask_dashboard_port)}",
            )
        )
        os.environ["HHS_DASK_ADDRESS"] = cluster.scheduler_address
        stack.callback(os.environ.pop, "HHS_DASK_ADDRESS", None)
        echo(f"Dask cluster: {cluster.scheduler_address} (dashboard {cluster.dashboard_link})")

        from flows.collect import run_collect

        echo("running the collection flow through Prefect on Dask ...")
        summary = run_collect(lake_uri=opts.lake_uri)
        echo(
            f"collected {summary['accounts']} accounts, {summary['responses']} responses in "
            f"{time.perf_counter() - t0:.1f} s; lake at {Path(opts.lake_uri).resolve()}"
        )
        for row in summary["per_platform"]:
            echo(
                f"  {row['platform']}: {row['posts']} posts, {row['post_metrics']} metric rows, "
                f"{row['errors']} account errors, {row['quarantined']} quarantined"
            )
        for platform, why in summary["skipped_platforms"].items():
            echo(f"  {platform}: not collected ({why['accounts']} accounts): {why['reason']}")
        truth = sandbox.world.truth()
        audit = compare_with_truth(Lake(opts.lake_uri), truth)
        truth_file = save_truth(truth, sandbox.world.now(), opts.lake_uri, opts.state_dir)
        echo("silver against the simulated platforms' ground truth:")
        for r in audit:
            fields = [k for k in r if k.endswith("_accuracy")]
            worst = min(r[k] for k in fields)
            echo(
                f"  {r['platform']}: {r['posts_found']}/{r['posts_expected']} posts "
                f"(recall {r['recall']:.2%}, {r['duplicate_keys']} duplicates), "
                f"{r['accounts_found']}/{r['accounts_expected']} accounts, "
                f"lowest field accuracy {worst:.2%}"
            )
        summary["audit"] = audit
        if profile is not None:
            injected = sum(sandbox.stats.faults.values())
            echo(f"faults injected: {injected} {_by_kind(sandbox.stats.faults)}")
        echo(f"ground truth saved to {truth_file}; audit it with: hhs quality audit")
        urls = {"prefect_ui": ui_url, "dask_dashboard": str(cluster.dashboard_link)}
        if opts.serve:
            from hhs_platform.dashboards.server import DASHBOARDS, serve_dashboards

            port = free_port(opts.dashboard_port)
            server = serve_dashboards(port=port, lake_uri=opts.lake_uri, threaded=True, warm=True)
            stack.callback(server.stop)
            for name in DASHBOARDS:
                urls[f"dashboard_{name}"] = f"http://127.0.0.1:{port}/{name}"
            from hhs_platform.httpapi.app import Server, create_app

            api_app = create_app(lake_uri=opts.lake_uri)
            api = Server(api_app, "127.0.0.1", free_port(opts.api_port)).start()
            stack.callback(api.stop)
            urls["http_api"] = f"{api.url}/v1"
            urls["http_api_explorer"] = f"{api.url}/v1/docs"
        echo("")
        for name, url in urls.items():
            echo(f"  {name.replace('_', ' ')}: {url}")
        if opts.serve:
            echo(f"\nHTTP API tokens: hhs api token create --name demo --lake {opts.lake_uri}")
            echo("serving; press Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
        echo("stopping the services the demo started")
        return DemoResult(summary, urls)


def _drain_prefect_logs() -> None:
    """Send the log lines Prefect still holds to its API, and wait for them."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
