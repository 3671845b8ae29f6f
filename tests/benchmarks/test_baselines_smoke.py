"""The pipeline benchmark's baselines on a tiny simulated Bluesky: each reads every page of every
actor's author feed and writes exactly the world's posts to its Delta table. Nothing is timed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from benchmarks.worlds import registry  # noqa: E402
from hhs_platform.sandbox import SandboxThread, World  # noqa: E402

PAGE = 50


@dataclass(frozen=True)
class Served:
    base_url: str
    actors_file: Path
    truth: pl.DataFrame  # the posts the world serves (post_id, account_id, post_type, ...)
    pages: int  # getAuthorFeed pages to read at PAGE items a page


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = World(registry(3, platforms=("bluesky",)), platforms=("bluesky",))
    truth = world.truth()["posts"]
    per_account = truth.group_by("account_id").len()["len"].to_list()
    pages = sum(max(1, math.ceil(n / PAGE)) for n in per_account)
    actors_file = tmp_path_factory.mktemp("baselines") / "actors.txt"
    actors_file.write_text("".join(f"{a.handle}\n" for a in world.platform_accounts("bluesky")))
    with SandboxThread(world) as sandbox:
        yield Served(sandbox.url("bluesky"), actors_file, truth, pages)


def _run(name: str, served: Served, tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    out, result = tmp_path / name, tmp_path / f"{name}.json"
    argv = [sys.executable, "-m", f"benchmarks.baselines.{name}", "--base-url", served.base_url]
    argv += ["--actors-file", str(served.actors_file), "--out", str(out)]
    argv += ["--result", str(result), "--page-size", str(PAGE)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(result.read_text())


def _check_counts(report: dict, served: Served, name: str) -> None:
    assert report["name"] == name
    assert report["posts"] == report["rows_in_table"] == served.truth.height
    assert report["pages"] == served.pages
    assert report["wall_s"] > 0 and report["cpu_s"] > 0 and report["peak_rss_mib"] > 0


def test_naive_writes_every_post_of_the_world_once(served: Served, tmp_path: Path) -> None:
    report = _run("naive", served, tmp_path)
    _check_counts(report, served, "naive")

    table = pl.from_arrow(DeltaTable(str(tmp_path / "naive" / "posts")).to_pyarrow_table())
    assert isinstance(table, pl.DataFrame)
    assert table["post_id"].n_unique() == table.height
    assert sorted(table["post_id"]) == sorted(served.truth["post_id"])
    # each row is the right account's, of the right kind and time (reposts: the repost's own)
    columns = ["post_id", "account_id", "post_type", "created_at"]
    got = table.select(columns).sort("post_id")
    assert got.equals(served.truth.select(columns).sort("post_id"))
    # and the engagement counters are the ones the world serves (reposts carry none)
    likes = table.select("post_id", pl.col("likes").cast(pl.Int64)).sort("post_id")
    assert likes.equals(served.truth.select("post_id", "likes").sort("post_id"))


@pytest.mark.slow
def test_dlt_rest_writes_every_post_of_the_world_once(served: Served, tmp_path: Path) -> None:
    pytest.importorskip("dlt", reason="the bench extra (dlt) is not installed")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    report = _run("dlt_rest", served, tmp_path, env)
    _check_counts(report, served, "dlt_rest")

    table = pl.from_arrow(DeltaTable(str(tmp_path / "dlt_rest" / "posts")).to_pyarrow_table())
    assert isinstance(table, pl.DataFrame)
    # dlt keeps each feed item as it came, flattened: a repost's own id is its reason's uri
    if "reason__uri" in table.columns:
        ids = table.select(pl.coalesce("reason__uri", "post__uri").alias("id"))["id"]
    else:
        ids = table["post__uri"]
    assert ids.n_unique() == table.height
    assert sorted(ids) == sorted(served.truth["post_id"])
    # dlt's working directory was temporary: nothing in ~/.dlt, nothing beside the output
    assert not (home / ".dlt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dlt_rest", "dlt_rest.json", "home"]


def test_dlt_rest_without_dlt_says_how_to_install_it(served: Served, tmp_path: Path) -> None:
    # the interpreter cannot import dlt (as without the bench extra)
    code = (
        "import runpy, sys; sys.modules['dlt'] = None; sys.argv[0] = 'dlt_rest'; "
        "runpy.run_module('benchmarks.baselines.dlt_rest', run_name='__main__')"
    )
    argv = [sys.executable, "-c", code, "--base-url", served.base_url]
    argv += ["--actors-file", str(served.actors_file), "--out", str(tmp_path / "out")]
    argv += ["--result", str(tmp_path / "result.json")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        'dlt is not installed: install the benchmark extra with `pip install -e ".[bench]"`'
    ]
    assert not (tmp_path / "result.json").exists()
