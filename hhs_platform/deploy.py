"""Scheduling on a Prefect server: the work pool, its prioritized queues, the per-platform
concurrency limits, and the deployments of ``prefect.yaml`` (what ``hhs deploy`` does).

Everything here is idempotent: running it again updates what exists and creates what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hhs_platform.errors import ConfigurationError

#: The work pool of prefect.yaml; ``hhs deploy --pool`` replaces it.
WORK_POOL = "hhs-process"
#: Work queues of the pool and their priority (1 is served first when workers are scarce).
QUEUES: dict[str, int] = {
    "tier-1": 1,
    "repoll": 2,
    "tier-2": 3,
    "tier-3": 4,
    "batch": 5,
    "default": 6,  # created with every pool; kept last so it never outranks the tiers
}
PROJECT_FILE = Path(__file__).resolve().parents[1] / "prefect.yaml"


def platform_limit_name(platform: str) -> str:
    """The Prefect global concurrency limit a run holds while it fetches ``platform``."""
    return f"collect-{platform}"


def platform_limits() -> dict[str, int]:
    """One limit of 1 per platform with a connector: one run at a time fetches a platform."""
    from hhs_platform.connectors import CONNECTORS

    return {platform_limit_name(p): 1 for p in sorted(CONNECTORS)}


class DeployError(ConfigurationError):
    """Scheduling could not be set up: no reachable Prefect server, or ``prefect deploy`` failed."""


@dataclass
class DeployPlan:
    """What ``hhs deploy`` creates or updates on the server."""

    api_url: str
    pool: str
    queues: dict[str, int]
    limits: dict[str, int]
    deployments: list[dict[str, Any]] = field(default_factory=list)
    #: Output of ``prefect deploy`` (empty on a dry run).
    log: str = ""

    def describe(self) -> list[str]:
        """Human-readable lines: one per object."""
        lines = [
            f"Prefect API: {self.api_url or '(PREFECT_API_URL unset)'}",
            f"work pool: {self.pool} (process)",
        ]
        lines += [f"work queue: {q} (priority {p})" for q, p in self.queues.items()]
        lines += [f"concurrency limit: {n} = {v}" for n, v in self.limits.items()]
        for d in self.deployments:
            lines.append(
                f"deployment: {d['name']} -> {d['entrypoint']} on queue "
                f"{d.get('work_queue_name') or 'default'}, schedule {d['schedule']}"
            )
        return lines


def load_project(project_file: Path = PROJECT_FILE) -> dict[str, Any]:
    """The parsed prefect.yaml."""
    try:
        config: dict[str, Any] = yaml.safe_load(project_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"cannot read the Prefect project file {project_file}: {exc}") from exc
    return config


def _schedule_text(d: dict[str, Any]) -> str:
    parts = []
    for s in d.get("schedules") or []:
        if "cron" in s:
            parts.append(f"cron {s['cron']} {s.get('timezone', 'UTC')}")
        elif "interval" in s:
            parts.append(f"every {s['interval']} s")
    return "; ".join(parts) or "none"


def plan(project_file: Path = PROJECT_FILE, pool: str = WORK_POOL) -> DeployPlan:
    """What a deploy would create, read from prefect.yaml (no server contacted)."""
    from prefect.settings import PREFECT_API_URL

    config = load_project(project_file)
    deployments = [
        {
            "name": d["name"],
            "entrypoint": d["entrypoint"],
            "work_queue_name": (d.get("work_pool") or {}).get("work_queue_name"),
            "schedule": _schedule_text(d),
        }
        for d in config.get("deployments") or []
    ]
    return DeployPlan(
        api_url=str(PREFECT_API_URL.value() or ""),
        pool=pool,
        queues=dict(QUEUES),
        limits=platform_limits(),
        deployments=deployments,
    )


def require_server() -> str:
    """The Prefect API URL, checked to answer.

    Raises:
        DeployError: ``PREFECT_API_URL`` is unset (schedules need a real server, not the
            ephemeral one a bare flow run starts) or the server does not answer.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = str(PREFECT_API_URL.value() or "")
    if not url:
        raise DeployError(
            "PREFECT_API_URL is not set: schedules need a real Prefect server. Start one "
            "(`prefect server start`) and `export PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    with get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
    if failure is not None:
        raise DeployError(
            f"the Prefect server at PREFECT_API_URL={url} does not answer ({failure}); start it "
            "with `prefect server start` or fix the URL"
        )
    return url


def ensure_limits(limits: dict[str, int], *, update: bool = False) -> list[str]:
    """Create the global concurrency limits that do not exist; return the names created.

    ``update=True`` also resets existing limits to the given values (``hhs deploy``); without
    it a value an operator changed is left alone (the collection flow's create-if-missing).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    created = []
    with get_client(sync_client=True) as client:
        for name, value in limits.items():
            if update:
                try:
                    client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    created.append(name)
                client.upsert_global_concurrency_limit_by_name(name, value)
                continue
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=value)
                    )
                    created.append(name)
                except ObjectAlreadyExists:
                    pass  # another run created it meanwhile
    return created


def ensure_pool(pool: str, queues: dict[str, int]) -> None:
    """Create the process work pool (if missing) and its queues with their priorities."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", base_job_template=template)
            )
        # lowest priority first: the server shifts queues whose priority a newcomer takes
        for name, priority in sorted(queues.items(), key=lambda q: -q[1]):
            try:
                queue = client.read_work_queue_by_name(name, work_pool_name=pool)
                if queue.priority != priority:
                    client.update_work_queue(queue.id, priority=priority)
            except ObjectNotFound:
                client.create_work_queue(name=name, priority=priority, work_pool_name=pool)
        # a priority taken by a newcomer shifts the others: set every one again, in order
        for name, priority in sorted(queues.items(), key=lambda q: q[1]):
            queue = client.read_work_queue_by_name(name, work_pool_name=pool)
            if queue.priority != priority:
                client.update_work_queue(queue.id, priority=priority)


