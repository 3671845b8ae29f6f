"""The scale-out benchmark's bookkeeping (no flow runs here: a real run takes minutes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import scale_out  # noqa: E402
from hhs_platform.settings import Settings  # noqa: E402

ROWS = {"silver/posts": 100, "silver/accounts": 10}


def run(workers: int, wall: float, rows: dict[str, int] | None = None) -> scale_out.Run:
    return scale_out.Run(
        workers=workers,
        threads_per_worker=2,
        wall_s=wall,
        accounts=50,
        fetch_phase_s=wall * 0.6,
        after_fetch_s=wall * 0.3,
        batch_task_s=[1.0, 2.0, 3.0],
        silver_rows=dict(rows or ROWS),
    )


def test_the_fastest_round_per_worker_count_is_kept() -> None:
    rounds = [run(1, 90.0), run(2, 60.0), run(1, 80.0), run(2, 70.0), run(4, 40.0)]
    best = scale_out.best_of(rounds)
    assert [(r.workers, r.wall_s) for r in best] == [(1, 80.0), (2, 60.0), (4, 40.0)]


def test_the_report_gives_speed_ups_against_the_first_count() -> None:
    lines = scale_out.report([run(1, 80.0), run(2, 40.0), run(4, 32.0)])
    rows = [line.split() for line in lines[1:4]]
    assert [r[4] for r in rows] == ["1.00x", "2.00x", "2.50x"]
    assert [r[3] for r in rows] == ["0.62", "1.25", "1.56"]  # accounts per second
    assert lines[-1] == "silver rows: 110 in 2 tables; identical in every lake"


def test_a_run_that_lost_rows_is_called_out() -> None:
    lossy = run(4, 20.0, {"silver/posts": 97, "silver/accounts": 10})
    lines = scale_out.report([run(1, 80.0), lossy])
    assert lines[-1].endswith("DIFFERENT between lakes: silver/posts [100, 97]")


def test_the_sandbox_environment_makes_every_platform_collectable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hhs_platform.collect import collectable_platforms
    from hhs_platform.registry import load_registry
    from hhs_platform.sandbox import SandboxThread

    with SandboxThread(accounts=load_registry(), seed=7) as sandbox:
        env = scale_out.sandbox_env(sandbox)
    assert env["HHS_X_API_BASE"] == f"{sandbox.base_url}/x"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    ready = {p for p, why in collectable_platforms(settings).items() if why is None}
    assert set(scale_out.PLATFORMS) <= ready
    # every platform the shipped registry has, except the ones without a connector
    platforms = set(load_registry()["platform"])
    assert platforms - set(scale_out.PLATFORMS) == platforms - ready
