"""Privacy deletion on a real lake collected from the simulated platforms: every row of the
subject leaves every table of the catalogue, other accounts' rows stay equal, aggregates are
rebuilt without it, no file or older version still holds it, and the audit keeps only a hash."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "pipeline"))

from landing import collect_from_sandbox, registry_rows  # noqa: E402
from sim_time import days_ago  # noqa: E402

from hhs_platform.analytics.anomalies import build_anomalies  # noqa: E402
from hhs_platform.analytics.forecasts import build_forecasts  # noqa: E402
from hhs_platform.cli import app  # noqa: E402
from hhs_platform.enrich import enrich_posts, link_campaigns  # noqa: E402
from hhs_platform.errors import ConfigurationError  # noqa: E402
from hhs_platform.lake import Lake  # noqa: E402
from hhs_platform.lake.privacy import AUDIT, forget, resolve_subject  # noqa: E402
from hhs_platform.quality.scorecard import build_quality  # noqa: E402
from hhs_platform.transforms.gold import build_gold  # noqa: E402
from schemas import CATALOGUE, table_spec  # noqa: E402

HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
REGISTRY = registry_rows(
    [
        ("HHS", HHS, None, "bluesky", "hhs.gov", None),
        ("CDC", CDC, "HHS", "bluesky", "cdc.gov", None),
        ("HHS", HHS, None, "mastodon", "hhs", None),
    ]
)
#: Columns that name an account, and the column naming a post.
ACCOUNT_COLUMNS = ("account_id", "author_id", "entity", "entity_id")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One collection of three accounts (CDC and HHS repost each other on Bluesky), with
    campaigns, gold, quality, anomalies and forecasts built: every derived table has rows."""
    tmp = tmp_path_factory.mktemp("privacy")
    landed = collect_from_sandbox(
        tmp,
        REGISTRY,
        lambda sb: {"bluesky_api_base": sb.url("bluesky"), "mastodon_api_base": sb.url("mastodon")},
        seed=7,
        sandbox_kwargs={"clock": days_ago(2)},  # see tests/sim_time.py
    )
    lake = landed.lake
    enrich_posts(lake)
    link_campaigns(lake)
    build_gold(lake)
    build_quality(lake, "run-1")
    build_anomalies(lake)
    build_forecasts(lake)
    lake.create_missing()
    return Path(lake.uri)


@pytest.fixture
def lake(built: Path, tmp_path: Path) -> Lake:
    shutil.copytree(built, tmp_path / "lake")
    return Lake(str(tmp_path / "lake"))


def _tables(lake: Lake) -> dict[str, pl.DataFrame]:
    return {name: lake.read(name) for name in CATALOGUE if lake.exists(name)}


def _about(df: pl.DataFrame, platform: str, ids: set[str], keys: set[str], posts: set[str]):
    """Rows of a table naming the subject, by an independent reading of its columns."""
    conds = [pl.col(c).is_in(list(ids)) for c in ACCOUNT_COLUMNS if c in df.columns]
    if "account_key" in df.columns:
        conds.append(pl.col("account_key").is_in(list(keys)))
    if "post_id" in df.columns:
        conds.append(pl.col("post_id").is_in(list(posts)))
    if not conds:
        return pl.lit(False)
    expr = pl.any_horizontal(conds)
    return (pl.col("platform") == platform) & expr if "platform" in df.columns else expr


def _sort(df: pl.DataFrame, name: str) -> pl.DataFrame:
    return df.sort(list(table_spec(name).keys), nulls_last=True)


def _files_with(root: Path, needle: bytes) -> set[Path]:
    """Files under root whose raw bytes contain needle (like grep -rl)."""
    return {p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()}


def _parquet_values_with(root: Path, needle: str) -> set[Path]:
    """Data files whose decoded values contain needle (compression cannot hide it)."""
    found = set()
    for p in root.rglob("*.parquet"):
        if "_delta_log" in p.parts:
            continue
        if needle in str(pq.read_table(p).to_pylist()):  # bodies print as b'...'
            found.add(p)
    return found


REBUILT = {
    "silver/campaign_items",
    "gold/weekly_account_metrics",
    "gold/agency_metrics",
    "gold/post_curves",
    "gold/trends",
    "gold/leaderboards",
    "gold/builds",
    "gold/daily_account_metrics",
    "gold/anomalies",
    "gold/forecasts",
    "gold/forecast_backtest",
}


