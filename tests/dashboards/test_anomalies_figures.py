"""The Anomalies page's pure figures, on small frames with the real table schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from hhs_platform.dashboards import anomalies_figures as af
from schemas import table_spec

D = dt.date(2026, 4, 10)
UTC = dt.UTC
DID = "did:plc:ab12:cd"  # account ids may hold colons (Bluesky DIDs)


def _day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def _at(n: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(_day(n), dt.time(hour, minute), tzinfo=UTC)


def _frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = table_spec(table).schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def _event(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "platform": "x",
        "account_id": "cdc-x-1",
        "metric": "followers",
        "date": D,
        "kind": "follower_jump",
        "end_date": D,
        "days": 1,
        "agency": "CDC",
        "handle": "CDCgov",
        "value": 1_000.0,
        "baseline": 900.0,
        "change": 100.0,
        "change_pct": 11.1,
        "usual_change": 5.0,
        "score": 20.0,
        "confidence": 0.9,
        "sentence": "CDC followers on X rose 11.1% on 10 April, 20× the usual daily change",
        "detected_at": dt.datetime(2026, 4, 12, tzinfo=UTC),
    }
    base.update(kw)
    if "end_date" not in kw:
        base["end_date"] = base["date"] + dt.timedelta(days=base["days"] - 1)
    return base


@pytest.fixture
def events() -> pl.DataFrame:
    return _frame(
        af.ANOMALIES,
        [
            _event(),
            _event(
                platform="bluesky",
                account_id=DID,
                metric="engagement",
                kind="engagement_spike",
                date=_day(3),
                agency="NIH",
                handle="<script>alert(1)</script>",
                confidence=0.55,
            ),
            _event(
                metric="posts_published",
                kind="posting_gap",
                date=_day(-5),
                days=4,
                value=0.0,
                baseline=12.0,
                confidence=0.7,
            ),
            _event(
                platform="youtube",
                account_id="fda-yt",
                metric="collection",
                kind="collection_gap",
                date=_day(-1),
                days=2,
                agency=None,
                handle="FDA",
                value=0.0,
                baseline=2.0,
                score=None,
                usual_change=None,
                confidence=1.0,
            ),
        ],
    )


# -- event ids ------------------------------------------------------------------------------------
def test_event_id_round_trips_account_ids_with_colons(events: pl.DataFrame) -> None:
    ids = af.filter_events(events)["event"].to_list()
    assert ids == [
        f"bluesky:{DID}:engagement:2026-04-13:engagement_spike",
        "x:cdc-x-1:followers:2026-04-10:follower_jump",
        "youtube:fda-yt:collection:2026-04-09:collection_gap",
        "x:cdc-x-1:posts_published:2026-04-05:posting_gap",
    ]
    for text, row in zip(ids, af.filter_events(events).iter_rows(named=True), strict=True):
        key = af.EventKey.parse(text)
        assert key == af.EventKey.of(row)
        assert str(key) == text
        assert af.find_event(events, key) == {c: row[c] for c in events.columns}
    assert af.EventKey.parse(ids[0]) == af.EventKey(
        "bluesky", DID, "engagement", _day(3), "engagement_spike"
    )


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "x",
        "x:cdc",
        ":cdc-x-1:followers:2026-04-10:follower_jump",
        "x::followers:2026-04-10:follower_jump",
        "x:cdc-x-1:fans:2026-04-10:follower_jump",
        "x:cdc-x-1:followers:2026-04-10:alien_landing",
        "x:cdc-x-1:followers:2026-13-10:follower_jump",
        "x:cdc-x-1:followers:yesterday:follower_jump",
        "<script>alert(1)</script>",
    ],
)
def test_malformed_event_ids_are_none(text: str | None) -> None:
    assert af.EventKey.parse(text) is None


def test_find_event_of_an_unknown_or_missing_key(events: pl.DataFrame) -> None:
    assert af.find_event(events, None) is None
    assert (
        af.find_event(events, af.EventKey("x", "nobody", "followers", D, "follower_jump")) is None
    )
    assert af.find_event(events.clear(), af.EventKey.of(_event())) is None


# -- filters --------------------------------------------------------------------------------------
def _kinds(frame: pl.DataFrame) -> list[str]:
    return frame["kind"].to_list()


def test_filters(events: pl.DataFrame) -> None:
    everything = af.filter_events(events, agency=af.ALL, platform=af.ALL, kind=af.ALL)
    assert everything.height == 4
    assert everything.columns == [*events.columns, "event"]
    # Newest first.
    assert everything["date"].to_list() == [_day(3), D, _day(-1), _day(-5)]

    assert _kinds(af.filter_events(events, agency="CDC")) == ["follower_jump", "posting_gap"]
    assert _kinds(af.filter_events(events, platform="youtube")) == ["collection_gap"]
    assert _kinds(af.filter_events(events, kind="posting_gap")) == ["posting_gap"]
    assert _kinds(af.filter_events(events, metric="engagement")) == ["engagement_spike"]
    assert _kinds(af.filter_events(events, min_confidence=0.7)) == [
        "follower_jump",
        "collection_gap",
        "posting_gap",
    ]
    assert _kinds(af.filter_events(events, min_confidence=0.95)) == ["collection_gap"]
    assert af.filter_events(events, agency="CDC", kind="engagement_spike").is_empty()


def test_date_range_keeps_events_overlapping_it(events: pl.DataFrame) -> None:
    # The posting gap runs 5-8 April: it reaches into a range starting on the 8th.
    assert _kinds(af.filter_events(events, start=_day(-2))) == [
        "engagement_spike",
        "follower_jump",
        "collection_gap",
        "posting_gap",
    ]
    assert _kinds(af.filter_events(events, start=_day(-1))) == [
        "engagement_spike",
        "follower_jump",
        "collection_gap",
    ]
    # The collection gap runs 9-10 April.
    assert _kinds(af.filter_events(events, start=D, end=D)) == ["follower_jump", "collection_gap"]
    assert _kinds(af.filter_events(events, end=_day(-5))) == ["posting_gap"]
    assert af.filter_events(events, start=_day(4)).is_empty()


def test_same_day_events_sort_by_confidence() -> None:
    frame = _frame(
        af.ANOMALIES,
        [
            _event(account_id="a", confidence=0.6),
            _event(account_id="b", confidence=0.95),
            _event(account_id="c", confidence=0.8),
        ],
    )
    assert af.filter_events(frame)["account_id"].to_list() == ["b", "c", "a"]


def test_options(events: pl.DataFrame) -> None:
    assert af.options(events, "agency") == ["All", "CDC", "NIH"]
    assert af.options(events, "platform") == ["All", "bluesky", "x", "youtube"]
    assert af.options(events.clear(), "agency") == ["All"]
    assert af.KINDS == (
        "follower_jump",
        "follower_drop",
        "engagement_spike",
        "engagement_collapse",
        "posting_gap",
        "collection_gap",
    )
    assert set(af.EVENT_COLUMNS) == set(table_spec(af.ANOMALIES).schema)


# -- series around an event -----------------------------------------------------------------------
def _daily(
    account_id: str, days: range, skip: frozenset[int] | set[int] = frozenset(), **kw: Any
) -> list[dict[str, Any]]:
    return [
        {
            "date": _day(n),
            "platform": kw.get("platform", "x"),
            "account_id": account_id,
            "agency": "CDC",
            "followers": 1_000 + 10 * n,
            "posts_published": n % 3,
            "likes": 0,
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
            "engagement": 5 * n if n >= 0 else 0,
            "engagement_activity": 0,
        }
        for n in days
        if n not in skip
    ]


def test_expected_per_day() -> None:
    assert af.expected_per_day(_event()) == 900.0
    assert af.expected_per_day(_event(baseline=None)) is None
    gap = _event(metric="posts_published", kind="posting_gap", days=4, baseline=12.0)
    assert af.expected_per_day(gap) == 3.0
    collection = _event(metric="collection", kind="collection_gap", days=2, baseline=2.0)
    assert af.expected_per_day(collection) is None


def test_series_window_of_a_one_day_event() -> None:
    daily = _frame(
        af.DAILY,
        _daily("cdc-x-1", range(-30, 31), skip={-2})
        + _daily("other", range(-30, 31))
        + _daily("cdc-x-1", range(-30, 31), platform="bluesky"),
    )
    series = af.series_window(daily, _event())
    assert series.columns == ["date", "value", "in_event", "expected"]
    assert series.height == 2 * af.WINDOW_DAYS + 1
    assert series["date"].to_list() == [_day(n) for n in range(-21, 22)]
    # Day -2 has no row: a hole in the line, not a zero.
    assert series["value"].to_list() == [
        None if n == -2 else float(1_000 + 10 * n) for n in range(-21, 22)
    ]
    assert series.filter(pl.col("in_event"))["date"].to_list() == [D]
    assert series["expected"].to_list() == [900.0 if n == 0 else None for n in range(-21, 22)]


def test_series_window_of_a_gap_follows_its_metric_and_days() -> None:
    daily = _frame(af.DAILY, _daily("cdc-x-1", range(-3, 10)))
    gap = _event(metric="posts_published", kind="posting_gap", days=4, baseline=12.0)
    series = af.series_window(daily, gap, days=2)
    # Clipped to the account's rows: -3 (first row) .. 3 + 2.
    assert series["date"].to_list() == [_day(n) for n in range(-2, 6)]
    assert series["value"].to_list() == [float(n % 3) for n in range(-2, 6)]
    assert series["in_event"].to_list() == [False, False, True, True, True, True, False, False]
    assert series["expected"].to_list() == [None, None, 3.0, 3.0, 3.0, 3.0, None, None]

    spike = _event(metric="engagement", kind="engagement_spike", baseline=12.5)
    assert af.series_window(daily, spike, days=1)["value"].to_list() == [0.0, 0.0, 5.0]


def test_series_window_of_a_collection_gap_spans_the_days_without_rows() -> None:
    daily = _frame(af.DAILY, _daily("fda-yt", range(-5, 5), skip={0, 1}, platform="youtube"))
    gap = _event(
        platform="youtube",
        account_id="fda-yt",
        metric="collection",
        kind="collection_gap",
        days=2,
        baseline=2.0,
    )
    series = af.series_window(daily, gap, days=3)
    assert series["date"].to_list() == [_day(n) for n in range(-3, 5)]
    assert series["value"].to_list() == [
        None if n in (0, 1) else float(1_000 + 10 * n) for n in range(-3, 5)
    ]
    assert series.filter(pl.col("in_event"))["date"].to_list() == [D, _day(1)]
    assert series["expected"].null_count() == series.height


def test_series_window_without_rows_is_empty() -> None:
    series = af.series_window(_frame(af.DAILY, _daily("other", range(3))), _event())
    assert series.is_empty()
    assert series.schema == pl.Schema(
        {"date": pl.Date, "value": pl.Float64, "in_event": pl.Boolean, "expected": pl.Float64}
    )


# -- posts of the day -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://x.com/CDCgov/status/1", "https://x.com/CDCgov/status/1"),
        ("HTTP://Example.org/a?b=1#c", "HTTP://Example.org/a?b=1#c"),
        ("  https://bsky.app/profile/a/post/b ", "https://bsky.app/profile/a/post/b"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)//http://x", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox(1)", None),
        ("//evil.example/x", None),
        ("/relative/path", None),
        ("https://", None),
        ('https://x.com/"onmouseover="alert(1)', None),
        ("https://x.com/<script>", None),
        ("http://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, safe: str | None) -> None:
    assert af.safe_url(url) == safe


def _post(post_id: str, created: dt.datetime, **kw: Any) -> dict[str, Any]:
    return {
        "run_id": "r",
        "response_id": "resp",
        "connector_version": "1",
        "platform": kw.get("platform", "x"),
        "post_id": post_id,
        "account_id": kw.get("account_id", "cdc-x-1"),
        "author_id": "cdc-x-1",
        "created_at": created,
        "post_type": kw.get("post_type", "original"),
        "text": kw.get("text", f"post {post_id}"),
        "url": kw.get("url", f"https://x.com/CDCgov/status/{post_id}"),
        "media_count": 0,
        "is_deleted": False,
        "first_seen_at": created,
        "last_seen_at": created,
    }


def _obs(
    post_id: str, at: dt.datetime, likes: int | None, reposts: int, **kw: Any
) -> dict[str, Any]:
    return {
        "run_id": "r",
        "response_id": "resp",
        "connector_version": "1",
        "platform": kw.get("platform", "x"),
        "post_id": post_id,
        "account_id": "cdc-x-1",
        "observed_at": at,
        "last_observed_at": at,
        "likes": likes,
        "reposts": reposts,
        "replies": kw.get("replies", 0),
        "quotes": kw.get("quotes", 0),
        "views": None,
    }


def test_day_posts_joins_the_latest_counters_and_sorts_by_engagement() -> None:
    posts = _frame(
        af.POSTS,
        [
            _post("1", _at(0, 0, 0)),  # first second of the UTC day
            _post("2", _at(0, 23, 59), text="<img src=x onerror=alert(2)>"),
            _post("3", _at(0, 9), post_type="repost", url="javascript:alert(1)"),
            _post("4", _at(0, 10), url=None),  # never observed
            _post("5", _at(-1, 23, 59)),  # the day before
            _post("6", _at(1, 0, 0)),  # the day after
            _post("7", _at(0, 12), account_id="someone-else"),
            _post("1", _at(0, 12), platform="bluesky"),  # the same id on another platform
        ],
    )
    metrics = _frame(
        af.POST_METRICS,
        [
            _obs("1", _at(0, 1), 5, 1),
            _obs("1", _at(2, 1), 50, 10, replies=3, quotes=2),  # latest: 65
            _obs("1", _at(1, 1), 500, 100),  # observed before the latest
            _obs("2", _at(1), None, 4, replies=1),  # likes unknown: 5
            _obs("3", _at(1), 7, 0),  # 7
            _obs("1", _at(3), 1000, 0, platform="bluesky"),
            _obs("5", _at(0), 999, 0),
        ],
    )
    out = af.day_posts(posts, metrics, _event())
    assert out.columns == list(af.POST_COLUMNS)
    assert out["post_id"].to_list() == ["1", "3", "2", "4"]
    assert out["engagement"].to_list() == [65, 7, 5, 0]
    assert out.row(0, named=True) | {"created_at": None} == {
        "created_at": None,
        "post_type": "original",
        "text": "post 1",
        "url": "https://x.com/CDCgov/status/1",
        "likes": 50,
        "reposts": 10,
        "replies": 3,
        "quotes": 2,
        "engagement": 65,
        "post_id": "1",
    }
    assert out["likes"].to_list() == [50, 7, None, None]
    assert out["url"].to_list() == [
        "https://x.com/CDCgov/status/1",
        None,  # javascript: is never a link
        "https://x.com/CDCgov/status/2",
        None,
    ]
    assert out["text"][2] == "<img src=x onerror=alert(2)>"  # kept as data; the table escapes it
    # A gap's posts are those of all its days.
    gap = _event(days=2, end_date=_day(1))
    assert af.day_posts(posts, metrics, gap)["post_id"].to_list() == ["1", "3", "2", "4", "6"]


def test_day_posts_of_a_day_without_posts() -> None:
    posts = _frame(af.POSTS, [_post("5", _at(-1))])
    out = af.day_posts(posts, _frame(af.POST_METRICS, []), _event())
    assert out.is_empty()
    assert out.columns == list(af.POST_COLUMNS)


def test_latest_counters() -> None:
    metrics = _frame(
        af.POST_METRICS,
        [_obs("1", _at(2), 3, 1), _obs("1", _at(0), 1, 0), _obs("2", _at(1), None, 2)],
    )
    got = af.latest_counters(metrics).sort("post_id")
    assert got.select("post_id", "likes", "reposts").rows() == [("1", 3, 1), ("2", None, 2)]
