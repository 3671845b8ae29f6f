"""The flows' task runner on a real Dask LocalCluster with a Prefect test server."""

from __future__ import annotations

import re

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