def _with_pool(config: dict[str, Any], pool: str) -> dict[str, Any]:
    for d in config.get("deployments") or []:
        d.setdefault("work_pool", {})["name"] = pool
    return config


def run_prefect_deploy(project_file: Path, pool: str, names: Iterable[str] | None = None) -> str:
    """``prefect deploy --all`` (or ``--name`` each) of a copy of the project file on ``pool``.

    Raises:
        DeployError: the command failed; the message carries the end of its output.
    """
    from prefect.settings import PREFECT_API_URL

    config = _with_pool(load_project(project_file), pool)
    root = project_file.resolve().parent
    with tempfile.NamedTemporaryFile(
        "w", suffix=".yaml", prefix="prefect-", dir=root, delete=False
    ) as tmp:
        yaml.safe_dump(config, tmp, sort_keys=False)
    selection = ["--all"] if names is None else [a for n in names for a in ("--name", n)]
    cmd = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", *selection]
    cmd += ["--prefect-file", tmp.name]
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
        )
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise DeployError(f"`prefect deploy` failed (exit {proc.returncode}):\n{out[-3000:]}")
    return out


def deploy(
    project_file: Path = PROJECT_FILE,
    pool: str = WORK_POOL,
    *,
    dry_run: bool = False,
    echo: Callable[[str], Any] = lambda _line: None,
) -> DeployPlan:
    """Create the pool, queues and limits, then deploy every deployment of prefect.yaml.

    Args:
        project_file: the Prefect project file.
        pool: the work pool to create and deploy to.
        dry_run: only say what would be created (the server is not contacted).
        echo: receives progress lines.

    Raises:
        DeployError: no reachable Prefect server, or ``prefect deploy`` failed.
    """
    result = plan(project_file, pool)
    if dry_run:
        for line in result.describe():
            echo(f"would create {line}" if not line.startswith("Prefect API") else line)
        return result
    result.api_url = require_server()
    ensure_pool(pool, result.queues)
    echo(f"work pool {pool}: queues {', '.join(result.queues)}")
    created = ensure_limits(result.limits, update=True)
    echo(f"concurrency limits: {len(result.limits)} ({len(created)} new)")
    result.log = run_prefect_deploy(project_file, pool)
    for d in result.deployments:
        echo(f"deployed {d['name']} ({d['schedule']})")
    echo(f"now start a worker: prefect worker start --pool {pool}")
    return result
