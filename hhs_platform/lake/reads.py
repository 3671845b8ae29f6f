"""The read API over the lake: what dashboards, notebooks and reports ask for, by meaning.

Consumers call these functions and get polars DataFrames; they never see table paths or Delta
details. Filters are pushed into the lazy scan so only the needed files, columns and rows are read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

from hhs_platform.lake.store import Lake
from schemas import table_spec

DAILY_ACCOUNT_METRICS = "gold/daily_account_metrics"
ACCOUNTS = "silver/accounts"

#: Agency label of gold rows whose account is not (yet) tied to an agency in the registry.
UNASSIGNED_AGENCY = "(unassigned)"

#: Columns of :func:`agency_platform_daily`, in order.
AGENCY_PLATFORM_DAILY_COLUMNS: tuple[str, ...] = (
    "date",
    "agency",
    "platform",
    "accounts",
    "followers",
    "followers_change",
    "posts_published",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "views",
    "engagement",
    "engagement_rate",
)

_SUMMED = (
    "followers",
    "followers_change",
    "posts_published",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "views",
    "engagement",
)


_DERIVED = {"accounts", "engagement_rate"}


def _lake(lake: Lake | None) -> Lake:
    return lake if lake is not None else Lake()


def _as_list(values: str | Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return list(values)


def _filters(
    *,
    agencies: str | Iterable[str] | None,
    platforms: str | Iterable[str] | None,
    since: dt.date | None,
    until: dt.date | None,
) -> pl.Expr | None:
    exprs: list[pl.Expr] = []
    agency_list = _as_list(agencies)
    platform_list = _as_list(platforms)
    if platform_list is not None:
        exprs.append(pl.col("platform").is_in(platform_list))
    if agency_list is not None:
        wanted = [a for a in agency_list if a != UNASSIGNED_AGENCY]
        expr = pl.col("agency").is_in(wanted)
        if UNASSIGNED_AGENCY in agency_list:
            expr = expr | pl.col("agency").is_null()
        exprs.append(expr)
    if since is not None:
        exprs.append(pl.col("date") >= pl.lit(since, dtype=pl.Date))
    if until is not None:
        exprs.append(pl.col("date") <= pl.lit(until, dtype=pl.Date))
    return pl.all_horizontal(exprs) if exprs else None


def daily_account_metrics(
    lake: Lake | None = None,
    *,
    agencies: str | Iterable[str] | None = None,
    platforms: str | Iterable[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Daily figures per account (``gold/daily_account_metrics``), filtered in the scan.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).
        agencies: Keep these agency codes only (``UNASSIGNED_AGENCY`` selects rows without one).
        platforms: Keep these platform slugs only.
        since: First date to keep (inclusive).
        until: Last date to keep (inclusive).
        columns: Columns to read; ``None`` reads them all.

    Returns:
        One row per date, platform and account, sorted by date, platform and account id. Empty,
        with the table's schema, when gold has not been built yet.

    Raises:
        KeyError: A requested column is not in the table.
    """
    spec = table_spec(DAILY_ACCOUNT_METRICS)
    wanted = list(columns) if columns is not None else list(spec.schema)
    unknown = [c for c in wanted if c not in spec.schema]
    if unknown:
        raise KeyError(
            f"{DAILY_ACCOUNT_METRICS} has no column(s) {', '.join(unknown)}; "
            f"known: {', '.join(spec.schema)}"
        )
    lf = _lake(lake).scan(DAILY_ACCOUNT_METRICS)
    where = _filters(agencies=agencies, platforms=platforms, since=since, until=until)
    if where is not None:
        lf = lf.filter(where)
    order = [c for c in ("date", "platform", "account_id") if c in wanted]
    lf = lf.select(wanted)
    if order:
        lf = lf.sort(order)
    return lf.collect()


