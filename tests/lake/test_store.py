"""Lake writes on real Delta tables: merges are idempotent, content moves only forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from deltalake import DeltaTable

from hhs_platform.errors import LakeError
from hhs_platform.lake import Lake
from schemas import table_spec

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _posts(ids: list[str], seen: datetime, text: str = "hello") -> pl.DataFrame:
    rows = [
        {
            "run_id": "r1",
            "response_id": f"resp-{i}",
            "connector_version": "test/1",
            "platform": "bluesky",
            "post_id": i,
            "account_id": "did:plc:a",
            "author_id": "did:plc:a",
            "created_at": T0 - timedelta(days=1),
            "post_type": "original",
            "text": text,
            "media_count": 0,
            "is_deleted": False,
            "first_seen_at": seen,
            "last_seen_at": seen,
        }
        for i in ids
    ]
    return pl.DataFrame(rows, schema=table_spec("silver/posts").schema, strict=False)


def test_merge_is_idempotent_and_keeps_first_seen(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    first = lake.merge("silver/posts", _posts(["a", "b"], T0))
    assert first.inserted == 2
    again = lake.merge("silver/posts", _posts(["a", "b"], T0))
    assert again.inserted == 0
    later = lake.merge("silver/posts", _posts(["b", "c"], T0 + timedelta(hours=1), text="edited"))
    assert later.inserted == 1 and later.updated == 1
    df = lake.read("silver/posts").sort("post_id")
    assert df["post_id"].to_list() == ["a", "b", "c"]
    b = df.row(1, named=True)
    assert b["first_seen_at"] == T0 and b["last_seen_at"] == T0 + timedelta(hours=1)
    assert b["text"] == "edited"


def test_older_response_does_not_overwrite_newer_content(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.merge("silver/posts", _posts(["a"], T0 + timedelta(hours=2), text="new"))
    lake.merge("silver/posts", _posts(["a"], T0, text="old"))
    row = lake.read("silver/posts").row(0, named=True)
    assert row["text"] == "new"
    assert row["first_seen_at"] == T0
    assert row["last_seen_at"] == T0 + timedelta(hours=2)


def test_append_with_transaction_is_applied_once(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    spec = table_spec("quarantine/rows")
    df = pl.DataFrame(
        [
            {
                "table": "t",
                "row_hash": "h",
                "run_id": "r",
                "rules": ["x: y"],
                "row": "{}",
                "quarantined_at": T0,
            }
        ],
        schema=spec.schema,
        strict=False,
    )
    # bronze-style append with a transaction id: a retried write is a no-op
    assert not lake.append("quarantine/rows", df, txn=("job-1", 1)).skipped
    assert lake.append("quarantine/rows", df, txn=("job-1", 1)).skipped
    assert lake.read("quarantine/rows").height == 1


def test_unknown_column_and_table_are_clear_errors(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(LakeError, match="unexpected column"):
        lake.merge("silver/posts", _posts(["a"], T0).with_columns(pl.lit(1).alias("bogus")))
    with pytest.raises(KeyError, match="known tables"):
        lake.path("silver/nope")


def test_missing_table_reads_empty_with_schema(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    df = lake.read("silver/post_metrics")
    assert df.height == 0
    assert df.schema == table_spec("silver/post_metrics").schema


def test_a_table_gains_the_columns_its_model_gained(tmp_path) -> None:
    """A lake written before a column existed takes the column on the next write."""
    from deltalake import write_deltalake

    lake = Lake(str(tmp_path / "lake"))
    spec = table_spec("quality/field_drift")
    row = {
        "platform": "bluesky",
        "endpoint": "e",
        "run_id": "r1",
        "field": "f",
        "responses_missing": 1,
        "responses_checked": 2,
        "first_missing_at": T0,
        "last_missing_at": T0,
        "example_response_id": "x",
    }
    old = pl.DataFrame([row], schema=spec.schema).drop("example_response_id")
    write_deltalake(lake.path("quality/field_drift"), old.to_arrow())
    new = pl.DataFrame([{**row, "run_id": "r2"}], schema=spec.schema)
    lake.merge("quality/field_drift", new)
    got = lake.read("quality/field_drift").sort("run_id")
    assert got.columns == list(spec.schema.names())
    assert got["example_response_id"].to_list() == [None, "x"]
    assert lake.evolve("quality/field_drift") == []  # nothing left to add


def test_a_merge_of_some_platforms_leaves_the_others_files_alone(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"), {})
    platforms = ("bluesky", "mastodon", "youtube")
    first = pl.concat(
        _posts([f"{p}-{i}" for i in range(3)], T0).with_columns(platform=pl.lit(p))
        for p in platforms
    )
    lake.merge("silver/posts", first)
    delta = lake.delta("silver/posts")
    assert delta is not None
    before = set(delta.file_uris())
    untouched = {u for u in before if "platform=youtube" in u}
    assert untouched

    # one batch holding two platforms: an update each and a new post each
    later = T0 + timedelta(hours=1)
    batch = pl.concat(
        _posts([f"{p}-0", f"{p}-9"], later, text="edited").with_columns(platform=pl.lit(p))
        for p in platforms[:2]
    )
    result = lake.merge("silver/posts", batch)
    assert (result.inserted, result.updated) == (2, 2)
    after_delta = lake.delta("silver/posts")
    assert after_delta is not None
    after = set(after_delta.file_uris())
    assert untouched <= after  # youtube's files were neither read for rewrite nor replaced
    merged = lake.read("silver/posts").sort("platform", "post_id")
    assert merged.height == 11
    edited = merged.filter(pl.col("text") == "edited")
    assert sorted(edited["post_id"]) == ["bluesky-0", "bluesky-9", "mastodon-0", "mastodon-9"]
    assert merged.filter(platform="youtube")["text"].to_list() == ["hello"] * 3


def test_reads_reuse_the_loaded_log_until_a_commit_and_see_every_commit(tmp_path) -> None:
    """A Lake loads a table's Delta log once and reads it again only after a commit: by
    itself, by another Lake (another writer), or by a table dropped and written again up to
    the same version."""
    import copy as copying
    import shutil

    lake, writer = Lake(str(tmp_path / "lake")), Lake(str(tmp_path / "lake"))
    lake.merge("silver/posts", _posts(["a"], T0))
    assert lake.read("silver/posts")["post_id"].to_list() == ["a"]
    loaded = lake._latest("silver/posts")
    assert loaded is not None and lake._latest("silver/posts") is loaded  # no commit: reused
    lazy = lake.scan("silver/posts")  # begun at version 0

    writer.merge("silver/posts", _posts(["b"], T0))  # another writer's commit
    assert sorted(lake.read("silver/posts")["post_id"]) == ["a", "b"]
    assert lake._latest("silver/posts") is not loaded
    assert lazy.collect()["post_id"].to_list() == ["a"]  # a scan keeps its version

    lake.merge("silver/posts", _posts(["c"], T0))  # its own commit
    assert sorted(lake.read("silver/posts")["post_id"]) == ["a", "b", "c"]
    version = lake.version("silver/posts")

    # dropped and written again, commit for commit, with other rows: the same version number
    shutil.rmtree(lake.path("silver/posts"))
    for ids in (["x"], ["y"], ["z"]):
        writer.merge("silver/posts", _posts(ids, T0))
    assert writer.version("silver/posts") == version
    assert sorted(lake.read("silver/posts")["post_id"]) == ["x", "y", "z"]
    shutil.rmtree(lake.path("silver/posts"))
    assert lake.read("silver/posts").height == 0  # gone: the empty table, no error

    # a copy (pickled the same way, as for a Dask worker) loads its own tables
    writer.merge("silver/posts", _posts(["d"], T0))
    copy = copying.deepcopy(lake)
    assert copy.read("silver/posts")["post_id"].to_list() == ["d"]
    assert copy._snapshots.keys() == {"silver/posts"} and copy._latest("silver/posts") is not (
        lake._latest("silver/posts")
    )


def test_versions_and_reads_of_a_version_use_the_loaded_log_and_see_every_commit(
    tmp_path,
) -> None:
    """``version`` asks the table loaded last (no log loaded again without a commit) and sees
    another writer's commits; ``scan(version=...)`` reads the loaded table when it is that
    version, and that version's rows whichever version is loaded."""
    import shutil

    lake, writer = Lake(str(tmp_path / "lake")), Lake(str(tmp_path / "lake"))
    assert lake.version("silver/posts") is None
    lake.merge("silver/posts", _posts(["a"], T0))
    first = lake.version("silver/posts")
    assert first is not None and first == DeltaTable(lake.path("silver/posts")).version()
    loaded = lake._latest("silver/posts")
    assert lake.version("silver/posts") == first and lake._latest("silver/posts") is loaded

    writer.merge("silver/posts", _posts(["b"], T0))
    writer.merge("silver/posts", _posts(["c"], T0))
    assert lake.version("silver/posts") == first + 2  # another writer's commits are seen
    assert lake._latest("silver/posts") is not loaded
    ids = {
        v - first: sorted(lake.scan("silver/posts", version=v).collect()["post_id"])
        for v in (first + 2, first, first + 1)
    }
    assert ids == {2: ["a", "b", "c"], 0: ["a"], 1: ["a", "b"]}

    shutil.rmtree(lake.path("silver/posts"))  # gone: empty, no error
    assert lake.scan("silver/posts", version=first + 2).collect().height == 0
    assert lake.version("silver/posts") is None


