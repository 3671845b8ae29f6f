"""Synthetic registries: every account collects on its platform (no handle a connector refuses),
the same registry for a seed, the requested size and platforms."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks.collection import sandbox_env  # noqa: E402
from benchmarks.pipeline import unlimited_config  # noqa: E402
from benchmarks.worlds import PLATFORMS, registry  # noqa: E402
from hhs_platform.collect import fetch_accounts  # noqa: E402
from hhs_platform.connectors.base import AccountRef  # noqa: E402
from hhs_platform.demo import patched_env  # noqa: E402
from hhs_platform.sandbox import SandboxThread, World  # noqa: E402
from hhs_platform.settings import Settings  # noqa: E402


def test_sizes_platforms_and_seed() -> None:
    reg = registry(250, seed=3)
    assert reg.height == 250
    assert set(reg["platform"]) == set(PLATFORMS)
    assert reg.select("platform", "handle").is_unique().all()
    assert reg.equals(registry(250, seed=3))
    assert not reg.equals(registry(250, seed=4))
    # letters and digits: the alphabet every platform's handles share
    assert reg["handle"].str.contains(r"^[a-z0-9]{1,15}$").all()


def test_every_account_of_every_platform_collects() -> None:
    """Two accounts per platform through the real connectors against the simulated platforms:
    none is refused or not found (a handle one platform cannot have would be)."""
    reg = registry(10 * len(PLATFORMS), seed=11)
    picked = reg.group_by("platform", maintain_order=True).head(2)
    world = World(picked, platforms=PLATFORMS)
    threads = world.platform_accounts("threads")
    config = unlimited_config(threads[0].handle if threads else None)
    refs = [AccountRef(r["platform"], r["handle"]) for r in picked.iter_rows(named=True)]
    with (
        SandboxThread(world, config=config) as running,
        patched_env(sandbox_env(running.sandbox, PLATFORMS)),
    ):
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        responses, errors, complete = asyncio.run(fetch_accounts(refs, settings))
    assert [f"{e.account_key}: {e.message}" for e in errors] == []
    assert complete == {r.key for r in refs}
    assert {r.account_key for r in responses} == {r.key for r in refs}
    assert len(refs) == 2 * len(PLATFORMS)


@pytest.mark.parametrize("accounts", [0, -1])
def test_refuses_no_accounts(accounts: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        registry(accounts)
