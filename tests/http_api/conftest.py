"""HTTP API fixtures: the real server (uvicorn on loopback) over a copy of the world lake."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator

import polars as pl
import pytest
from dashboard_lakes import free_port

from hhs_platform.httpapi import tokens
from hhs_platform.httpapi.app import Server, create_app
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings


@dataclasses.dataclass(frozen=True)
class WorldApi:
    """A running server, the lake it serves and two tokens: ``every`` reads every agency,
    ``cdc`` reads CDC only."""

    url: str
    lake: str
    every: str
    cdc: str

    def table(self, name: str) -> pl.DataFrame:
        """A table of the served lake, read directly (the ground truth of the answers)."""
        return pl.read_delta(f"{self.lake}/{name}")


@pytest.fixture(scope="module")
def world_api(world_lake: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldApi]:
    """One server per test module over the module's own copy of the world lake (the server
    writes its tokens and request log into it); the tests only read through it. The tokens'
    rate limit is high enough never to answer 429."""
    lake = str(tmp_path_factory.mktemp("world_api") / "lake")
    shutil.copytree(world_lake, lake)
    settings = Settings(_env_file=None, lake_uri=lake)  # type: ignore[call-arg]
    every, _ = tokens.create(Lake(lake, {}), "every agency", rate_limit_per_minute=100_000)
    cdc, _ = tokens.create(Lake(lake, {}), "cdc", ["CDC"], rate_limit_per_minute=100_000)
    server = Server(create_app(settings, lake), "127.0.0.1", free_port()).start()
    try:
        yield WorldApi(server.url, lake, every, cdc)
    finally:
        server.stop()
