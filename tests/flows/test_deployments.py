"""The deployments of prefect.yaml (entrypoints, parameters, schedules against the tier
cadences) and ``hhs deploy`` for real against a Prefect test server, read back through the API."""

from __future__ import annotations

import importlib
import inspect
import itertools
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from prefect._vendor.croniter import croniter  # the parser Prefect schedules runs with

from hhs_platform.collect import plan_batches, select_tiers
from hhs_platform.deploy import (
    QUEUES,
    DeployError,
    deploy,
    ensure_limits,
    ensure_pool,
    platform_limits,
    require_server,
)
from hhs_platform.errors import ConfigurationError
from hhs_platform.registry import load_registry
from hhs_platform.settings import Settings
from hhs_platform.transforms.curves import AGES_H

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in CONFIG["deployments"]}
TIERS = {"collect-tier-1": 1, "collect-tier-2": 2, "collect-tier-3": 3}


def _flow(entrypoint: str):
    module_path, _, attr = entrypoint.partition(":")
    return getattr(importlib.import_module(module_path.removesuffix(".py").replace("/", ".")), attr)


def _interval_hours(cron: str) -> set[float]:
    it = croniter(cron, datetime(2026, 1, 5, tzinfo=UTC))
    fires = [it.get_next(datetime) for _ in range(30)]
    return {(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(fires)}


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_every_deployment_imports_takes_its_parameters_and_has_a_valid_cron(name: str) -> None:
    d = DEPLOYMENTS[name]
    flow = _flow(d["entrypoint"])
    assert set(d.get("parameters") or {}) <= set(inspect.signature(flow.fn).parameters), name
    assert d["work_pool"]["name"] == "hhs-process"
    assert (d["work_pool"].get("work_queue_name") or "default") in QUEUES, name
    assert d["schedules"] and all(croniter.is_valid(s["cron"]) for s in d["schedules"])
    assert d.get("tags"), name


def test_tier_deployments_follow_the_tier_cadences() -> None:
    cadence = Settings(_env_file=None).quality_cadence_hours  # type: ignore[call-arg]
    for name, tier in TIERS.items():
        d = DEPLOYMENTS[name]
        # incremental reads: the posts whose curve ages (up to 28 days) can still fall due
        assert d["parameters"] == {"tiers": [tier], "lookback_days": 30}
        assert d["work_pool"]["work_queue_name"] == f"tier-{tier}"
        assert _interval_hours(d["schedules"][0]["cron"]) == {cadence[tier]}, name
        flow = _flow(d["entrypoint"])
        # a run ends (timeout) before its next scheduled run starts, and a retry resumes it
        assert 0 < flow.timeout_seconds < cadence[tier] * 3600
        assert flow.retries == 1 and flow.name == "hhs-collect"
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        # scheduled runs hold the platform limits (tests/flows/test_timeouts.py)
        assert d["work_pool"]["job_variables"]["env"] == {"HHS_PLATFORM_CONCURRENCY": "true"}
    # tier 1 is served first when workers are scarce, then the re-polls, tier 2, tier 3
    assert QUEUES["tier-1"] < QUEUES["repoll"] < QUEUES["tier-2"] < QUEUES["tier-3"]
    repoll = DEPLOYMENTS["collect-repoll"]
    minutes = Settings(_env_file=None).repoll_horizon_minutes  # type: ignore[call-arg]
    assert repoll["parameters"] == {"repoll": True, "tiers": [2, 3], "lookback_days": 29}
    # tier 1 is read every hour: an hourly read stands for every age (tolerance >= 30 min)
    assert cadence[1] * 60 / 2 <= 30
    assert max(AGES_H) / 24 < 29
    # whole feeds once a month, for edits and deletions of older posts
    full = DEPLOYMENTS["collect-full-monthly"]
    assert full["parameters"] == {} and _flow(full["entrypoint"]).name == "hhs-collect"
    assert _interval_hours(repoll["schedules"][0]["cron"]) == {minutes / 60}
    assert _flow(repoll["entrypoint"]).timeout_seconds < minutes * 60
    gold = DEPLOYMENTS["gold-daily"]
    assert _flow(gold["entrypoint"]).name == "hhs-gold"
    assert _interval_hours(gold["schedules"][0]["cron"]) == {24.0}
    assert gold["concurrency_limit"]["collision_strategy"] == "ENQUEUE"


def test_batches_serve_tier_one_first_and_tiers_select_accounts() -> None:
    registry = load_registry()
    settings = Settings(_env_file=None, x_bearer_token="t", youtube_api_key="k")  # type: ignore[call-arg]
    batches = plan_batches(registry, 4, settings)
    tiers = [b[0]["tier"] for b in batches]
    assert tiers == sorted(tiers) and set(tiers) == {1, 2, 3}
    assert all(
        len({a["tier"] for a in b}) == 1 and len({a["platform"] for a in b}) == 1 for b in batches
    )
    # every collectable account once, tier-1 accounts of each platform before its others
    order = [(a["platform"], a["tier"]) for b in batches for a in b]
    for platform in {p for p, _ in order}:
        mine = [t for p, t in order if p == platform]
        assert mine == sorted(mine), platform
    collectable = registry.filter(pl.col("platform").is_in(["bluesky", "x", "youtube", "mastodon"]))
    assert len(order) >= collectable.height
    picked = select_tiers(registry, [1])
    assert set(picked["tier"]) == {1} and picked.height == registry.filter(tier=1).height
    with pytest.raises(ConfigurationError, match="no registry account has tier 9"):
        select_tiers(registry, [9])


def test_deploy_without_a_server_says_so(monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        with pytest.raises(DeployError, match="PREFECT_API_URL is not set"):
            require_server()
        plan = deploy(dry_run=True)  # a dry run contacts nothing
    assert [d["name"] for d in plan.deployments] == list(DEPLOYMENTS)
    with (
        temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}),
        pytest.raises(DeployError, match="does not answer"),
    ):
        require_server()