def test_forget_removes_every_row_of_the_subject_and_no_other(lake: Lake) -> None:
    subject = resolve_subject(lake, "bluesky", "cdc.gov")
    cdc = lake.read("silver/accounts").filter(handle="cdc.gov")["account_id"].item()
    hhs = lake.read("silver/accounts").filter(handle="hhs.gov")["account_id"].item()
    assert subject.account_ids == tuple(sorted({"cdc.gov", cdc}))
    ids, keys = {cdc}, {"bluesky:cdc.gov"}
    posts = set(
        lake.read("silver/posts")
        .filter((pl.col("account_id") == cdc) | (pl.col("author_id") == cdc))["post_id"]
        .to_list()
    )
    before = _tables(lake)
    expected = {
        name: n
        for name, df in before.items()
        if name != AUDIT and (n := df.filter(_about(df, "bluesky", ids, keys, posts)).height)
    }
    # the subject is everywhere: silver, bronze, quality, gold, analytics
    assert {
        "bronze/raw_responses",
        "bronze/fetch_log",
        "silver/posts",
        "silver/post_metrics",
        "silver/post_features",
        "silver/campaign_items",
        "quality/scorecard",
        "gold/daily_account_metrics",
        "gold/leaderboards",
        "gold/forecasts",
    } <= set(expected)
    reposts_by_hhs = before["silver/posts"].filter(account_id=hhs, author_id=cdc).height
    assert reposts_by_hhs > 0  # HHS reposted CDC: those rows are content authored by CDC

    report = forget(lake, "bluesky:cdc.gov", reason="Request #12 from CDC.gov")

    assert report.rows_deleted == expected
    after = _tables(lake)
    for name, df in after.items():
        assert df.filter(_about(df, "bluesky", ids, keys, posts)).height == 0, name
        for col in ("handle", "label"):
            if col in df.columns:
                assert "cdc.gov" not in df[col].to_list(), name
    # other accounts' rows are unchanged in every table that is not rebuilt
    for name, df in before.items():
        if name in REBUILT or name in (AUDIT, "ops/changes"):  # the audit trail grows
            continue
        kept = df.filter(~_about(df, "bluesky", ids, keys, posts))
        assert _sort(after[name], name).equals(_sort(kept, name)), name
    # rebuilt per-account gold equals the other accounts' rows before
    for name in ("gold/daily_account_metrics", "gold/weekly_account_metrics", "gold/post_curves"):
        kept = before[name].filter(pl.col("account_id") != cdc)
        assert _sort(after[name], name).equals(_sort(kept, name)), name
    # the agency sums no longer count CDC: HHS on Bluesky is now hhs.gov alone
    daily = after["gold/daily_account_metrics"].filter(platform="bluesky")
    agency = after["gold/agency_metrics"].filter(period="day", platform="bluesky")
    assert agency.filter(agency="CDC").height == 0
    hhs_days = agency.filter(agency="HHS").select("period_start", "followers", "likes")
    # on the days hhs.gov was observed, HHS's figures are its figures (other days carry its
    # last follower count, see transforms/rollups.py)
    observed = agency.filter(pl.col("agency") == "HHS", pl.col("accounts") > 0)
    want = daily.select(pl.col("date").alias("period_start"), "followers", "likes")
    got = observed.select("period_start", "likes").join(want, on="period_start", how="full")
    assert got.height == want.height == observed.height
    assert got["likes"].equals(got["likes_right"])
    counted = observed.join(want, on="period_start").filter(pl.col("followers_right").is_not_null())
    assert counted["followers"].equals(counted["followers_right"])
    was = before["gold/agency_metrics"].filter(period="day", platform="bluesky", agency="HHS")
    assert was["likes"].sum() > hhs_days["likes"].sum()  # CDC's likes were in the sum before

    # no older version holds the subject: time travel to before the deletion fails
    for name in report.rows_deleted:
        with pytest.raises(TableNotFoundError):
            DeltaTable(lake.path(name), version=0)
        assert lake.version(name) is not None  # the current version still loads

    # the audit proves the deletion without naming the subject
    audit = lake.read(AUDIT)
    assert audit.height == 1
    row = audit.row(0, named=True)
    assert row["subject_hash"] == hashlib.sha256(b"bluesky:cdc.gov").hexdigest()
    assert json.loads(row["rows_deleted"]) == expected
    assert row["rows_total"] == sum(expected.values())
    assert row["reason"] == "Request #12 from [subject]"
    assert row["files_vacuumed"] == report.files_vacuumed > 0
    text = str(audit.to_dicts()).lower()
    assert "cdc.gov" not in text and cdc.lower() not in text

    # what still names CDC belongs to HHS: its responses embedding the reposts, its replies,
    # quotes and mentions; reported, counted exactly
    refs = report.references_left
    assert refs["bronze/raw_responses"] == (
        lake.read("bronze/raw_responses").filter(pl.col("body").bin.contains(cdc.encode())).height
    )
    assert refs["bronze/raw_responses"] > 0
    assert set(refs) <= {"bronze/raw_responses", "silver/posts", "silver/post_features"}


