"""The flows' Dask task runner: prefect-dask's, with each task run's Dask key named instead of
hashed.

prefect-dask 0.3.7 submits a task run without a key, so Dask derives one by hashing the pickled
call: a wrapper function made anew for every submission (pickled by value, which scans every
imported module), the task, its parameters and the serialised Prefect context. That took about
75 ms of the flow's process a task run on the project's machine (1.4 of the 4.2 seconds the
pipeline benchmark's flow spent submitting 19 task runs, 0.2 s each), and the key it gives is
unique anyway, since each call carries a new task-run id. prefect-dask's main branch names the
key ``<task name>-<uuid>`` itself (PrefectHQ/prefect, ``prefect_dask/client.py``); this runner
does the same until a release has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import uuid4

from prefect_dask import DaskTaskRunner
from prefect_dask.task_runners import PrefectDaskFuture


class KeyedDaskTaskRunner(DaskTaskRunner):
    """:class:`prefect_dask.DaskTaskRunner` whose task runs have the Dask key
    ``<task name>-<random hex>``: no hash of the pickled call."""

    def submit(  # type: ignore[override]  # the overloads of the base, in one signature
        self,
        task: Any,
        parameters: dict[str, Any],
        wait_for: Iterable[PrefectDaskFuture[Any]] | None = None,
        dependencies: dict[str, set[Any]] | None = None,
    ) -> PrefectDaskFuture[Any]:
        """Submit a task run, as :meth:`DaskTaskRunner.submit` does, under a key of its own."""
        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        future = self.client.submit(
            task,
            key=f"{task.name}-{uuid4().hex}",
            parameters=self._optimize_futures(parameters),
            wait_for=self._optimize_futures(wait_for) if wait_for else None,
            dependencies=dependencies,
            return_type="state",
        )
        return PrefectDaskFuture[Any](wrapped_future=future, task_run_id=future.task_run_id)
