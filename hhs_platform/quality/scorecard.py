"""The quality scorecard: per account, platform and UTC day, how complete, fresh, valid and
drift-free its data is (``quality/scorecard``; formulas in docs/quality.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from hhs_platform.connectors import CONNECTORS
from hhs_platform.connectors.x import TIMELINE_DEPTH
from hhs_platform.lake.store import Lake, WriteResult
from hhs_platform.quality.rules import flag_rows
from hhs_platform.settings import Settings, get_settings
from schemas import table_spec

SCORECARD, FLAGS = "quality/scorecard", "quality/flags"
SCORES = ("completeness", "freshness", "validity", "drift")
_SILVER = ("silver/accounts", "silver/account_snapshots", "silver/posts", "silver/post_metrics")


@dataclass(frozen=True)
class PostsCountRule:
    """How a platform's own post count counts, so silver can be counted the same way."""

    counts_reposts: bool = False
    #: Newest posts the API serves at most; older ones exist but cannot be collected.
    reachable: int | None = None


#: Platforms whose count differs from the default (own posts only, all reachable).
POSTS_COUNT_RULES: dict[str, PostsCountRule] = {
    "x": PostsCountRule(counts_reposts=True, reachable=TIMELINE_DEPTH),  # tweet_count
    "mastodon": PostsCountRule(counts_reposts=True),  # statuses_count includes boosts
    "truthsocial": PostsCountRule(counts_reposts=True),
}


def build_quality(
    lake: Lake, run_id: str, *, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, WriteResult]:
    """Flag the observations run ``run_id`` wrote to silver, then score today.

    Called by the collection flow after gold. Idempotent: a flag already stored is not written
    again (it keeps the run that first raised it) and today's scorecard rows are replaced.
    ``now`` is the scoring time (default the wall clock; a simulated clock for built histories).

    Returns:
        The writes, by table: ``quality/flags`` and ``quality/scorecard``.
    """
    settings = settings or get_settings()
    lake.create_missing([FLAGS, SCORECARD])
    flags = flag_rows(lake, None, run_id, settings=settings)
    keys = list(table_spec(FLAGS).keys)
    new = flags.join(lake.scan(FLAGS).select(keys).collect(), on=keys, how="anti")
    return {
        FLAGS: lake.merge(FLAGS, new),
        SCORECARD: build_scorecard(lake, settings=settings, now=now),
    }


def build_scorecard(
    lake: Lake,
    day: date | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> WriteResult:
    """Score every known account for ``day`` (default today, UTC) and MERGE the rows.

    Args:
        lake: The lake to read and write.
        day: The UTC day; a past day is scored as at its last instant, today as at ``now``.
        now: The current time, for tests; default the wall clock.
        settings: Cadences, grace and weights (``HHS_QUALITY_*``); default the process settings.
    """
    return lake.merge(SCORECARD, scorecard_rows(lake, day, now=now, settings=settings))


def scorecard_rows(
    lake: Lake,
    day: date | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """The ``quality/scorecard`` rows of ``day``: one per account known by then (see
    :func:`build_scorecard`).

    Raises:
        ValueError: ``day`` is after today.
    """
    settings = settings or get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    day = day or now.date()
    start = datetime.combine(day, time(), UTC)
    if start > now:
        raise ValueError(f"cannot score {day}: it is after today ({now.date()}, UTC)")
    at = min(now, start + timedelta(days=1) - timedelta(microseconds=1))
    spec = table_spec(SCORECARD)
    accounts = (
        lake.scan("silver/accounts")
        .filter(pl.col("first_seen_at") <= at)
        .select(
            "platform",
            "account_id",
            "account_key",
            "agency",
            "tier",
            "first_seen_at",
            pl.when(pl.col("last_seen_at") <= at)
            .then(pl.col("last_seen_at"))
            .otherwise(pl.col("first_seen_at"))
            .alias("_seen"),
        )
        .collect()
    )
    if accounts.is_empty():
        return spec.empty()
    by = ["platform", "account_id"]
    snaps = (
        lake.scan("silver/account_snapshots")
        .filter(pl.col("observed_at") <= at)
        .select(*by, "observed_at", "last_observed_at", "posts_count")
        .collect()
    )
    posts = (
        lake.scan("silver/posts")
        .filter(pl.col("first_seen_at") <= at)
        .select(
            *by,
            "post_type",
            "created_at",
            "first_seen_at",
            "last_seen_at",
            pl.when(pl.col("is_deleted")).then(pl.col("deleted_at")).alias("_deleted_at"),
        )
        .collect()
    )
    out = (
        accounts.join(_completeness(lake, snaps, posts, at), on=by, how="left")
        .join(_newest(accounts, snaps, posts, at), on=by, how="left")
        .join(_validity(lake, accounts, day, at), on=by, how="left")
        .join(_flags(lake, start, at), on=by, how="left")
        .join(_drift(lake, start, at), on="platform", how="left")
        .join(_last_fetch(lake, at), on="account_key", how="left")
    )
    out = _finish(out, day, at, settings)
    return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()]).sort(by)


