"""A synthetic large lake for the dashboard benchmarks: every table the pages read, at scale.

The generator is vectorised (numpy draws, polars frames; no per-row Python), deterministic for a
given :class:`Scale`, and writes through :class:`hhs_platform.lake.Lake` with the catalogue's
schemas, so the tables look to the pages exactly like the pipeline's. A lake is cached on disk
under a key of its parameters: a second run with the same scale reuses it.

Figures are consistent with each other where the pages cross-check them: the daily gold figures
are the sums of the posts' latest counters, the weekly and agency tables roll the daily ones up,
trends count the posts' hashtags and topics, and every post has its observations and curve.

Usage::

    python -m benchmarks.large_lake --scale large      # ~3,000 accounts x 2 years, ~2 M posts
    python -m benchmarks.large_lake --scale small      # seconds; what the smoke test runs
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hhs_platform.lake.store import Lake
from hhs_platform.registry.loader import load_registry
from hhs_platform.transforms.counters import latest_counters
from schemas import CATALOGUE, table_spec
from schemas.tables import ANOMALY_KINDS

#: Bump when the generated data changes shape or meaning: it invalidates every cached lake.
GENERATOR_VERSION = 3
ROOT = Path(__file__).resolve().parent
DEFAULT_CACHE = ROOT / ".cache" / "lakes"
MANIFEST = "_benchmark_manifest.json"

#: Platforms and their share of the accounts (ten of the catalogue's platforms).
PLATFORM_MIX: dict[str, float] = {
    "x": 0.20,
    "facebook": 0.18,
    "instagram": 0.12,
    "youtube": 0.12,
    "linkedin": 0.10,
    "bluesky": 0.08,
    "threads": 0.06,
    "mastodon": 0.05,
    "flickr": 0.05,
    "pinterest": 0.04,
}
#: Platforms that report views.
VIEWS = {"x", "youtube", "threads", "instagram", "facebook"}
#: Ages (hours) of each post's observations and curve points; must be catalogue ages.
AGES = (1, 24, 168)
_SHARE_AT_AGE = (0.35, 0.8, 1.0)
POST_TYPES = ("original", "reply", "quote", "repost")
_POST_TYPE_P = (0.8, 0.08, 0.04, 0.08)
HASHTAGS = [
    "publichealth",
    "vaccines",
    "flu",
    "covid19",
    "mentalhealth",
    "opioids",
    "nutrition",
    "cancer",
    "research",
    "heartmonth",
    "diabetes",
    "measles",
    "hiv",
    "tobacco",
    "obesity",
    "alzheimers",
    "autism",
    "sleep",
    "water",
    "heat",
    "hurricane",
    "wildfire",
    "smoke",
    "emergency",
    "preparedness",
    "foodsafety",
    "recall",
    "medicare",
    "medicaid",
    "insurance",
    "aca",
    "childcare",
    "headstart",
    "aging",
    "caregivers",
    "disability",
    "veterans",
    "tribalhealth",
    "rural",
    "maternalhealth",
    "breastfeeding",
    "immunization",
    "travel",
    "outbreak",
    "bird_flu",
    "mpox",
    "lyme",
    "ticks",
    "mosquitoes",
    "zika",
    "rsv",
    "pneumonia",
    "asthma",
]
TOPICS = [
    "vaccination",
    "infectious_disease",
    "mental_health",
    "substance_use",
    "nutrition",
    "chronic_disease",
    "cancer",
    "maternal_health",
    "emergency_preparedness",
    "environmental_health",
    "food_safety",
    "health_insurance",
    "aging",
    "research",
]
_SENTENCES = (
    "New data on {} from our latest report",
    "Today we are highlighting {} across the country",
    "Learn how to protect your family from {}",
    "Our scientists explain what we know about {}",
    "Join us live to talk about {} and what comes next",
    "Resources for communities affected by {}",
    "Five facts about {} everyone should know",
    "Grant funding announced for {} programs",
    "A message from the Secretary on {}",
    "Updated guidance on {} is now available",
)
#: A few posts carry hostile text, as real feeds can: pages must show it as literal text.
HOSTILE = ("<script>alert('bench')</script>", "<img src=x onerror=alert('bench')>")
RULES = (
    "likes: greater_than_or_equal_to(0)",
    "created_at: not_nullable",
    "post_id: str_length(1, None)",
    "followers: greater_than_or_equal_to(0)",
    "platform: isin",
)


@dataclasses.dataclass(frozen=True)
class Scale:
    """How big a lake to make.

    Attributes:
        name: Label of the scale (``small``, ``medium``, ``large`` or ``custom``).
        accounts: Accounts watched, spread over :data:`PLATFORM_MIX`.
        days: Days of history up to ``end``.
        posts_per_day: Mean posts an account publishes a day.
        seed: Random seed: the same scale and seed give the same lake.
        end: Last day of data (``None``: today, UTC, so the pages' "latest" periods have data).
        raw_days: Days of bronze/raw_responses kept (its partitions are per platform and day).
    """

    name: str
    accounts: int
    days: int
    posts_per_day: float = 1.0
    seed: int = 7
    end: dt.date | None = None
    raw_days: int = 14

    def resolved(self) -> Scale:
        """The same scale with ``end`` fixed (today, UTC, when unset)."""
        if self.end is not None:
            return self
        return dataclasses.replace(self, end=dt.datetime.now(dt.UTC).date())

    def key(self) -> str:
        """Cache key: the generator version and every parameter."""
        params = dataclasses.asdict(self.resolved())
        params["end"] = str(params["end"])
        params["version"] = GENERATOR_VERSION
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.name}-{digest}"


SCALES: dict[str, Scale] = {
    "small": Scale("small", accounts=40, days=21, raw_days=3),
    "medium": Scale("medium", accounts=600, days=365),
    "large": Scale("large", accounts=3000, days=730),
}


# -- building blocks ----------------------------------------------------------------------


def _ts(column: str | pl.Expr) -> pl.Expr:
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.cast(pl.Datetime("us", "UTC"))


def _choice(
    rng: np.random.Generator,
    options: tuple[str, ...] | list[str],
    n: int,
    p: tuple[float, ...] | list[float] | None = None,
) -> pl.Series:
    idx = rng.choice(len(options), size=n, p=p)
    return pl.Series(list(options), dtype=pl.Utf8).gather(idx)


def _hierarchy() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Agencies of the shipped registry, and every (agency, ancestor-or-self, level) pair."""
    reg = load_registry().select("agency", "agency_name", "parent_agency").unique("agency")
    parent = dict(zip(reg["agency"], reg["parent_agency"], strict=True))

    def chain(agency: str) -> list[str]:
        out = [agency]
        while parent.get(out[-1]):
            out.append(str(parent[out[-1]]))
        return out

    rows = []
    for agency in reg["agency"]:
        up = chain(agency)
        for ancestor in up:
            rows.append((agency, ancestor, len(chain(ancestor)) - 1))
    ancestors = pl.DataFrame(
        rows, schema={"agency": pl.Utf8, "ancestor": pl.Utf8, "level": pl.Int64}, orient="row"
    )
    return reg.sort("agency"), ancestors


class _Build:
    """One generation: the random state, the frames built so far, and the lake to write."""

    def __init__(self, scale: Scale, lake: Lake) -> None:
        self.scale = scale.resolved()
        assert self.scale.end is not None
        self.end: dt.date = self.scale.end
        self.start = self.end - dt.timedelta(days=self.scale.days - 1)
        self.end_ts = dt.datetime.combine(self.end, dt.time(23, 0), tzinfo=dt.UTC)
        self.lake = lake
        self.rng = np.random.default_rng(self.scale.seed)
        self.rows: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def write(self, table: str, df: pl.DataFrame) -> None:
        started = time.perf_counter()
        self.lake.overwrite(table, df)
        self.rows[table] = df.height
        self.seconds[table] = round(time.perf_counter() - started, 2)

    # -- silver/accounts ------------------------------------------------------------------
    def accounts(self) -> pl.DataFrame:
        n = self.scale.accounts
        agencies, self.ancestors = _hierarchy()
        platforms = list(PLATFORM_MIX)
        weights = np.array(list(PLATFORM_MIX.values()))
        rng = self.rng
        pick = rng.integers(0, agencies.height, size=n)
        df = pl.DataFrame(
            {
                "i": np.arange(n),
                "platform": pl.Series(platforms).gather(
                    rng.choice(len(platforms), size=n, p=weights / weights.sum())
                ),
                "agency": agencies["agency"].gather(pick),
                "agency_name": agencies["agency_name"].gather(pick),
                "parent_agency": agencies["parent_agency"].gather(pick),
                "tier": rng.integers(1, 4, size=n),
                "base": np.clip(rng.lognormal(9.0, 2.0, size=n), 50, 5e7).astype(np.int64),
                "growth": rng.normal(4e-4, 6e-4, size=n),
                "post_rate": rng.gamma(2.0, self.scale.posts_per_day / 2.0, size=n),
                "age_days": rng.integers(400, 6000, size=n),
            }
        ).with_columns(
            account_id=pl.format("{}{}", pl.col("platform").str.slice(0, 2), pl.col("i") + 10**7),
            handle=pl.format("{}_{}", pl.col("agency").str.to_lowercase(), pl.col("i")),
        )
        self.accts = df
        first_seen = dt.datetime.combine(self.start, dt.time(0, 5), tzinfo=dt.UTC)
        silver = df.select(
            run_id=pl.lit("bench-run-0"),
            response_id=pl.format("bench-resp-{}", "i"),
            connector_version=pl.lit("bench"),
            platform="platform",
            account_id="account_id",
            handle="handle",
            display_name=pl.format("{} on {}", "agency_name", "platform"),
            description=pl.format("Official account of {}.", "agency_name"),
            account_created_at=pl.lit(first_seen) - pl.duration(days=pl.col("age_days")),
            account_key=pl.format("{}:{}", "platform", "handle"),
            agency="agency",
            agency_name="agency_name",
            parent_agency="parent_agency",
            tier="tier",
            first_seen_at=pl.lit(first_seen),
            last_seen_at=pl.lit(self.end_ts),
        )
        self.write("silver/accounts", silver)
        return df

    # -- silver/posts, post_features, post_metrics, gold/post_curves ----------------------------
    def posts(self) -> None:
        a, d = self.accts.height, self.scale.days
        rng = self.rng
        rate = self.accts["post_rate"].to_numpy()
        counts = rng.poisson(np.repeat(rate, d).reshape(a, d)).ravel()
        account_idx = np.repeat(np.repeat(np.arange(a), d), counts)
        day_idx = np.repeat(np.tile(np.arange(d), a), counts)
        n = int(counts.sum())
        words = rng.integers(0, len(_SENTENCES), size=n)
        ntags = rng.choice(4, size=n, p=(0.25, 0.35, 0.3, 0.1))
        tags = rng.integers(0, len(HASHTAGS), size=(3, n))
        start = dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)
        accts = self.accts.select("platform", "account_id", "handle", "base", "agency")
        hashtags = pl.Series(HASHTAGS)
        posts = (
            pl.DataFrame(
                {
                    "a": account_idx,
                    "day": day_idx,
                    "seconds": rng.integers(6 * 3600, 23 * 3600, size=n),
                    "sentence": pl.Series(_SENTENCES).gather(words),
                    "t1": hashtags.gather(tags[0]),
                    "t2": hashtags.gather(tags[1]),
                    "t3": hashtags.gather(tags[2]),
                    "ntags": ntags,
                    "topic": rng.integers(0, len(TOPICS), size=n),
                    "ntopics": rng.choice(3, size=n, p=(0.3, 0.5, 0.2)),
                    "post_type": _choice(rng, POST_TYPES, n, _POST_TYPE_P),
                    "popularity": rng.lognormal(0.0, 1.0, size=n),
                    "deleted": rng.random(n) < 0.01,
                    "hostile": rng.random(n) < 2e-5,
                    "es": rng.random(n) < 0.08,
                    "media": rng.choice(3, size=n, p=(0.5, 0.35, 0.15)),
                }
            )
            .with_row_index("seq")
            .join(accts.with_row_index("a").with_columns(pl.col("a").cast(pl.Int64)), on="a")
            .with_columns(
                post_id=pl.format(
                    "{}{}", pl.col("platform").str.slice(0, 2), pl.col("seq") + 10**9
                ),
                created_at=pl.lit(start)
                + pl.duration(days=pl.col("day"), seconds=pl.col("seconds")),
                hashtags=pl.concat_list("t1", "t2", "t3").list.head(pl.col("ntags")),
            )
            .with_columns(
                text=pl.when(pl.col("hostile"))
                .then(pl.lit(HOSTILE[0]) + " " + pl.lit(HOSTILE[1]))
                .otherwise(
                    pl.concat_str(
                        pl.col("sentence").str.replace("{}", pl.col("t1"), literal=True),
                        pl.col("hashtags").list.eval(pl.lit("#") + pl.element()).list.join(" "),
                        separator=" ",
                    )
                ),
                topics=pl.concat_list(
                    pl.lit(pl.Series(TOPICS)).gather(pl.col("topic")),
                    pl.lit(pl.Series(TOPICS)).gather((pl.col("topic") + 5) % len(TOPICS)),
                )
                .list.head(pl.col("ntopics"))
                .list.sort(),
            )
        )
        self._silver_posts(posts)
        self._features(posts)
        self._metrics(posts)

    def _silver_posts(self, posts: pl.DataFrame) -> None:
        seen = pl.col("created_at") + pl.duration(minutes=20)
        last_seen = pl.min_horizontal(
            pl.col("created_at") + pl.duration(days=7), pl.lit(self.end_ts)
        )
        media_type = (
            pl.when(pl.col("media") == 1)
            .then(pl.lit("image"))
            .when(pl.col("media") == 2)
            .then(pl.lit("video"))
        )
        silver = posts.select(
            run_id=pl.format("bench-run-{}", "day"),
            response_id=pl.format("bench-resp-{}-{}", "a", "day"),
            connector_version=pl.lit("bench"),
            platform="platform",
            post_id="post_id",
            account_id="account_id",
            author_id="account_id",
            created_at="created_at",
            utc_offset_minutes=pl.lit(0, pl.Int64),
            post_type="post_type",
            text="text",
            title=pl.when(pl.col("platform") == "youtube").then(pl.col("sentence")),
            url=pl.format("https://{}.example/{}/posts/{}", "platform", "handle", "post_id"),
            lang=pl.when(pl.col("es")).then(pl.lit("es")).otherwise(pl.lit("en")),
            reply_to_post_id=pl.lit(None, pl.Utf8),
            quoted_post_id=pl.lit(None, pl.Utf8),
            reposted_post_id=pl.lit(None, pl.Utf8),
            hashtags="hashtags",
            mentions=pl.lit(None, pl.List(pl.Utf8)),
            links=pl.lit(None, pl.List(pl.Utf8)),
            media_type=media_type.otherwise(None),
            media_count=(pl.col("media") > 0).cast(pl.Int64),
            media_urls=pl.lit(None, pl.List(pl.Utf8)),
            duration_s=pl.when(pl.col("media") == 2).then(pl.col("popularity") * 60.0),
            media=pl.lit(None),
            is_deleted="deleted",
            deleted_at=pl.when(pl.col("deleted")).then(last_seen),
            first_seen_at=seen,
            last_seen_at=last_seen,
        )
        self.write("silver/posts", silver)

    def _features(self, posts: pl.DataFrame) -> None:
        features = posts.select(
            platform="platform",
            post_id="post_id",
            text_length=pl.col("text").str.len_chars().cast(pl.Int64),
            word_count=(pl.col("text").str.count_matches(" ") + 1).cast(pl.Int64),
            emoji=pl.lit([], pl.List(pl.Utf8)),
            emoji_count=pl.lit(0, pl.Int64),
            hashtags=pl.col("hashtags").list.unique().list.sort(),
            mentions=pl.lit([], pl.List(pl.Utf8)),
            link_domains=pl.lit([], pl.List(pl.Utf8)),
            links_shortened=pl.lit(False),
            language=pl.when(pl.col("es")).then(pl.lit("es")).otherwise(pl.lit("en")),
            language_source=pl.lit("platform"),
            topics="topics",
            states=pl.lit([], pl.List(pl.Utf8)),
            places=pl.lit([], pl.List(pl.Utf8)),
            taxonomy_version=pl.lit("bench#0"),
            enriched_at=pl.lit(self.end_ts),
            source_last_seen_at=pl.min_horizontal(
                pl.col("created_at") + pl.duration(days=7), pl.lit(self.end_ts)
            ),
        )
        self.write("silver/post_features", features)

    def _metrics(self, posts: pl.DataFrame) -> None:
        ages = pl.DataFrame(
            {"age_hours": list(AGES), "share": list(_SHARE_AT_AGE)},
            schema={"age_hours": pl.Int64, "share": pl.Float64},
        )
        final = (pl.col("base").cast(pl.Float64).sqrt() * pl.col("popularity") * 0.6).floor()
        obs = (
            posts.select(
                "platform",
                "post_id",
                "account_id",
                "post_type",
                "created_at",
                "day",
                final.cast(pl.Int64).alias("likes_final"),
            )
            .join(ages, how="cross")
            .with_columns(observed_at=pl.col("created_at") + pl.duration(hours=pl.col("age_hours")))
            .filter(pl.col("observed_at") <= self.end_ts)
            .with_columns(
                likes=(pl.col("likes_final") * pl.col("share")).floor().cast(pl.Int64),
            )
            .with_columns(
                reposts=pl.col("likes") // 5,
                replies=pl.col("likes") // 12,
                quotes=pl.col("likes") // 40,
                views=pl.when(pl.col("platform").is_in(sorted(VIEWS))).then(
                    pl.col("likes") * 37 + 100
                ),
            )
        )
        metrics = obs.select(
            run_id=pl.format("bench-run-{}", "day"),
            response_id=pl.format("bench-resp-{}-{}", "post_id", "age_hours"),
            connector_version=pl.lit("bench"),
            platform="platform",
            post_id="post_id",
            account_id="account_id",
            observed_at="observed_at",
            last_observed_at=pl.col("observed_at") + pl.duration(minutes=30),
            likes="likes",
            reposts="reposts",
            replies="replies",
            quotes="quotes",
            views="views",
        )
        self.write("silver/post_metrics", metrics)
        self.write("gold/post_counters", latest_counters(metrics.lazy()).collect())

        engagement = pl.col("likes") + pl.col("reposts") + pl.col("replies") + pl.col("quotes")
        curves = (
            obs.with_columns(engagement=engagement)
            .with_columns(
                baseline=pl.col("engagement")
                .cast(pl.Float64)
                .median()
                .over("account_id", "age_hours", "post_type")
                .clip(lower_bound=1.0)
            )
            .select(
                "platform",
                "post_id",
                "account_id",
                "post_type",
                "created_at",
                "age_hours",
                "observed_at",
                pl.lit(0, pl.Int64).alias("offset_minutes"),
                "likes",
                "reposts",
                "replies",
                "quotes",
                "views",
                "engagement",
                "baseline",
                (pl.col("engagement") / pl.col("baseline")).alias("overperformance"),
            )
        )
        self.write("gold/post_curves", curves)

        # The daily figures sum each post's latest counters by its day of publication.
        latest = (
            obs.filter(pl.col("post_type") != "repost")
            .sort("observed_at")
            .group_by("post_id", maintain_order=False)
            .agg(pl.all().last())
        )
        published = (
            posts.filter(pl.col("post_type") != "repost")
            .group_by("account_id", "day")
            .agg(posts_published=pl.len().cast(pl.Int64))
        )
        counters = latest.group_by("account_id", "day").agg(
            likes=pl.col("likes").sum(),
            reposts=pl.col("reposts").sum(),
            replies=pl.col("replies").sum(),
            quotes=pl.col("quotes").sum(),
            views=pl.col("views").sum(),
        )
        # A post published in the last hour has no observation yet: counted, with no counters.
        self.posts_daily = published.join(counters, on=["account_id", "day"], how="left")
        self.tag_uses = posts.select(
            "day", "agency", "platform", hashtags=pl.col("hashtags").list.unique(), topics="topics"
        )

    # -- gold/daily, weekly, agency metrics; silver/account_snapshots ---------------------------
    def daily(self) -> None:
        a, d = self.accts.height, self.scale.days
        rng = self.rng
        noise = rng.normal(0.0, 1.0, size=a * d)
        grid = (
            pl.DataFrame(
                {"a": np.repeat(np.arange(a), d), "day": np.tile(np.arange(d), a), "noise": noise}
            )
            .join(self.accts.with_row_index("a").with_columns(pl.col("a").cast(pl.Int64)), on="a")
            .join(self.posts_daily, on=["account_id", "day"], how="left")
            .with_columns(
                pl.col("posts_published", "likes", "reposts", "replies", "quotes").fill_null(0),
                followers=(
                    pl.col("base")
                    * (1.0 + pl.col("growth") * pl.col("day"))
                    * (1.0 + 1e-4 * pl.col("noise"))
                )
                .clip(lower_bound=0)
                .cast(pl.Int64),
                date=pl.lit(self.start) + pl.duration(days=pl.col("day")),
            )
            .with_columns(
                views=pl.when(pl.col("platform").is_in(sorted(VIEWS))).then(
                    pl.col("views").fill_null(0)
                ),
                engagement=pl.col("likes")
                + pl.col("reposts")
                + pl.col("replies")
                + pl.col("quotes"),
                posts_count=pl.col("posts_published").cum_sum().over("a") + 200,
            )
        )
        daily = grid.sort("a", "day").select(
            date=pl.col("date").cast(pl.Date),
            platform="platform",
            account_id="account_id",
            handle="handle",
            agency="agency",
            parent_agency="parent_agency",
            followers="followers",
            followers_change=pl.col("followers").diff().over("a"),
            following=(pl.col("base") // 1000 + 50).cast(pl.Int64),
            posts_count="posts_count",
            posts_published="posts_published",
            likes="likes",
            reposts="reposts",
            replies="replies",
            quotes="quotes",
            views="views",
            engagement="engagement",
            engagement_rate=pl.when(pl.col("followers") > 0).then(
                pl.col("engagement") / pl.col("followers")
            ),
            engagement_activity="engagement",
        )
        self.daily_frame = daily
        self.write("gold/daily_account_metrics", daily)

        snapshots = daily.select(
            run_id=pl.format("bench-run-{}", "date"),
            response_id=pl.format("bench-resp-{}-{}", "account_id", "date"),
            connector_version=pl.lit("bench"),
            platform="platform",
            account_id="account_id",
            observed_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=12)),
            last_observed_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=20)),
            followers="followers",
            following="following",
            posts_count="posts_count",
        )
        self.write("silver/account_snapshots", snapshots)

        summed = ["posts_published", "likes", "reposts", "replies", "quotes", "engagement"]
        weekly = (
            daily.with_columns(week=pl.col("date").dt.truncate("1w"))
            .sort("date")
            .group_by("week", "platform", "account_id")
            .agg(
                pl.col("handle", "agency", "parent_agency", "followers").last(),
                pl.col("followers_change").sum(),
                *[pl.col(c).sum() for c in summed],
                days_observed=pl.col("followers").count().cast(pl.Int64),
                views=pl.when(pl.col("views").count() > 0).then(pl.col("views").sum()),
                engagement_activity=pl.col("engagement_activity").sum(),
            )
            .with_columns(
                engagement_rate=pl.when(pl.col("followers") > 0).then(
                    pl.col("engagement") / pl.col("followers")
                )
            )
        )
        self.weekly_frame = weekly
        self.write("gold/weekly_account_metrics", weekly)
        self.write("gold/agency_metrics", self._agency_metrics(daily, weekly))

    def _agency_metrics(self, daily: pl.DataFrame, weekly: pl.DataFrame) -> pl.DataFrame:
        counters = ["posts_published", "likes", "reposts", "replies", "quotes", "engagement"]

        def roll(frame: pl.DataFrame, period: str, start_col: str) -> pl.DataFrame:
            up = frame.join(self.ancestors, on="agency").with_columns(
                period_start=pl.col(start_col)
            )
            aggs = [
                pl.col("account_id").n_unique().cast(pl.Int64).alias("accounts"),
                pl.col("followers").sum(),
                pl.col("followers_change").sum(),
                *[pl.col(c).sum() for c in counters],
                pl.when(pl.col("views").count() > 0).then(pl.col("views").sum()).alias("views"),
                pl.col("engagement_activity").sum(),
            ]
            keys = ["period_start", "ancestor", "level"]
            per_platform = up.group_by(*keys, "platform").agg(aggs)
            every = up.group_by(*keys).agg(aggs).with_columns(platform=pl.lit("all"))
            return (
                pl.concat([per_platform, every], how="diagonal")
                .rename({"ancestor": "agency"})
                .with_columns(
                    period=pl.lit(period),
                    engagement_rate=pl.when(pl.col("followers") > 0).then(
                        pl.col("engagement") / pl.col("followers")
                    ),
                )
            )

        return pl.concat(
            [roll(daily, "day", "date"), roll(weekly, "week", "week")], how="diagonal"
        ).sort("period", "period_start", "agency", "platform")

    # -- gold/trends, gold/leaderboards, gold/anomalies -----------------------------------------
    def trends(self) -> None:
        uses = (
            pl.concat(
                [
                    self.tag_uses.select("day", "agency", "platform", term="hashtags").with_columns(
                        kind=pl.lit("hashtag")
                    ),
                    self.tag_uses.select("day", "agency", "platform", term="topics").with_columns(
                        kind=pl.lit("topic")
                    ),
                ]
            )
            .explode("term")
            .drop_nulls("term")
        )
        counted = (
            uses.join(self.ancestors, on="agency")
            .group_by("day", "ancestor", "kind", "term")
            .agg(
                posts=pl.len().cast(pl.Int64),
                platforms=pl.col("platform").n_unique().cast(pl.Int64),
            )
        )
        # The 7 days before, with days without the term counted as zero.
        shifted = (
            pl.concat(
                [
                    counted.select("ancestor", "kind", "term", "posts", day=pl.col("day") + k)
                    for k in range(1, 8)
                ]
            )
            .group_by("day", "ancestor", "kind", "term")
            .agg(before=pl.col("posts").sum())
        )
        trends = (
            counted.join(shifted, on=["day", "ancestor", "kind", "term"], how="left")
            .with_columns(baseline=pl.col("before").fill_null(0) / 7.0)
            .with_columns(lift=(pl.col("posts") + 1) / (pl.col("baseline") + 1))
            .sort("lift", "posts", "term", descending=[True, True, False])
            .with_columns(
                rank=(pl.int_range(pl.len()).over("day", "ancestor", "kind") + 1).cast(pl.Int64)
            )
            .select(
                date=(pl.lit(self.start) + pl.duration(days=pl.col("day"))).cast(pl.Date),
                agency="ancestor",
                kind="kind",
                term="term",
                posts="posts",
                platforms="platforms",
                baseline="baseline",
                lift="lift",
                rank="rank",
            )
        )
        self.write("gold/trends", trends)

    def leaderboards(self) -> None:
        weekly = self.weekly_frame
        over = self.rng.lognormal(0.0, 0.5, size=weekly.height)
        accounts = pl.concat(
            [
                weekly.select(
                    "week",
                    "account_id",
                    "handle",
                    "platform",
                    "agency",
                    board=pl.lit(board),
                    value=value.cast(pl.Float64),
                )
                for board, value in (
                    ("growth", pl.col("followers_change")),
                    ("engagement_rate", pl.col("engagement_rate")),
                    ("overperformance", pl.lit(pl.Series(over))),
                )
            ]
        ).select(
            period_start="week",
            entity_type=pl.lit("account"),
            entity="account_id",
            label="handle",
            platform="platform",
            agency="agency",
            board="board",
            value="value",
        )
        agencies = (
            self.weekly_frame.join(self.ancestors, on="agency")
            .group_by("week", "ancestor")
            .agg(
                growth=pl.col("followers_change").sum().cast(pl.Float64),
                engagement_rate=pl.col("engagement").sum() / pl.col("followers").sum(),
            )
            .unpivot(index=["week", "ancestor"], variable_name="board", value_name="value")
            .select(
                period_start="week",
                entity_type=pl.lit("agency"),
                entity="ancestor",
                label="ancestor",
                platform=pl.lit("all"),
                agency="ancestor",
                board="board",
                value="value",
            )
        )
        boards = (
            pl.concat([accounts, agencies])
            .drop_nulls("value")
            .filter(pl.col("value").is_finite())
            .with_columns(
                rank=pl.col("value")
                .rank("min", descending=True)
                .over("period_start", "entity_type", "board")
                .cast(pl.Int64)
            )
        )
        self.write("gold/leaderboards", boards)

    def anomalies(self) -> None:
        daily = self.daily_frame
        rng = self.rng
        picked = daily.filter(pl.Series(rng.random(daily.height) < max(0.004, 5 / daily.height)))
        n = picked.height
        kinds = _choice(rng, ANOMALY_KINDS, n)
        metric_of = {
            "follower_jump": "followers",
            "follower_drop": "followers",
            "engagement_spike": "engagement",
            "engagement_collapse": "engagement",
            "posting_gap": "posts_published",
            "collection_gap": "collection",
        }
        score = rng.normal(0.0, 1.0, size=n) * 2 + np.where(rng.random(n) < 0.5, 5.0, -5.0)
        anomalies = (
            picked.select(
                "platform",
                "account_id",
                "date",
                "agency",
                "handle",
                "followers",
                "engagement",
                kind=kinds,
                days=pl.lit(pl.Series(rng.integers(1, 4, size=n))),
                score=pl.lit(pl.Series(score)),
                confidence=pl.lit(pl.Series(rng.uniform(0.3, 1.0, size=n))),
            )
            .with_columns(
                metric=pl.col("kind").replace_strict(metric_of),
                days=pl.when(pl.col("kind").str.ends_with("_gap")).then("days").otherwise(1),
                value=pl.when(pl.col("kind").str.starts_with("follower"))
                .then(pl.col("followers"))
                .otherwise(pl.col("engagement"))
                .cast(pl.Float64),
            )
            .with_columns(
                baseline=pl.col("value") * 0.8 + 1.0,
                usual_change=(pl.col("value") * 0.05 + 1.0),
            )
            .with_columns(
                change=pl.col("value") - pl.col("baseline"),
                change_pct=(pl.col("value") - pl.col("baseline")) / pl.col("baseline") * 100.0,
            )
        )
        anomalies = anomalies.select(
            "platform",
            "account_id",
            "metric",
            "date",
            "kind",
            end_date=(pl.col("date") + pl.duration(days=pl.col("days") - 1)).cast(pl.Date),
            days="days",
            agency="agency",
            handle="handle",
            value="value",
            baseline="baseline",
            change="change",
            change_pct="change_pct",
            usual_change="usual_change",
            score=pl.when(pl.col("kind") != "collection_gap").then("score"),
            confidence="confidence",
            sentence=pl.format(
                "@{} on {}: {} on {} ({} against a usual {}).",
                "handle",
                "platform",
                pl.col("kind").str.replace("_", " "),
                "date",
                pl.col("value").round(0),
                pl.col("baseline").round(0),
            ),
            detected_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(days=1, hours=2)),
        ).unique(["platform", "account_id", "metric", "date", "kind"])
        self.write("gold/anomalies", anomalies)

    # -- quality, bronze, quarantine ------------------------------------------------------------
    def quality(self) -> None:
        daily = self.daily_frame
        rng = self.rng
        n = daily.height
        fresh = np.clip(rng.normal(0.95, 0.08, size=n), 0, 1)
        complete = np.clip(rng.normal(0.97, 0.05, size=n), 0, 1)
        cadence = pl.col("tier").replace_strict({1: 1.0, 2: 6.0, 3: 24.0}, return_dtype=pl.Float64)
        scorecard = (
            daily.select("date", "platform", "account_id", "agency", "posts_count")
            .join(self.accts.select("account_id", "handle", "tier"), on="account_id")
            .with_columns(
                freshness=pl.lit(pl.Series(fresh)),
                completeness=pl.lit(pl.Series(complete)),
                quarantined=pl.lit(pl.Series(rng.poisson(0.05, size=n))).cast(pl.Int64),
                flags=pl.lit(pl.Series(rng.poisson(0.02, size=n))).cast(pl.Int64),
            )
            .select(
                "date",
                "platform",
                "account_id",
                account_key=pl.format("{}:{}", "platform", "handle"),
                agency="agency",
                tier="tier",
                posts_expected="posts_count",
                posts_collected=(pl.col("posts_count") * pl.col("completeness"))
                .floor()
                .cast(pl.Int64),
                completeness_basis=pl.lit("posts_count"),
                completeness="completeness",
                newest_observation_at=_ts(
                    pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=20)
                ),
                age_hours=(1.0 - pl.col("freshness")) * cadence * 4,
                cadence_hours=cadence,
                freshness="freshness",
                rows_valid=pl.lit(40, pl.Int64),
                rows_quarantined="quarantined",
                validity=40.0 / (40.0 + pl.col("quarantined")),
                fields_expected=pl.lit(12, pl.Int64),
                fields_missing=pl.lit(0, pl.Int64),
                drift=pl.lit(0.0),
                flags="flags",
                overall=(
                    pl.col("freshness")
                    + pl.col("completeness")
                    + 40.0 / (40.0 + pl.col("quarantined"))
                    + 1.0
                )
                / 4.0,
                computed_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=23)),
            )
        )
        self.write("quality/scorecard", scorecard)

        flagged = daily.filter(pl.Series(rng.random(n) < max(0.002, 5 / n)))
        flags = flagged.select(
            "platform",
            "account_id",
            entity=pl.lit("account"),
            entity_id="account_id",
            rule=_choice(rng, ("counter_fall", "day_change"), flagged.height),
            metric=pl.lit("followers"),
            severity=_choice(rng, ("warning", "critical"), flagged.height, (0.9, 0.1)),
            observed_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=12)),
            value="followers",
            reference=(pl.col("followers") * 1.2).cast(pl.Int64),
            detail=pl.lit("followers fell by more than 10% since the previous observation"),
            run_id=pl.format("bench-run-{}", "date"),
        ).unique(["platform", "entity", "entity_id", "rule", "metric", "observed_at"])
        self.write("quality/flags", flags)

        days = pl.DataFrame({"date": pl.date_range(self.start, self.end, eager=True)})
        change_day = self.start + dt.timedelta(days=self.scale.days * 2 // 3)
        sources = (
            days.join(pl.DataFrame({"platform": list(PLATFORM_MIX)}), how="cross")
            .join(
                pl.DataFrame({"metric": ["likes", "reposts", "replies", "quotes", "views"]}),
                how="cross",
            )
            .with_columns(
                fallback=(pl.col("metric") == "views")
                & (pl.col("platform") == "x")
                & (pl.col("date") >= change_day)
            )
            .select(
                "platform",
                endpoint=pl.lit("feed"),
                run_id=pl.format("bench-run-{}", "date"),
                metric="metric",
                field=pl.when("fallback")
                .then(pl.format("legacy.{}_count", "metric"))
                .otherwise(pl.format("public_metrics.{}_count", "metric")),
                status=pl.when("fallback").then(pl.lit("fallback")).otherwise(pl.lit("current")),
                rows=pl.lit(100, pl.Int64),
                first_seen_at=_ts(pl.col("date").cast(pl.Datetime("us"))),
                last_seen_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=23)),
            )
        )
        self.write("quality/metric_sources", sources)
        drift = (
            sources.filter(pl.col("status") == "fallback")
            .head(20)
            .select(
                "platform",
                "endpoint",
                "run_id",
                field=pl.lit("public_metrics.impression_count"),
                responses_missing=pl.lit(3, pl.Int64),
                responses_checked=pl.lit(10, pl.Int64),
                first_missing_at="first_seen_at",
                last_missing_at="last_seen_at",
                example_response_id=pl.lit("bench-resp-drift"),
            )
        )
        self.write("quality/field_drift", drift)

    def bronze(self) -> None:
        daily = self.daily_frame.select("date", "platform", "account_id", "handle")
        rng = self.rng
        n = daily.height
        status = _choice(rng, ("complete", "partial", "failed"), n, (0.975, 0.015, 0.01))
        start = pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=2)
        offset = pl.lit(pl.Series(rng.integers(0, 3000, size=n)))
        fetch_log = daily.with_columns(status=status, offset=offset).select(
            run_id=pl.format("bench-run-{}", "date"),
            batch_id=pl.format("bench-run-{}-{}", "date", "platform"),
            platform="platform",
            account_key=pl.format("{}:{}", "platform", "handle"),
            status="status",
            error_type=pl.when(pl.col("status") == "failed").then(pl.lit("TransientHttpError")),
            error=pl.when(pl.col("status") == "failed").then(
                pl.lit("HTTP 503 from the platform after 4 attempts")
            ),
            terminal=pl.lit(False),
            responses=pl.when(pl.col("status") == "failed").then(0).otherwise(3).cast(pl.Int64),
            started_at=_ts(start + pl.duration(seconds="offset")),
            finished_at=_ts(start + pl.duration(seconds=pl.col("offset") + 4)),
        )
        self.write("bronze/fetch_log", fetch_log)

        since = self.end - dt.timedelta(days=self.scale.raw_days - 1)
        recent = daily.filter(pl.col("date") >= since)
        m = recent.height
        remaining = pl.lit(pl.Series(rng.integers(0, 900, size=m)))
        rem = remaining.cast(pl.Utf8)
        reset = pl.col("reset").cast(pl.Utf8)
        headers = (
            pl.when(pl.col("platform") == "x")
            .then(
                pl.concat_str(
                    pl.lit('{"x-rate-limit-limit": "900", "x-rate-limit-remaining": "'),
                    rem,
                    pl.lit('", "x-rate-limit-reset": "'),
                    reset,
                    pl.lit('"}'),
                )
            )
            .when(pl.col("platform").is_in(["bluesky", "mastodon"]))
            .then(
                pl.concat_str(
                    pl.lit('{"ratelimit-limit": "3000", "ratelimit-remaining": "'),
                    rem,
                    pl.lit('", "ratelimit-reset": "'),
                    reset,
                    pl.lit('"}'),
                )
            )
            .when(pl.col("platform").is_in(["facebook", "instagram", "threads"]))
            .then(
                pl.concat_str(
                    pl.lit('{"x-app-usage": "{\\"call_count\\": '),
                    (remaining // 10).cast(pl.Utf8),
                    pl.lit(', \\"total_time\\": 5, \\"total_cputime\\": 3}"}'),
                )
            )
            .otherwise(pl.lit('{"content-type": "application/json"}'))
        )
        fetched = pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=2, seconds="s")
        raw = recent.with_columns(
            s=pl.lit(pl.Series(rng.integers(0, 3000, size=m))),
            reset=(pl.col("date").cast(pl.Datetime("us")).dt.epoch("s") + 9000),
        ).select(
            response_id=pl.format("bench-resp-{}-{}", "account_id", "date"),
            run_id=pl.format("bench-run-{}", "date"),
            platform="platform",
            endpoint=pl.lit("feed"),
            account_key=pl.format("{}:{}", "platform", "handle"),
            request_url=pl.format("https://{}.example/feed?account={}", "platform", "account_id"),
            status=pl.lit(200, pl.Int32),
            headers=headers,
            body=pl.lit(b'{"data": []}'),
            payload_hash=pl.lit("0" * 64),
            fetched_at=_ts(fetched),
            fetched_date="date",
            elapsed_ms=pl.lit(120.0),
            page=pl.lit(0, pl.Int32),
            connector_version=pl.lit("bench"),
        )
        self.write("bronze/raw_responses", raw)

        q = max(10, n // 40)
        bad = daily.sample(q, seed=self.scale.seed, with_replacement=True).with_row_index("k")
        quarantine = bad.select(
            table=_choice(
                rng, ("silver/posts", "silver/post_metrics", "silver/account_snapshots"), q
            ),
            row_hash=pl.format("bench-hash-{}", "k"),
            run_id=pl.format("bench-run-{}", "date"),
            response_id=pl.format("bench-resp-{}-{}", "account_id", "date"),
            platform="platform",
            rules=pl.concat_list(_choice(rng, RULES, q)),
            row=pl.concat_str(
                pl.lit('{"account_id": "'), pl.col("account_id"), pl.lit('", "likes": -1}')
            ),
            quarantined_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=3)),
        )
        self.write("quarantine/rows", quarantine)

        builds = pl.DataFrame({"date": pl.date_range(self.start, self.end, eager=True)}).select(
            built_at=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=23)),
            watermark=_ts(pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=22)),
            full=pl.lit(False),
            accounts=pl.lit(self.scale.accounts, pl.Int64),
        )
        self.write("gold/builds", builds)


