"""Write a parsed batch into silver: MERGEs on natural keys, observations run-length encoded."""

from __future__ import annotations

import polars as pl

from hhs_platform.lake.minimise import minimise_batch
from hhs_platform.lake.store import Lake, WriteResult
from hhs_platform.lake.timeseries import compact_observations
from hhs_platform.transforms.normalize import SilverBatch
from schemas import table_spec

_SERIES_VALUES = {
    "silver/account_snapshots": ["followers", "following", "posts_count"],
    "silver/post_metrics": ["likes", "reposts", "replies", "quotes", "views"],
}


def write_silver(lake: Lake, batch: SilverBatch) -> dict[str, WriteResult]:
    """Merge every silver table of the batch and its quarantine rows. Idempotent.

    One writer per table at a time (the flow runs this in a single task); commit races with
    other writers are retried by ``Lake``.
    """
    lake.create_missing()
    batch = minimise_batch(lake, batch)  # HHS_PRIVACY_MENTIONS: third-party handles
    results: dict[str, WriteResult] = {}
    tables = dict(batch.tables)
    if "silver/posts" in tables and batch.complete_feeds:
        tables["silver/posts"] = pl.concat(
            [tables["silver/posts"], tombstones(lake, tables["silver/posts"], batch.complete_feeds)]
        )
    for name, df in tables.items():
        fold = _fold_series if name in _SERIES_VALUES else _latest_per_key_of
        df = fold(lake, name, df)
        results[name] = lake.merge(name, df)
    results["quarantine/rows"] = lake.merge("quarantine/rows", batch.quarantine)
    results["quality/field_drift"] = lake.merge("quality/field_drift", batch.drift)
    results["quality/metric_sources"] = lake.merge("quality/metric_sources", batch.metric_sources)
    return results


def tombstones(
    lake: Lake, posts: pl.DataFrame, complete_feeds: set[tuple[str, str]]
) -> pl.DataFrame:
    """Stored posts of completely read feeds that the feed no longer holds, marked deleted.

    The tombstone keeps the post's content and ``last_seen_at`` (when it was last served) and
    sets ``is_deleted`` and ``deleted_at`` (when its absence was first seen). A post that comes
    back is simply seen again, which clears both.
    """
    spec = table_spec("silver/posts")
    if not complete_feeds or not lake.exists("silver/posts"):
        return spec.empty()
    feeds = pl.DataFrame(
        list(complete_feeds), schema={"platform": pl.Utf8, "account_id": pl.Utf8}, orient="row"
    )
    platforms = feeds["platform"].unique().to_list()
    accounts = feeds["account_id"].unique().to_list()
    stored = (
        lake.scan("silver/posts")
        .filter(
            pl.col("platform").is_in(platforms)
            & pl.col("account_id").is_in(accounts)
            & ~pl.col("is_deleted")
        )
        .collect()
        .join(feeds, on=["platform", "account_id"], how="semi")
    )
    gone = stored.join(posts.select("platform", "post_id"), on=["platform", "post_id"], how="anti")
    if gone.is_empty():
        return spec.empty()
    seen = posts.group_by("platform", "account_id").agg(pl.col("last_seen_at").max().alias("_now"))
    return (
        gone.join(seen, on=["platform", "account_id"], how="left")
        .with_columns(is_deleted=pl.lit(True), deleted_at=pl.col("_now"))
        .drop("_now")
        .select(spec.schema.names())
    )


def _latest_per_key(name: str, df: pl.DataFrame) -> pl.DataFrame:
    """One row per key: the newest content, the earliest first_seen_at."""
    if df.is_empty():
        return df
    keys = list(table_spec(name).keys)
    first = df.group_by(keys).agg(pl.col("first_seen_at").min().alias("_first"))
    latest = df.sort("last_seen_at").unique(subset=keys, keep="last", maintain_order=True)
    return latest.join(first, on=keys).with_columns(first_seen_at=pl.col("_first")).drop("_first")


def _latest_per_key_of(lake: Lake, name: str, df: pl.DataFrame) -> pl.DataFrame:
    return _latest_per_key(name, df)


def _fold_series(lake: Lake, name: str, df: pl.DataFrame) -> pl.DataFrame:
    if df.is_empty():
        return df
    spec = table_spec(name)
    entity = [k for k in spec.keys if k != "observed_at"]
    id_col = entity[-1]
    stored = pl.DataFrame(schema=spec.schema)
    if lake.exists(name):
        platforms = df["platform"].unique().to_list()
        ids = df[id_col].unique().to_list()
        stored = (
            lake.scan(name)
            .filter(pl.col("platform").is_in(platforms) & pl.col(id_col).is_in(ids))
            .collect()
        )
        if not stored.is_empty():
            start = df["observed_at"].min()
            newest = pl.col("observed_at") == pl.col("observed_at").max().over(entity)
            stored = stored.filter((pl.col("last_observed_at") >= start) | newest)
    return compact_observations(df, stored, entity, _SERIES_VALUES[name])
