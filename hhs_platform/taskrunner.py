"""The flows' Dask task runner: prefect-dask's, with each task run's Dask key named instead of
hashed, and Prefect's settings sent to the workers once per flow run instead of once per task run.

**Keys.** prefect-dask 0.3.7 submits a task run without a key, so Dask derives one by hashing the
pickled call: a wrapper function made anew for every submission (pickled by value, which scans
every imported module), the task, its parameters and the serialised Prefect context. That took
about 75 ms of the flow's process a task run on the project's machine (1.4 of the 4.2 seconds the
pipeline benchmark's flow spent submitting 19 task runs, 0.2 s each), and the key it gives is
unique anyway, since each call carries a new task-run id. prefect-dask's main branch names the
key ``<task name>-<uuid>`` itself (PrefectHQ/prefect, ``prefect_dask/client.py``); this runner
does the same until a release has it.

**Settings.** The context Prefect sends with each task run holds its whole settings (54 nested
pydantic-settings models). Dumping them took 90–160 ms of the flow's process a task run, and
the worker built them again from the dump, reading the environment and the dotenv and TOML
sources for each of the 54 models: 100–360 ms of a worker's CPU a task run, more than the task
itself in a small collection (docs/performance.md, "Third round" under "The test suite on two
cores"). Here the flow dumps the settings once per flow run and sends them beside the context
under a token; a worker builds them once per token and enters them around each task run, so
Prefect's own hydration, finding no settings in the context, keeps them. Prefect's pull request #20853
did the same for its process-pool runner ("cache worker SettingsContext").

**Clients.** Each task run made two Prefect API clients (one for the hydrated flow-run context,
one for the task-run engine), and each client loads certifi's CA bundle into a new TLS context,
even for a plain-HTTP API: 17 ms a client on an idle worker, and 91 of the worker's 1,324 py-spy
samples (about 1.8 s) in the pipeline benchmark's comparison, where two threads run task runs
side by side (docs/performance.md, "Eighth round" under "The CPU-bound pipeline"). Here each
worker thread keeps one open client per flow run (per settings token) in a
``SyncClientContext``, and each task run of that thread finds it in its context, so Prefect's
engine and hydration use it instead of making their own. Prefect has no setting for this (its
pull request #19106, still open, would share the TLS context).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

from distributed import Future
from prefect.context import SettingsContext, SyncClientContext, serialize_context
from prefect.settings import Settings as PrefectSettings
from prefect.settings.profiles import Profile
from prefect.task_engine import run_task_async, run_task_sync
from prefect.utilities.engine import collect_task_run_inputs_sync
from prefect_dask import DaskTaskRunner
from prefect_dask.task_runners import PrefectDaskFuture

#: How many flows' settings a worker keeps built (a worker of a long-lived cluster serves many).
_KEPT = 8
_built: OrderedDict[str, tuple[Profile, PrefectSettings]] = OrderedDict()
_built_lock = threading.Lock()
#: Each worker thread's open Prefect client: ``(settings token, its SyncClientContext)``.
_clients = threading.local()


class _SentApart(SettingsContext):
    """The flow's settings context while its task run's context is serialised: it serialises to
    nothing, since the settings travel apart (and are entered by the worker before Prefect's
    hydration, which then keeps them)."""

    def serialize(self, include_secrets: bool = True) -> dict[str, Any]:
        return {}


def _settings(token: str, dumped: dict[str, Any]) -> tuple[Profile, PrefectSettings]:
    """The profile and settings dumped under ``token``, built on the first task run that
    brings them to this process and kept for the next."""
    with _built_lock:  # held while building: the worker's threads start together
        if token in _built:
            _built.move_to_end(token)
            return _built[token]
        built = SettingsContext(**dumped)  # what Prefect's hydration does for every task run
        _built[token] = (built.profile, built.settings)
        while len(_built) > _KEPT:
            _built.popitem(last=False)
        return _built[token]


def _client_context(token: str) -> SyncClientContext:
    """This thread's open Prefect client for the flow run whose settings are ``token`` (made
    on the thread's first task run of that flow run, within its settings: its API URL and key);
    the thread's client of an earlier flow run is closed."""
    kept: tuple[str, SyncClientContext] | None = getattr(_clients, "kept", None)
    if kept is not None and kept[0] == token:
        return kept[1]
    _clients.kept = None
    if kept is not None:
        kept[1].client.__exit__(None, None, None)
    ctx = contextvars.copy_context().run(_open_client_context)
    _clients.kept = (token, ctx)
    return ctx


