"""The API answers from in-memory snapshots of the lake: they equal the lake's tables, follow a
write within the snapshot TTL, and /v1 answers carry the lifecycle headers once they are set."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
from dashboard_lakes import free_port

from hhs_platform.httpapi import tokens
from hhs_platform.httpapi.app import Server, create_app
from hhs_platform.httpapi.snapshots import Snapshots
from hhs_platform.httpapi.v1 import _after, days_by_account, last_fetches, page, posts_in_order
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings


def _copy(world_lake: str, tmp_path: Path) -> Lake:
    uri = str(tmp_path / "lake")
    shutil.copytree(world_lake, uri)
    return Lake(uri, {})


def test_shapes_equal_the_lake(world_lake: str, tmp_path: Path) -> None:
    lake = _copy(world_lake, tmp_path)
    snapshots = Snapshots(lake)
    posts = lake.read("silver/posts")
    accounts = lake.read("silver/accounts")
    ordered = posts_in_order(snapshots)
    assert ordered.height == posts.height > 0
    expected = (
        posts.join(
            accounts.select("platform", "account_id", "agency", "handle"),
            on=["platform", "account_id"],
            how="left",
        )
        .sort(["created_at", "platform", "post_id"], descending=True)
        .select(ordered.columns)
    )
    assert ordered.equals(expected)
    assert posts_in_order(snapshots) is ordered  # built once per version

    days = days_by_account(snapshots)
    metrics = lake.read("gold/daily_account_metrics")
    assert len(days) == metrics.select("platform", "account_id").n_unique()
    assert sum(part.height for part in days.values()) == metrics.height
    (platform, account_id), part = next(iter(days.items()))
    assert part["date"].to_list() == sorted(
        metrics.filter(platform=platform, account_id=account_id)["date"].to_list()
    )

    log = lake.read("bronze/fetch_log")
    fetched = last_fetches(snapshots)
    assert fetched.height == log.select("platform", "account_key").n_unique()
    row = fetched.row(0, named=True)
    mine = log.filter(platform=row["platform"], account_key=row["account_key"])
    assert row["last_fetch_at"] == mine["finished_at"].max()


def test_a_write_is_served_within_the_ttl(world_lake: str, tmp_path: Path) -> None:
    lake = _copy(world_lake, tmp_path)
    token, _ = tokens.create(lake, "tests", rate_limit_per_minute=100_000)
    accounts = lake.read("silver/accounts")
    first = accounts.sort("platform", "account_id").row(0, named=True)
    path = f"/v1/accounts/{first['platform']}/{first['account_id']}"
    headers = {"Authorization": f"Bearer {token}"}
    servers = {
        ttl: Server(
            create_app(Settings(_env_file=None, api_snapshot_ttl_s=ttl), lake.uri),  # type: ignore[call-arg]
            "127.0.0.1",
            free_port(),
        ).start()
        for ttl in (0.0, 3600.0)
    }
    try:
        for server in servers.values():
            got = httpx.get(server.url + path, headers=headers, timeout=30).json()
            assert got["data"]["display_name"] == first["display_name"]
        renamed = accounts.filter(
            platform=first["platform"], account_id=first["account_id"]
        ).with_columns(display_name=pl.lit("Renamed for the test"))
        lake.merge("silver/accounts", renamed)
        fresh = httpx.get(servers[0.0].url + path, headers=headers, timeout=30).json()
        assert fresh["data"]["display_name"] == "Renamed for the test"
        # a server trusting versions for an hour still answers from its snapshot
        held = httpx.get(servers[3600.0].url + path, headers=headers, timeout=30).json()
        assert held["data"]["display_name"] == first["display_name"]
    finally:
        for server in servers.values():
            server.stop()


def test_lifecycle_headers_once_v1_is_deprecated(world_lake: str, tmp_path: Path) -> None:
    lake = _copy(world_lake, tmp_path)
    token, _ = tokens.create(lake, "tests", rate_limit_per_minute=100_000)
    headers = {"Authorization": f"Bearer {token}"}
    plain = Server(create_app(Settings(_env_file=None), lake.uri), "127.0.0.1", free_port())  # type: ignore[call-arg]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_v1_deprecated_at=datetime(2027, 1, 4, tzinfo=UTC),
        api_v1_sunset_at=datetime(2028, 1, 4, 12, tzinfo=UTC),
    )
    retiring = Server(create_app(settings, lake.uri), "127.0.0.1", free_port())
    plain.start()
    retiring.start()
    try:
        before = httpx.get(plain.url + "/v1/accounts", headers=headers, timeout=30)
        assert before.status_code == 200
        assert "deprecation" not in before.headers and "sunset" not in before.headers
        for path, auth in (("/v1/accounts", headers), ("/v1/accounts", {}), ("/v1/health", {})):
            answer = httpx.get(retiring.url + path, headers=auth, timeout=30)
            assert answer.status_code == (401 if path == "/v1/accounts" and not auth else 200)
            assert (
                answer.headers["deprecation"]
                == f"@{int(datetime(2027, 1, 4, tzinfo=UTC).timestamp())}"
            )
            assert answer.headers["sunset"] == "Tue, 04 Jan 2028 12:00:00 GMT"
    finally:
        plain.stop()
        retiring.stop()


def test_a_page_equals_filtering_the_whole_table(world_lake: str, tmp_path: Path) -> None:
    lake = _copy(world_lake, tmp_path)
    ordered = posts_in_order(Snapshots(lake))
    agency = ordered["agency"].drop_nulls().mode()[0]
    filters = {
        "none": [],
        "agency": [pl.col("agency") == agency],
        "rare": [pl.col("platform") == ordered["platform"][-1], pl.col("agency") == agency],
        "nothing": [pl.col("post_id") == "no such post"],
    }
    # cursors at the first post, in the middle, at the last post and on a timestamp many posts share
    shared = ordered.group_by("created_at").len().sort("len", descending=True)["created_at"][0]
    tied = ordered.filter(pl.col("created_at") == shared).row(0, named=True)
    cursors = [None, ordered.row(0, named=True), ordered.row(ordered.height // 2, named=True)]
    cursors += [ordered.row(ordered.height - 1, named=True), tied]
    checked = 0
    for where in filters.values():
        for row in cursors:
            after = None if row is None else (row["created_at"], row["platform"], row["post_id"])
            expected = ordered.filter(*where) if where else ordered
            if after is not None:
                expected = expected.filter(_after(after))
            for size, block in ((51, 20_000), (51, 7), (3, 1)):
                got = page(ordered, where, after, size, block=block)
                assert got.equals(expected.head(size)), (where, after, size, block)
                checked += 1
    assert checked == 4 * 5 * 3