def test_replace_many_replaces_disjoint_sets_in_as_few_commits_as_the_filter_allows(
    tmp_path, monkeypatch
) -> None:
    from hhs_platform.lake import store

    def posts(platform: str, ids: list[str], text: str) -> pl.DataFrame:
        return _posts(ids, T0, text=text).with_columns(platform=pl.lit(platform))

    def table(lake: Lake) -> list[tuple[str, str, str]]:
        return sorted(lake.read("silver/posts").select("platform", "post_id", "text").iter_rows())

    new = [
        (posts("x", ["1", "2"], "new"), {"platform": ["x"], "post_id": ["1", "2"]}),
        (posts("bluesky", ["1"], "new"), {"platform": ["bluesky"], "post_id": ["1", "9"]}),
        (posts("x", ["7"], "ignored"), {"platform": ["x"], "post_id": []}),  # replaces nothing
    ]
    expected = [  # bluesky 9 deleted: in the filter, not in the rows
        ("bluesky", "1", "new"),
        ("bluesky", "2", "old"),
        ("bluesky", "3", "old"),
        ("x", "1", "new"),
        ("x", "2", "new"),
        ("x", "3", "old"),
    ]
    commits = {}
    for limit in (5_000, 4):  # 4 values: the two sets do not fit one filter
        monkeypatch.setattr(store, "MAX_LISTED_VALUES", limit)
        lake = Lake(str(tmp_path / f"lake-{limit}"))
        for platform in ("x", "bluesky"):
            lake.append("silver/posts", posts(platform, ["1", "2", "3"], "old"))
        lake.append("silver/posts", posts("bluesky", ["9"], "old"))
        before = lake.version("silver/posts")
        assert before is not None
        result = lake.replace_many("silver/posts", new)
        assert result.rows_in == 3
        assert table(lake) == expected
        commits[limit] = lake.version("silver/posts") - before  # type: ignore[operator]
    assert commits == {5_000: 1, 4: 2}
    assert Lake(str(tmp_path / "none")).replace_many("silver/posts", new).rows_in == 3  # appended