def _open_client_context() -> SyncClientContext:
    """A new, entered ``SyncClientContext`` (run in a copy of the context: entering it sets
    Prefect's context variable there only). Entered once and never left: its client stays open
    for the thread's next task runs, and Prefect's own ``with`` of it (``get_or_create``) neither
    opens nor closes it again."""
    SyncClientContext.__var__.set(None)  # type: ignore[arg-type]  # not an earlier, closed one
    ctx = SyncClientContext()
    ctx.__enter__()
    return ctx


def run_task(settings_token: str, settings: dict[str, Any], **run: Any) -> Any:
    """Run one task run on a worker (what prefect-dask's per-submission wrapper does), inside
    the flow's settings, built once per flow run in this process, with the thread's client."""
    profile, built = _settings(settings_token, settings)
    # a new context object each time: a context object holds the token of its one entry
    with SettingsContext(profile=profile, settings=built):
        if run["task"].isasync:
            return asyncio.run(run_task_async(**run))
        entered = SyncClientContext.__var__.set(_client_context(settings_token))
        try:
            return run_task_sync(**run)
        finally:
            SyncClientContext.__var__.reset(entered)


class KeyedDaskTaskRunner(DaskTaskRunner):
    """:class:`prefect_dask.DaskTaskRunner` whose task runs have the Dask key
    ``<task name>-<random hex>`` (no hash of the pickled call) and carry Prefect's settings
    dumped once per flow run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the settings last dumped: (the context they came from, token, dump)
        self._dumped: tuple[SettingsContext, str, dict[str, Any]] | None = None

    @contextmanager
    def _settings_apart(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The current settings' token and dump (dumped again only when they changed), with
        a context entered in which they serialise to nothing."""
        current = SettingsContext.get()
        assert current is not None  # Prefect falls back to its global settings context
        if self._dumped is None or self._dumped[0] is not current:
            self._dumped = (current, uuid4().hex, current.serialize())
        _, token, dumped = self._dumped
        with _SentApart(profile=current.profile, settings=current.settings):
            yield token, dumped

    def submit(  # type: ignore[override]  # the overloads of the base, in one signature
        self,
        task: Any,
        parameters: dict[str, Any],
        wait_for: Iterable[PrefectDaskFuture[Any]] | None = None,
        dependencies: dict[str, set[Any]] | None = None,
    ) -> PrefectDaskFuture[Any]:
        """Submit a task run, as :meth:`DaskTaskRunner.submit` does (through
        ``PrefectDaskClient.submit``), under a key of its own and with the settings apart."""
        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        parameters = self._optimize_futures(parameters)
        task_run_id = uuid4()
        inputs = {
            k: collect_task_run_inputs_sync(v, future_cls=Future) for k, v in parameters.items()
        }
        if dependencies:
            inputs = {k: v.union(dependencies.get(k, set())) for k, v in inputs.items()}
        with self._settings_apart() as (token, dumped):
            context = serialize_context(
                asset_ctx_kwargs={
                    "task": task,
                    "task_run_id": task_run_id,
                    "task_inputs": inputs,
                    "copy_to_child_ctx": True,
                }
            )
        future = self.client.submit(
            run_task,
            key=f"{task.name}-{uuid4().hex}",
            settings_token=token,
            settings=dumped,
            task=task,
            task_run_id=task_run_id,
            parameters=parameters,
            wait_for=self._optimize_futures(wait_for) if wait_for else None,
            return_type="state",
            dependencies=inputs,
            context=context,
        )
        return PrefectDaskFuture[Any](wrapped_future=future, task_run_id=task_run_id)