@pytest.mark.slow
def test_hhs_deploy_creates_pool_queues_limits_and_deployments(prefect_harness) -> None:
    from prefect.client.orchestration import get_client
    from typer.testing import CliRunner

    from hhs_platform.cli import app

    result = CliRunner().invoke(app, ["deploy", "--pool", "hhs-test-pool"])
    assert result.exit_code == 0, result.output
    # the setup part again (idempotent): nothing duplicated, priorities kept
    ensure_pool("hhs-test-pool", QUEUES)
    assert ensure_limits(platform_limits(), update=True) == []

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("hhs-test-pool")
        assert pool.type == "process"
        queues = {q.name: q.priority for q in client.read_work_queues(work_pool_name=pool.name)}
        assert queues == QUEUES
        limits = {lim.name: lim.limit for lim in client.read_global_concurrency_limits(limit=200)}
        assert {n: limits.get(n) for n in platform_limits()} == platform_limits()
        for name, d in DEPLOYMENTS.items():
            flow = _flow(d["entrypoint"])
            dep = client.read_deployment_by_name(f"{flow.name}/{name}")
            assert dep.work_pool_name == "hhs-test-pool"
            assert dep.work_queue_name == (d["work_pool"].get("work_queue_name") or "default")
            assert [s.schedule.cron for s in dep.schedules] == [  # type: ignore[union-attr]
                s["cron"] for s in d["schedules"]
            ]
            assert dep.parameters == (d.get("parameters") or {})
            assert (dep.job_variables or {}) == (d["work_pool"].get("job_variables") or {})
            assert set(dep.tags) == set(d["tags"])
            if isinstance(d.get("concurrency_limit"), dict):
                assert dep.global_concurrency_limit is not None
                assert dep.global_concurrency_limit.limit == d["concurrency_limit"]["limit"]
                strategy = dep.concurrency_options.collision_strategy  # type: ignore[union-attr]
                assert (
                    str(getattr(strategy, "value", strategy))
                    == d["concurrency_limit"]["collision_strategy"]
                )
