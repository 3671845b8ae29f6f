"""The backup drill: back up a real lake (local and on S3), destroy it, restore it elsewhere, and
prove with checksums and table-by-table equality that nothing was lost; incremental copies,
corruption detection, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.errors import BackupError
from hhs_platform.lake import Lake
from hhs_platform.lake.backup import (
    backup,
    frame_checksum,
    load_manifest,
    restore,
    table_checksum,
    verify,
    verify_backup,
)
from hhs_platform.lake.maintenance import maintain
from schemas import CATALOGUE, table_spec


def _snapshot(lake: Lake) -> dict[str, pl.DataFrame]:
    """Every existing table, sorted by its keys."""
    return {
        name: lake.read(name).sort(list(table_spec(name).keys))
        for name in CATALOGUE
        if lake.exists(name)
    }


def _files(root: Path) -> set[str]:
    """The table files under a backup (not its manifests)."""
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return {f for f in files if not f.startswith("_backup/")}


def _small_lake(
    uri: str, synthetic_rows: Any, storage_options: dict[str, str] | None = None
) -> Lake:
    """A few tables with several versions each (append, merge, overwrite)."""
    lake = Lake(uri, storage_options or {})
    lake.append("bronze/fetch_log", synthetic_rows("bronze/fetch_log", 5))
    lake.append("bronze/fetch_log", synthetic_rows("bronze/fetch_log", 5, start=5))
    lake.merge("silver/posts", synthetic_rows("silver/posts", 6))
    lake.merge("silver/posts", synthetic_rows("silver/posts", 4, start=4, tag="-v2"))
    lake.overwrite("silver/campaign_items", synthetic_rows("silver/campaign_items", 3))
    return lake


def test_the_drill_local_to_local(tmp_path: Path, collect_into: Any) -> None:
    lake = Lake(str(tmp_path / "lake"), {})
    collect_into(lake, run_id="run-1")
    dest = str(tmp_path / "backup")
    lines: list[str] = []

    first = backup(lake, dest, progress=lines.append)
    assert first.number == 1 and set(first.tables) == {n for n in CATALOGUE if lake.exists(n)}
    assert first.copied_files == first.files > 0  # a first backup copies everything
    assert len(lines) == len(first.tables) + 1 and "backup #1" in lines[-1]
    after_run_1 = _snapshot(lake)

    # more writes, then a second backup copies only the files the backup lacks
    collect_into(lake, run_id="run-2")
    backed_up = _files(tmp_path / "backup")
    second = backup(lake, dest)
    new_files = _files(tmp_path / "backup") - backed_up
    assert second.number == 2
    assert second.copied_files == len(new_files) > 0
    assert second.copied_files < second.files  # the run-1 files were not copied again
    assert backup(lake, dest).copied_files == 0  # nothing changed since: nothing copied

    expected = _snapshot(lake)
    posts_version = lake.version("silver/posts")
    assert posts_version is not None and posts_version >= 2
    old_posts = lake.scan("silver/posts", version=posts_version - 1).collect()
    checksums = {n: table_checksum(lake, n) for n in expected}
    assert verify_backup(dest).failed == []

    shutil.rmtree(tmp_path / "lake")  # the disaster

    report = restore(dest, str(tmp_path / "restored"))
    assert report.verify is not None and not report.verify.failed
    assert len(report.verify.checks) == len(expected)
    restored = Lake(str(tmp_path / "restored"), {})
    for name, df in expected.items():
        assert restored.read(name).sort(list(table_spec(name).keys)).equals(df), name
        assert table_checksum(restored, name) == checksums[name], name
    # time travel: a version present in the backup still reads as it did
    assert restored.version("silver/posts") == posts_version
    assert restored.scan("silver/posts", version=posts_version - 1).collect().equals(old_posts)
    verify(restored, Lake(dest, {}))

    # an older backup restores the lake as it was then
    restore(dest, str(tmp_path / "as-of-1"), version=1)
    as_of_1 = Lake(str(tmp_path / "as-of-1"), {})
    for name, df in after_run_1.items():
        assert as_of_1.read(name).sort(list(table_spec(name).keys)).equals(df), name
        assert as_of_1.version(name) == first.tables[name].version


def test_the_drill_local_to_s3_and_back(
    tmp_path: Path, s3_bucket: Any, synthetic_rows: Any
) -> None:
    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    expected = _snapshot(lake)
    dest = s3_bucket.uri("backups/lake")

    manifest = backup(lake, dest, s3_bucket.options)
    assert manifest.copied_files == manifest.files > 0
    assert load_manifest(dest, s3_bucket.options).tables == manifest.tables
    verify_backup(dest, s3_bucket.options)
    shutil.rmtree(tmp_path / "lake")

    # back to a local folder, and to another S3 prefix
    restore(dest, str(tmp_path / "restored"), backup_storage_options=s3_bucket.options)
    to_s3 = s3_bucket.uri("restored")
    restore(
        dest,
        to_s3,
        backup_storage_options=s3_bucket.options,
        target_storage_options=s3_bucket.options,
    )
    for target in (Lake(str(tmp_path / "restored"), {}), Lake(to_s3, s3_bucket.options)):
        assert _snapshot(target).keys() == expected.keys()
        for name, df in expected.items():
            assert target.read(name).sort(list(table_spec(name).keys)).equals(df), name
        assert target.scan("silver/posts", version=1).collect().height == 6
    verify(Lake(str(tmp_path / "restored"), {}), Lake(to_s3, s3_bucket.options))


def test_a_damaged_backup_fails_verification_naming_the_table(
    tmp_path: Path, synthetic_rows: Any
) -> None:
    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    dest = tmp_path / "backup"
    backup(lake, str(dest))
    victim = Lake(str(dest), {}).delta("silver/posts")
    assert victim is not None
    path = Path(victim.file_uris()[0].removeprefix("file://"))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))

    with pytest.raises(BackupError) as info:
        verify_backup(str(dest))
    assert info.value.tables == ["silver/posts"]
    assert "silver/posts" in str(info.value)
    # the untouched tables still verify; a restore of the damaged table is refused the same way
    assert verify_backup(str(dest), tables=["bronze/fetch_log", "silver/campaign_items"])
    with pytest.raises(BackupError, match="silver/posts"):
        restore(str(dest), str(tmp_path / "restored"))


def test_a_deleted_backup_file_fails_verification(tmp_path: Path, synthetic_rows: Any) -> None:
    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    dest = tmp_path / "backup"
    backup(lake, str(dest))
    victim = Lake(str(dest), {}).delta("bronze/fetch_log")
    assert victim is not None
    Path(victim.file_uris()[0].removeprefix("file://")).unlink()
    with pytest.raises(BackupError) as info:
        verify_backup(str(dest))
    assert info.value.tables == ["bronze/fetch_log"]


def test_checksums_ignore_row_order_and_file_layout(tmp_path: Path, synthetic_rows: Any) -> None:
    df = synthetic_rows("silver/posts", 50)
    assert frame_checksum(df) == frame_checksum(df.reverse())
    assert frame_checksum(df) == frame_checksum(df.sample(fraction=1.0, shuffle=True, seed=3))
    changed = df.with_columns(
        pl.when(pl.col("post_id") == "post_id-7")
        .then(1)
        .otherwise(pl.col("media_count"))
        .alias("media_count")
    )
    assert frame_checksum(changed) != frame_checksum(df)
    assert frame_checksum(df.head(49)).rows == 49
    assert frame_checksum(pl.concat([df, df.head(1)])) != frame_checksum(df)  # a duplicate counts

    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    before = {n: table_checksum(lake, n) for n in ("bronze/fetch_log", "silver/posts")}
    assert not maintain(lake, list(before), retention_hours=0).failed  # rewrites every file
    assert {n: table_checksum(lake, n) for n in before} == before


def test_a_recreated_table_or_an_occupied_target_is_refused(
    tmp_path: Path, synthetic_rows: Any
) -> None:
    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    dest = str(tmp_path / "backup")
    backup(lake, dest)
    shutil.rmtree(tmp_path / "lake" / "bronze" / "fetch_log")
    lake.append("bronze/fetch_log", synthetic_rows("bronze/fetch_log", 2, start=100))
    with pytest.raises(BackupError, match="recreated") as info:
        backup(lake, dest)
    assert info.value.tables == ["bronze/fetch_log"]

    with pytest.raises(BackupError, match="already holds"):
        restore(dest, str(tmp_path / "lake"))


def test_the_backup_commands(
    tmp_path: Path, synthetic_rows: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hhs_platform.settings import get_settings

    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    monkeypatch.setenv("HHS_LAKE_URI", lake.uri)
    monkeypatch.setenv("HHS_LAKE_STORAGE_OPTIONS", json.dumps({}))
    monkeypatch.setenv("HHS_BACKUP_URI", str(tmp_path / "backup"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ran = runner.invoke(app, ["backup", "run"])
        assert ran.exit_code == 0, ran.output
        assert "silver/posts" in ran.output and "backup #1" in ran.output
        assert ran.output.count(" ok  v") == 3  # verified after copying

        listed = runner.invoke(app, ["backup", "list"])
        assert listed.exit_code == 0 and listed.output.startswith("#1 ")

        to = str(tmp_path / "restored")
        restored = runner.invoke(app, ["restore", "--to", to])
        assert restored.exit_code == 0, restored.output
        assert "restored backup #1" in restored.output
        assert _snapshot(Lake(to, {})).keys() == _snapshot(lake).keys()

        victim = Lake(str(tmp_path / "backup"), {}).delta("silver/campaign_items")
        assert victim is not None
        Path(victim.file_uris()[0].removeprefix("file://")).write_bytes(b"not parquet")
        checked = runner.invoke(app, ["backup", "verify", "--from", str(tmp_path / "backup")])
        assert checked.exit_code == 2
        assert "silver/campaign_items" in checked.output
    finally:
        get_settings.cache_clear()


def test_prefect_yaml_schedules_a_nightly_backup() -> None:
    import importlib
    import inspect

    import yaml

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "prefect.yaml").read_text())
    d = {x["name"]: x for x in config["deployments"]}["nightly-backup"]
    module_path, _, func = d["entrypoint"].partition(":")
    flow = getattr(importlib.import_module(module_path.removesuffix(".py").replace("/", ".")), func)
    assert flow.name == "hhs-backup"
    assert set(d["parameters"]) <= set(inspect.signature(flow.fn).parameters)
    assert d["schedules"] == [
        {"cron": "30 1 * * *", "timezone": "America/New_York", "active": True}
    ]
    assert d["concurrency_limit"] == 1


@pytest.mark.slow
def test_the_backup_flow_copies_and_verifies(
    prefect_harness: None, tmp_path: Path, synthetic_rows: Any
) -> None:
    from flows.backup import backup_flow

    lake = _small_lake(str(tmp_path / "lake"), synthetic_rows)
    dest = str(tmp_path / "backup")
    rows = backup_flow(dest_uri=dest, lake_uri=lake.uri)
    # ops/runs: the audit trail already holds this backup run (running)
    assert sorted(r["table"] for r in rows) == [
        "bronze/fetch_log",
        "ops/runs",
        "silver/campaign_items",
        "silver/posts",
    ]
    assert {r["table"]: r["rows"] for r in rows}["silver/posts"] == 8
    assert load_manifest(dest).number == 1
    # the second night copies nothing new but the audit trail of the runs themselves
    again = backup_flow(dest_uri=dest, lake_uri=lake.uri)
    copied = {r["table"] for r in again if r["copied_files"]}
    assert copied <= {"ops/runs", "ops/changes"}
    assert sum(r["copied_files"] for r in again if r["table"].startswith("silver/")) == 0
