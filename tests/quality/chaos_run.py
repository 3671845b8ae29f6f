"""A collection of every simulated platform under a fault profile, for the chaos and audit tests.

Real components throughout: the sandbox over sockets, the HTTP client with its retries, the
connectors, bronze, silver and the quarantine in a Delta lake under ``tmp_path``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hhs_platform.collect import BatchOutcome, collect_batch, plan_batches
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import FaultProfile, SandboxThread
from hhs_platform.sandbox.faults import CHAOS_LIMITS
from hhs_platform.sandbox.platforms import PLATFORMS as SANDBOX_PLATFORMS
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch

HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
#: A Threads user token belongs to one profile.
THREADS_TOKENS = {"chaos-threads-hhs-1": "hhsgov", "chaos-threads-cdc-2": "cdcgov"}
LINKEDIN_TOKEN = "chaos-linkedin-admin-3"
#: The client gives up on a request after this long; the sandbox holds timed-out requests longer.
CLIENT_TIMEOUT_S = 1.0
HELD_S = 2.0
#: The client's timeout when the profile holds no request: a busy machine (the test suite on
#: two cores) can take over a second to answer, and an answer the client gave up on would be a
#: fault the sandbox counted but the lake never saw.
UNHELD_TIMEOUT_S = 30.0
#: Every platform the sandbox serves (the registry below has accounts on each).
PLATFORMS = tuple(sorted(SANDBOX_PLATFORMS))


def chaos_profile(seed: int, **overrides: Any) -> FaultProfile:
    """The chaos preset with timeouts held past ``CLIENT_TIMEOUT_S`` (tests stay fast)."""
    return FaultProfile.chaos(seed, timeout_s=HELD_S, **overrides)


def registry(per_platform: int = 2) -> pl.DataFrame:
    """``per_platform`` shipped accounts of each shipped platform plus accounts on the others."""
    shipped = load_registry()
    extra = [
        ("HHS", HHS, None, "mastodon", "hhs", None),
        ("CDC", CDC, "HHS", "mastodon", "cdc", None),
        ("HHS", HHS, None, "truthsocial", "seckennedy", None),
        ("HHS", HHS, None, "reddit", "u/HHSgov", None),
        ("CDC", CDC, "HHS", "reddit", "CDCgov", None),
        ("HHS", HHS, None, "threads", "@hhsgov", None),
        ("CDC", CDC, "HHS", "threads", "cdcgov", None),
    ]
    rows = pl.DataFrame(
        [
            {
                "agency": a,
                "agency_name": n,
                "parent_agency": parent,
                "platform": p,
                "handle": h,
                "platform_id": pid,
                "previous_handles": None,
                "url": f"https://example.org/{p}/{h}",
                "tier": 1,
                "verified": False,
                "source": "test",
            }
            for a, n, parent, p, h, pid in extra
        ],
        schema=shipped.schema,
    )
    picked = [shipped.filter(platform=p).head(per_platform) for p in PLATFORMS]
    return pl.concat([*picked, rows])


def sandbox(accounts: pl.DataFrame, faults: FaultProfile | None, **world: Any) -> SandboxThread:
    """A sandbox over ``accounts`` with ``faults`` and the chaos rate-limit windows."""
    limits = {
        **CHAOS_LIMITS,
        "threads_access_tokens": THREADS_TOKENS,
        "linkedin_access_tokens": {LINKEDIN_TOKEN},
    }
    return SandboxThread(accounts=accounts, seed=29, faults=faults, limits=limits, **world)


def settings(sb: SandboxThread, lake_uri: str, **extra: Any) -> Settings:
    """Every platform's API base on ``sb``, its credentials, and a client tuned for chaos: a
    timeout below the sandbox's hold (when its faults hold requests), more retries than the
    default and a breaker that tolerates a longer run of failures."""
    faults = sb.context.faults
    held = faults is not None and faults.timeout > 0
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        lake_uri=lake_uri,
        http_timeout_s=CLIENT_TIMEOUT_S if held else UNHELD_TIMEOUT_S,
        http_max_retries=10,
        http_breaker_failures=25,
        bluesky_api_base=sb.url("bluesky"),
        youtube_api_base=sb.url("youtube"),
        youtube_api_key="chaos-youtube-key-4",
        x_api_base=sb.url("x"),
        x_bearer_token="chaos-x-token-5",
        facebook_api_base=sb.url("facebook"),
        facebook_access_token="chaos-fb-token-6",
        instagram_api_base=sb.url("instagram"),
        instagram_access_token="chaos-ig-token-7",
        instagram_business_account_id="17841400000000001",
        linkedin_api_base=sb.url("linkedin"),
        linkedin_access_token=LINKEDIN_TOKEN,
        flickr_api_base=sb.url("flickr"),
        flickr_api_key="chaos-flickr-key-8",
        mastodon_api_base=sb.url("mastodon"),
        truthsocial_api_base=sb.url("truthsocial"),
        reddit_api_base=sb.url("reddit"),
        reddit_access_token="chaos-reddit-token-9",
        threads_api_base=sb.url("threads"),
        **extra,
    )


@dataclass
class Run:
    """One collection: the lake, the batches' outcomes and what the sandbox served."""

    lake: Lake
    outcomes: list[BatchOutcome]
    truth: dict[str, pl.DataFrame]
    faults: dict[tuple[str, str], int]
    requests: int


def collect(sb: SandboxThread, lake: Lake, accounts: pl.DataFrame, run_id: str) -> Run:
    """Collect every account (Threads with each profile's own token) in concurrent batches, as
    the flow's Dask tasks do, then write silver."""
    jobs: list[tuple[str, list[dict[str, Any]], Settings]] = []
    base = settings(sb, lake.uri)
    others = accounts.filter(pl.col("platform") != "threads")
    jobs += [(str(i), b, base) for i, b in enumerate(plan_batches(others, 10, base))]
    by_user = {user: token for token, user in THREADS_TOKENS.items()}
    for row in accounts.filter(platform="threads").iter_rows(named=True):
        own = settings(sb, lake.uri, threads_access_token=by_user[str(row["handle"]).lstrip("@")])
        mine = accounts.filter(handle=row["handle"])
        jobs += [(f"threads-{row['handle']}", b, own) for b in plan_batches(mine, 10, own)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(
                lambda job: collect_batch(
                    job[1],
                    run_id=run_id,
                    batch_id=job[0],
                    lake=lake,
                    settings=job[2],
                    registry=accounts,
                ),
                jobs,
            )
        )
    write_silver(lake, SilverBatch.concat([o.silver for o in outcomes]))
    stats = sb.stats
    return Run(lake, outcomes, sb.world.truth(), dict(stats.faults), sum(stats.requests.values()))


def run_once(
    tmp_path: Path, faults: FaultProfile | None, per_platform: int = 2, **world: Any
) -> Run:
    """Serve ``registry(per_platform)`` with ``faults``, collect it once into a fresh lake."""
    accounts = registry(per_platform)
    with sandbox(accounts, faults, **world) as sb:
        return collect(sb, Lake(str(tmp_path / "lake")), accounts, "chaos-1")