def test_a_clustered_table_is_written_in_ranges_and_a_bounded_replace_rewrites_only_the_newest(
    tmp_path,
) -> None:
    """gold/post_curves is clustered by created_at: rows go sorted into files of about 2 MB, and
    replacing the newest posts (ids in no time order) rewrites only the file holding them; a
    created_at bound (which spares reading the older files) gives the same table."""
    import numpy as np
    from deltalake import DeltaTable

    from hhs_platform.lake import AtLeast

    spec = table_spec("gold/post_curves")
    rng = np.random.default_rng(3)
    n = 120_000
    start = datetime(2025, 1, 1, tzinfo=UTC)
    created = [
        start + timedelta(minutes=int(m), microseconds=7) for m in rng.integers(0, 500_000, n)
    ]
    posts = pl.DataFrame(
        {
            "platform": "youtube",
            "post_id": [f"{v:x}" for v in rng.integers(0, 2**60, n)],  # ids in no time order
            "account_id": [str(a) for a in rng.integers(0, 50, n)],
            "created_at": created,
            "age_hours": 24,
            "likes": rng.integers(0, 10_000, n),
            "engagement": rng.integers(0, 10_000, n),
        }
    )
    full = posts.with_columns(
        pl.lit(None, t).alias(c) for c, t in spec.schema.items() if c not in posts.columns
    ).select([pl.col(c).cast(t) for c, t in spec.schema.items()])
    newest = full.sort("created_at").tail(300)
    bound = newest["created_at"].min()
    changed = newest.with_columns(likes=pl.lit(-1, pl.Int64))
    where = {"platform": ["youtube"], "post_id": newest["post_id"].to_list()}
    results = {}
    for name, filters in (
        ("unbounded", where),
        ("bounded", {**where, "created_at": AtLeast(bound)}),
    ):
        lake = Lake(str(tmp_path / name))
        lake.overwrite("gold/post_curves", full)
        files = DeltaTable(lake.path("gold/post_curves")).file_uris()
        lake.replace("gold/post_curves", changed, filters)
        metrics = lake.history("gold/post_curves", 1)[0]["operationMetrics"]
        results[name] = (len(files), metrics["num_removed_files"], lake.read("gold/post_curves"))
    expected = pl.concat([full.join(newest, on="post_id", how="anti"), changed])
    for name, (files, removed, table) in results.items():
        assert table.sort("post_id").equals(expected.sort("post_id")), name
        assert files >= 3, files  # written in ranges, not one file
        assert removed == 1, name  # only the newest range is rewritten
