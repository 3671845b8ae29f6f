"""Run-length encoding of observation time series: a new row only when a value changes."""

from __future__ import annotations

import polars as pl


def compact_observations(
    incoming: pl.DataFrame,
    stored: pl.DataFrame,
    keys: list[str],
    values: list[str],
) -> pl.DataFrame:
    """Fold observations into change rows.

    ``incoming`` rows carry ``keys``, ``observed_at``, ``last_observed_at`` and ``values``;
    ``stored`` holds the rows already in the table for those keys that the incoming ones can touch
    (at least each key's latest row and every row whose run reaches the earliest incoming time).
    Consecutive observations with equal values collapse into one row whose ``observed_at`` is the
    first and ``last_observed_at`` the last. A run that starts with a stored row keeps that row's
    ``observed_at``, so a MERGE only moves its ``last_observed_at``; runs made only of stored rows
    are dropped. Replaying responses already stored therefore changes nothing.
    """
    if incoming.is_empty():
        return incoming
    cols = incoming.columns
    anchors = stored.select(cols).with_columns(pl.lit(True).alias("_stored"))
    rows = pl.concat(
        [anchors, incoming.with_columns(pl.lit(False).alias("_stored"))], how="vertical_relaxed"
    )
    rows = rows.sort(
        [*keys, "observed_at", "_stored"], descending=[False] * len(keys) + [False, True]
    )
    same = pl.all_horizontal([pl.col(v).eq_missing(pl.col(v).shift(1).over(keys)) for v in values])
    rows = rows.with_columns(_run=(~same).cum_sum().over(keys))
    runs = rows.group_by([*keys, "_run"], maintain_order=True).agg(
        pl.col("observed_at").first(),
        pl.col("last_observed_at").max(),
        pl.col("last_observed_at").filter(pl.col("_stored")).max().alias("_stored_last"),
        pl.all().exclude([*keys, "_run", "observed_at", "last_observed_at", "_stored"]).last(),
    )
    # A run that adds no observation beyond what is stored needs no write.
    covered = pl.col("_stored_last").is_not_null() & (
        pl.col("last_observed_at") <= pl.col("_stored_last")
    )
    return runs.filter(~covered).select(cols)
