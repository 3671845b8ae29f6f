"""Shared fixtures: the real samples folder, a Prefect test server, the simulated platforms."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def world_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URI of the demo world's lake: the real pipeline collected two weeks of the simulated
    platforms day by day (``dashboard_lakes.build_world_lake``). Read only: copy it to write."""
    from dashboard_lakes import build_world_lake

    return build_world_lake(tmp_path_factory.mktemp("world"))


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
