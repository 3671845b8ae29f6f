"""The flows' task runner on a real Dask LocalCluster with a Prefect test server."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from uuid import uuid4

import pytest
from prefect import flow, task
from prefect.context import FlowRunContext, SettingsContext, SyncClientContext, serialize_context
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from hhs_platform import taskrunner
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


@task
def client_retries() -> int:
    value: int = PREFECT_CLIENT_MAX_RETRIES.value()
    return value


@pytest.mark.usefixtures("prefect_harness")
def test_task_runs_see_the_flows_settings_built_once_per_flow_run() -> None:
    """The settings travel apart from each task run's context: the tasks see the flow's own
    (here changed for the flow process only), and a worker builds them once per flow run."""
    runner = KeyedDaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": 3, "processes": False}
    )

    @flow(task_runner=runner)  # type: ignore[arg-type]
    def retries() -> list[int]:
        futures = [client_retries.submit() for _ in range(4)]
        return [f.result() for f in futures]

    default = PREFECT_CLIENT_MAX_RETRIES.value()
    before = set(taskrunner._built)
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: default + 3}):
        assert retries() == [default + 3] * 4
    first = set(taskrunner._built) - before
    assert len(first) == 1  # one build for the four task runs
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: default + 4}):
        assert retries() == [default + 4] * 4  # changed settings: dumped and built again
    assert len(set(taskrunner._built) - before - first) == 1
    # the worker's copy equals the flow's settings, field for field
    token = next(iter(first))
    profile, settings = taskrunner._built[token]
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: default + 3}):
        current = SettingsContext.get()
        assert current is not None
        assert settings == current.settings
        assert profile == current.profile


@task
def clients_seen() -> tuple[str, str, str]:
    """A tag of the Prefect client of the task run's engine and of its hydrated flow-run context
    (given to a client the first time a task run sees it), and the flow run's state as read back
    through the engine's client."""
    engine = SyncClientContext.get()
    flow_run = FlowRunContext.get()
    assert engine is not None and flow_run is not None and flow_run.flow_run is not None
    read = engine.client.read_flow_run(flow_run.flow_run.id)
    assert read.id == flow_run.flow_run.id
    tags = [
        c.__dict__.setdefault("_seen_as", uuid4().hex) for c in (engine.client, flow_run.client)
    ]
    return tags[0], tags[1], str(read.state_type)


@pytest.mark.usefixtures("prefect_harness")
def test_a_worker_thread_keeps_one_prefect_client_per_flow_run() -> None:
    """Task runs on a worker process's thread share the thread's open client (Prefect's engine
    and the hydrated flow-run context alike) instead of making two each."""
    runner = KeyedDaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": 2, "processes": True}
    )

    @flow(task_runner=runner)  # type: ignore[arg-type]
    def six() -> list[tuple[str, str, str]]:
        return [f.result() for f in [clients_seen.submit() for _ in range(6)]]

    seen = six()
    assert [state for _, _, state in seen] == ["StateType.RUNNING"] * 6  # the client works
    assert all(engine == hydrated for engine, hydrated, _ in seen)
    assert 1 <= len({engine for engine, _, _ in seen}) <= 2  # one per thread, not 12 clients


@pytest.mark.usefixtures("prefect_harness")
def test_a_threads_client_is_kept_for_its_flow_runs_settings_and_closed_after() -> None:
    first = taskrunner._client_context("flow-run-a")
    assert taskrunner._client_context("flow-run-a") is first
    assert not first.client._closed
    assert first.client.read_flows(limit=1) is not None  # open and working
    second = taskrunner._client_context("flow-run-b")  # another flow run's settings
    assert second is not first
    assert first.client._closed and not second.client._closed
    with second:  # Prefect's own `with` of the context neither reopens nor closes the client
        pass
    assert not second.client._closed
    assert taskrunner._client_context("flow-run-b") is second


@pytest.mark.usefixtures("prefect_harness")
def test_the_context_sent_with_a_task_run_is_prefects_without_the_settings() -> None:
    """What a task run carries equals Prefect's own serialised context, settings aside (a new
    field in a later Prefect shows here)."""
    runner = KeyedDaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": 1, "processes": False}
    )
    seen: dict[str, dict[str, object]] = {}

    @flow(task_runner=runner)  # type: ignore[arg-type]
    def one() -> int:
        seen["prefect"] = serialize_context()
        with runner_of_this_flow()._settings_apart() as (_, dumped):
            seen["ours"] = serialize_context()
            seen["dumped"] = dumped
        return client_retries.submit().result()  # type: ignore[no-any-return]

    assert one() == PREFECT_CLIENT_MAX_RETRIES.value()
    assert set(seen["ours"]) == set(seen["prefect"])
    assert seen["ours"]["settings_context"] == {}
    assert seen["dumped"] == seen["prefect"]["settings_context"]
    for key in set(seen["prefect"]) - {"settings_context"}:
        assert seen["ours"][key] == seen["prefect"][key], key


def runner_of_this_flow() -> KeyedDaskTaskRunner:
    ctx = FlowRunContext.get()
    assert ctx is not None
    assert isinstance(ctx.task_runner, KeyedDaskTaskRunner)
    return ctx.task_runner


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
