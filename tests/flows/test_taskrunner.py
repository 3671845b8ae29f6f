"""The flows' task runner on a real Dask LocalCluster with a Prefect test server."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from prefect import flow, task

from hhs_platform.taskrunner import KeyedDaskTaskRunner


@task
def double(x: int) -> int:
    return 2 * x


@task
def add(a: int, b: int) -> int:
    return a + b


@pytest.mark.usefixtures("prefect_harness")
def test_task_runs_get_named_keys_and_their_results() -> None:
    runner = KeyedDaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": 2, "processes": False}
    )
    keys: list[str] = []

    @flow(task_runner=runner)  # type: ignore[arg-type]
    def arithmetic() -> tuple[int, int, int]:
        same = [double.submit(2), double.submit(2)]  # the same call twice: two task runs
        total = add.submit(same[0], double.submit(5))  # type: ignore[call-overload]  # futures
        keys.extend(str(f.wrapped_future.key) for f in [*same, total])  # type: ignore[attr-defined]
        return same[0].result(), same[1].result(), total.result()

    assert arithmetic() == (4, 4, 14)
    assert [re.sub(r"-[0-9a-f]{32}$", "-<hex>", k) for k in keys] == [
        "double-<hex>",
        "double-<hex>",
        "add-<hex>",
    ]
    assert len(set(keys)) == 3


@pytest.mark.parametrize("dashboard", [True, False])
def test_the_local_cluster_serves_its_dashboard_only_when_asked(dashboard: bool) -> None:
    """HHS_DASK_LOCAL_DASHBOARD=false: no Bokeh dashboard (its import costs a run about 1.6 s)."""
    from distributed import LocalCluster

    from flows.collect import task_runner
    from hhs_platform.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, dask_processes=False, dask_workers=1, dask_local_dashboard=dashboard
    )
    kwargs = task_runner(settings).cluster_kwargs
    with LocalCluster(**kwargs) as cluster:
        port = cluster.scheduler.http_server.port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
    assert status == (200 if dashboard else 404)
