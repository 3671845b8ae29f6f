"""Run a build step's independent parts on every thread of the Dask cluster it runs on.

A build step (enrichment, campaign linking) that runs as one Dask task would keep one thread
busy while the others wait. :func:`spread` hands its parts to the cluster from inside that task
(``distributed.worker_client``: the task leaves its thread while it waits, so even a cluster of
one thread runs the parts) and gives back their results in order. Called anywhere else (a
notebook, a test, ``pipeline.refresh`` without a client) it runs the parts here, one after the
other: the results are the same either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


def cluster_threads() -> int:
    """Threads of the Dask cluster this code runs on as a task; 1 outside a Dask task."""
    try:
        from distributed import get_client, get_worker

        get_worker()
    except (ImportError, ValueError):  # not inside a Dask task
        return 1
    return max(1, sum(get_client().nthreads().values()))


def spread[P, R](fn: Callable[..., R], parts: Sequence[P], *args: Any) -> list[R]:
    """``[fn(part, *args) for part in parts]``, the parts as tasks of the current Dask cluster
    when called from inside one of its tasks (and there are two parts or more)."""
    if len(parts) < 2 or cluster_threads() < 2:
        return [fn(part, *args) for part in parts]
    from distributed import worker_client

    with worker_client() as client:
        threads = sorted(client.nthreads().items())
        # a thread of each worker in turn, so two parts go to two workers
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
        log.debug("%s: %d parts on the cluster", getattr(fn, "__name__", fn), len(parts))
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
