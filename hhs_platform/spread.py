"""Run a build step's independent parts on every worker of the Dask cluster it runs on.

A build step (enrichment, campaign linking, forecasts) that runs as one Dask task would keep
one worker busy while the others wait. :func:`spread` hands its parts to the cluster from inside
that task (``distributed.worker_client``: the task leaves its thread while it waits, so even a
cluster of one thread runs the parts) and gives back their results in order. Called anywhere
else (a notebook, a test, ``pipeline.refresh`` without a client) it runs the parts here, one
after the other: the results are the same either way. Work that releases the GIL (polars) is
cut into a part per thread (:func:`cluster_threads`); pure-Python work into a part per worker
process (:func:`cluster_workers`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


def cluster_threads() -> int:
    """Threads of the Dask cluster this code runs on as a task; 1 outside a Dask task.

    The parts to cut work into that releases the GIL (polars, deltalake)."""
    return sum(_nthreads().values()) or 1


def cluster_workers() -> int:
    """Workers (processes) of the Dask cluster this code runs on as a task; 1 outside one.

    The parts to cut pure-Python work into: two such parts on threads of one process take
    longer than one (they contend for the GIL), so one part per worker."""
    return len(_nthreads()) or 1


def _nthreads() -> dict[str, int]:
    if "distributed" not in sys.modules:
        # Not a Dask task: a worker has imported it. Importing it to find that out took 0.28 s
        # of the first build step of a process that runs the steps itself (the CLI, a notebook).
        return {}
    try:
        from distributed import get_client, get_worker

        get_worker()
    except (ImportError, ValueError):  # not inside a Dask task
        return {}
    return dict(get_client().nthreads())


def spread[P, R](fn: Callable[..., R], parts: Sequence[P], *args: Any) -> list[R]:
    """``[fn(part, *args) for part in parts]``, the parts as tasks of the current Dask cluster
    when called from inside one of its tasks (and there are two parts or more)."""
    if len(parts) < 2 or not _nthreads():
        return [fn(part, *args) for part in parts]
    from distributed import worker_client

    with worker_client() as client:
        threads = sorted(client.nthreads().items())
        # a thread of each worker in turn: as many parts as workers go one to each
        slots = [a for k in range(max(n for _, n in threads)) for a, n in threads if k < n]
        # Scattered (from a task, onto this worker) rather than sent inside the task graph;
        # each part is then asked for on a worker of its own, which fetches it from here.
        data = client.scatter(list(parts))
        futures = [
            client.submit(
                fn,
                part,
                *args,
                pure=False,
                workers=[slots[i % len(slots)]],
                allow_other_workers=True,
            )
            for i, part in enumerate(data)
        ]
        log.info(
            "%s: %d parts on %d workers", getattr(fn, "__name__", fn), len(parts), len(threads)
        )
        return list(client.gather(futures))


def balanced(sizes: dict[str, int], groups: int) -> list[list[str]]:
    """Split keys into at most ``groups`` groups of about equal summed size (largest first, each
    to the lightest group), keys sorted within a group; empty groups are dropped."""
    bins: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, groups))]
    for key, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        i = min(range(len(bins)), key=lambda k: (bins[k][0], k))
        total, keys = bins[i]
        bins[i] = (total + size, [*keys, key])
    return [sorted(keys) for _, keys in bins if keys]