# -- the public API -----------------------------------------------------------------------


def _steps(build: _Build) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("accounts", build.accounts),
        ("posts", build.posts),
        ("daily", build.daily),
        ("trends", build.trends),
        ("leaderboards", build.leaderboards),
        ("anomalies", build.anomalies),
        ("quality", build.quality),
        ("bronze", build.bronze),
    ]


def generate(
    scale: Scale, path: str | Path, *, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Write a synthetic lake of ``scale`` at ``path`` (replacing what is there).

    Args:
        scale: How big, and the seed.
        path: Folder of the lake.
        log: Called with a line per step (e.g. ``print``).

    Returns:
        The manifest: scale, rows per table, seconds per step and per table write.
    """
    say = log or (lambda _line: None)
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    build = _Build(scale, Lake(str(path), storage_options={}))
    started = time.perf_counter()
    steps: dict[str, float] = {}
    for name, step in _steps(build):
        t0 = time.perf_counter()
        step()
        steps[name] = round(time.perf_counter() - t0, 2)
        say(f"  {name:<13} {steps[name]:7.1f} s")
    build.lake.create_missing()  # the tables no page reads exist, empty, like a fresh lake's
    params = dataclasses.asdict(build.scale)
    params["end"] = str(params["end"])
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "scale": params,
        "key": scale.key(),
        "rows": dict(sorted(build.rows.items())),
        "write_seconds": build.seconds,
        "step_seconds": steps,
        "total_seconds": round(time.perf_counter() - started, 1),
        "bytes": _size(path),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def ensure_lake(
    scale: Scale, cache: str | Path = DEFAULT_CACHE, *, log: Callable[[str], None] | None = None
) -> tuple[Path, dict[str, Any]]:
    """The cached lake of ``scale``, generated first when it is not there yet.

    Args:
        scale: How big, and the seed.
        cache: Folder holding one lake per parameter key.
        log: Called with progress lines.

    Returns:
        The lake's folder and its manifest.
    """
    path = Path(cache) / scale.key()
    manifest_file = path / MANIFEST
    if manifest_file.exists():
        return path, json.loads(manifest_file.read_text())
    if log:
        log(f"generating the {scale.name} lake at {path} ...")
    return path, generate(scale, path, log=log)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def scale_from_args(args: argparse.Namespace) -> Scale:
    """The scale named by ``--scale``, with ``--accounts``/``--days``/``--seed``/``--end`` applied."""
    scale = SCALES[args.scale]
    changes: dict[str, Any] = {}
    for field in ("accounts", "days", "seed"):
        if getattr(args, field, None) is not None:
            changes[field] = getattr(args, field)
    if getattr(args, "end", None):
        changes["end"] = dt.date.fromisoformat(args.end)
    if changes:
        scale = dataclasses.replace(scale, name=f"{scale.name}-custom", **changes)
    return scale


def add_scale_args(parser: argparse.ArgumentParser) -> None:
    """The scale options shared by the generator's and the benchmark's command lines."""
    parser.add_argument("--scale", choices=sorted(SCALES), default="large")
    parser.add_argument("--accounts", type=int, help="override the scale's accounts")
    parser.add_argument("--days", type=int, help="override the scale's days of history")
    parser.add_argument("--seed", type=int, help="override the random seed")
    parser.add_argument("--end", help="last day of data, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="folder of cached lakes")


def main(argv: list[str] | None = None) -> int:
    """Command line: generate (or find cached) a lake and print its path and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scale_args(parser)
    parser.add_argument("--force", action="store_true", help="regenerate even when cached")
    args = parser.parse_args(argv)
    scale = scale_from_args(args)
    if args.force:
        shutil.rmtree(Path(args.cache) / scale.key(), ignore_errors=True)
    path, manifest = ensure_lake(scale, args.cache, log=print)
    print(f"lake: {path}")
    print(f"generated in {manifest['total_seconds']} s; {manifest['bytes'] / 2**20:,.0f} MiB")
    for table, rows in manifest["rows"].items():
        print(f"  {table:<28} {rows:>12,} rows")
    return 0


__all__ = [
    "CATALOGUE",
    "SCALES",
    "Scale",
    "add_scale_args",
    "ensure_lake",
    "generate",
    "scale_from_args",
    "table_spec",
]

if __name__ == "__main__":
    sys.exit(main())