def _completeness(
    lake: Lake, snaps: pl.DataFrame, posts: pl.DataFrame, at: datetime
) -> pl.DataFrame:
    """posts_expected, posts_collected, completeness_basis and completeness per account."""
    by = ["platform", "account_id"]
    latest = (
        snaps.filter(pl.col("posts_count").is_not_null())
        .sort("observed_at")
        .group_by(by)
        .agg(
            pl.col("posts_count").last(),
            pl.min_horizontal(pl.col("last_observed_at").last(), pl.lit(at)).alias("_count_at"),
        )
    )
    rules = pl.DataFrame(
        [
            {"platform": p, "_reposts": POSTS_COUNT_RULES.get(p, PostsCountRule()).counts_reposts}
            | {"_reachable": POSTS_COUNT_RULES.get(p, PostsCountRule()).reachable}
            for p in CONNECTORS
        ],
        schema={"platform": pl.Utf8, "_reposts": pl.Boolean, "_reachable": pl.Int64},
    )
    # Counted against the platform's count, the way the platform counts, as at its observation.
    counted = (
        posts.join(latest, on=by, how="inner")
        .join(rules, on="platform", how="left")
        .filter(
            (pl.col("created_at") <= pl.col("_count_at"))
            & (pl.col("_deleted_at").is_null() | (pl.col("_deleted_at") > pl.col("_count_at")))
            & ((pl.col("post_type") != "repost") | pl.col("_reposts").fill_null(False))
        )
        .group_by(by)
        .agg(pl.len().alias("_counted"))
    )
    live = (
        posts.filter(pl.col("_deleted_at").is_null() | (pl.col("_deleted_at") > at))
        .group_by(by)
        .agg(pl.len().alias("_live"))
    )
    return (
        latest.join(rules, on="platform", how="left")
        .join(counted, on=by, how="full", coalesce=True)
        .join(live, on=by, how="full", coalesce=True)
        .select(
            *by,
            pl.min_horizontal(
                "posts_count", pl.col("_reachable").fill_null(pl.col("posts_count"))
            ).alias("posts_expected"),
            pl.when(pl.col("posts_count").is_not_null())
            .then(pl.col("_counted").fill_null(0))
            .otherwise(pl.col("_live").fill_null(0))
            .alias("posts_collected"),
        )
    )


def _newest(
    accounts: pl.DataFrame, snaps: pl.DataFrame, posts: pl.DataFrame, at: datetime
) -> pl.DataFrame:
    """The newest known observation instant of each account at ``at``.

    Only instants that are real observations count: first and last ones of each run-length
    encoded snapshot row, an account's or post's first and last sighting. A sighting in the
    middle of a run is not stored, so the age is never understated.
    """
    by = ["platform", "account_id"]
    instants = pl.concat(
        [
            accounts.select(*by, pl.col("first_seen_at").alias("_t")),
            accounts.select(*by, pl.col("_seen").alias("_t")),
            snaps.select(*by, pl.col("observed_at").alias("_t")),
            snaps.select(*by, pl.col("last_observed_at").alias("_t")),
            posts.select(*by, pl.col("first_seen_at").alias("_t")),
            posts.select(*by, pl.col("last_seen_at").alias("_t")),
        ]
    )
    return (
        instants.filter(pl.col("_t") <= at)
        .group_by(by)
        .agg(pl.col("_t").max().alias("newest_observation_at"))
    )


