"""Fixtures for the simulated-platform tests: running sandboxes and a small HTTP helper."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import polars as pl
import pytest

from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread

SMALL_ROWS: list[dict[str, Any]] = [
    {"platform": "bluesky", "handle": "cdc.gov", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "bluesky", "handle": "nih.gov", "platform_id": None, "agency": "NIH",
     "agency_name": "National Institutes of Health"},
    {"platform": "bluesky", "handle": "fda.gov", "platform_id": None, "agency": "FDA",
     "agency_name": "U.S. Food and Drug Administration"},
    {"platform": "youtube", "handle": "CDCstreamingHealth", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "youtube", "handle": "UC_NQ14VoXhmabaSZ4RWgKWw",
     "platform_id": "UC_NQ14VoXhmabaSZ4RWgKWw", "agency": "NIH",
     "agency_name": "National Institutes of Health"},
    {"platform": "x", "handle": "CDCgov", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
]  # fmt: skip


@dataclass
class Reply:
    """A response read to the end (header names as sent; see ``header``)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _fetch(
    url: str,
    params: dict[str, Any] | None = None,
    *,
    post: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request over a real socket with aiohttp (POST with a JSON body when ``post`` is set)."""

    async def go() -> Reply:
        async with aiohttp.ClientSession(headers=headers) as session:
            if post is not None:
                ctx = session.post(url, json=post)
            else:
                ctx = session.get(url, params={k: str(v) for k, v in (params or {}).items()})
            async with ctx as r:
                return Reply(r.status, dict(r.headers), await r.read())

    return asyncio.run(go())


Fetch = Callable[..., Reply]


@pytest.fixture(scope="session")
def fetch() -> Fetch:
    """``fetch(url, params=None, *, post=None, headers=None) -> Reply``: one real request."""
    return _fetch


@pytest.fixture
def small_rows() -> list[dict[str, Any]]:
    """Three Bluesky, two YouTube accounts and one X account."""
    return [dict(r) for r in SMALL_ROWS]


@pytest.fixture(scope="session")
def registry() -> pl.DataFrame:
    return load_registry()


@pytest.fixture(scope="session")
def sandbox(registry: pl.DataFrame) -> Iterator[SandboxThread]:
    """The full default-registry world, frozen at the default epoch. Do not move its clock."""
    with SandboxThread(accounts=registry, seed=7) as sb:
        yield sb


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxThread]]:
    """Start a private sandbox (default: the small world) that the test may change freely."""
    started: list[SandboxThread] = []

    def make(**kwargs: Any) -> SandboxThread:
        kwargs.setdefault("accounts", SMALL_ROWS)
        sb = SandboxThread(**kwargs).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()
