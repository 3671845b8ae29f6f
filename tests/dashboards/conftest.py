"""Fixtures of the dashboard tests over the lakes of ``dashboard_lakes``: the small gold table
(``lake_uri``), and the session's ``world_lake`` (see tests/conftest.py) served once for the
whole session (``world_server``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import close_browser, uses_browser
from dashboard_lakes import GOLD, free_port, gold_frame, gold_rows

from hhs_platform.lake import Lake


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return gold_rows()


@pytest.fixture
def lake_uri(tmp_path: Path, rows: list[dict[str, Any]]) -> str:
    """A lake in tmp_path holding the gold rows."""
    uri = str(tmp_path / "lake")
    Lake(uri).write(GOLD, gold_frame(rows))
    return uri


@pytest.fixture
def lake(lake_uri: str) -> Lake:
    return Lake(lake_uri)


@pytest.fixture(scope="session")
def world_server(world_lake: str) -> Iterator[str]:
    """Base URL of the dashboards served over ``world_lake`` for the whole session."""
    from hhs_platform.dashboards.server import serve_dashboards

    port = free_port()
    server = serve_dashboards(port=port, lake_uri=world_lake, threaded=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Keep the shared browser only for the next test when it is a browser test of the same
    module; otherwise close it, so that no other test runs beside Playwright's event loop."""
    same_module = nextitem is not None and getattr(nextitem, "module", None) is getattr(
        item, "module", None
    )
    if not (same_module and uses_browser(nextitem)):
        close_browser()
