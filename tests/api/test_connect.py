"""The data scientists' read API (``hhs_platform.connect``) on a small real lake."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import hhs_platform
from hhs_platform.api import LakeClient
from hhs_platform.errors import ReadError
from hhs_platform.lake import Lake
from schemas import table_spec

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# platform, account_id, handle, agency
ACCOUNTS = [
    ("x", "cdc1", "CDCgov", "CDC"),
    ("bluesky", "cdc2", "cdc.gov", "CDC"),
    ("x", "fda1", "US_FDA", "FDA"),
    ("mastodon", "orph", "someone", None),
]


def _accounts() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"platform": p, "account_id": a, "handle": h, "agency": g, "first_seen_at": T0}
            for p, a, h, g in ACCOUNTS
        ],
        schema_overrides={"first_seen_at": pl.Datetime("us", "UTC")},
    )


def _posts(days: range) -> pl.DataFrame:
    rows = [
        {
            "platform": p,
            "post_id": f"{a}-{d}",
            "account_id": a,
            "created_at": T0 + dt.timedelta(days=d, hours=d % 24),
            "text": f"post {d} of {h}",
        }
        for p, a, h, _ in ACCOUNTS
        for d in days
    ]
    return pl.DataFrame(rows, schema_overrides={"created_at": pl.Datetime("us", "UTC")})


def _metrics(days: range) -> pl.DataFrame:
    rows = [
        {
            "date": T0.date() + dt.timedelta(days=d),
            "platform": p,
            "account_id": a,
            "handle": h,
            "agency": g,
            "followers": 1000 * (i + 1) + d,
        }
        for i, (p, a, h, g) in enumerate(ACCOUNTS)
        for d in days
    ]
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """A lake whose posts and metrics were written in two commits (days 0-9, then 10-19)."""
    root = tmp_path_factory.mktemp("api-lake")
    lake = Lake(str(root), {})
    lake.merge("silver/accounts", _accounts())
    lake.merge("silver/posts", _posts(range(10)))
    lake.append("gold/daily_account_metrics", _metrics(range(10)))
    time.sleep(0.05)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    lake.merge("silver/posts", _posts(range(10, 20)))
    lake.append("gold/daily_account_metrics", _metrics(range(10, 20)))
    return root, {"between": between, "posts_v": lake.version("silver/posts")}


@pytest.fixture
def client(built: tuple[Path, dict[str, object]]) -> LakeClient:
    return hhs_platform.connect(str(built[0]), {})


def test_tables_lists_written_tables_with_versions(client: LakeClient) -> None:
    tables = client.tables()
    assert tables["name"].to_list() == [
        "gold/daily_account_metrics",
        "silver/accounts",
        "silver/posts",
    ]
    # merge creates the table empty (v0) then merges: posts is at v2, metrics appended twice.
    assert dict(zip(tables["name"], tables["version"], strict=True)) == {
        "gold/daily_account_metrics": 1,
        "silver/accounts": 1,
        "silver/posts": 2,
    }
    assert all(tables["description"].str.len_chars() > 0)


def test_table_reads_everything_and_columns(client: LakeClient) -> None:
    df = client.table("silver/posts", lazy=False)
    assert df.height == 4 * 20
    assert df.schema == table_spec("silver/posts").schema
    two = client.table("gold/daily_account_metrics", columns=["date", "followers"]).collect()
    assert two.columns == ["date", "followers"] and two.height == 80
    assert client.table("gold/anomalies", lazy=False).height == 0  # not written: empty, typed


def test_metrics_filters_equal_eager_filtering_and_reach_the_scan(client: LakeClient) -> None:
    everything = client.table("gold/daily_account_metrics", lazy=False)
    lf = client.metrics(agency="CDC", platform="x", since="2026-01-05", until=dt.date(2026, 1, 8))
    got = lf.collect().sort("date")
    expected = everything.filter(
        (pl.col("agency") == "CDC")
        & (pl.col("platform") == "x")
        & pl.col("date").is_between(dt.date(2026, 1, 5), dt.date(2026, 1, 8))
    ).sort("date")
    assert got.height == 4
    assert_frame_equal(got, expected)
    assert got["followers"].to_list() == [1004, 1005, 1006, 1007]
    plan = lf.explain()
    scan = plan[plan.index("SCAN") :]
    assert "SELECTION" in scan and "CDC" in scan  # the filter sits in the scan itself
    by_handle = client.metrics(account="US_FDA", lazy=False)
    assert by_handle.height == 20 and set(by_handle["account_id"]) == {"fda1"}


def test_posts_join_agency_and_filter_on_days(client: LakeClient) -> None:
    got = client.posts(agency="CDC", since="2026-01-03", until="2026-01-04", lazy=False)
    # CDC has two accounts; days 2 and 3 (created at T0+d days+d hours) fall in the range.
    assert sorted(got["post_id"]) == ["cdc1-2", "cdc1-3", "cdc2-2", "cdc2-3"]
    assert set(got["agency"]) == {"CDC"}
    assert set(got["handle"]) == {"CDCgov", "cdc.gov"}
    everything = client.posts(lazy=False)
    assert everything.height == 80
    assert everything.filter(pl.col("account_id") == "orph")["agency"].null_count() == 20
    one = client.posts(platform="bluesky", account="cdc.gov", lazy=False)
    assert one.height == 20 and set(one["account_id"]) == {"cdc2"}


def test_time_travel_by_version_and_by_time(
    client: LakeClient, built: tuple[Path, dict[str, object]]
) -> None:
    info = built[1]
    older = client.table("silver/posts", as_of=1, lazy=False)
    assert older.height == 40
    assert older["created_at"].max() < T0 + dt.timedelta(days=10)
    between = info["between"]
    assert isinstance(between, dt.datetime)
    assert client.resolve_version("silver/posts", between) == 1
    assert client.metrics(as_of=between, lazy=False).height == 40
    assert client.metrics(as_of=between.isoformat(), lazy=False).height == 40
    naive = between.astimezone(dt.UTC).replace(tzinfo=None)
    assert client.posts(as_of=naive, lazy=False).height == 40
    assert client.posts(as_of=2, lazy=False).height == 80
    with pytest.raises(ReadError, match="first commit is at"):
        client.table("silver/posts", as_of="2000-01-01")
    with pytest.raises(ReadError, match=r"no version 7; its versions are 0\.\.2"):
        client.table("silver/posts", as_of=7)


def test_to_dask_equals_polars(client: LakeClient) -> None:
    ddf = client.to_dask("silver/posts", columns=["platform", "post_id", "created_at", "text"])
    assert ddf.npartitions >= 3  # platform-partitioned, written twice
    got = pl.from_pandas(ddf.compute()).sort("post_id")
    want = client.table(
        "silver/posts", columns=["platform", "post_id", "created_at", "text"], lazy=False
    ).sort("post_id")
    assert_frame_equal(got, want)
    old = pl.from_pandas(client.to_dask("gold/daily_account_metrics", as_of=0).compute())
    assert old.height == 40
    assert_frame_equal(
        old.sort("date", "account_id"),
        client.table("gold/daily_account_metrics", as_of=0, lazy=False).sort("date", "account_id"),
    )


def test_to_dask_refuses_deletion_vectors(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    lake = Lake(str(tmp_path), {})
    write_deltalake(
        lake.path("gold/anomalies"),
        table_spec("gold/anomalies").empty().to_arrow(),
        configuration={"delta.enableDeletionVectors": "true"},
    )
    client = LakeClient(lake)
    with pytest.raises(ReadError, match="deletionVectors"):
        client.to_dask("gold/anomalies")


def test_pandas_schema_dictionary_and_errors(client: LakeClient) -> None:
    pdf = client.to_pandas("gold/daily_account_metrics", columns=["account_id", "followers"])
    assert len(pdf) == 80 and int(pdf["followers"].sum()) == sum(
        client.table("gold/daily_account_metrics", lazy=False)["followers"]
    )
    assert client.schema("silver/posts")["created_at"] == pl.Datetime("us", "UTC")
    d = client.dictionary("silver/posts")
    assert d.columns == ["column", "type", "nullable", "description"]
    assert d["column"].to_list() == list(table_spec("silver/posts").schema)
    row = d.filter(pl.col("column") == "created_at").row(0, named=True)
    assert row == {
        "column": "created_at",
        "type": "Datetime(time_unit='us', time_zone='UTC')",
        "nullable": False,
        "description": "When the post was published.",
    }
    assert d.filter(pl.col("column") == "deleted_at")["nullable"].to_list() == [True]
    with pytest.raises(
        ReadError, match=r"unknown table 'silver/nope'; known tables: .*silver/posts"
    ):
        client.table("silver/nope")
    with pytest.raises(ReadError, match=r"has no column.*bogus"):
        client.table("silver/posts", columns=["bogus"])
