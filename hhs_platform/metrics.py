"""The metric model: canonical metrics, and which native field of each platform feeds them.

A platform retires or renames counters (Meta and X moved from *impressions* to *views*). Each
canonical metric lists its native sources per platform, newest first; a parser takes the first
one present and reports which it used, so ``quality/metric_sources`` records, run by run, the
field behind every figure — and a chart can mark where the definition changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: The canonical metrics every table and chart speaks of, with their definitions.
CANONICAL_METRICS: dict[str, str] = {
    "followers": "Accounts following the account (subscribers on YouTube).",
    "following": "Accounts the account follows.",
    "posts_count": "Posts the platform says the account has published.",
    "likes": "Likes, favourites or reactions of all kinds.",
    "reposts": "Reposts, retweets, boosts or shares of the post.",
    "replies": "Replies or comments on the post.",
    "quotes": "Posts quoting the post.",
    "views": "Times the post was shown or played (impressions before the platforms renamed them).",
}


@dataclass(frozen=True)
class MetricSource:
    """One native field that feeds a canonical metric on one platform."""

    platform: str
    metric: str
    field: str
    status: str  # "current" | "fallback" (an older field still read when the current is absent)
    note: str = ""


METRIC_SOURCES: tuple[MetricSource, ...] = (
    MetricSource(
        "x",
        "views",
        "public_metrics.impression_count",
        "current",
        "tweet impressions, public since Dec 2022",
    ),
    MetricSource(
        "x",
        "views",
        "includes.media[].public_metrics.view_count",
        "fallback",
        "video plays of the attached media: what was public before impression_count",
    ),
    MetricSource("x", "likes", "public_metrics.like_count", "current"),
    MetricSource("x", "reposts", "public_metrics.retweet_count", "current"),
    MetricSource("x", "replies", "public_metrics.reply_count", "current"),
    MetricSource("x", "quotes", "public_metrics.quote_count", "current"),
    MetricSource("youtube", "views", "statistics.viewCount", "current"),
    MetricSource(
        "youtube",
        "likes",
        "statistics.likeCount",
        "current",
        "dislikeCount was retired in Dec 2021",
    ),
    MetricSource("youtube", "replies", "statistics.commentCount", "current"),
    MetricSource("bluesky", "likes", "likeCount", "current"),
    MetricSource("bluesky", "reposts", "repostCount", "current"),
    MetricSource("bluesky", "replies", "replyCount", "current"),
    MetricSource("bluesky", "quotes", "quoteCount", "current"),
)


def sources(platform: str, metric: str) -> list[MetricSource]:
    """The native sources of ``metric`` on ``platform``, current first."""
    return [s for s in METRIC_SOURCES if s.platform == platform and s.metric == metric]


def first_present(candidates: Iterable[tuple[str, Any]]) -> tuple[Any, str | None]:
    """The first non-null value among ``(field, value)`` candidates, and the field it came from."""
    for name, value in candidates:
        if value is not None:
            return value, name
    return None, None
