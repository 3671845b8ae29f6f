"""What the executive page and the executive brief show for a period: one computation for both.

:func:`load_highlights` reads only the rows and columns it needs from the lake (through a
``reader``, so the dashboards can pass their cached reader) and :func:`compute_highlights` turns
those frames into a :class:`Highlights` with pure polars (no I/O), so every figure can be checked
against the tables by hand. Definitions (also in docs/briefs.md):

- A period is ``days`` UTC days ending at ``end`` (inclusive); the previous period is the same
  number of days just before it. ``week`` is 7 days, ``month`` 30, ``<N>d`` N days.
- **Followers**: the sum over accounts of each account's last follower figure in the period.
- **Follower growth**: the sum of the accounts' daily ``followers_change`` in the period (newly
  tracked accounts do not count as growth); **growth %** = growth / (followers − growth).
- **Engagement**: likes + reposts + replies + quotes of the posts published in the period (their
  latest counters); **posts published**: posts (not reposts) published in the period;
  **engagement rate**: engagement / followers.
- **Top posts**: posts (not reposts, not deleted) published in the period, by engagement at their
  latest observation up to the end of the period (``silver/posts`` + ``silver/post_metrics``).
- **Top agencies**: ``gold/agency_metrics`` daily rows summed over the period, at the shallowest
  level of the hierarchy that has more than one agency in view (operating divisions when
  everything is visible; an agency's offices when one agency is selected), by engagement.
- **Anomalies that matter**: ``gold/anomalies`` events overlapping the period, except collection
  gaps (an operations matter), by confidence then |score|.
- **Freshness**: the newest observation of an account in view (``silver/account_snapshots``
  ``last_observed_at``) and its age in hours.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from hhs_platform.lake.reads import UNASSIGNED_AGENCY
from hhs_platform.lake.store import Lake

#: Named periods: label -> days.
NAMED_PERIODS: dict[str, int] = {"week": 7, "month": 30}
#: Anomaly kinds left out of the executive view (they belong to operations).
OPERATIONAL_KINDS: frozenset[str] = frozenset({"collection_gap"})
#: ``gold/agency_metrics`` platform value for all platforms together.
ALL_PLATFORMS = "all"

DAILY = "gold/daily_account_metrics"
AGENCY_METRICS = "gold/agency_metrics"
ANOMALIES = "gold/anomalies"
POSTS = "silver/posts"
POST_METRICS = "silver/post_metrics"
ACCOUNTS = "silver/accounts"
SNAPSHOTS = "silver/account_snapshots"

DAILY_COLUMNS = [
    "date",
    "platform",
    "account_id",
    "agency",
    "followers",
    "followers_change",
    "posts_published",
    "engagement",
]
ACCOUNT_COLUMNS = ["platform", "account_id", "handle", "display_name", "agency", "parent_agency"]
POST_COLUMNS = [
    "platform",
    "post_id",
    "account_id",
    "created_at",
    "post_type",
    "text",
    "title",
    "url",
    "is_deleted",
]
METRIC_COLUMNS = [
    "platform",
    "post_id",
    "observed_at",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "views",
]
AGENCY_COLUMNS = [
    "period",
    "period_start",
    "agency",
    "level",
    "platform",
    "followers",
    "followers_change",
    "posts_published",
    "engagement",
]
ANOMALY_COLUMNS = [
    "platform",
    "account_id",
    "agency",
    "handle",
    "kind",
    "metric",
    "date",
    "end_date",
    "value",
    "baseline",
    "change",
    "change_pct",
    "score",
    "confidence",
    "sentence",
]
SNAPSHOT_COLUMNS = ["platform", "account_id", "last_observed_at"]

#: Columns of :attr:`Highlights.top_posts`, in order.
TOP_POST_COLUMNS = [
    "rank",
    "platform",
    "handle",
    "agency",
    "created_at",
    "engagement",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "views",
    "text",
    "url",
    "post_id",
    "account_id",
]
#: Columns of :attr:`Highlights.top_agencies`, in order.
TOP_AGENCY_COLUMNS = [
    "rank",
    "agency",
    "level",
    "followers",
    "followers_change",
    "growth_pct",
    "engagement",
    "previous_engagement",
    "engagement_change_pct",
    "posts_published",
]
#: Columns of :attr:`Highlights.anomalies`, in order.
ANOMALY_OUT_COLUMNS = [
    "date",
    "end_date",
    "agency",
    "handle",
    "platform",
    "kind",
    "metric",
    "value",
    "baseline",
    "change",
    "change_pct",
    "score",
    "confidence",
    "sentence",
    "account_id",
]

#: Reads one table: ``(table, columns, where) -> frame`` (empty with the schema when absent).
Reader = Callable[[str, Sequence[str], pl.Expr | None], pl.DataFrame]


class PeriodError(ValueError):
    """A period that is neither ``week``, ``month`` nor ``<N>d``."""


def parse_period(value: str | int) -> int:
    """The days of a period: ``week`` → 7, ``month`` → 30, ``14d``/``14`` → 14.

    Raises:
        PeriodError: Anything else, or fewer than 1 day.
    """
    if isinstance(value, int):
        days = value
    else:
        text = value.strip().lower()
        if text in NAMED_PERIODS:
            return NAMED_PERIODS[text]
        match = re.fullmatch(r"(\d+)\s*d?", text)
        if match is None:
            raise PeriodError(
                f"period {value!r} is not one of week, month or <N>d (e.g. 14d)"
            ) from None
        days = int(match.group(1))
    if days < 1:
        raise PeriodError(f"period {value!r} must cover at least 1 day")
    return days


def period_label(days: int) -> str:
    """``week``, ``month`` or ``<N> days``."""
    for name, n in NAMED_PERIODS.items():
        if n == days:
            return name
    return f"{days} days"


@dataclass(frozen=True)
class Period:
    """A period of ``days`` UTC days ending at ``end``, and the one just before it."""

    days: int
    end: dt.date

    @property
    def start(self) -> dt.date:
        """First day (inclusive)."""
        return self.end - dt.timedelta(days=self.days - 1)

    @property
    def previous_end(self) -> dt.date:
        """Last day of the previous period."""
        return self.start - dt.timedelta(days=1)

    @property
    def previous_start(self) -> dt.date:
        """First day of the previous period."""
        return self.start - dt.timedelta(days=self.days)

    @property
    def label(self) -> str:
        """``week``, ``month`` or ``<N> days``."""
        return period_label(self.days)


@dataclass(frozen=True)
class Figure:
    """One headline figure of the period, with the previous period's value."""

    name: str
    value: float | int | None
    previous: float | int | None

    @property
    def change(self) -> float | int | None:
        """Value minus the previous value (None when either is unknown)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_pct(self) -> float | None:
        """The change in % of the previous value (None when that is unknown or 0)."""
        change = self.change
        if change is None or not self.previous:
            return None
        return 100.0 * change / abs(self.previous)


@dataclass(frozen=True)
class Highlights:
    """Everything the executive page and brief show for one period and selection."""

    period: Period | None
    agencies: tuple[str, ...] | None
    platforms: tuple[str, ...] | None
    followers: Figure
    followers_change: Figure
    growth_pct: Figure
    engagement: Figure
    engagement_rate: Figure
    posts_published: Figure
    top_posts: pl.DataFrame
    top_agencies: pl.DataFrame
    anomalies: pl.DataFrame
    newest_observation: dt.datetime | None
    freshness_hours: float | None
    daily: pl.DataFrame = field(default_factory=lambda: daily_series_frame())
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def empty(self) -> bool:
        """True when the lake has no daily figures for the selection."""
        return self.period is None

    def figures(self) -> list[Figure]:
        """The headline figures, in display order."""
        return [
            self.followers,
            self.followers_change,
            self.growth_pct,
            self.engagement,
            self.engagement_rate,
            self.posts_published,
        ]

    def headline(self) -> str:
        """One plain sentence summing the period up (for artifacts and e-mail subjects)."""
        if self.period is None:
            return "No daily figures yet."
        parts = [
            f"{_count(self.followers.value)} followers on {self.period.end:%Y-%m-%d}",
            f"{_signed(self.followers_change.value)} in the {self.period.label}"
            + (f" ({self.growth_pct.value:+.2f}%)" if self.growth_pct.value is not None else ""),
            f"{_count(self.engagement.value)} engagements on "
            f"{_count(self.posts_published.value)} posts",
        ]
        return "; ".join(parts) + "."


def _count(value: float | int | None) -> str:
    return "—" if value is None else f"{round(value):,}"


def _signed(value: float | int | None) -> str:
    return "—" if value is None else f"{round(value):+,}"


# -- pure computation ---------------------------------------------------------------------------
def _agency_filter(agencies: tuple[str, ...] | None, column: str = "agency") -> pl.Expr:
    if agencies is None:
        return pl.lit(True)
    wanted = [a for a in agencies if a != UNASSIGNED_AGENCY]
    expr = pl.col(column).is_in(wanted)
    if UNASSIGNED_AGENCY in agencies:
        expr = expr | pl.col(column).is_null()
    return expr


def _platform_filter(platforms: tuple[str, ...] | None) -> pl.Expr:
    return pl.lit(True) if platforms is None else pl.col("platform").is_in(list(platforms))


def _window(frame: pl.DataFrame, start: dt.date, end: dt.date, column: str) -> pl.DataFrame:
    return frame.filter(pl.col(column).is_between(start, end))


def _flows(daily: pl.DataFrame) -> dict[str, int | None]:
    """Followers, growth, engagement and posts of one period's daily rows (None when no rows)."""
    if daily.is_empty():
        return dict.fromkeys(("followers", "change", "engagement", "posts"))
    last = (
        daily.filter(pl.col("followers").is_not_null())
        .sort("date")
        .group_by("platform", "account_id")
        .agg(pl.col("followers").last())
    )
    return {
        "followers": int(last["followers"].sum()) if last.height else None,
        # no follower figure at all (e.g. before collection began): growth unknown, not 0
        "change": int(daily["followers_change"].fill_null(0).sum()) if last.height else None,
        "engagement": int(daily["engagement"].fill_null(0).sum()),
        "posts": int(daily["posts_published"].fill_null(0).sum()),
    }


