"""`hhs quality audit` as a user runs it, after a chaos run: the figures it prints are exactly
``compare_with_truth``'s, from a truth file, from the live sandbox, or from the demo's default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chaos_run
import pytest

from hhs_platform.lake import Lake
from hhs_platform.quality.accuracy import compare_with_truth
from hhs_platform.quality.audit import FIELDS
from hhs_platform.sandbox import SandboxThread, truth_to_json

HHS = str(Path(sys.executable).with_name("hhs"))


@pytest.fixture(scope="module")
def chaos(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SandboxThread, chaos_run.Run, Path]]:
    """One account per platform collected under chaos; the sandbox keeps serving its truth."""
    tmp = tmp_path_factory.mktemp("audit")
    accounts = chaos_run.registry(1)
    with chaos_run.sandbox(accounts, chaos_run.chaos_profile(5)) as sb:
        run = chaos_run.collect(sb, Lake(str(tmp / "lake")), accounts, "audit-1")
        truth_file = tmp / "truth.json"
        truth_file.write_text(json.dumps(truth_to_json(run.truth, sb.world.now())))
        yield sb, run, truth_file


def _hhs(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HHS_")}
    return subprocess.run(
        [HHS, "quality", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def _table(stdout: str) -> dict[str, dict[str, str]]:
    """The first table's rows by platform, cells by column name."""
    lines = stdout.splitlines()
    head = lines[1].split()
    rows = {}
    for line in lines[3:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = dict(zip(head, cells, strict=False))
    return rows


def _pct(v: float) -> str:
    return f"{v:.2%}"


def _assert_prints(stdout: str, report: list[dict[str, Any]]) -> None:
    rows = _table(stdout)
    assert set(rows) == {r["platform"] for r in report} | {"all"}
    for r in report:
        row = rows[r["platform"]]
        assert row["posts"] == str(r["posts_expected"])
        assert row["found"] == str(r["posts_found"])
        assert row["recall"] == _pct(r["recall"])
        assert row["dup"] == str(r["duplicate_keys"])
        for f in FIELDS:
            assert row[f.replace("posts_count", "posts_n")] == _pct(r[f"{f}_accuracy"]), f


def test_audit_json_equals_compare_with_truth(chaos) -> None:
    _, run, truth_file = chaos
    res = _hhs("--lake", run.lake.uri, "--truth", str(truth_file), "--json")
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    report = compare_with_truth(run.lake, run.truth)
    assert len(printed["platforms"]) == len(report) == len(chaos_run.PLATFORMS)
    for got, want in zip(printed["platforms"], report, strict=True):
        assert {k: got[k] for k in want} == want
        assert got["duplicate_rate"] == 0.0 and got["recall"] == 1.0
    # the quarantine holds the chaos run's cut bodies and broken items, by platform and class
    quarantined = run.lake.read("quarantine/rows")
    assert printed["totals"]["quarantined"] == quarantined.height > 0
    classes = {c for counts in printed["quarantine"].values() for c in counts}
    assert classes <= {"truncated_body", "null_id", "bad_timestamp", "wrong_type"}, classes
    assert printed["totals"]["recall"] == 1.0 and printed["totals"]["worst_accuracy"] == 1.0


def test_audit_table_from_the_live_sandbox_prints_the_same_figures(chaos) -> None:
    sb, run, _ = chaos
    res = _hhs("--lake", run.lake.uri, "--sandbox", sb.base_url)
    assert res.returncode == 0, res.stderr
    _assert_prints(res.stdout, compare_with_truth(run.lake, run.truth))
    assert "Quarantine rows by reason class" in res.stdout


def test_audit_without_arguments_reads_the_demo_truth_and_fails_on_a_lost_post(
    chaos, tmp_path
) -> None:
    _, run, truth_file = chaos
    # What `hhs demo` leaves behind: .hhs/truth.json naming its lake; here with one post more
    # than the lake holds, as if collection had lost it.
    payload = json.loads(truth_file.read_text())
    lost = {**payload["posts"][0], "post_id": payload["posts"][0]["post_id"] + "-lost"}
    payload["posts"].append(lost)
    payload["lake_uri"] = run.lake.uri
    (tmp_path / ".hhs").mkdir()
    (tmp_path / ".hhs" / "truth.json").write_text(json.dumps(payload))
    res = _hhs(cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    platform = lost["platform"]
    row = _table(res.stdout)[platform]
    want = next(r for r in compare_with_truth(run.lake, run.truth) if r["platform"] == platform)
    assert row["posts"] == str(want["posts_expected"] + 1)
    assert row["found"] == str(want["posts_found"])
    assert row["recall"] == _pct(want["posts_found"] / (want["posts_expected"] + 1))
    assert f"below threshold: {platform}: recall" in res.stderr
    # lower bars pass the same lake (the lost post's counters count against accuracy too)
    assert _hhs("--min-recall", "0.9", "--min-accuracy", "0.9", cwd=tmp_path).returncode == 0
