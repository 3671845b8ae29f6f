"""Rules specific to social data, beyond the Pandera contracts (docs/quality.md).

Hard rules reject a row: it goes to ``quarantine/rows`` with the rule and the reason, like a
contract failure. They run inside ``parse_bronze`` right after the contracts.

* ``future_timestamp``: a time later than it can be (clock-skew tolerance allowed).
* ``post_id_unique``: one post id claimed by two accounts of a platform.
* ``capability_counters``: an observation carrying none of the counters its platform gives.

Soft rules keep the row and write a ``quality/flags`` row (:func:`flag_rows`):

* ``counter_fall``: a counter fell against the previous observation beyond the tolerance.
* ``day_change``: followers or posts_count moved implausibly fast for one day.
* ``engagement_bound``: a post's engagement implausibly high for the account's followers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from hhs_platform.connectors import CONNECTORS
from hhs_platform.lake.store import Lake
from hhs_platform.quality.contracts import quarantine_frame
from hhs_platform.settings import Settings, get_settings
from schemas import table_spec

#: Counters of each observation table (those a ``Capabilities`` declares by the same name).
COUNTERS: dict[str, tuple[str, ...]] = {
    "silver/account_snapshots": ("followers", "following", "posts_count"),
    "silver/post_metrics": ("likes", "reposts", "replies", "quotes", "views"),
}
#: Timestamps that must not be later than the fetch of the response the row was parsed from:
#: a post cannot be published, nor an account created, after it was downloaded; the times the
#: pipeline stamps (observations, sightings) are the fetch time itself.
TIMESTAMPS: dict[str, tuple[str, ...]] = {
    "silver/accounts": ("account_created_at", "first_seen_at", "last_seen_at"),
    "silver/account_snapshots": ("observed_at", "last_observed_at"),
    "silver/posts": ("created_at", "first_seen_at", "last_seen_at", "deleted_at"),
    "silver/post_metrics": ("observed_at", "last_observed_at"),
}
#: Counters whose fall is flagged (``following`` is the account's own choice, not a figure
#: its audience sets, so an agency pruning whom it follows is not a data problem).
FALL_COUNTERS: dict[str, tuple[str, ...]] = {
    "silver/account_snapshots": ("followers", "posts_count"),
    "silver/post_metrics": ("likes", "reposts", "replies", "quotes", "views"),
}
#: Account figures checked day over day.
DAY_CHANGE_COUNTERS = ("followers", "posts_count")
#: The counters summed into a post's engagement (views are reach, not engagement).
ENGAGEMENT = ("likes", "reposts", "replies", "quotes")
#: A soft rule's finding is ``critical`` when its relative threshold is exceeded this many times.
CRITICAL_FACTOR = 10.0

_SNAPSHOTS, _METRICS, _POSTS = "silver/account_snapshots", "silver/post_metrics", "silver/posts"


def declared_counters(platform: str, table: str) -> tuple[str, ...]:
    """The counters of ``table`` that the platform's connector says it can give."""
    connector = CONNECTORS.get(platform)
    if connector is None or table not in COUNTERS:
        return ()
    caps = asdict(connector.capabilities)
    return tuple(c for c in COUNTERS[table] if caps.get(c) is True)


# --- hard rules ---------------------------------------------------------------------------------


