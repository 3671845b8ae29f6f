"""Bronze replay: silver rebuilt from archived responses alone equals silver as collected."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from landing import collect_from_sandbox, registry_rows
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.errors import LakeError
from hhs_platform.lake import Lake
from hhs_platform.replay import REBUILT, replay
from hhs_platform.sandbox import FaultProfile, World
from hhs_platform.transforms.gold import build_gold
from schemas import table_spec

HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
REGISTRY = registry_rows(
    [
        ("HHS", HHS, None, "bluesky", "hhs.gov", None),
        ("CDC", CDC, "HHS", "bluesky", "cdc.gov", None),
        ("HHS", HHS, None, "mastodon", "hhs", None),
        ("HHS", HHS, None, "youtube", "USGOVHHS", None),
    ]
)


def _settings(sb: Any) -> dict[str, Any]:
    return {
        "bluesky_api_base": sb.url("bluesky"),
        "mastodon_api_base": sb.url("mastodon"),
        "youtube_api_base": sb.url("youtube"),
        "youtube_api_key": "replay-test-key",
    }


def _tables(lake: Lake) -> dict[str, pl.DataFrame]:
    out = {}
    for name in (*REBUILT, "gold/daily_account_metrics"):
        if not lake.exists(name):
            continue
        df = lake.read(name)
        if name == "quarantine/rows":
            df = df.drop("quarantined_at")  # when it was quarantined, not what
        out[name] = df.sort(list(table_spec(name).keys))
    return out


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, dict[str, pl.DataFrame]]:
    """Three runs: posts deleted and edited between them, the last one with cut bodies."""
    tmp = tmp_path_factory.mktemp("replay")
    world = World(REGISTRY, seed=21, deletion_rate=0.3, edit_rate=0.3)
    start = world.now()
    faults = FaultProfile(truncated=0.2, seed=3)
    for n, (at, sandbox) in enumerate(
        [
            (start, {}),
            (start + timedelta(days=3), {}),
            (start + timedelta(days=6), {"faults": faults}),
        ]
    ):
        world.clock.set(at)
        landed = collect_from_sandbox(
            tmp, REGISTRY, _settings, run_id=f"run-{n}", sandbox_kwargs={"world": world, **sandbox}
        )
        assert all(not o.errors for o in landed.outcomes)
    lake = landed.lake
    build_gold(lake)
    return lake, _tables(lake)


def test_replay_after_deleting_silver_gives_identical_tables(collected, tmp_path: Path) -> None:
    lake, before = collected
    copy = Lake(str(tmp_path / "lake"))
    shutil.copytree(lake.uri, copy.uri)
    for name in (*REBUILT, "gold/daily_account_metrics"):
        shutil.rmtree(Path(copy.uri) / name, ignore_errors=True)
    assert not copy.exists("silver/posts")
    lines: list[str] = []
    report = replay(copy, registry=REGISTRY, progress=lines.append)
    after = _tables(copy)
    assert report.runs == ["run-0", "run-1", "run-2"]
    assert len(lines) == 3 and "run-2" in lines[-1]
    assert report.skipped_responses == 0
    assert report.responses == copy.read("bronze/raw_responses").height
    assert set(after) == set(before)
    for name, df in before.items():
        assert df.height > 0 or name.startswith("quality/"), name
        assert after[name].equals(df), name
    # the data the comparison is about: deletions, edits and quarantined cut bodies are there
    assert before["silver/posts"]["is_deleted"].sum() > 0
    assert before["quarantine/rows"].height > 0
    assert before["silver/post_metrics"].height > before["silver/posts"].height


def test_replay_over_existing_silver_changes_nothing(collected, tmp_path: Path) -> None:
    lake, before = collected
    copy = Lake(str(tmp_path / "lake"))
    shutil.copytree(lake.uri, copy.uri)
    report = replay(copy, run_ids=["run-1", "run-2"], registry=REGISTRY)
    assert report.runs == ["run-1", "run-2"] and not report.full
    after = _tables(copy)
    for name, df in before.items():
        assert after[name].equals(df), name
    # a full replay keeps the old version readable by time travel
    version = copy.delta("silver/posts").version()  # type: ignore[union-attr]
    replay(copy, registry=REGISTRY)
    assert (
        copy.scan("silver/posts", version=version).collect().height == before["silver/posts"].height
    )
    assert _tables(copy)["silver/posts"].equals(before["silver/posts"])


def test_replay_of_an_unknown_run_is_a_clear_error(collected) -> None:
    lake, _ = collected
    with pytest.raises(LakeError, match="no responses of run"):
        replay(lake, run_ids=["nope"])


def test_replay_command(collected, tmp_path: Path) -> None:
    lake, before = collected
    copy = tmp_path / "lake"
    shutil.copytree(lake.uri, copy)
    shutil.rmtree(copy / "silver")
    since = datetime.now(UTC) + timedelta(days=1)
    res = CliRunner().invoke(
        app, ["replay", "--lake", str(copy), "--since", since.date().isoformat()]
    )
    assert res.exit_code == 0, res.output
    assert "nothing to replay" in res.output
    res = CliRunner().invoke(app, ["replay", "--lake", str(copy), "--run", "nope"])
    assert res.exit_code == 2 and "no responses of run(s) nope" in res.output
    res = CliRunner().invoke(app, ["replay", "--lake", str(copy)])
    assert res.exit_code == 0, res.output
    assert "3 runs" in res.output and "[3/3]" in res.output
    assert Lake(str(copy)).read("silver/posts").sort("platform", "post_id").height == (
        before["silver/posts"].height
    )