def _growth(flows: dict[str, int | None]) -> float | None:
    followers, change = flows["followers"], flows["change"]
    if followers is None or change is None or followers - change <= 0:
        return None
    return 100.0 * change / (followers - change)


def _rate(flows: dict[str, int | None]) -> float | None:
    followers, engagement = flows["followers"], flows["engagement"]
    if not followers or engagement is None:
        return None
    return engagement / followers


def daily_series(daily: pl.DataFrame, period: Period) -> pl.DataFrame:
    """Per day of the period: follower growth, engagement and posts, summed over the accounts.

    Args:
        daily: ``gold/daily_account_metrics`` rows in view.
        period: The period.

    Returns:
        One row per day of the period (``date``, ``followers_change``, ``engagement``,
        ``posts_published``, ``accounts``); null figures on days without any row.
    """
    days = pl.DataFrame(
        {"date": pl.date_range(period.start, period.end, "1d", eager=True)},
        schema={"date": pl.Date},
    )
    sums = (
        _window(daily, period.start, period.end, "date")
        .group_by("date")
        .agg(
            pl.col("followers_change").fill_null(0).sum(),
            pl.col("engagement").fill_null(0).sum(),
            pl.col("posts_published").fill_null(0).sum(),
            pl.len().alias("accounts"),
        )
    )
    out = days.join(sums, on="date", how="left").sort("date")
    return out.select(pl.col(c).cast(t) for c, t in daily_series_frame().schema.items())


