"""Each post's latest counters: what sorts and filters posts by their counters read.

``silver/post_metrics`` holds a row per change of a post's counters (run-length encoded); a
post's latest counters are its newest run's. :func:`latest_counters` reduces runs to them, and
``gold/post_counters`` keeps them for every post: every gold build
(:func:`hhs_platform.transforms.gold.build_gold`) writes it whole or merges in the latest
counters of the posts observed since the previous build.
"""

from __future__ import annotations

import polars as pl

from schemas import table_spec

#: The counters engagement adds up (views are not engagement).
ENGAGEMENT_PARTS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes")
#: Each post's latest counters, kept up to date by every build.
POST_COUNTERS = "gold/post_counters"


def engagement_expr() -> pl.Expr:
    """likes + reposts + replies + quotes, a missing counter counting 0 (as in gold)."""
    return pl.sum_horizontal(*[pl.col(c).fill_null(0) for c in ENGAGEMENT_PARTS]).cast(pl.Int64)


def latest_counters(
    metrics: pl.LazyFrame, columns: tuple[str, ...] | list[str] | None = None
) -> pl.LazyFrame:
    """Each post's newest run of counters (the run with the largest ``observed_at``) and its
    engagement (likes + reposts + replies + quotes, a missing counter counting 0).

    Args:
        metrics: ``silver/post_metrics`` rows (run-length encoded: a row per change), all of a
            post's or at least its newest.
        columns: The columns of the newest run kept besides ``platform`` and ``post_id``
            (default: those of ``gold/post_counters``).

    Returns:
        One row per ``platform`` and ``post_id``: ``columns`` and ``engagement``; with the
        default columns, ``gold/post_counters`` rows.
    """
    spec = table_spec(POST_COUNTERS)
    keys = ["platform", "post_id"]
    keep = [c for c in spec.schema.names() if c not in (*keys, "engagement")]
    latest = metrics.group_by(keys).agg(
        pl.col(c).sort_by("observed_at").last() for c in (keep if columns is None else columns)
    )
    latest = latest.with_columns(engagement=engagement_expr())
    if columns is None:
        latest = latest.select([pl.col(c).cast(t) for c, t in spec.schema.items()])
    return latest
