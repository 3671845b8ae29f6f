"""Options every task of the flows shares."""

from __future__ import annotations

import importlib
import pkgutil

from prefect import Task
from prefect.cache_policies import NO_CACHE

import flows


def _flow_tasks() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for info in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"flows.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Task) and value.__module__ == module.__name__:
                found[f"{info.name}.{name}"] = value
    return found


def test_no_task_computes_a_cache_key_from_its_inputs() -> None:
    """Runs are idempotent through the lake, not Prefect's result cache; a key from the inputs
    would pickle write-silver's silver rows on every run (flows/collect.py)."""
    tasks = _flow_tasks()
    assert {"collect.collect_batch_task", "collect.write_silver_task", "gold.rebuild_task"} <= set(
        tasks
    )
    assert len(tasks) == 11
    assert {name for name, t in tasks.items() if t.cache_policy is not NO_CACHE} == set()