def roll_up_agency_platform(daily: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Roll account-level daily figures up to agency × platform × date.

    Counters (followers, followers change, posts, engagement and its parts) are summed across
    the agency's accounts on the platform that day; ``engagement_rate`` is recomputed from the
    sums as ``engagement / followers`` (null when followers are unknown or zero). A sum over
    accounts that all lack a figure is null, not zero. Rows without an agency are grouped under
    ``UNASSIGNED_AGENCY``.

    Args:
        daily: Rows shaped like ``gold/daily_account_metrics``: at least date, agency, platform,
            account_id, followers and engagement; other counters are summed when present.

    Returns:
        The columns of ``AGENCY_PLATFORM_DAILY_COLUMNS`` (those the input allows), sorted by
        date, agency and platform.
    """
    lf = daily.lazy() if isinstance(daily, pl.DataFrame) else daily
    present = set(lf.collect_schema().names())
    sums = [
        pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()).otherwise(None).alias(c)
        for c in _SUMMED
        if c in present
    ]
    return (
        lf.with_columns(pl.col("agency").fill_null(UNASSIGNED_AGENCY))
        .group_by("date", "agency", "platform")
        .agg(pl.col("account_id").n_unique().cast(pl.Int64).alias("accounts"), *sums)
        .with_columns(
            pl.when(pl.col("followers") > 0)
            .then(pl.col("engagement") / pl.col("followers"))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("engagement_rate")
        )
        .select([c for c in AGENCY_PLATFORM_DAILY_COLUMNS if c in present | _DERIVED])
        .sort("date", "agency", "platform")
        .collect()
    )


def agency_platform_daily(
    lake: Lake | None = None,
    *,
    agencies: str | Iterable[str] | None = None,
    platforms: str | Iterable[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pl.DataFrame:
    """Daily figures per agency × platform, rolled up from the accounts' daily figures.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).
        agencies: Keep these agency codes only.
        platforms: Keep these platform slugs only.
        since: First date to keep (inclusive).
        until: Last date to keep (inclusive).

    Returns:
        One row per date, agency and platform with the columns of
        ``AGENCY_PLATFORM_DAILY_COLUMNS`` (see ``roll_up_agency_platform``).
    """
    columns = ["date", "platform", "account_id", "agency", *_SUMMED]
    daily = daily_account_metrics(
        lake, agencies=agencies, platforms=platforms, since=since, until=until, columns=columns
    )
    return roll_up_agency_platform(daily)


def accounts(
    lake: Lake | None = None,
    *,
    agencies: str | Iterable[str] | None = None,
    platforms: str | Iterable[str] | None = None,
) -> pl.DataFrame:
    """The accounts the platform knows (``silver/accounts``), without lineage columns.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).
        agencies: Keep these agency codes only.
        platforms: Keep these platform slugs only.

    Returns:
        One row per platform and account id, sorted by agency, platform and handle.
    """
    lineage = {"run_id", "response_id", "connector_version"}
    columns = [c for c in table_spec(ACCOUNTS).schema if c not in lineage]
    lf = _lake(lake).scan(ACCOUNTS)
    where = _filters(agencies=agencies, platforms=platforms, since=None, until=None)
    if where is not None:
        lf = lf.filter(where)
    return lf.select(columns).sort("agency", "platform", "handle", nulls_last=True).collect()


def dimensions(lake: Lake | None = None) -> dict[str, list[str]]:
    """The agencies and platforms present in the daily figures, for filter widgets.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        ``{"agencies": [...], "platforms": [...]}``, each sorted (empty lists without gold).
    """
    df = daily_account_metrics(lake, columns=["agency", "platform"]).unique()
    agencies = df["agency"].fill_null(UNASSIGNED_AGENCY).unique().sort().to_list()
    platforms = df["platform"].unique().sort().to_list()
    return {"agencies": agencies, "platforms": platforms}


__all__ = [
    "ACCOUNTS",
    "AGENCY_PLATFORM_DAILY_COLUMNS",
    "DAILY_ACCOUNT_METRICS",
    "UNASSIGNED_AGENCY",
    "accounts",
    "agency_platform_daily",
    "daily_account_metrics",
    "dimensions",
    "roll_up_agency_platform",
]
