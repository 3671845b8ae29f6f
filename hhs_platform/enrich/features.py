"""silver/posts → silver/post_features: text features, health topics and geography, incrementally."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from functools import partial

import polars as pl

from hhs_platform.enrich.geo import gazetteer_digest_source, geo_features
from hhs_platform.enrich.text import text_features
from hhs_platform.enrich.topics import Taxonomy, load_taxonomy
from hhs_platform.lake.store import Lake, WriteResult
from hhs_platform.spread import cluster_threads, spread
from schemas import table_spec

log = logging.getLogger(__name__)

TABLE = "silver/post_features"
#: Bump when the feature code changes what it produces: every post is enriched again.
FEATURES_VERSION = "1"
#: From this many posts on, a run inside a Dask task enriches them on every thread of the
#: cluster, in slices (a post's features depend on that post alone).
SPREAD_FROM = 20_000
_KEYS = ["platform", "post_id"]
_POST_COLUMNS = [
    "platform",
    "post_id",
    "text",
    "title",
    "lang",
    "hashtags",
    "mentions",
    "links",
    "last_seen_at",
]


def features_version(taxonomy: Taxonomy) -> str:
    """The ``taxonomy_version`` written with every row: ``<version>[+<user version>]#<digest>``.

    The digest covers the merged topics, the gazetteer and ``FEATURES_VERSION``, so any change
    to what enrichment produces re-enriches every post, even without a version bump.
    """
    digest = hashlib.sha256(
        f"{taxonomy.digest()}|{gazetteer_digest_source()}|{FEATURES_VERSION}".encode()
    ).hexdigest()[:8]
    return f"{taxonomy.version}#{digest}"


def post_features(
    posts: pl.DataFrame, taxonomy: Taxonomy, *, enriched_at: datetime | None = None
) -> pl.DataFrame:
    """``silver/post_features`` rows for silver posts (any subset of its columns that has
    ``_POST_COLUMNS``)."""
    spec = table_spec(TABLE)
    if posts.is_empty():
        return spec.empty()
    enriched_at = enriched_at or datetime.now(UTC)
    df = posts.select(_POST_COLUMNS).with_row_index("_row")
    df = text_features(df)
    df = geo_features(df, "_match")
    df = df.with_columns(
        topics=taxonomy.match(df["_match"]),
        taxonomy_version=pl.lit(features_version(taxonomy)),
        enriched_at=pl.lit(enriched_at, dtype=spec.schema["enriched_at"]),
        source_last_seen_at=pl.col("last_seen_at"),
    )
    return df.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def spread_features(
    posts: pl.DataFrame, taxonomy: Taxonomy, *, spread_from: int = SPREAD_FROM
) -> pl.DataFrame:
    """:func:`post_features`, in slices over the threads of the Dask cluster this runs on as a
    task (with at least ``spread_from`` posts); the same rows, in the same order."""
    enriched_at = datetime.now(UTC)
    threads = cluster_threads()
    if threads < 2 or posts.height < spread_from:
        return post_features(posts, taxonomy, enriched_at=enriched_at)
    size = -(-posts.height // threads)
    slices = [posts.slice(start, size) for start in range(0, posts.height, size)]
    return pl.concat(spread(partial(post_features, enriched_at=enriched_at), slices, taxonomy))


def enrich_posts(
    lake: Lake,
    *,
    full: bool = False,
    taxonomy: Taxonomy | None = None,
    spread_from: int = SPREAD_FROM,
) -> WriteResult:
    """Enrich the posts that changed since the last run into ``silver/post_features``.

    A post is enriched when it has no features yet, when its ``last_seen_at`` is newer than its
    features' ``source_last_seen_at``, or when its features came from another taxonomy version
    (so editing the taxonomy re-enriches everything). ``full=True`` rebuilds the whole table.

    Args:
        lake: the lake holding ``silver/posts``.
        full: enrich every post and replace the table.
        taxonomy: the topic taxonomy; default: the shipped one merged with ``HHS_TOPICS_FILE``.
        spread_from: inside a Dask task, enrich this many posts or more on every thread of
            the cluster (:func:`spread_features`).
    """
    if taxonomy is None:
        from hhs_platform.settings import get_settings

        taxonomy = load_taxonomy(get_settings().topics_file)
    version = features_version(taxonomy)
    posts = lake.scan("silver/posts").select(_POST_COLUMNS)
    if not full and lake.exists(TABLE):
        done = lake.scan(TABLE).select(*_KEYS, "source_last_seen_at", "taxonomy_version")
        posts = (
            posts.join(done, on=_KEYS, how="left")
            .filter(
                pl.col("source_last_seen_at").is_null()
                | (pl.col("last_seen_at") > pl.col("source_last_seen_at"))
                | (pl.col("taxonomy_version") != version)
            )
            .select(_POST_COLUMNS)
        )
    todo = posts.collect()
    rows = spread_features(todo, taxonomy, spread_from=spread_from)
    log.info("enriching %d post(s) (full=%s, taxonomy %s)", rows.height, full, version)
    if full:
        return lake.overwrite(TABLE, rows)
    return lake.merge(TABLE, rows)