def _validity(lake: Lake, accounts: pl.DataFrame, day: date, at: datetime) -> pl.DataFrame:
    """rows_valid and rows_quarantined per account, from the responses fetched that day.

    A row is counted once per day per entity (an account, a post, a post's counters...), so a
    post served by every hourly run counts once, valid or rejected.
    """
    by = ["platform", "account_id"]
    responses = (
        lake.scan("bronze/raw_responses")
        .filter((pl.col("fetched_date") == day) & (pl.col("fetched_at") <= at))
        .select("response_id", "platform", "account_key")
        .collect()
        .join(accounts.select(*by, "account_key"), on=["platform", "account_key"], how="inner")
        .select("response_id", *by)
    )
    start = datetime.combine(day, time(), UTC)
    valid = []
    for table in _SILVER:
        spec = table_spec(table)
        entity = [k for k in spec.keys if k not in ("observed_at", "platform")]
        stamp = "last_observed_at" if "last_observed_at" in spec.schema else "last_seen_at"
        rows = (
            lake.scan(table)
            .filter(pl.col(stamp) >= start)
            .select("response_id", pl.concat_str(entity, separator="|").alias("_entity"))
            .collect()
            .join(responses, on="response_id", how="inner")
            .select(*by, pl.lit(table).alias("_table"), "_entity")
        )
        valid.append(rows)
    good = pl.concat(valid).unique().group_by(by).agg(pl.len().alias("rows_valid"))
    bad = (
        lake.scan("quarantine/rows")
        .filter(pl.col("quarantined_at") >= start)  # parsed at or after the fetch
        .select("table", "response_id", "row")
        .collect()
        .join(responses, on="response_id", how="inner")
    )
    row_entity = pl.lit(None, pl.Utf8)
    for table in _SILVER:
        keys = [k for k in table_spec(table).keys if k not in ("observed_at", "platform")]
        row_entity = (
            pl.when(pl.col("table") == table)
            .then(
                pl.concat_str(
                    [pl.col("row").str.json_path_match(f"$.{k}") for k in keys], separator="|"
                )
            )
            .otherwise(row_entity)
        )
    # A rejected response (or a part of one) is one entity per endpoint and reason a day.
    problem = pl.concat_str(
        [
            pl.col("row").str.json_path_match("$.endpoint"),
            pl.col("row").str.json_path_match("$.reason"),
        ],
        separator="|",
    )
    lost_posts = pl.col("table").is_in(["silver/posts", "bronze/raw_responses"])
    bad = (
        bad.select(*by, "table", pl.coalesce(row_entity, problem, pl.col("row")).alias("_entity"))
        .unique()
        .group_by(by)
        .agg(
            pl.len().alias("rows_quarantined"),
            lost_posts.sum().alias("_posts_rejected"),
        )
    )
    return good.join(bad, on=by, how="full", coalesce=True)


def _last_fetch(lake: Lake, at: datetime) -> pl.DataFrame:
    """Per registry key, whether its latest fetch by ``at`` read the whole feed."""
    return (
        lake.scan("bronze/fetch_log")
        .filter(pl.col("finished_at") <= at)
        .select("account_key", "status", "finished_at")
        .sort("finished_at")
        .group_by("account_key")
        .agg((pl.col("status").last() == "complete").alias("_read_fully"))
        .collect()
    )


def _flags(lake: Lake, start: datetime, at: datetime) -> pl.DataFrame:
    return (
        lake.scan(FLAGS)
        .filter(pl.col("observed_at").is_between(start, at))
        .group_by("platform", "account_id")
        .agg(pl.len().cast(pl.Int64).alias("flags"))
        .collect()
    )


