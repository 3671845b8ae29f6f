"""`hhs registry check` and `hhs registry sync` as a user types them (real processes, sockets)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.registry import DEFAULT_REGISTRY, load_registry
from hhs_platform.sandbox import SandboxThread

HHS = str(Path(sys.executable).with_name("hhs"))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=load_registry(), seed=5, history_days=1, future_days=1) as sb:
        yield sb


def _run(sb: SandboxThread, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HHS_")}
    env.update(
        HHS_BLUESKY_API_BASE=sb.url("bluesky"),
        HHS_YOUTUBE_API_BASE=sb.url("youtube"),
        HHS_YOUTUBE_API_KEY="cli-test-key-1",
        HHS_USDR_API_BASE=sb.url("usdr") + "/api/v1",
        HHS_USDR_API_KEY="cli-test-key-2",
        HHS_HTTP_MAX_RETRIES="0",
    )
    return subprocess.run(
        [HHS, "registry", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_check_prints_changes_and_writes_learned_ids(sandbox: SandboxThread, tmp_path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(DEFAULT_REGISTRY.read_text())
    res = _run(sandbox, "check", "--platform", "bluesky", "--accounts-file", str(path), "--write")
    assert res.returncode == 0, res.stderr
    assert "# Registry check: 15 accounts" in res.stdout
    assert (
        "id_learned 15" in res.stdout
        and "| id_learned | bluesky | hhs.gov | did:plc:" in res.stdout
    )
    assert "15 row(s) updated" in res.stdout
    written = load_registry(path)
    assert written.height == 136
    assert written.filter(platform="bluesky")["platform_id"].null_count() == 0


def test_sync_prints_the_diff_and_writes_a_proposal_for_review(
    sandbox: SandboxThread, tmp_path
) -> None:
    out = tmp_path / "proposed.csv"
    res = _run(sandbox, "sync", "--write", str(out))
    assert res.returncode == 0, res.stderr
    assert "added 1, removed 1, renamed 1" in res.stdout
    assert "| renamed | x | AHRQ | ahrqnews | AHRQgov |" in res.stdout
    assert "+CDC,Centers for Disease Control and Prevention,HHS,threads,cdcgov" in res.stdout
    assert load_registry(out).filter(platform="threads").height == 1
    no_key = subprocess.run(
        [HHS, "registry", "sync"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("HHS_")},
    )
    assert no_key.returncode == 2 and "HHS_USDR_API_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr


def test_sync_never_overwrites_the_registry_it_compares() -> None:
    refused = CliRunner().invoke(app, ["registry", "sync", "--write", str(DEFAULT_REGISTRY)])
    assert refused.exit_code == 2 and "would overwrite" in refused.output
