"""The audit trail on real Delta tables: every commit lands in ops/changes with its row counts and
author, runs in ops/runs with their code version and outcome, and a privacy deletion stays
accountable after its purge removed the Delta log entries."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.lake import Lake, audit
from hhs_platform.lake.privacy import AUDIT, forget
from hhs_platform.settings import get_settings
from schemas import CATALOGUE, table_spec

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SUBJECT_ID = "did:plc:subject4242"
SUBJECT_HANDLE = "subject4242.example"


def _probes(n: int, start: datetime) -> pl.DataFrame:
    rows = [
        {
            "url": f"https://dash.example/{i}",
            "checked_at": start + timedelta(minutes=i),
            "ok": True,
            "status": 200,
            "elapsed_ms": 10.0,
            "error": None,
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=table_spec("ops/probes").schema)


def _slo(scopes: list[str], good: int) -> pl.DataFrame:
    rows = [
        {
            "date": NOW.date(),
            "slo": "collection_success",
            "scope": s,
            "target": 0.99,
            "good": good,
            "total": 10,
            "value": good / 10,
            "met": good >= 10,
            "window_days": 28,
            "budget_burned": 0.0,
            "computed_at": NOW,
        }
        for s in scopes
    ]
    return pl.DataFrame(rows, schema=table_spec("ops/slo").schema)


def _log(lake: Lake, table: str) -> list[dict]:
    """A table's commits as its Delta log holds them (the ground truth), oldest first."""
    return sorted(DeltaTable(lake.path(table)).history(), key=lambda c: c["version"])


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    """Set HHS_* variables for one test (the settings and code version are cached)."""

    def set_env(**values: str) -> None:
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        audit.code_version.cache_clear()

    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()
    audit.code_version.cache_clear()


def test_every_commit_is_recorded_with_its_rows_and_author(tmp_path: Path, settings_env) -> None:
    settings_env(HHS_ACTOR="svc-collector", HHS_CODE_VERSION="0123abc")
    lake = Lake(str(tmp_path / "lake"))
    with audit.acting(actor="alice", command="import", reason="backfill ticket 7"):
        lake.append("ops/probes", _probes(3, NOW - timedelta(days=100)))
    lake.append("ops/probes", _probes(2, NOW))
    lake.merge("ops/slo", _slo(["all", "x"], good=9))
    lake.merge("ops/slo", _slo(["x", "bluesky"], good=10))  # one updated, one inserted
    from hhs_platform.lake.retention import apply_retention

    apply_retention(lake, {"ops/probes": 30}, now=NOW)  # deletes the 3 old probes, records

    changes = lake.read("ops/changes").sort("table", "version")
    # one row per commit of each table's log, nothing else (the audit tables are not audited)
    want = {(t, c["version"]) for t in ("ops/probes", "ops/slo") for c in _log(lake, t)}
    assert set(zip(changes["table"], changes["version"], strict=True)) == want
    probes = changes.filter(table="ops/probes")
    assert probes["operation"].to_list() == ["WRITE", "WRITE", "DELETE"]
    assert probes["rows_added"].to_list() == [3, 2, None]
    assert probes["rows_deleted"].to_list() == [None, None, 3]
    assert lake.read("ops/probes").height == 2
    first, second, deleted = probes.to_dicts()
    assert (first["actor"], first["command"], first["reason"]) == (
        "alice",
        "import",
        "backfill ticket 7",
    )
    assert second["actor"] == "svc-collector"  # HHS_ACTOR outside any block
    assert deleted["reason"] == "retention: rows before 2026-10-30"
    assert set(changes["code_version"]) == {"0123abc"}
    slo = changes.filter(table="ops/slo", operation="MERGE")
    assert slo.select("rows_added", "rows_updated").rows() == [(2, 0), (1, 1)]
    # the Delta log itself carries the same author
    assert _log(lake, "ops/probes")[0]["hhs.actor"] == "alice"

    # recording again adds nothing; a table dropped and created again starts at version 0 anew
    assert audit.record_changes(lake) == 0
    shutil.rmtree(lake.path("ops/probes"))
    lake.append("ops/probes", _probes(1, NOW))
    assert audit.record_changes(lake) == 1
    zeros = lake.read("ops/changes").filter(table="ops/probes", version=0)
    assert zeros["rows_added"].sort().to_list() == [1, 3]