def daily_series_frame() -> pl.DataFrame:
    """An empty frame with the columns and types of :attr:`Highlights.daily`."""
    return pl.DataFrame(
        schema={
            "date": pl.Date,
            "followers_change": pl.Int64,
            "engagement": pl.Int64,
            "posts_published": pl.Int64,
            "accounts": pl.Int64,
        }
    )


def top_posts(
    posts: pl.DataFrame,
    metrics: pl.DataFrame,
    accounts: pl.DataFrame,
    period: Period,
    n: int = 5,
) -> pl.DataFrame:
    """The period's posts with the most engagement (see the module docstring).

    Args:
        posts: ``silver/posts`` rows (at least :data:`POST_COLUMNS`).
        metrics: ``silver/post_metrics`` rows (at least :data:`METRIC_COLUMNS`).
        accounts: ``silver/accounts`` rows of the accounts in view (handle, agency).
        period: The period.
        n: How many.

    Returns:
        :data:`TOP_POST_COLUMNS`, best first; ties broken by newest, then post id.
    """
    start = dt.datetime.combine(period.start, dt.time(), dt.UTC)
    stop = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    published = posts.filter(
        (pl.col("created_at") >= start)
        & (pl.col("created_at") < stop)
        & (pl.col("post_type") != "repost")
        & ~pl.col("is_deleted")
    ).join(
        accounts.select("platform", "account_id", "handle", "agency"),
        on=["platform", "account_id"],
        how="inner",
    )
    counters = ["likes", "reposts", "replies", "quotes"]
    latest = (
        # the counters of the published posts only (the join below keeps no other)
        metrics.filter(pl.col("observed_at") < stop)
        .join(published.select("platform", "post_id"), on=["platform", "post_id"], how="semi")
        .sort("observed_at")
        .group_by("platform", "post_id")
        .agg(pl.col(*counters, "views").last())
        .with_columns(
            pl.sum_horizontal(pl.col(c).fill_null(0) for c in counters)
            .cast(pl.Int64)
            .alias("engagement")
        )
    )
    ranked = (
        published.join(latest, on=["platform", "post_id"], how="inner")
        .with_columns(pl.coalesce(pl.col("text"), pl.col("title")).alias("text"))
        .sort(["engagement", "created_at", "post_id"], descending=[True, True, False])
        .head(n)
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    return ranked.select(TOP_POST_COLUMNS)


def top_agencies(agency_metrics: pl.DataFrame, period: Period, n: int = 5) -> pl.DataFrame:
    """The agencies with the most engagement in the period (see the module docstring).

    Args:
        agency_metrics: ``gold/agency_metrics`` daily rows of one platform value (a platform or
            ``all``) of the agencies in view, covering the period and the previous one.
        period: The period.
        n: How many.

    Returns:
        :data:`TOP_AGENCY_COLUMNS`, best first (ties by agency code).
    """
    days = agency_metrics.filter(pl.col("period") == "day")
    current = _window(days, period.start, period.end, "period_start")
    if current.is_empty():
        return pl.DataFrame(schema=_top_agency_schema())
    per_level = current.group_by("level").agg(pl.col("agency").n_unique().alias("n")).sort("level")
    several = per_level.filter(pl.col("n") > 1)
    level = (several if several.height else per_level)["level"][0]

    def summed(rows: pl.DataFrame) -> pl.DataFrame:
        return (
            rows.filter(pl.col("level") == level)
            .sort("period_start")
            .group_by("agency", "level")
            .agg(
                pl.col("followers").drop_nulls().last(),
                pl.col("followers_change").fill_null(0).sum(),
                pl.col("engagement").sum(),
                pl.col("posts_published").sum(),
            )
        )

    previous = summed(
        _window(days, period.previous_start, period.previous_end, "period_start")
    ).select("agency", pl.col("engagement").alias("previous_engagement"))
    out = (
        summed(current)
        .join(previous, on="agency", how="left")
        .with_columns(
            pl.when(pl.col("followers") - pl.col("followers_change") > 0)
            .then(
                100.0
                * pl.col("followers_change")
                / (pl.col("followers") - pl.col("followers_change"))
            )
            .otherwise(None)
            .alias("growth_pct"),
            pl.when(pl.col("previous_engagement") > 0)
            .then(
                100.0
                * (pl.col("engagement") - pl.col("previous_engagement"))
                / pl.col("previous_engagement")
            )
            .otherwise(None)
            .alias("engagement_change_pct"),
        )
        .sort(["engagement", "agency"], descending=[True, False])
        .head(n)
        .with_row_index("rank", offset=1)
    )
    return out.select(pl.col(c).cast(t) for c, t in _top_agency_schema().items())


def _top_agency_schema() -> pl.Schema:
    return pl.Schema(
        {
            "rank": pl.Int64,
            "agency": pl.Utf8,
            "level": pl.Int64,
            "followers": pl.Int64,
            "followers_change": pl.Int64,
            "growth_pct": pl.Float64,
            "engagement": pl.Int64,
            "previous_engagement": pl.Int64,
            "engagement_change_pct": pl.Float64,
            "posts_published": pl.Int64,
        }
    )


def anomalies_that_matter(anomalies: pl.DataFrame, period: Period, n: int = 5) -> pl.DataFrame:
    """The period's events an executive should hear about (see the module docstring).

    Args:
        anomalies: ``gold/anomalies`` rows of the accounts in view.
        period: The period.
        n: At most this many.

    Returns:
        :data:`ANOMALY_OUT_COLUMNS`, by confidence, then |score|, then newest.
    """
    return (
        anomalies.filter(
            (pl.col("date") <= period.end)
            & (pl.col("end_date") >= period.start)
            & ~pl.col("kind").is_in(list(OPERATIONAL_KINDS))
        )
        .with_columns(pl.col("score").abs().alias("_abs"))
        .sort(
            ["confidence", "_abs", "date", "account_id"],
            descending=[True, True, True, False],
            nulls_last=True,
        )
        .head(n)
        .select(ANOMALY_OUT_COLUMNS)
    )


#: Per reduction, the frame reduced last and its result (see :func:`_once_per_frame`).
_reduced: dict[str, tuple[weakref.ref[pl.DataFrame], pl.DataFrame]] = {}


def _once_per_frame(
    name: str, frame: pl.DataFrame, reduce: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """``reduce(frame)``, computed again only for another frame than the one reduced last.

    A caching reader hands every selection of a page the same frame (every agency's and
    platform's rows, ``scope_in_memory``), which is then reduced once to a small one that each
    selection filters, instead of filtering or joining the whole frame for every selection. The
    frame is remembered weakly, by identity.
    """
    kept = _reduced.get(name)
    if kept is not None and kept[0]() is frame:
        return kept[1]
    result = reduce(frame)
    _reduced[name] = (weakref.ref(frame), result)
    return result


def newest_per_account(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Each account's newest ``last_observed_at`` of ``snapshots`` (:data:`SNAPSHOT_COLUMNS`),
    reduced once per frame (2.19 M snapshots on the large benchmark lake: about 0.2 s, where
    joining them with a selection's accounts took 0.2-0.4 s a selection)."""
    return _once_per_frame(
        "newest",
        snapshots,
        lambda f: f.group_by("platform", "account_id").agg(pl.col("last_observed_at").max()),
    )


def compute_highlights(
    *,
    daily: pl.DataFrame,
    accounts: pl.DataFrame,
    posts: pl.DataFrame,
    metrics: pl.DataFrame,
    agency_metrics: pl.DataFrame,
    anomalies: pl.DataFrame,
    snapshots: pl.DataFrame,
    days: int,
    end: dt.date | None = None,
    agencies: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    now: dt.datetime | None = None,
    top_n: int = 5,
    max_anomalies: int = 5,
) -> Highlights:
    """The highlights of a period from already-read frames (pure; filters applied here too).

    Args:
        daily: ``gold/daily_account_metrics`` rows (:data:`DAILY_COLUMNS`).
        accounts: ``silver/accounts`` rows (:data:`ACCOUNT_COLUMNS`).
        posts: ``silver/posts`` rows (:data:`POST_COLUMNS`).
        metrics: ``silver/post_metrics`` rows (:data:`METRIC_COLUMNS`).
        agency_metrics: ``gold/agency_metrics`` rows (:data:`AGENCY_COLUMNS`).
        anomalies: ``gold/anomalies`` rows (:data:`ANOMALY_COLUMNS`).
        snapshots: ``silver/account_snapshots`` rows (:data:`SNAPSHOT_COLUMNS`).
        days: Length of the period in days.
        end: Last day of the period; ``None`` means the latest date of ``daily`` in view.
        agencies: Only these agency codes (exactly; :data:`UNASSIGNED_AGENCY` for accounts
            without one); ``None`` keeps every agency.
        platforms: Only these platforms; ``None`` keeps every platform.
        now: The time freshness is measured at (default: now, UTC).
        top_n: Top posts and top agencies to keep.
        max_anomalies: Anomalies to keep.

    Returns:
        The :class:`Highlights` (``empty`` when no daily figures are in view).
    """
    agency_set = tuple(sorted(set(agencies))) if agencies is not None else None
    platform_set = tuple(sorted(set(platforms))) if platforms is not None else None
    now = now or dt.datetime.now(dt.UTC)
    keep = _agency_filter(agency_set) & _platform_filter(platform_set)
    daily = daily.filter(keep)
    accounts = accounts.filter(keep)
    snapshots = newest_per_account(snapshots).join(
        accounts.select("platform", "account_id"), on=["platform", "account_id"], how="semi"
    )
    newest: dt.datetime | None = snapshots["last_observed_at"].max()  # type: ignore[assignment]
    freshness = (now - newest).total_seconds() / 3600 if newest is not None else None
    if end is None:
        end = daily["date"].max()  # type: ignore[assignment]
    if end is None or daily.is_empty():
        none = dict.fromkeys(("followers", "change", "engagement", "posts"))
        return _highlights(
            None, agency_set, platform_set, none, none, top_posts_frame(), top_agencies_frame(),
            anomalies.clear().select(ANOMALY_OUT_COLUMNS), newest, freshness, now,
            daily_series_frame(),
        )  # fmt: skip
    period = Period(days=days, end=end)
    current = _flows(_window(daily, period.start, period.end, "date"))
    previous = _flows(_window(daily, period.previous_start, period.previous_end, "date"))
    agency_rows = agency_metrics.filter(
        _agency_filter(agency_set)
        & (
            pl.col("platform") == (platform_set[0] if platform_set and len(platform_set) == 1
                                   else ALL_PLATFORMS)
        )
    )  # fmt: skip
    return _highlights(
        period,
        agency_set,
        platform_set,
        current,
        previous,
        top_posts(posts.filter(_platform_filter(platform_set)), metrics, accounts, period, top_n),
        top_agencies(agency_rows, period, top_n),
        anomalies_that_matter(anomalies.filter(keep), period, max_anomalies),
        newest,
        freshness,
        now,
        daily_series(daily, period),
    )


def top_posts_frame() -> pl.DataFrame:
    """An empty frame with the columns and types of :attr:`Highlights.top_posts`."""
    return pl.DataFrame(
        schema={
            "rank": pl.Int64,
            "platform": pl.Utf8,
            "handle": pl.Utf8,
            "agency": pl.Utf8,
            "created_at": pl.Datetime("us", "UTC"),
            "engagement": pl.Int64,
            "likes": pl.Int64,
            "reposts": pl.Int64,
            "replies": pl.Int64,
            "quotes": pl.Int64,
            "views": pl.Int64,
            "text": pl.Utf8,
            "url": pl.Utf8,
            "post_id": pl.Utf8,
            "account_id": pl.Utf8,
        }
    )


def top_agencies_frame() -> pl.DataFrame:
    """An empty frame with the columns and types of :attr:`Highlights.top_agencies`."""
    return pl.DataFrame(schema=_top_agency_schema())


def _highlights(
    period: Period | None,
    agencies: tuple[str, ...] | None,
    platforms: tuple[str, ...] | None,
    current: dict[str, int | None],
    previous: dict[str, int | None],
    posts: pl.DataFrame,
    agency_frame: pl.DataFrame,
    anomaly_frame: pl.DataFrame,
    newest: dt.datetime | None,
    freshness: float | None,
    now: dt.datetime,
    series: pl.DataFrame,
) -> Highlights:
    return Highlights(
        period=period,
        agencies=agencies,
        platforms=platforms,
        followers=Figure("followers", current["followers"], previous["followers"]),
        followers_change=Figure("followers_change", current["change"], previous["change"]),
        growth_pct=Figure("growth_pct", _growth(current), _growth(previous)),
        engagement=Figure("engagement", current["engagement"], previous["engagement"]),
        engagement_rate=Figure("engagement_rate", _rate(current), _rate(previous)),
        posts_published=Figure("posts_published", current["posts"], previous["posts"]),
        top_posts=posts,
        top_agencies=agency_frame,
        anomalies=anomaly_frame,
        newest_observation=newest,
        freshness_hours=freshness,
        daily=series,
        generated_at=now,
    )


# -- reading ------------------------------------------------------------------------------------
def lake_reader(lake: Lake) -> Reader:
    """A :data:`Reader` over a lake: a lazy scan with the filter pushed down, then the columns."""

    def read(table: str, columns: Sequence[str], where: pl.Expr | None) -> pl.DataFrame:
        return lake.read(table, columns=list(columns), where=where)

    return read


def latest_date(
    read: Reader,
    agencies: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    *,
    scope_in_memory: bool = False,
) -> dt.date | None:
    """The latest date of ``gold/daily_account_metrics`` in view (None before the first build).

    ``scope_in_memory``: read every agency's and platform's dates, and keep those in view in
    memory (one read for every selection, with a caching ``read``).
    """
    agency_set = tuple(agencies) if agencies is not None else None
    platform_set = tuple(platforms) if platforms is not None else None
    where = _agency_filter(agency_set) & _platform_filter(platform_set)
    columns = ["date", "agency", "platform"]
    if scope_in_memory:  # each agency's and platform's latest date, once per frame read
        dates = _once_per_frame(
            "latest_date",
            read(DAILY, columns, None),
            lambda f: f.group_by("agency", "platform").agg(pl.col("date").max()),
        ).filter(where)
    else:
        dates = read(DAILY, columns, where)
    value: dt.date | None = dates["date"].max()  # type: ignore[assignment]
    return value


def load_highlights(
    lake: Lake | None = None,
    period: str | int = "week",
    *,
    end: dt.date | None = None,
    agencies: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    now: dt.datetime | None = None,
    top_n: int = 5,
    max_anomalies: int = 5,
    reader: Reader | None = None,
    scope_in_memory: bool = False,
) -> Highlights:
    """Read what a period's highlights need from the lake, and compute them.

    Only the needed columns are read, and only the rows of the period and the previous one
    (posts and their counters: only the period's).

    Args:
        lake: The lake; ``None`` means the settings' lake (``HHS_LAKE_URI``). Ignored when
            ``reader`` is given.
        period: ``week``, ``month``, ``<N>d`` or a number of days.
        end: Last day of the period; ``None`` means the latest date of the daily figures in view.
        agencies: Only these agency codes (e.g. a viewer's restriction); ``None``: all.
        platforms: Only these platforms; ``None``: all.
        now: The time freshness is measured at (default: now).
        top_n: Top posts and agencies to keep.
        max_anomalies: Anomalies to keep.
        reader: How to read a table (e.g. the dashboards' cached reader).
        scope_in_memory: Read every agency's and platform's rows of the period, and keep the
            ``agencies`` and ``platforms`` in memory: with a caching ``reader``, every selection
            of a period then shares one read (the executive page). The highlights are the same.

    Returns:
        The :class:`Highlights`.

    Raises:
        PeriodError: ``period`` is not understood.
    """
    days = parse_period(period)
    if reader is None:
        reader = lake_reader(lake if lake is not None else Lake())
    agency_set = tuple(sorted(set(agencies))) if agencies is not None else None
    platform_set = tuple(sorted(set(platforms))) if platforms is not None else None
    if end is None:
        end = latest_date(reader, agency_set, platform_set, scope_in_memory=scope_in_memory)
    accounts = reader(ACCOUNTS, ACCOUNT_COLUMNS, None)
    snapshots = reader(SNAPSHOTS, SNAPSHOT_COLUMNS, None)
    if end is None:
        empty = {
            DAILY: DAILY_COLUMNS,
            POSTS: POST_COLUMNS,
            POST_METRICS: METRIC_COLUMNS,
            AGENCY_METRICS: AGENCY_COLUMNS,
            ANOMALIES: ANOMALY_COLUMNS,
        }
        frames = {t: reader(t, c, pl.lit(False)) for t, c in empty.items()}
    else:
        p = Period(days, end)
        first = dt.datetime.combine(p.start, dt.time(), dt.UTC)
        stop = dt.datetime.combine(p.end + dt.timedelta(days=1), dt.time(), dt.UTC)
        # compute_highlights keeps the agencies and platforms in view too
        in_view = pl.lit(True) if scope_in_memory else _platform_filter(platform_set)
        of_agencies = pl.lit(True) if scope_in_memory else _agency_filter(agency_set)
        frames = {
            DAILY: reader(
                DAILY,
                DAILY_COLUMNS,
                pl.col("date").is_between(p.previous_start, p.end) & of_agencies & in_view,
            ),
            POSTS: reader(
                POSTS,
                POST_COLUMNS,
                (pl.col("created_at") >= first) & (pl.col("created_at") < stop) & in_view,
            ),
            POST_METRICS: reader(
                POST_METRICS,
                METRIC_COLUMNS,
                (pl.col("observed_at") >= first) & (pl.col("observed_at") < stop) & in_view,
            ),
            AGENCY_METRICS: reader(
                AGENCY_METRICS,
                AGENCY_COLUMNS,
                (pl.col("period") == "day")
                & pl.col("period_start").is_between(p.previous_start, p.end),
            ),
            ANOMALIES: reader(
                ANOMALIES,
                ANOMALY_COLUMNS,
                (pl.col("date") <= p.end) & (pl.col("end_date") >= p.start),
            ),
        }
    return compute_highlights(
        daily=frames[DAILY],
        accounts=accounts,
        posts=frames[POSTS],
        metrics=frames[POST_METRICS],
        agency_metrics=frames[AGENCY_METRICS],
        anomalies=frames[ANOMALIES],
        snapshots=snapshots,
        days=days,
        end=end,
        agencies=agency_set,
        platforms=platform_set,
        now=now,
        top_n=top_n,
        max_anomalies=max_anomalies,
    )


def agencies_with_descendants(accounts: pl.DataFrame, selected: Iterable[str]) -> set[str]:
    """The selected agencies and every agency below them (from ``agency`` → ``parent_agency``).

    Args:
        accounts: Rows with ``agency`` and ``parent_agency`` (``silver/accounts``).
        selected: Agency codes.

    Returns:
        The codes, with their offices (``CDC`` → ``{CDC, CDC-NCHS, ...}``).
    """
    from hhs_platform.transforms.rollups import agency_tree

    wanted = set(selected)
    chains = agency_tree(accounts) if not accounts.is_empty() else {}
    out = set(wanted)
    for agency, chain in chains.items():
        if wanted & set(chain):
            out.add(agency)
    return out


__all__ = [
    "ALL_PLATFORMS",
    "NAMED_PERIODS",
    "OPERATIONAL_KINDS",
    "TOP_AGENCY_COLUMNS",
    "TOP_POST_COLUMNS",
    "Figure",
    "Highlights",
    "Period",
    "PeriodError",
    "Reader",
    "agencies_with_descendants",
    "anomalies_that_matter",
    "compute_highlights",
    "daily_series",
    "daily_series_frame",
    "lake_reader",
    "latest_date",
    "load_highlights",
    "parse_period",
    "period_label",
    "top_agencies",
    "top_agencies_frame",
    "top_posts",
    "top_posts_frame",
]
