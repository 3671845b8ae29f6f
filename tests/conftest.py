"""Shared fixtures: the real samples folder, a Prefect test server, the simulated platforms."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from distributed import Client

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "api-samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real recorded API responses in ../shared/api-samples (skip where absent)."""
    if not SAMPLES.is_dir():
        pytest.skip(
            f"real API samples not found at {SAMPLES} (../shared is absent on this machine)"
        )
    return SAMPLES


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (thread-based Dask workers share it)."""
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    with prefect_test_harness(server_startup_timeout=180):
        yield


#: The world lake's build, run as a process of its own (``_world_lake_build``).
WORLD_BUILD = """
import os, sys, traceback
from pathlib import Path
sys.path.insert(0, {tests!r})
folder = Path({root!r})
try:
    from dashboard_lakes import build_world_lake
    uri = build_world_lake(folder)
except BaseException:
    (folder / "failed").write_text(traceback.format_exc())
    raise
(folder / "done.tmp").write_text(uri)
os.replace(folder / "done.tmp", folder / "done")
"""
WORLD_LAKE_TIMEOUT_S = 1200.0


def _needs_world_lake(item: pytest.Item) -> bool:
    return "world_lake" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that read the world lake run last (in their order), so its build, started with
    the session in a process of its own, is done before the first of them asks for it."""
    items[:] = [i for i in items if not _needs_world_lake(i)] + [
        i for i in items if _needs_world_lake(i)
    ]


def _world_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder of this session that every xdist worker of it sees."""
    base = tmp_path_factory.getbasetemp()
    return (base if worker_id == "master" else base.parent) / "world-lake"


@pytest.fixture(scope="session", autouse=True)
def _world_lake_build(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[None]:
    """Start the world lake's build once per session, in a process of its own, when a test of
    the session reads it: the first of the xdist workers to get here starts it, and each goes
    on with its other tests meanwhile (``world_lake`` waits for it)."""
    if not any(_needs_world_lake(i) for i in request.session.items):
        yield
        return
    folder = _world_dir(tmp_path_factory, worker_id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(folder / "started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:  # another worker started it
        yield
        return
    code = WORLD_BUILD.format(tests=str(Path(__file__).parent), root=str(folder))
    with (folder / "build.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        try:  # another worker may still read it: let the build end
            proc.wait(timeout=WORLD_LAKE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.returncode and not (folder / "failed").exists():  # killed, not raised
            (folder / "failed").write_text(f"exit code {proc.returncode}")


@pytest.fixture(scope="session")
def world_lake(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, _world_lake_build: None
) -> str:
    """URI of the demo world's lake: the real pipeline collected two weeks of the simulated
    platforms day by day (``dashboard_lakes.build_world_lake``), built once per session by a
    process of its own. Read only: copy it to write."""
    folder = _world_dir(tmp_path_factory, worker_id)
    deadline = time.monotonic() + WORLD_LAKE_TIMEOUT_S
    while not (folder / "done").exists():
        log = folder / "build.log"
        if (folder / "failed").exists() or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
            pytest.fail(
                f"the world lake's build failed or took over {WORLD_LAKE_TIMEOUT_S:.0f} s:\n{tail}"
            )
        time.sleep(0.5)
    return (folder / "done").read_text()


@pytest.fixture
def two_workers() -> Iterator[Client]:
    """A client of a real Dask LocalCluster of two single-thread workers (threads of this
    process, so test functions need not be importable by other processes)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
