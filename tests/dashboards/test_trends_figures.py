"""The Trends page's pure figures: series, periods, roll-ups, definition changes, trending terms."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from hhs_platform.dashboards import trends_figures as tf
from hhs_platform.transforms.rollups import agency_metrics
from schemas import table_spec

D0 = dt.date(2026, 3, 2)  # a Monday


def _day(i: int) -> dt.date:
    return D0 + dt.timedelta(days=i)


def _agency_rows() -> pl.DataFrame:
    """gold/agency_metrics day rows over 14 days: HHS = CDC + NIH + own account, platform all."""
    rows: list[dict[str, Any]] = []
    spec = table_spec("gold/agency_metrics")
    for i in range(14):
        for agency, level, followers, eng, views in (
            ("CDC", 1, 1000 + 10 * i, 5 + i, None),
            ("NIH", 1, 2000 - i, 3, 7),
            ("HHS", 0, 3500 + 9 * i, 10 + i, 7),
        ):
            rows.append(
                {
                    "period": "day",
                    "period_start": _day(i),
                    "agency": agency,
                    "level": level,
                    "platform": "all",
                    "accounts": 1,
                    "followers": followers,
                    "followers_change": None if i == 0 else followers - (followers - 1),
                    "posts_published": 1,
                    "likes": eng,
                    "reposts": 0,
                    "replies": 0,
                    "quotes": 0,
                    "views": views,
                    "engagement": eng,
                    "engagement_rate": eng / followers,
                    "engagement_activity": eng,
                }
            )
    return pl.DataFrame(rows, schema=spec.schema)


@pytest.fixture
def agencies() -> pl.DataFrame:
    return tf.with_series(_agency_rows(), "agency")


# -- series ----------------------------------------------------------------------------------
def test_with_series_names_the_period_and_keys_each_level() -> None:
    daily = pl.DataFrame(
        {
            "date": [D0, D0],
            "platform": ["x", "bluesky"],
            "account_id": ["1", "2"],
            "handle": ["CDCgov", None],
            "agency": ["CDC", "CDC"],
        }
    )
    accounts = tf.with_series(daily, "account")
    assert accounts["period_start"].to_list() == [D0, D0]
    assert accounts["series"].to_list() == ["x:1", "bluesky:2"]
    assert accounts["label"].to_list() == ["CDCgov (x)", "2 (bluesky)"]
    platforms = tf.with_series(daily, "platform")
    assert platforms["series"].to_list() == ["x", "bluesky"]
    weekly = tf.with_series(daily.rename({"date": "week"}), "agency")
    assert weekly["period_start"].to_list() == [D0, D0]
    assert weekly["series"].to_list() == ["CDC", "CDC"]
    with pytest.raises(ValueError, match="unknown level 'galaxy'"):
        tf.with_series(daily, "galaxy")


def test_series_options_order_by_level_and_disambiguate_labels(agencies: pl.DataFrame) -> None:
    assert tf.series_options(agencies) == {"HHS": "HHS", "CDC": "CDC", "NIH": "NIH"}
    twins = pl.DataFrame({"series": ["x:1", "x:2", "x:3"], "label": ["a (x)", "a (x)", "b (x)"]})
    assert tf.series_options(twins) == {"a (x) [x:1]": "x:1", "a (x) [x:2]": "x:2", "b (x)": "x:3"}
    assert tf.series_options(twins.clear()) == {}
    renamed = pl.DataFrame(
        {
            "period_start": [_day(1), _day(0), _day(0)],
            "series": ["x:1", "x:1", "x:2"],
            "label": ["new (x)", "old (x)", "b (x)"],
        }
    )
    assert tf.series_options(renamed) == {"b (x)": "x:2", "new (x)": "x:1"}


def test_default_series_puts_the_top_of_the_hierarchy_first_then_the_largest(
    agencies: pl.DataFrame,
) -> None:
    assert tf.default_series(agencies) == ["HHS", "NIH", "CDC"]
    assert tf.default_series(agencies, n=2) == ["HHS", "NIH"]
    flat = agencies.drop("level")
    assert tf.default_series(flat) == ["HHS", "NIH", "CDC"]
    # the last known figure counts, so a series whose latest day lacks followers still ranks
    late = flat.with_columns(
        followers=pl.when((pl.col("series") == "HHS") & (pl.col("period_start") == _day(13)))
        .then(None)
        .otherwise(pl.col("followers"))
    )
    assert tf.default_series(late, n=1) == ["HHS"]
    assert tf.default_series(agencies.clear()) == []


def test_too_many_series_refuses_a_seventh() -> None:
    assert tf.too_many_series(["a"] * 6) is None
    message = tf.too_many_series([str(i) for i in range(7)])
    assert message is not None
    assert "At most 6 series" in message
    assert "you picked 7" in message


def test_timeline_keeps_the_chosen_order_and_range(agencies: pl.DataFrame) -> None:
    line = tf.timeline(agencies, "followers", ["NIH", "CDC"], _day(12), _day(13))
    assert line.columns == list(tf.TIMELINE_COLUMNS)
    assert line.rows() == [
        (_day(12), "NIH", "NIH", 1988),
        (_day(13), "NIH", "NIH", 1987),
        (_day(12), "CDC", "CDC", 1120),
        (_day(13), "CDC", "CDC", 1130),
    ]
    views = tf.timeline(agencies, "views", ["CDC"], _day(13))
    assert views.rows() == [(_day(13), "CDC", "CDC", None)]
    with pytest.raises(ValueError, match="unknown metric"):
        tf.timeline(agencies, "karma", ["CDC"])


# -- periods ---------------------------------------------------------------------------------
def test_windows_of_days_and_weeks() -> None:
    assert tf.window("day", _day(7), _day(13)) == (_day(7), _day(13))
    assert tf.previous_window("day", _day(7), _day(13)) == (_day(0), _day(6))
    assert tf.previous_window("day", _day(10), _day(10)) == (_day(9), _day(9))
    # a Wednesday to the next Tuesday touches two weeks; the two before them are previous
    assert tf.window("week", _day(9), _day(15)) == (_day(7), _day(14))
    assert tf.previous_window("week", _day(9), _day(15)) == (_day(-7), _day(0))
    assert tf.monday(_day(6)) == _day(0)
    assert tf.default_range(_day(13), _day(0)) == (_day(7), _day(13))
    assert tf.default_range(_day(3), _day(0)) == (_day(0), _day(3))


def test_period_values_per_kind_of_metric(agencies: pl.DataFrame) -> None:
    def values(metric: str) -> dict[str, Any]:
        frame = tf.period_values(agencies, metric, _day(7), _day(13))
        return dict(zip(frame["series"], frame["value"], strict=True))

    # followers: the last figure; engagement: the sum; views: null where there are none
    assert values("followers") == {"HHS": 3617, "CDC": 1130, "NIH": 1987}
    assert values("engagement") == {
        "HHS": sum(10 + i for i in range(7, 14)),
        "CDC": sum(5 + i for i in range(7, 14)),
        "NIH": 21,
    }
    assert values("views") == {"HHS": 49, "CDC": None, "NIH": 49}
    rate = values("engagement_rate")
    assert rate["NIH"] == pytest.approx(21 / 1987)
    assert rate["CDC"] == pytest.approx(sum(5 + i for i in range(7, 14)) / 1130)


def test_period_over_period_compares_equal_lengths(agencies: pl.DataFrame) -> None:
    pop = tf.period_over_period(agencies, "engagement", ["CDC", "NIH"], "day", _day(7), _day(13))
    assert pop.columns == list(tf.POP_COLUMNS)
    now = sum(5 + i for i in range(7, 14))
    before = sum(5 + i for i in range(7))
    assert pop.rows() == [
        ("CDC", "CDC", now, before, now - before, pytest.approx((now - before) / before)),
        ("NIH", "NIH", 21, 21, 0, 0.0),
    ]
    followers = tf.period_over_period(agencies, "followers", ["NIH"], "day", _day(7), _day(13))
    assert followers.row(0) == ("NIH", "NIH", 1987, 1994, -7, pytest.approx(-7 / 1994))
    # nothing before the data: previous, change and change % are unknown
    first = tf.period_over_period(agencies, "engagement", ["CDC"], "day", _day(0), _day(6))
    assert first.row(0)[3:] == (None, None, None)
    # a series without rows keeps its place, empty
    missing = tf.period_over_period(agencies, "engagement", ["FDA"], "day", _day(7), _day(13))
    assert missing.row(0) == ("FDA", None, None, None, None, None)


def test_period_over_period_by_week_matches_the_weekly_rollup() -> None:
    daily = pl.DataFrame(
        {
            "date": [_day(i) for i in range(14)],
            "platform": ["x"] * 14,
            "account_id": ["1"] * 14,
            "handle": ["CDCgov"] * 14,
            "agency": ["CDC"] * 14,
            "parent_agency": [None] * 14,
            "followers": [100 + i for i in range(14)],
            "followers_change": [None] + [1] * 13,
            "posts_published": [1] * 14,
            "likes": list(range(14)),
            "reposts": [0] * 14,
            "replies": [0] * 14,
            "quotes": [0] * 14,
            "views": [None] * 14,
            "engagement": list(range(14)),
            "engagement_activity": [0] * 14,
        }
    )
    accounts = pl.DataFrame(
        {"agency": ["CDC"], "parent_agency": [None]},
        schema=[("agency", pl.Utf8), ("parent_agency", pl.Utf8)],
    )
    weekly = agency_metrics(daily, accounts).filter(
        (pl.col("period") == "week") & (pl.col("platform") == "all")
    )
    frame = tf.with_series(weekly, "agency")
    pop = tf.period_over_period(frame, "engagement", ["CDC"], "week", _day(8), _day(12))
    assert pop.row(0) == ("CDC", "CDC", sum(range(7, 14)), sum(range(7)), 49, 49 / 21)
    pop = tf.period_over_period(frame, "followers", ["CDC"], "week", _day(8), _day(12))
    assert pop.row(0)[2:4] == (113, 106)


# -- hierarchy -------------------------------------------------------------------------------
def test_rollup_breakdown_splits_a_parent_into_children_and_own_accounts(
    agencies: pl.DataFrame,
) -> None:
    links = pl.DataFrame(
        {"agency": ["HHS", "CDC", "NIH", "NIH-NCI"], "parent_agency": [None, "HHS", "HHS", "NIH"]}
    )
    children = tf.children_of(links, "HHS")
    assert children == ["CDC", "NIH"]
    assert tf.children_of(links, "NIH") == ["NIH-NCI"]
    assert tf.children_of(links, "CDC") == []
    out = tf.rollup_breakdown(agencies, "followers", "HHS", children, _day(13), _day(13))
    assert out.rows() == [
        ("HHS", 3617, 1.0),
        ("NIH", 1987, pytest.approx(1987 / 3617)),
        ("CDC", 1130, pytest.approx(1130 / 3617)),
        (tf.OWN_ACCOUNTS, 500, pytest.approx(500 / 3617)),
    ]
    rate = tf.rollup_breakdown(agencies, "engagement_rate", "HHS", children, _day(13), _day(13))
    assert rate["agency"].to_list() == ["HHS", "CDC", "NIH"]
    assert rate["share"].to_list() == [None, None, None]
    alone = tf.rollup_breakdown(agencies, "engagement", "CDC", [], _day(13), _day(13))
    assert alone.rows() == [("CDC", 18, 1.0)]


# -- metric definitions ----------------------------------------------------------------------
def _sources(rows: list[tuple[str, str, str, str, str, int]]) -> pl.DataFrame:
    spec = table_spec("quality/metric_sources")
    return pl.DataFrame(
        [
            {
                "platform": platform,
                "endpoint": endpoint,
                "run_id": run,
                "metric": metric,
                "field": field,
                "status": status,
                "rows": 3,
                "first_seen_at": dt.datetime(2026, 3, day, 6, tzinfo=dt.UTC),
                "last_seen_at": dt.datetime(2026, 3, day, 7, tzinfo=dt.UTC),
            }
            for platform, endpoint, run, metric, field, day in rows
            for status in ["fallback" if field == MEDIA_VIEWS else "current"]
        ],
        schema=spec.schema,
    )


IMPRESSIONS = "public_metrics.impression_count"
MEDIA_VIEWS = "includes.media[].public_metrics.view_count"


def test_definition_changes_mark_a_new_field_and_a_fallback() -> None:
    sources = _sources(
        [
            ("x", "tweets", "r1", "views", IMPRESSIONS, 2),
            ("x", "tweets", "r2", "views", IMPRESSIONS, 3),
            ("x", "tweets", "r3", "views", MEDIA_VIEWS, 4),  # impression_count gone
            ("x", "tweets", "r4", "views", MEDIA_VIEWS, 5),  # still the fallback, no new change
            ("x", "tweets", "r5", "views", IMPRESSIONS, 6),  # back
            ("x", "tweets", "r3", "likes", "public_metrics.like_count", 4),
            ("youtube", "videos", "r1", "views", "statistics.viewCount", 2),
        ]
    )
    changes = tf.definition_changes(sources, "views")
    assert changes.columns == list(tf.CHANGE_COLUMNS)
    assert changes.select("date", "platform", "field", "kind").rows() == [
        (dt.date(2026, 3, 4), "x", MEDIA_VIEWS, "changed"),
        (dt.date(2026, 3, 4), "x", MEDIA_VIEWS, "fallback"),
        (dt.date(2026, 3, 5), "x", MEDIA_VIEWS, "fallback"),
        (dt.date(2026, 3, 6), "x", IMPRESSIONS, "changed"),
    ]
    assert tf.definition_changes(sources, "views", platforms=["youtube"]).is_empty()
    # engagement follows its parts: the likes field never moved
    assert tf.definition_changes(sources, "engagement").is_empty()
    assert tf.definition_changes(sources.clear(), "views").is_empty()
    sentence = tf.change_sentence(changes.row(0, named=True))
    assert sentence == f"2026-03-04: x views (tweets) now comes from {MEDIA_VIEWS}."
    assert tf.change_sentence(changes.row(1, named=True)) == (
        f"2026-03-04: x views (tweets) came from a fallback field: {MEDIA_VIEWS}."
    )


def test_definition_notes_name_the_platforms_without_a_figure() -> None:
    notes = tf.definition_notes("views", ["x", "bluesky", "youtube"], with_values=["x", "youtube"])
    assert notes[0].startswith("Times the post was shown or played")
    assert any("tweet impressions, public since Dec 2022" in n for n in notes)
    assert notes[-1] == (
        "views is only counted where the platform gives it (x, youtube); there is none on "
        "bluesky, so their part is missing, not zero."
    )
    assert tf.definition_notes("engagement", ["bluesky"], with_values=["bluesky"]) == [
        tf.DERIVED_DEFINITIONS["engagement"]
    ]
    likes = tf.definition_notes("likes", ["youtube"])
    assert likes[1] == (
        "youtube likes (statistics.likeCount): dislikeCount was retired in Dec 2021."
    )


# -- trending and leaderboards ---------------------------------------------------------------
def _trends(rows: list[tuple[int, str, str, str, int, float]]) -> pl.DataFrame:
    spec = table_spec("gold/trends")
    return pl.DataFrame(
        [
            {
                "date": _day(day),
                "agency": agency,
                "kind": kind,
                "term": term,
                "posts": posts,
                "platforms": 1,
                "baseline": 0.0,
                "lift": lift,
                "rank": 1,
            }
            for day, agency, kind, term, posts, lift in rows
        ],
        schema=spec.schema,
    )


def test_trending_ranks_terms_by_their_best_lift_in_the_last_seven_days() -> None:
    trends = _trends(
        [
            (0, "CDC", "hashtag", "old", 9, 9.0),  # before the window
            (7, "CDC", "hashtag", "flu", 2, 3.0),
            (9, "CDC", "hashtag", "flu", 4, 1.5),
            (8, "CDC", "hashtag", "measles", 1, 3.0),
            (13, "CDC", "hashtag", "vaccines", 5, 2.0),
            (13, "CDC", "topic", "vaccines", 5, 4.0),
            (13, "NIH", "hashtag", "research", 5, 8.0),
        ]
    )
    top = tf.trending(trends, "CDC", "hashtag")
    assert top.columns == list(tf.TRENDING_COLUMNS)
    assert top.rows() == [
        (1, "flu", 3.0, 6, 2, _day(7)),
        (2, "measles", 3.0, 1, 1, _day(8)),
        (3, "vaccines", 2.0, 5, 1, _day(13)),
    ]
    assert tf.trending(trends, "CDC", "topic").rows() == [(1, "vaccines", 4.0, 5, 1, _day(13))]
    assert tf.trending(trends, "CDC", "hashtag", top=1)["term"].to_list() == ["flu"]
    assert tf.trending(trends, "CDC", "hashtag", end=_day(6))["term"].to_list() == ["old"]
    assert tf.trending(trends.clear(), "CDC", "hashtag").is_empty()
    assert tf.trend_window(trends) == (_day(7), _day(13))
    assert tf.trend_window(trends.clear()) is None


def test_leaderboard_positions_of_the_latest_week() -> None:
    spec = table_spec("gold/leaderboards")
    rows = []
    for week, ranks in ((_day(0), (1, 2)), (_day(7), (2, 1))):
        for entity, rank in zip(("CDC", "NIH"), ranks, strict=True):
            rows.append(
                {
                    "period_start": week,
                    "entity_type": "agency",
                    "entity": entity,
                    "label": entity,
                    "platform": "all",
                    "agency": entity,
                    "board": "growth",
                    "value": 1.0 / rank,
                    "rank": rank,
                }
            )
    rows.append({**rows[-1], "entity_type": "account", "entity": "42", "platform": "x"})
    boards = pl.DataFrame(rows, schema=spec.schema)
    out = tf.leaderboard_positions(boards, "agency", ["NIH", "CDC"])
    assert out.select("series", "board", "rank", "of").rows() == [
        ("NIH", "growth", 1, 2),
        ("CDC", "growth", 2, 2),
    ]
    assert out["period_start"].unique().to_list() == [_day(7)]
    accounts = tf.leaderboard_positions(boards, "account", ["x:42"])
    assert accounts.select("series", "rank", "of").rows() == [("x:42", 1, 1)]
    assert tf.leaderboard_positions(boards, "platform", ["x"]).is_empty()