def test_a_run_is_recorded_with_its_outcome_and_its_workers_commits(
    tmp_path: Path, settings_env
) -> None:
    token = "xtok-AUDIT-9f8e7d6c5b4a"
    settings_env(HHS_X_BEARER_TOKEN=token, HHS_CODE_VERSION="feedbeef")
    lake = Lake(str(tmp_path / "lake"))
    params = {"lake_uri": lake.uri, "platforms": ["x"], "since": NOW}
    with audit.recorded_run(lake, "hhs-collect", params, run_id="run-a", actor="bob") as rec:
        running = lake.read("ops/runs").row(0, named=True)
        lake.append("ops/probes", _probes(2, NOW))
        # a Dask worker's commit knows only the flow run it belongs to
        write_deltalake(
            lake.path("ops/probes"),
            _probes(1, NOW + timedelta(hours=1)).to_arrow(),
            mode="append",
            commit_properties=CommitProperties(custom_metadata={"hhs.run_id": "run-a"}),
        )
    assert (running["status"], running["ended_at"]) == ("running", None)
    row = lake.read("ops/runs").row(0, named=True)
    assert row["status"] == "completed" and row["ended_at"] >= row["started_at"]
    assert (row["actor"], row["flow"], row["code_version"]) == ("bob", "hhs-collect", "feedbeef")
    assert json.loads(row["parameters"]) == {
        "lake_uri": lake.uri,
        "platforms": ["x"],
        "since": str(NOW),
    }
    assert row["package_version"] == audit.package_version()
    assert row["changes"] == rec.changes == len(_log(lake, "ops/probes"))
    mine = lake.read("ops/changes").filter(run_id="run-a").sort("version")
    assert mine.select("actor", "command", "rows_added").rows() == [
        ("bob", "hhs-collect", 2),
        ("bob", "hhs-collect", 1),  # filled from ops/runs
    ]

    with pytest.raises(RuntimeError), audit.recorded_run(lake, "hhs-gold", run_id="run-b"):
        raise RuntimeError(f"request refused for token {token}")
    failed = lake.read("ops/runs").filter(run_id="run-b").row(0, named=True)
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: request refused for token [secret]"
    assert failed["actor"] == audit.os_user()


