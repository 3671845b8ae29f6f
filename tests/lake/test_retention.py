"""Retention over a real Delta lake: exactly the rows older than each table's window are deleted,
the archive lake receives exactly those rows, a second run is a no-op, and `hhs retention`
reports per table."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.lake.retention import apply_retention, cutoff_for
from schemas import table_spec

BRONZE = "bronze/raw_responses"
QUARANTINE = "quarantine/rows"
SNAPSHOTS = "silver/account_snapshots"
NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def _bronze(day: int, n: int, platform: str = "bluesky") -> pl.DataFrame:
    """``n`` responses fetched ``day`` days before NOW (spread over the day's hours)."""
    rows = []
    for i in range(n):
        at = (NOW - timedelta(days=day)).replace(hour=i % 24, minute=i % 60)
        body = f'{{"feed": [{i}], "day": {day}}}'.encode()
        rows.append(
            {
                "response_id": hashlib.sha256(f"{platform}{day}{i}".encode()).hexdigest(),
                "run_id": f"run-{day}",
                "platform": platform,
                "endpoint": "app.bsky.feed.getAuthorFeed",
                "account_key": f"{platform}:acct{i % 3}",
                "request_url": "https://example.org/x",
                "status": 200,
                "headers": "{}",
                "body": body,
                "payload_hash": hashlib.sha256(body).hexdigest(),
                "fetched_at": at,
                "fetched_date": at.date(),
                "elapsed_ms": 12.0,
                "page": i,
                "connector_version": "1",
            }
        )
    return pl.DataFrame(rows, schema=table_spec(BRONZE).schema)


def _quarantine(day: int, n: int) -> pl.DataFrame:
    at = NOW - timedelta(days=day, minutes=1)
    return pl.DataFrame(
        [
            {
                "table": "silver/posts",
                "row_hash": f"h{day}-{i}",
                "run_id": f"run-{day}",
                "response_id": None,
                "platform": "bluesky",
                "rules": ["likes: ge(0)"],
                "row": "{}",
                "quarantined_at": at,
            }
            for i in range(n)
        ],
        schema=table_spec(QUARANTINE).schema,
    )


def _snapshot(day: int) -> pl.DataFrame:
    at = NOW - timedelta(days=day)
    return pl.DataFrame(
        [
            {
                "run_id": "r",
                "response_id": "x",
                "connector_version": "1",
                "platform": "bluesky",
                "account_id": "did:1",
                "observed_at": at,
                "last_observed_at": at,
                "followers": day,
            }
        ]
    ).match_to_schema(table_spec(SNAPSHOTS).schema, missing_columns="insert")


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """Bronze over 12 days (two platforms), quarantine over 8, one silver series (no policy)."""
    lake = Lake(str(tmp_path / "hot"))
    for day in range(12):
        lake.append(BRONZE, _bronze(day, 5 + day))
        lake.append(BRONZE, _bronze(day, 2, platform="mastodon"))
    for day in range(8):
        lake.append(QUARANTINE, _quarantine(day, 3))
        lake.append(SNAPSHOTS, _snapshot(day * 30))
    return lake


POLICY = {BRONZE: 5, QUARANTINE: 3}


def _sorted(df: pl.DataFrame, table: str) -> pl.DataFrame:
    return df.sort(list(table_spec(table).keys))


def test_retention_deletes_exactly_the_expired_rows_and_archives_them(lake: Lake, tmp_path: Path):
    archive = Lake(str(tmp_path / "cold"))
    before = {t: lake.read(t) for t in (BRONZE, QUARANTINE, SNAPSHOTS)}
    cut_b, cut_q = cutoff_for(5, NOW), cutoff_for(3, NOW)
    assert cut_b == datetime(2026, 11, 24, tzinfo=UTC)  # whole UTC days
    old_b = before[BRONZE].filter(pl.col("fetched_at") < cut_b)
    old_q = before[QUARANTINE].filter(pl.col("quarantined_at") < cut_q)
    # days 6..11 (day 5 starts at the cutoff itself and is kept): (11+...+16) + 6 x 2 mastodon
    assert old_b.height == sum(5 + d for d in range(6, 12)) + 6 * 2 == 93
    assert old_q.height == 4 * 3  # days 4..7 (day 3 at 03:59 is after the 26th's midnight)

    report = apply_retention(lake, POLICY, NOW, archive=archive)

    by = {t.table: t for t in report.tables}
    assert not report.failed
    assert (by[BRONZE].rows_expired, by[BRONZE].rows_deleted, by[BRONZE].rows_archived) == (93,) * 3
    assert (by[QUARANTINE].rows_deleted, by[QUARANTINE].rows_archived) == (12, 12)
    # the partition predicate drops whole day files: 6 days x 2 platforms, one file each
    assert by[BRONZE].files_removed == 12
    # hot: exactly the rows inside the window are left
    assert _sorted(lake.read(BRONZE), BRONZE).equals(
        _sorted(before[BRONZE].filter(pl.col("fetched_at") >= cut_b), BRONZE)
    )
    assert _sorted(lake.read(QUARANTINE), QUARANTINE).equals(
        _sorted(before[QUARANTINE].filter(pl.col("quarantined_at") >= cut_q), QUARANTINE)
    )
    # a table the policy does not name is kept whole (its oldest row is 210 days old)
    assert lake.read(SNAPSHOTS).height == before[SNAPSHOTS].height == 8
    # archive: exactly the deleted rows, bodies included
    assert _sorted(archive.read(BRONZE), BRONZE).equals(_sorted(old_b, BRONZE))
    assert _sorted(archive.read(QUARANTINE), QUARANTINE).equals(_sorted(old_q, QUARANTINE))
    # the default vacuum keeps the time-travel window: the version before still has the rows
    version = lake.version(BRONZE)
    assert version is not None
    assert lake.scan(BRONZE, version=version - 1).collect().height == before[BRONZE].height

    # a second run finds nothing: no new commit anywhere, the archive unchanged
    versions = {t: lake.version(t) for t in (BRONZE, QUARANTINE)}
    again = apply_retention(lake, POLICY, NOW, archive=archive)
    assert [(t.rows_expired, t.rows_deleted, t.rows_archived) for t in again.tables] == [
        (0, 0, 0)
    ] * 2
    assert {t: lake.version(t) for t in (BRONZE, QUARANTINE)} == versions
    assert archive.read(BRONZE).height == 93


def test_dry_run_counts_and_changes_nothing(lake: Lake) -> None:
    versions = {t: lake.version(t) for t in POLICY}
    report = apply_retention(lake, POLICY, NOW, dry_run=True)
    assert [(t.table, t.rows_expired, t.rows_deleted) for t in report.tables] == [
        (BRONZE, 93, 0),
        (QUARANTINE, 12, 0),
    ]
    assert {t: lake.version(t) for t in POLICY} == versions
    assert "93 rows would be deleted" in report.render()


def test_interrupted_archive_is_not_duplicated(lake: Lake, tmp_path: Path) -> None:
    """A run that archived part of the rows, then died before the DELETE, is repeated safely."""
    archive = Lake(str(tmp_path / "cold"))
    old = lake.read(BRONZE).filter(pl.col("fetched_at") < cutoff_for(5, NOW))
    archive.append(BRONZE, old.head(40))
    report = apply_retention(lake, {BRONZE: 5}, NOW, archive=archive)
    assert report.tables[0].rows_archived == 53 and report.tables[0].rows_deleted == 93
    assert _sorted(archive.read(BRONZE), BRONZE).equals(_sorted(old, BRONZE))


def test_purge_removes_the_files_at_once(lake: Lake) -> None:
    files = {p for p in Path(lake.path(BRONZE)).rglob("*.parquet") if "_delta_log" not in p.parts}
    report = apply_retention(lake, {BRONZE: 5}, NOW, purge=True)
    entry = report.tables[0]
    assert entry.files_vacuumed == entry.files_removed == 12
    left = {p for p in Path(lake.path(BRONZE)).rglob("*.parquet") if "_delta_log" not in p.parts}
    assert len(files) - len(left) == 12
    # nothing older than the window on disk: every remaining file's rows are inside it
    cut = cutoff_for(5, NOW).date()
    assert all(pl.read_parquet(p)["page"].len() > 0 for p in left)
    assert all(str(p.parent.name).removeprefix("fetched_date=") >= cut.isoformat() for p in left)
    dt = DeltaTable(lake.path(BRONZE))
    assert len(dt.file_uris()) == len(left)


def test_a_bad_policy_is_refused(lake: Lake) -> None:
    with pytest.raises(ConfigurationError, match="unknown table"):
        apply_retention(lake, {"bronze/raw_respones": 5}, NOW)
    with pytest.raises(ConfigurationError, match="at least 1 day"):
        apply_retention(lake, {BRONZE: 0}, NOW)
    with pytest.raises(ConfigurationError, match="no retention window"):
        apply_retention(lake, POLICY, NOW, tables=[SNAPSHOTS])


def test_cli_retention_applies_the_default_policy(tmp_path: Path) -> None:
    """`hhs retention` with HHS_RETENTION_DAYS' default: bronze kept 400 days."""
    lake = Lake(str(tmp_path / "hot"))
    now = datetime.now(UTC)
    old = _bronze(0, 3).with_columns(
        fetched_at=pl.lit(now - timedelta(days=500)),
        fetched_date=pl.lit((now - timedelta(days=500)).date()),
    )
    lake.append(BRONZE, old)
    lake.append(
        BRONZE, _bronze(0, 4).with_columns(fetched_at=pl.lit(now), fetched_date=pl.lit(now.date()))
    )
    runner = CliRunner()
    args = ["retention", "--lake", lake.uri, "--archive", str(tmp_path / "cold")]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "3 rows would be deleted" in dry.output and lake.read(BRONZE).height == 7
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "bronze/raw_responses" in result.output and "3 archived, 3 deleted" in result.output
    assert lake.read(BRONZE).height == 4
    assert Lake(str(tmp_path / "cold")).read(BRONZE).height == 3
