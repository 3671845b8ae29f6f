"""Build-step parts spread over a real Dask LocalCluster from inside one of its tasks."""

from __future__ import annotations

import subprocess
import sys
import time

from hhs_platform.spread import balanced, cluster_threads, cluster_workers, spread


def _square_where(n: int, offset: int) -> tuple[int, str]:
    from distributed import get_worker

    time.sleep(0.2)  # long enough that one worker cannot take every part
    try:
        where = get_worker().address
    except ValueError:
        where = "here"
    return n * n + offset, where


def _spread_in_a_task(parts: list[int]) -> tuple[int, int, list[tuple[int, str]]]:
    return cluster_workers(), cluster_threads(), spread(_square_where, parts, 1)


def test_outside_dask_the_parts_run_here_in_order() -> None:
    assert cluster_threads() == cluster_workers() == 1
    assert spread(_square_where, [3, 1, 2], 1) == [(10, "here"), (2, "here"), (5, "here")]
    assert spread(_square_where, [], 1) == []


def test_outside_dask_finding_that_out_imports_nothing() -> None:
    """A process that runs the steps itself (the CLI, a notebook) does not import Dask's
    distributed to learn that it is not a Dask task (0.28 s of its first build step)."""
    code = (
        "import sys\n"
        "from hhs_platform.spread import cluster_threads, cluster_workers, spread\n"
        "assert (cluster_threads(), cluster_workers()) == (1, 1)\n"
        "assert spread(abs, [-2, 3]) == [2, 3]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'distributed'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_inside_a_task_the_parts_run_on_every_worker_in_order() -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        workers, threads, results = client.submit(
            _spread_in_a_task, list(range(6)), pure=False
        ).result()
    assert (workers, threads) == (2, 4)
    assert [value for value, _ in results] == [n * n + 1 for n in range(6)]
    assert len({where for _, where in results}) == 2, "both workers ran parts"
    assert "here" not in {where for _, where in results}


def test_balanced_groups() -> None:
    sizes = {"a": 10, "b": 9, "c": 5, "d": 4}
    groups = balanced(sizes, 2)
    assert sorted(groups) == [["a", "d"], ["b", "c"]]
    assert sorted(sum(sizes[k] for k in g) for g in groups) == [14, 14]
    # more groups than keys: no empty group; every key exactly once
    assert sorted(balanced(sizes, 8)) == [["a"], ["b"], ["c"], ["d"]]
    assert balanced({}, 3) == []
    assert balanced(sizes, 1) == [["a", "b", "c", "d"]]