def _drift(lake: Lake, start: datetime, at: datetime) -> pl.DataFrame:
    """fields_expected and fields_missing per platform for the day."""
    expected = pl.DataFrame(
        [
            (platform, endpoint, f)
            for platform, connector in CONNECTORS.items()
            for endpoint, fields in connector.expected_fields.items()
            for f in fields
        ],
        schema={"platform": pl.Utf8, "endpoint": pl.Utf8, "field": pl.Utf8},
        orient="row",
    ).unique()
    missing = (
        lake.scan("quality/field_drift")
        .filter((pl.col("first_missing_at") <= at) & (pl.col("last_missing_at") >= start))
        .select("platform", "endpoint", "field")
        .collect()
        .unique()
        .join(expected, on=["platform", "endpoint", "field"], how="semi")
        .group_by("platform")
        .agg(pl.len().alias("fields_missing"))
    )
    return (
        expected.group_by("platform")
        .agg(pl.len().alias("fields_expected"))
        .join(missing, on="platform", how="left")
    )


def _finish(out: pl.DataFrame, day: date, at: datetime, settings: Settings) -> pl.DataFrame:
    cadence = settings.quality_cadence_hours
    loosest = max(cadence.values())
    tiers = pl.DataFrame(
        {"tier": list(cadence), "cadence_hours": list(cadence.values())},
        schema={"tier": pl.Int64, "cadence_hours": pl.Float64},
    )
    out = out.join(tiers, on="tier", how="left").with_columns(
        pl.col("cadence_hours").fill_null(loosest),
        *(pl.col(c).fill_null(0) for c in ("rows_valid", "rows_quarantined", "flags")),
        *(pl.col(c).fill_null(0) for c in ("fields_expected", "fields_missing", "posts_collected")),
    )
    fetched = pl.col("_read_fully").fill_null(False)
    rejected = pl.col("_posts_rejected").fill_null(0)
    allowed = pl.col("cadence_hours") + settings.quality_freshness_grace_hours
    age = (pl.lit(at) - pl.col("newest_observation_at")).dt.total_microseconds() / 3.6e9
    checked = pl.col("rows_valid") + pl.col("rows_quarantined")
    out = out.with_columns(
        date=pl.lit(day, pl.Date),
        computed_at=pl.lit(at, pl.Datetime("us", "UTC")),
        completeness_basis=pl.when(pl.col("posts_expected").is_not_null())
        .then(pl.lit("posts_count"))
        .when(fetched)
        .then(pl.lit("full_read"))
        .otherwise(pl.lit("unknown")),
        completeness=pl.when(pl.col("posts_expected") == 0)
        .then(1.0)
        .when(pl.col("posts_expected").is_not_null())
        .then(pl.min_horizontal(pl.col("posts_collected") / pl.col("posts_expected"), 1.0))
        .when(fetched)
        .then(
            pl.when(pl.col("posts_collected") + rejected > 0)
            .then(pl.col("posts_collected") / (pl.col("posts_collected") + rejected))
            .otherwise(1.0)
        ),
        age_hours=age,
        validity=pl.when(checked > 0).then(pl.col("rows_valid") / checked),
        drift=pl.when(pl.col("fields_expected") > 0).then(
            1.0 - pl.col("fields_missing") / pl.col("fields_expected")
        ),
    ).with_columns(
        freshness=pl.when(pl.col("age_hours") <= allowed)
        .then(1.0)
        .when(pl.col("age_hours").is_not_null())
        .then(allowed / pl.col("age_hours"))
    )
    weights = {k: w for k, w in settings.quality_weights.items() if k in SCORES}
    num = pl.sum_horizontal([pl.col(k).fill_null(0.0) * w for k, w in weights.items()])
    den = pl.sum_horizontal(
        [pl.col(k).is_not_null().cast(pl.Float64) * w for k, w in weights.items()]
    )
    return out.with_columns(overall=pl.when(den > 0).then(num / den))