def _sort_days(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("period_start").with_columns(pl.col("followers").fill_null(0))


def test_forget_leaves_no_byte_of_the_subject_in_the_lake(lake: Lake) -> None:
    """The Mastodon account (nobody reposts it): after forget, no file of the lake folder, log
    included, holds its id, in raw bytes or in decoded Parquet values."""
    from datetime import UTC, datetime

    from hhs_platform.webhooks import Event, emit

    root = Path(lake.uri)
    mid = lake.read("silver/accounts").filter(platform="mastodon")["account_id"].item()
    # a webhook event about one of its anomalies waits in the outbox
    when = datetime(2026, 11, 10, tzinfo=UTC)
    subject = f"mastodon:{mid}:followers:2026-11-10:follower_drop"
    data = {"platform": "mastodon", "account_id": mid, "handle": "hhs"}
    assert emit(lake, [Event("anomaly.detected", subject, when, data, "HHS")], now=when) == 1
    # its posts (the world's count depends on the day it is frozen at; nobody reposts them)
    posts = lake.read("silver/posts").filter(
        (pl.col("account_id") == mid) | (pl.col("author_id") == mid)
    )
    assert posts.height > 100
    # the checks can fail: before, the id is in the files, raw and decoded
    assert len(_files_with(root, mid.encode())) >= 3
    assert len(_parquet_values_with(root, mid)) >= 5

    report = forget(lake, f"mastodon:{mid}", reason="by id")

    assert report.rows_deleted["silver/posts"] == posts.height
    assert report.rows_deleted["ops/webhook_events"] == 1
    assert report.references_left == {}
    assert _files_with(root, mid.encode()) == set()
    assert _files_with(root, b"mastodon:hhs") == set()
    assert _parquet_values_with(root, mid) == set()
    # Bluesky is untouched
    assert lake.read("silver/accounts")["platform"].to_list() == ["bluesky", "bluesky"]


def test_include_mentions_deletes_other_accounts_responses_naming_the_subject(lake: Lake) -> None:
    cdc = lake.read("silver/accounts").filter(handle="cdc.gov")["account_id"].item()
    bronze = lake.read("bronze/raw_responses")
    naming = bronze.filter(
        (pl.col("account_key") == "bluesky:cdc.gov") | pl.col("body").bin.contains(cdc.encode())
    )
    report = forget(lake, "bluesky:cdc.gov", include_mentions=True)
    assert report.rows_deleted["bronze/raw_responses"] == naming.height
    assert "bronze/raw_responses" not in report.references_left
    left = lake.read("bronze/raw_responses")
    assert left.height == bronze.height - naming.height
    assert left.filter(pl.col("body").bin.contains(cdc.encode())).height == 0


def test_dry_run_counts_and_changes_nothing(lake: Lake) -> None:
    versions = {name: lake.version(name) for name in CATALOGUE}
    dry = forget(lake, "bluesky:CDC.gov", dry_run=True)  # handles match whatever the case
    assert dry.rows_total > 1000 and dry.rows_deleted["silver/accounts"] == 1
    assert {name: lake.version(name) for name in CATALOGUE} == versions
    assert lake.read(AUDIT).height == 0
    real = forget(lake, "bluesky:cdc.gov")
    assert real.rows_deleted == dry.rows_deleted


def test_forget_applies_to_the_archive(lake: Lake, tmp_path: Path) -> None:
    """Bronze archived by retention holds the subject too: --archive deletes it there."""
    archive = Lake(str(tmp_path / "cold"))
    archive.append("bronze/raw_responses", lake.read("bronze/raw_responses"))
    n_cdc = archive.read("bronze/raw_responses").filter(account_key="bluesky:cdc.gov").height
    report = forget(lake, "bluesky:cdc.gov", archive=archive)
    assert report.archive is not None
    assert report.archive.rows_deleted == {"bronze/raw_responses": n_cdc}
    assert archive.read("bronze/raw_responses").filter(account_key="bluesky:cdc.gov").height == 0
    assert lake.read(AUDIT)["archive_uri"].to_list() == [archive.uri]
    with pytest.raises(TableNotFoundError):
        DeltaTable(archive.path("bronze/raw_responses"), version=0)


def test_cli_forget(lake: Lake) -> None:
    runner = CliRunner()
    dry = runner.invoke(
        app, ["forget", "--account", "bluesky:cdc.gov", "--dry-run", "--lake", lake.uri]
    )
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and "silver/posts" in dry.output
    assert "cdc.gov" not in dry.output  # the subject appears only as its hash
    bad = runner.invoke(app, ["forget", "--account", "myspace:cdc.gov", "--lake", lake.uri])
    assert bad.exit_code == 2 and "platform" in bad.output
    none = runner.invoke(app, ["forget", "--account", "bluesky:nobody.example", "--lake", lake.uri])
    assert none.exit_code == 1 and "no row names this account" in none.output
    done = runner.invoke(app, ["forget", "--account", "bluesky:cdc.gov", "--lake", lake.uri])
    assert done.exit_code == 0, done.output
    assert lake.read("silver/accounts").filter(handle="cdc.gov").height == 0


def test_a_malformed_subject_is_refused(lake: Lake) -> None:
    with pytest.raises(ConfigurationError, match="<platform>:<handle or id>"):
        forget(lake, "cdc.gov")