def apply_row_rules(
    table: str,
    df: pl.DataFrame,
    fetched: pl.DataFrame | Mapping[str, datetime] | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows that pass the hard rules from quarantine rows for those that do not.

    Args:
        table: The silver table the rows are for.
        df: Rows that already meet the table's Pandera contract.
        fetched: ``response_id`` → ``fetched_at`` of the bronze responses the rows came from
            (a frame with both columns, or a mapping). A row whose response is not in it is
            judged against ``now``.
        settings: Thresholds (``HHS_QUALITY_CLOCK_SKEW_S``); default the process settings.
        now: The wall clock, for tests; default the current UTC time.

    Returns:
        ``(valid, quarantine)``: the rows that pass (a key repeated by one account collapsed
        to one row, as ``parse_bronze`` does) and ``quarantine/rows`` rows for the others,
        each with every hard rule it failed.
    """
    if df.is_empty():
        return df, quarantine_frame([])
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    skew = timedelta(seconds=settings.quality_clock_skew_s)
    df, clashes = _unique_post_ids(table, df)
    columns = df.columns
    if "response_id" in columns:
        work = df.join(_fetched_frame(fetched), on="response_id", how="left", maintain_order="left")
    else:
        work = df.with_columns(_fetched_at=pl.lit(None, pl.Datetime("us", "UTC")))
    reasons = [*_future_timestamps(table, columns, now, skew), _capability_counters(table, df)]
    checked = work.with_columns(_why=pl.concat_list(reasons).list.drop_nulls()).select(
        *columns, "_why"
    )
    failed = checked.filter(pl.col("_why").list.len() > 0)
    valid = checked.filter(pl.col("_why").list.len() == 0).drop("_why")
    entries = [*clashes, *(_entry(table, row) for row in failed.iter_rows(named=True))]
    return valid, quarantine_frame(entries)


def _entry(table: str, row: dict[str, Any]) -> dict[str, Any]:
    rules = row.pop("_why")
    return {
        "table": table,
        "run_id": row.get("run_id", ""),
        "response_id": row.get("response_id"),
        "platform": row.get("platform"),
        "rules": rules,
        "row": row,
    }


def _fetched_frame(fetched: pl.DataFrame | Mapping[str, datetime] | None) -> pl.DataFrame:
    schema = pl.Schema({"response_id": pl.String(), "_fetched_at": pl.Datetime("us", "UTC")})
    if fetched is None:
        return pl.DataFrame(schema=schema)
    if isinstance(fetched, pl.DataFrame):
        frame = fetched.select("response_id", pl.col("fetched_at").alias("_fetched_at"))
    else:
        frame = pl.DataFrame(
            {"response_id": list(fetched), "_fetched_at": list(fetched.values())}, schema=schema
        )
    return frame.cast(schema).unique("response_id")


def _stamp(expr: pl.Expr) -> pl.Expr:
    return expr.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%SZ")


def _future_timestamps(
    table: str, columns: list[str], now: datetime, skew: timedelta
) -> list[pl.Expr]:
    """Per timestamp column, 'column: future_timestamp (...)' on rows where it is too late.

    The reference is the fetch of the row's response (``_fetched_at``), or ``now`` for a row
    whose response is unknown.
    """
    seconds = pl.lit(int(skew.total_seconds()))
    known = pl.col("_fetched_at").is_not_null()
    ref = pl.coalesce(pl.col("_fetched_at"), pl.lit(now, pl.Datetime("us", "UTC")))
    what = pl.when(known).then(pl.lit("the fetch at")).otherwise(pl.lit("now,"))
    parts: list[pl.Expr] = []
    for col in TIMESTAMPS.get(table, ()):
        if col not in columns:
            continue
        parts.append(
            pl.when(pl.col(col) > ref + skew).then(
                pl.format(
                    "{}: future_timestamp ({} is after {} {} + {}s skew)",
                    pl.lit(col),
                    _stamp(pl.col(col)),
                    what,
                    _stamp(ref),
                    seconds,
                )
            )
        )
    return parts or [pl.lit(None, pl.Utf8)]


def _capability_counters(table: str, df: pl.DataFrame) -> pl.Expr:
    """'row: capability_counters (...)' for an observation with none of its platform's counters."""
    if table not in COUNTERS or df.is_empty():
        return pl.lit(None, pl.Utf8)
    cases: Any = None
    for platform in df["platform"].unique().to_list():
        declared = declared_counters(platform, table)
        if not declared:
            continue
        empty = (pl.col("platform") == platform) & pl.all_horizontal(
            pl.col(c).is_null() for c in declared
        )
        reason = f"row: capability_counters (none of {', '.join(declared)}, which {platform} gives)"
        cases = (pl.when(empty) if cases is None else cases.when(empty)).then(pl.lit(reason))
    if cases is None:
        return pl.lit(None, pl.Utf8)
    return cases.otherwise(None)


def _unique_post_ids(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """One row per key; a post id claimed by two accounts of a platform rejects every claim.

    The same key repeated by one account is one item seen twice (a repeated page), collapsed
    exactly as ``parse_bronze`` does, never quarantined nor counted twice.
    """
    from hhs_platform.transforms.normalize import _one_per_key  # normalize imports this module

    keys = list(table_spec(table).keys)
    if not set(keys) <= set(df.columns):
        return df, []
    entries: list[dict[str, Any]] = []
    if table == _POSTS and df.height > 1:
        owners = df.group_by("platform", "post_id").agg(
            pl.col("account_id").unique().sort().alias("_owners")
        )
        clash = owners.filter(pl.col("_owners").list.len() > 1)
        if not clash.is_empty():
            bad = df.join(clash, on=["platform", "post_id"], how="inner")
            for row in bad.iter_rows(named=True):
                owners_text = ", ".join(row.pop("_owners"))
                row["_why"] = [
                    f"post_id: post_id_unique (the {row['platform']} post is claimed by "
                    f"accounts {owners_text})"
                ]
                entries.append(_entry(table, row))
            df = df.join(clash, on=["platform", "post_id"], how="anti")
    return _one_per_key(table, df), entries


# --- soft rules ---------------------------------------------------------------------------------


def flag_rows(
    lake: Lake,
    source: Any = None,
    run_id: str = "",
    *,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """``quality/flags`` rows for new observations, judged against the stored series.

    Args:
        lake: The lake whose silver holds the earlier observations.
        source: The new observations: a ``SilverBatch`` or a mapping of silver table name to
            rows, parsed and not yet written; or ``None`` to take from silver the rows run
            ``run_id`` wrote.
        run_id: The run the flags are raised for (the ``run_id`` column); with ``source=None``
            it also selects the rows.
        settings: Thresholds (``HHS_QUALITY_*``); default the process settings.

    Returns:
        One row per broken soft rule, metric and observation (the ``quality/flags`` schema).
    """
    settings = settings or get_settings()
    tables = _source_tables(lake, source, run_id)
    snapshots = _series(lake, _SNAPSHOTS, tables.get(_SNAPSHOTS))
    metrics = _series(lake, _METRICS, tables.get(_METRICS))
    frames = [
        _falls(snapshots, _SNAPSHOTS, "account", "account_id", settings),
        _day_changes(snapshots, settings),
        _falls(metrics, _METRICS, "post", "post_id", settings),
        _engagement(lake, metrics, snapshots, tables.get(_POSTS), settings),
    ]
    spec = table_spec("quality/flags")
    out = pl.concat([f for f in frames if not f.is_empty()] or [spec.empty()], how="diagonal")
    out = out.with_columns(run_id=pl.lit(run_id, pl.Utf8))
    keys = list(spec.keys)
    return (
        out.select([pl.col(c).cast(t) for c, t in spec.schema.items()])
        .unique(keys, keep="first", maintain_order=True)
        .sort(keys)
    )


def _source_tables(lake: Lake, source: Any, run_id: str) -> dict[str, pl.DataFrame]:
    if source is None:
        return {
            name: lake.scan(name).filter(pl.col("run_id") == run_id).collect()
            for name in (_SNAPSHOTS, _METRICS, _POSTS)
        }
    tables = getattr(source, "tables", source)
    return {k: v for k, v in dict(tables).items() if k in (_SNAPSHOTS, _METRICS, _POSTS)}


def _series(lake: Lake, table: str, incoming: pl.DataFrame | None) -> pl.DataFrame:
    """The stored series of the entities in ``incoming`` plus the incoming rows (``_new``)."""
    spec = table_spec(table)
    entity = [k for k in spec.keys if k != "observed_at"]
    cols = [*entity, "account_id", "observed_at", "last_observed_at", *COUNTERS[table]]
    cols = list(dict.fromkeys(cols))
    if incoming is None or incoming.is_empty():
        return pl.DataFrame(schema={**{c: spec.schema[c] for c in cols}, "_new": pl.Boolean})
    new = incoming.select(cols).with_columns(_new=pl.lit(True))
    stored = _stored(lake, table, new, entity, cols).with_columns(_new=pl.lit(False))
    rows = pl.concat([new, stored.cast(new.drop("_new").schema)])  # type: ignore[arg-type]
    # A row both stored and incoming (flags from silver history) counts once, as new.
    rows = rows.unique([*entity, "observed_at"], keep="first", maintain_order=True)
    return rows.sort([*entity, "observed_at"])


#: The stored observations of an entity read first: those of the last days before the new ones.
_RECENT = timedelta(days=7)


def _read_entities(
    scan: pl.LazyFrame, of: pl.DataFrame, entity: list[str], cols: list[str]
) -> pl.DataFrame:
    """The rows of ``scan`` (columns ``cols``) of the entities listed in ``of``."""
    return (
        scan.filter(
            pl.col("platform").is_in(of["platform"].unique().to_list())
            & pl.col(entity[-1]).is_in(of[entity[-1]].unique().to_list())
        )
        .select(cols)
        .collect()
        .join(of.select(entity).unique(), on=entity, how="semi")
    )


def _with_whole_history(
    scan: pl.LazyFrame,
    recent: pl.DataFrame,
    older: pl.DataFrame,
    entity: list[str],
    cols: list[str],
) -> pl.DataFrame:
    """``recent`` rows, those of the entities in ``older`` replaced by their whole history."""
    if older.is_empty():
        return recent
    return pl.concat(
        [recent.join(older, on=entity, how="anti"), _read_entities(scan, older, entity, cols)]
    )


def _stored(
    lake: Lake, table: str, new: pl.DataFrame, entity: list[str], cols: list[str]
) -> pl.DataFrame:
    """The stored rows of ``new``'s entities that the rules compare the new rows with.

    The counters' previous values are all the rules read. Of an observation table (millions of
    rows, years of history), only the runs reaching the last ``_RECENT`` days before the new
    rows are read first (their times prune the older files); then the whole history of the
    entities for which that may not hold a counter's previous value: one whose new rows have a
    counter that no earlier recent row has (a post first seen since has no older row).
    """
    ids = new.select(entity).unique()
    since: datetime = new["observed_at"].min() - _RECENT  # type: ignore[operator,assignment]
    scan = lake.scan(table)
    recent = _read_entities(scan.filter(pl.col("last_observed_at") >= since), ids, entity, cols)
    counters = FALL_COUNTERS[table]
    if table == _SNAPSHOTS:
        counters = tuple(dict.fromkeys((*counters, *DAY_CHANGE_COUNTERS)))
    first = new.group_by(entity).agg(
        pl.col("observed_at").min().alias("_t0"),
        *[pl.col(c).is_not_null().any().alias(c) for c in counters],
    )
    known = (
        recent.join(first.select(*entity, "_t0"), on=entity)
        .filter(pl.col("observed_at") < pl.col("_t0"))
        .group_by(entity)
        .agg(pl.col(c).is_not_null().any() for c in counters)
    )
    missing = pl.any_horizontal(
        pl.col(c) & ~pl.col(f"{c}_known").fill_null(False) for c in counters
    )
    older = first.join(known, on=entity, how="left", suffix="_known").filter(missing).select(entity)
    if table == _METRICS and not older.is_empty():
        # A post's observations begin when it was first seen. (An account's snapshots may be
        # older than its first sighting: a history imported from elsewhere.)
        seen_since = (
            lake.scan(_POSTS)
            .filter(pl.col("platform").is_in(older["platform"].unique().to_list()))
            .select(*entity, "first_seen_at")
            .join(older.lazy(), on=entity, how="semi")
            .filter(pl.col("first_seen_at") >= since)
            .select(entity)
            .collect()
        )
        older = older.join(seen_since, on=entity, how="anti")
    return _with_whole_history(scan, recent, older, entity, cols)


def _with_previous(rows: pl.DataFrame, entity: list[str], counter: str) -> pl.DataFrame:
    """Each row with the counter's previous non-null value and when it was last seen."""
    c = pl.col(counter)
    return rows.with_columns(
        _value=c,
        _prev=c.shift(1).forward_fill().over(entity),
        _prev_at=pl.when(c.is_not_null())
        .then(pl.col("last_observed_at"))
        .shift(1)
        .forward_fill()
        .over(entity),
    ).filter(pl.col("_new") & pl.col("_value").is_not_null() & pl.col("_prev").is_not_null())


def _flag_frame(
    found: pl.DataFrame,
    *,
    entity: str,
    id_col: str,
    rule: str,
    metric: str,
    ratio: pl.Expr,
    threshold: pl.Expr,
    detail: pl.Expr,
) -> pl.DataFrame:
    return found.select(
        "platform",
        "account_id",
        pl.lit(entity).alias("entity"),
        pl.col(id_col).alias("entity_id"),
        pl.lit(rule).alias("rule"),
        pl.lit(metric).alias("metric"),
        pl.when(ratio >= threshold * CRITICAL_FACTOR)
        .then(pl.lit("critical"))
        .otherwise(pl.lit("warning"))
        .alias("severity"),
        "observed_at",
        pl.col("_value").alias("value"),
        pl.col("_prev").alias("reference"),
        detail.alias("detail"),
    )


def _falls(
    rows: pl.DataFrame, table: str, entity: str, id_col: str, settings: Settings
) -> pl.DataFrame:
    """counter_fall: value below the previous observation by more than both tolerances."""
    if rows.is_empty():
        return pl.DataFrame()
    keys = [k for k in table_spec(table).keys if k != "observed_at"]
    pct = settings.quality_fall_tolerance_pct
    units = settings.quality_fall_tolerance_units
    out = []
    for counter in FALL_COUNTERS[table]:
        prev = _with_previous(rows, keys, counter)
        fall = pl.col("_prev") - pl.col("_value")
        found = prev.filter((fall > units) & (fall * 100 > pl.col("_prev") * pct))
        if found.is_empty():
            continue
        share = (pl.col("_prev") - pl.col("_value")) * 100 / pl.col("_prev")
        out.append(
            _flag_frame(
                found,
                entity=entity,
                id_col=id_col,
                rule="counter_fall",
                metric=counter,
                ratio=share,
                threshold=pl.lit(pct),
                detail=pl.format(
                    "{} fell from {} to {} (-{}, -{}%); tolerated: {} and {}%",
                    pl.lit(counter),
                    "_prev",
                    "_value",
                    pl.col("_prev") - pl.col("_value"),
                    share.round(2),
                    pl.lit(units),
                    pl.lit(pct),
                ),
            )
        )
    return pl.concat(out) if out else pl.DataFrame()


def _day_changes(rows: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """day_change: |change| over the previous observation above the % allowed per day elapsed."""
    if rows.is_empty():
        return pl.DataFrame()
    pct = settings.quality_day_change_pct
    units = settings.quality_day_change_min_units
    out = []
    for counter in DAY_CHANGE_COUNTERS:
        prev = _with_previous(rows, ["platform", "account_id"], counter)
        change = (pl.col("_value") - pl.col("_prev")).abs()
        days = pl.max_horizontal(
            pl.lit(1.0),
            (pl.col("observed_at") - pl.col("_prev_at")).dt.total_seconds() / 86400.0,
        )
        share = pl.when(pl.col("_prev") > 0).then(change * 100 / pl.col("_prev"))
        per_day = share.otherwise(float("inf")) / days
        found = prev.with_columns(_per_day=per_day, _days=days).filter(
            (change > units) & (pl.col("_per_day") > pct)
        )
        if found.is_empty():
            continue
        out.append(
            _flag_frame(
                found,
                entity="account",
                id_col="account_id",
                rule="day_change",
                metric=counter,
                ratio=pl.col("_per_day"),
                threshold=pl.lit(pct),
                detail=pl.format(
                    "{} went from {} to {} in {} day(s): {}% a day; allowed: {}% a day "
                    "(changes of at most {} never flagged)",
                    pl.lit(counter),
                    "_prev",
                    "_value",
                    pl.col("_days").round(2),
                    pl.col("_per_day").round(2),
                    pl.lit(pct),
                    pl.lit(units),
                ),
            )
        )
    return pl.concat(out) if out else pl.DataFrame()


def _engagement(
    lake: Lake,
    metrics: pl.DataFrame,
    snapshots: pl.DataFrame,
    posts: pl.DataFrame | None,
    settings: Settings,
) -> pl.DataFrame:
    """engagement_bound: a post's likes + reposts + replies + quotes far above the followers.

    Reposts are left out: their counters are the original post's, earned by another account's
    audience. The followers are the account's value in force at the observation (the nearest
    one when the account was first observed after it).
    """
    new = metrics.filter(pl.col("_new")) if not metrics.is_empty() else metrics
    if new.is_empty():
        return pl.DataFrame()
    new = new.with_columns(
        _value=pl.when(pl.any_horizontal(pl.col(c).is_not_null() for c in ENGAGEMENT))
        .then(pl.sum_horizontal(ENGAGEMENT))
        .otherwise(None)
        .cast(pl.Int64)
    ).filter(pl.col("_value") > settings.quality_engagement_min_units)
    if new.is_empty():
        return pl.DataFrame()
    kinds = _post_types(lake, new, posts)
    new = new.join(kinds, on=["platform", "post_id"], how="inner").filter(
        pl.col("post_type") != "repost"
    )
    followers = _followers(lake, new, snapshots)
    if new.is_empty() or followers.is_empty():
        return pl.DataFrame()
    by = ["platform", "account_id"]
    new = new.sort("observed_at")
    back = new.join_asof(
        followers, on="observed_at", by=by, strategy="backward", check_sortedness=False
    )
    ahead = new.join_asof(
        followers, on="observed_at", by=by, strategy="forward", check_sortedness=False
    )
    joined = back.with_columns(_prev=pl.coalesce(back["_followers"], ahead["_followers"]))
    ratio = settings.quality_engagement_max_ratio
    found = joined.filter(
        pl.col("_prev").is_not_null() & (pl.col("_value") > pl.col("_prev") * ratio)
    )
    if found.is_empty():
        return pl.DataFrame()
    times = pl.when(pl.col("_prev") > 0).then(pl.col("_value") / pl.col("_prev"))
    return _flag_frame(
        found,
        entity="post",
        id_col="post_id",
        rule="engagement_bound",
        metric="engagement",
        ratio=times.otherwise(float("inf")),
        threshold=pl.lit(ratio),
        detail=pl.format(
            "engagement {} (likes + reposts + replies + quotes) is {}x the account's {} "
            "followers; allowed: {}x",
            "_value",
            times.otherwise(None).round(2),
            "_prev",
            pl.lit(ratio),
        ),
    )


def _post_types(lake: Lake, metrics: pl.DataFrame, posts: pl.DataFrame | None) -> pl.DataFrame:
    keys = ["platform", "post_id"]
    wanted = metrics.select(keys).unique()
    frames = []
    if posts is not None and not posts.is_empty():
        frames.append(posts.select(*keys, "post_type"))
    frames.append(
        lake.scan(_POSTS)
        .filter(
            pl.col("platform").is_in(wanted["platform"].unique().to_list())
            & pl.col("post_id").is_in(wanted["post_id"].to_list())
        )
        .select(*keys, "post_type")
        .collect()
    )
    return pl.concat(frames).unique(keys, keep="first").join(wanted, on=keys, how="semi")


def _followers(lake: Lake, metrics: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """(platform, account_id, observed_at, _followers) of the accounts the metrics belong to.

    Enough of each account's history to find the followers in force at each metric's time and
    the next ones: the snapshots reaching the last ``_RECENT`` days before the metrics, and the
    whole history of an account none of whose recent snapshots with followers began before its
    first metric."""
    by = ["platform", "account_id"]
    accounts = metrics.select(by).unique()
    cols = [*by, "observed_at", "followers"]
    since: datetime = metrics["observed_at"].min() - _RECENT  # type: ignore[operator,assignment]
    scan = lake.scan(_SNAPSHOTS)
    recent = _read_entities(scan.filter(pl.col("last_observed_at") >= since), accounts, by, cols)
    t0 = metrics.group_by(by).agg(pl.col("observed_at").min().alias("_t0"))
    covered = (
        recent.filter(pl.col("followers").is_not_null())
        .join(t0, on=by)
        .filter(pl.col("observed_at") <= pl.col("_t0"))
        .select(by)
        .unique()
    )
    older = accounts.join(covered, on=by, how="anti")
    frames = [_with_whole_history(scan, recent, older, by, cols)]
    if not snapshots.is_empty():
        frames.append(snapshots.select(*by, "observed_at", "followers"))
    rows = pl.concat(frames, how="vertical_relaxed").join(accounts, on=by, how="semi")
    return (
        rows.filter(pl.col("followers").is_not_null())
        .unique([*by, "observed_at"], keep="last")
        .rename({"followers": "_followers"})
        .sort("observed_at")
    )