def test_a_privacy_deletion_stays_accountable_after_its_purge(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    accounts = [
        {"platform": "bluesky", "account_id": SUBJECT_ID, "handle": SUBJECT_HANDLE},
        {"platform": "bluesky", "account_id": "did:plc:other", "handle": "other.example"},
    ]
    lake.merge(
        "silver/accounts",
        pl.DataFrame(
            [a | {"account_key": f"bluesky:{a['handle']}"} for a in accounts],
            schema={
                c: table_spec("silver/accounts").schema[c] for c in [*accounts[0], "account_key"]
            },
        ),
    )
    posts = [(SUBJECT_ID, "p1"), (SUBJECT_ID, "p2"), ("did:plc:other", "p3")]
    lake.merge(
        "silver/posts",
        pl.DataFrame(
            [{"platform": "bluesky", "account_id": a, "post_id": p} for a, p in posts],
            schema={c: pl.Utf8 for c in ("platform", "account_id", "post_id")},
        ),
    )
    report = forget(lake, f"bluesky:{SUBJECT_HANDLE}", reason="ticket 9", rebuild=False)

    request = lake.read(AUDIT).row(0, named=True)["request_id"]
    assert request == report.request_id
    deletes = lake.read("ops/changes").filter(operation="DELETE").sort("table")
    assert deletes.select("table", "rows_deleted", "reason").rows() == [
        ("silver/accounts", 1, f"privacy deletion {request}"),
        ("silver/posts", 2, f"privacy deletion {request}"),
    ]
    # the purge removed the DELETE from the tables' own logs: only ops/changes still has it
    for table in ("silver/accounts", "silver/posts"):
        assert all(c["operation"] != "DELETE" for c in _log(lake, table)), table
    # ... and the audit never names the subject (no predicate is copied)
    for table in audit.AUDIT_TABLES:
        text = lake.read(table).write_csv()
        assert SUBJECT_ID not in text and SUBJECT_HANDLE not in text, table

    result = CliRunner().invoke(
        app, ["audit", "history", "silver/posts", "--lake", lake.uri], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if "DELETE" in x]
    assert "-2" in line and f"privacy deletion {request}" in line and "[log entry gone]" in line


def test_audit_commands(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with audit.recorded_run(lake, "hhs-probe", {"n": 1}, run_id="run-c", actor="carol"):
        lake.append("ops/probes", _probes(4, NOW))
    lake.append("ops/probes", _probes(1, NOW))  # not recorded yet
    runner = CliRunner()

    def hhs(*args: str) -> str:
        result = runner.invoke(app, [*args, "--lake", lake.uri], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    (run,) = hhs("audit", "runs").splitlines()
    assert "hhs-probe" in run and "completed" in run and "carol" in run and "run-c" in run
    lines = hhs("audit", "changes", "--table", "ops/probes").splitlines()
    assert len(lines) == 2 and "[not yet in ops/changes]" in lines[0] and "+1" in lines[0]
    assert "+4" in lines[1] and "carol  hhs-probe" in lines[1] and "run run-c" in lines[1]
    rows = [json.loads(x) for x in hhs("audit", "changes", "--run", "run-c", "--json").splitlines()]
    assert [(r["table"], r["rows_added"]) for r in rows] == [("ops/probes", 4)]
    assert hhs("audit", "record").startswith("1 commits recorded")
    assert "[not yet" not in hhs("audit", "changes")

    bad = runner.invoke(app, ["audit", "history", "silver/nope", "--lake", lake.uri])
    assert bad.exit_code == 2 and "unknown table 'silver/nope'" in bad.output
    assert "ops/runs" in CATALOGUE and "ops/changes" in CATALOGUE


def test_code_version_from_a_checkout(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\n" + "a" * 40 + " refs/heads/main\n")
    assert audit._git_commit(tmp_path) == "a" * 40
    (git / "refs" / "heads" / "main").write_text("b" * 40 + "\n")  # loose ref wins
    assert audit._git_commit(tmp_path) == "b" * 40
    (git / "HEAD").write_text("c" * 40)  # detached
    assert audit._git_commit(tmp_path) == "c" * 40
    assert audit._git_commit(tmp_path / "nowhere") is None


@pytest.mark.slow
def test_a_prefect_flow_run_is_recorded(
    tmp_path: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from prefect import flow, task

    from hhs_platform.secrets import uninstall_redaction

    token = "audit-flow-fake-token-5c1e9a77"  # a fake credential
    monkeypatch.setenv("HHS_X_BEARER_TOKEN", token)
    get_settings.cache_clear()
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    keep = Keep()
    logging.getLogger("hhs-audit-check").addHandler(keep)

    @task
    def write(lake_uri: str, n: int) -> None:
        Lake(lake_uri).append("ops/probes", _probes(n, NOW))

    @flow(name="hhs-audit-check")
    @audit.audited
    def tiny(lake_uri: str, n: int = 2) -> int:
        logging.getLogger("hhs-audit-check").warning("calling with %s", token)
        write(lake_uri, n)
        return n

    lake = Lake(str(tmp_path / "lake"))
    try:
        state = tiny(lake_uri=lake.uri, return_state=True)
    finally:
        logging.getLogger("hhs-audit-check").removeHandler(keep)
        uninstall_redaction()
        get_settings.cache_clear()
    # every flow redacts the configured secrets from its log records
    assert seen == ["calling with ***"]
    assert state.result() == 2
    run_id = str(state.state_details.flow_run_id)
    row = lake.read("ops/runs").row(0, named=True)
    assert (row["run_id"], row["flow"], row["status"]) == (run_id, "hhs-audit-check", "completed")
    assert json.loads(row["parameters"]) == {"lake_uri": lake.uri, "n": 2}
    change = lake.read("ops/changes").filter(table="ops/probes").row(0, named=True)
    assert (change["run_id"], change["command"], change["rows_added"]) == (
        run_id,
        "hhs-audit-check",
        2,
    )
