"""The Posts explorer's pure figures: search, latest counters, curve points, over small frames."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hhs_platform.dashboards import posts_figures as pf
from hhs_platform.lake import Lake
from schemas import table_spec

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def _frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = table_spec(table).schema
    full = [{c: r.get(c) for c in schema} for r in rows]
    return pl.DataFrame(full, schema=schema)


def _post(platform: str, post_id: str, account_id: str, created: dt.datetime, text: str | None,
          **kw: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "run_id": "r",
        "response_id": "x",
        "connector_version": "1",
        "platform": platform,
        "post_id": post_id,
        "account_id": account_id,
        "author_id": account_id,
        "created_at": created,
        "post_type": kw.pop("post_type", "original"),
        "text": text,
        "url": kw.pop("url", f"https://example.org/{post_id}"),
        "media_count": 0,
        "is_deleted": kw.pop("is_deleted", False),
        "first_seen_at": created,
        "last_seen_at": created,
        **kw,
    }


def _metric(platform: str, post_id: str, at: dt.datetime, last: dt.datetime, likes: int,
            reposts: int = 0, replies: int = 0, quotes: int = 0, views: int | None = None
            ) -> dict[str, Any]:  # fmt: skip
    return {
        "run_id": "r",
        "response_id": "x",
        "connector_version": "1",
        "platform": platform,
        "post_id": post_id,
        "account_id": "a",
        "observed_at": at,
        "last_observed_at": last,
        "likes": likes,
        "reposts": reposts,
        "replies": replies,
        "quotes": quotes,
        "views": views,
    }


POSTS = [
    _post("x", "p1", "cdc", T0, "Get your FLU shot today #FluSeason", hashtags=["FluSeason"]),
    _post("x", "p2", "cdc", T0 + 2 * H, "Heat safety: drink water. 1+1=2"),
    _post(
        "bluesky",
        "p3",
        "fda",
        T0 + 1 * H,
        "<script>alert(1)</script> flu recall",
        url="javascript:alert(1)",
    ),
    _post("bluesky", "p4", "fda", T0 + dt.timedelta(days=2), "Recall notice", is_deleted=True),
    _post("x", "p5", "orphan", T0 + 3 * H, None, title="Flu video"),
]
FEATURES = [
    {
        "platform": "x",
        "post_id": "p1",
        "hashtags": ["fluseason"],
        "topics": ["influenza", "vaccines"],
    },
    {"platform": "x", "post_id": "p2", "hashtags": [], "topics": ["heat"]},
    {"platform": "bluesky", "post_id": "p3", "hashtags": [], "topics": ["influenza"]},
    {"platform": "bluesky", "post_id": "p4", "hashtags": ["recall"], "topics": []},
]
ACCOUNTS = pl.DataFrame(
    {
        "platform": ["x", "bluesky", "x"],
        "account_id": ["cdc", "fda", "orphan"],
        "handle": ["CDCgov", "US_FDA", "someone"],
        "agency": ["CDC", "FDA", None],
    }
)
METRICS = [
    # p1: 10 likes for two hours, then 30 likes + 5 reposts (latest)
    _metric("x", "p1", T0 + H, T0 + 3 * H, 10),
    _metric("x", "p1", T0 + 4 * H, T0 + 4 * H, 30, reposts=5, views=900),
    _metric("x", "p2", T0 + 3 * H, T0 + 5 * H, 100, replies=2),
    _metric("bluesky", "p3", T0 + 2 * H, T0 + 2 * H, 7, quotes=1),
    _metric("bluesky", "p4", T0 + dt.timedelta(days=2, hours=1), T0 + dt.timedelta(days=3), 1),
]
CURVES = [
    {
        "platform": "x",
        "post_id": "p1",
        "age_hours": 1,
        "engagement": 10,
        "baseline": 5.0,
        "overperformance": 2.0,
    },
    {
        "platform": "x",
        "post_id": "p1",
        "age_hours": 6,
        "engagement": 35,
        "baseline": 70.0,
        "overperformance": 0.5,
    },
    {
        "platform": "x",
        "post_id": "p2",
        "age_hours": 1,
        "engagement": 102,
        "baseline": None,
        "overperformance": None,
    },
]


@pytest.fixture
def sources() -> pf.Sources:
    features = pl.DataFrame(
        FEATURES,
        schema={
            "platform": pl.String,
            "post_id": pl.String,
            "hashtags": pl.List(pl.String),
            "topics": pl.List(pl.String),
        },
    )
    curves = pl.DataFrame(
        CURVES,
        schema={
            "platform": pl.String,
            "post_id": pl.String,
            "age_hours": pl.Int64,
            "engagement": pl.Int64,
            "baseline": pl.Float64,
            "overperformance": pl.Float64,
        },
    )
    # like gold/post_curves, each curve point carries its post's publication time
    published = _frame("silver/posts", POSTS).select("platform", "post_id", "created_at")
    curves = curves.join(published, on=["platform", "post_id"], how="left")
    return pf.Sources(
        posts=_frame("silver/posts", POSTS).lazy(),
        features=features.lazy(),
        metrics=_frame("silver/post_metrics", METRICS).lazy(),
        curves=curves.lazy(),
        accounts=ACCOUNTS,
    )


#: A search over the test's sources: of the lake's scans (:func:`pf.search_posts`) or of the
#: search index built from them (:func:`pf.search_index`), which must give the same rows.
Search = Callable[..., pf.SearchResult]


@pytest.fixture(params=["scans", "index"])
def search(request: pytest.FixtureRequest, sources: pf.Sources) -> Search:
    if request.param == "scans":
        return functools.partial(pf.search_posts, sources)
    return functools.partial(pf.search_index, pf.build_index(sources))


def _ids(result: pf.SearchResult) -> list[str]:
    return result.rows["post_id"].to_list()


def test_default_search_is_newest_first_with_every_column(search: Search) -> None:
    result = search(pf.PostQuery())
    assert result.total == 5
    assert _ids(result) == ["p4", "p5", "p2", "p3", "p1"]
    assert result.rows.columns == list(pf.RESULT_COLUMNS)
    p1 = result.rows.row(4, named=True)
    assert p1["agency"] == "CDC" and p1["handle"] == "CDCgov"
    assert (p1["likes"], p1["reposts"], p1["views"], p1["engagement"]) == (30, 5, 900, 35)
    assert p1["hashtags"] == ["fluseason"] and p1["topics"] == ["influenza", "vaccines"]
    # overperformance at the oldest curve age (6 h)
    assert (p1["overperformance"], p1["curve_age_hours"]) == (0.5, 6)
    p5 = result.rows.row(1, named=True)
    assert p5["agency"] is None and p5["engagement"] is None and p5["hashtags"] == []


def test_text_search_is_case_insensitive_literal_over_text_and_title(
    search: Search,
) -> None:
    assert _ids(search(pf.PostQuery(text="flu"))) == ["p5", "p3", "p1"]
    assert _ids(search(pf.PostQuery(text="  FLU SHOT "))) == ["p1"]
    # regex characters are literal
    assert _ids(search(pf.PostQuery(text="1+1=2"))) == ["p2"]
    assert search(pf.PostQuery(text=".*")).total == 0
    assert _ids(search(pf.PostQuery(text="<SCRIPT>"))) == ["p3"]
    # letters beyond ASCII match in either case too
    texts = pl.DataFrame(
        {
            "text": ["ÉPIDÉMIE de grippe", "Épidémie", "epidemie", None],
            "title": [None, None, None, "Vacunación ÑANDÚ"],
            "is_deleted": [False] * 4,
        }
    )
    found = texts.filter(pf.post_filter(pf.PostQuery(text="épidémie")))
    assert found["text"].to_list() == ["ÉPIDÉMIE de grippe", "Épidémie"]
    assert texts.filter(pf.post_filter(pf.PostQuery(text="vacunación ñandú"))).height == 1


def test_index_finds_ascii_words_where_the_case_insensitive_pattern_does(
    sources: pf.Sources,
) -> None:
    """The index looks for ASCII words in its lowercased text; the letters that case folding
    and lowercasing tie to ASCII differently (the long s, the dotted capital I, the Kelvin
    sign) find the posts the lake's case-insensitive pattern finds."""
    texts = {
        "k1": "Kelvin: 300 \u212a",
        "s1": "\u017ftop the spread",
        "i1": "\u0130stanbul clinic",
        "m1": "MEASLES cases",
        "n1": None,
        "g1": "\u039f\u0394\u039f\u03a3 health",  # ΟΔΟΣ: a final sigma when lowercased
    }
    posts = [
        _post("x", pid, "cdc", T0 + i * H, text, title="Measles Q&A" if text is None else None)
        for i, (pid, text) in enumerate(texts.items())
    ]
    lake_like = dataclasses.replace(sources, posts=_frame("silver/posts", posts).lazy())
    index = pf.build_index(lake_like)
    found = {}
    for word in ("k", "300 k", "stop", "s", "i", "istanbul", "measles", "q&a", "\u03c3", "\u017f"):
        want = _ids(pf.search_posts(lake_like, pf.PostQuery(text=word), limit=None))
        assert _ids(pf.search_index(index, pf.PostQuery(text=word), limit=None)) == want, word
        found[word] = want
    assert found["300 k"] == ["k1"] and found["stop"] == ["s1"] and found["istanbul"] == []
    assert found["measles"] == ["n1", "m1"] and found["q&a"] == ["n1"]
    assert found["\u03c3"] == ["g1"] and found["\u017f"] == ["n1", "m1", "i1", "s1"]


def test_hashtag_topic_agency_platform_date_and_deleted_filters(search: Search) -> None:
    def ids(**kw: Any) -> list[str]:
        return _ids(search(pf.PostQuery(**kw)))

    assert ids(hashtag="#FluSeason") == ["p1"]
    assert ids(hashtag="fluseason ") == ["p1"]
    assert ids(hashtag="nothing") == []
    assert ids(topic="influenza") == ["p3", "p1"]
    assert ids(topic="influenza", platform="x") == ["p1"]
    assert ids(agency="FDA") == ["p4", "p3"]
    assert ids(agency=pf.UNASSIGNED_AGENCY) == ["p5"]
    assert ids(platform="bluesky") == ["p4", "p3"]
    assert ids(since=dt.date(2026, 3, 3)) == ["p4"]
    assert ids(until=dt.date(2026, 3, 1)) == ["p5", "p2", "p3", "p1"]
    assert ids(include_deleted=False, platform="bluesky") == ["p3"]
    assert ids(min_engagement=9) == ["p2", "p1"]
    assert ids(min_engagement=9, sort="Oldest first") == ["p1", "p2"]


def test_restriction_keeps_only_allowed_agencies(search: Search) -> None:
    result = search(pf.PostQuery(), allowed=frozenset({"CDC"}))
    assert _ids(result) == ["p2", "p1"] and result.total == 2
    # An agency outside the restriction finds nothing, even when asked for by name.
    assert search(pf.PostQuery(agency="FDA"), allowed=frozenset({"CDC"})).total == 0


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("Most engagement", ["p2", "p1", "p3", "p4", "p5"]),
        ("Most likes", ["p2", "p1", "p3", "p4", "p5"]),
        ("Most reposts", ["p1", "p4", "p2", "p3", "p5"]),
        ("Most views", ["p1", "p4", "p5", "p2", "p3"]),
        ("Highest overperformance", ["p1", "p4", "p5", "p2", "p3"]),
        ("Oldest first", ["p1", "p3", "p2", "p5", "p4"]),
    ],
)
def test_sorts_with_ties_newest_first_and_nulls_last(
    search: Search, sort: str, expected: list[str]
) -> None:
    assert _ids(search(pf.PostQuery(sort=sort))) == expected


def test_paging_and_summary(search: Search) -> None:
    first = search(pf.PostQuery(), limit=2)
    second = search(pf.PostQuery(offset=2), limit=2)
    rest = search(pf.PostQuery(offset=4), limit=None)
    assert _ids(first) + _ids(second) + _ids(rest) == ["p4", "p5", "p2", "p3", "p1"]
    assert pf.page_summary(first) == "Showing 1–2 of 5 posts"
    assert pf.page_summary(second) == "Showing 3–4 of 5 posts"
    assert pf.page_summary(rest) == "Showing 5–5 of 5 posts"
    none = search(pf.PostQuery(text="zzz"))
    assert none.rows.is_empty() and none.rows.schema == pf.empty_rows().schema
    assert pf.page_summary(none) == "No posts match these filters."
    past = search(pf.PostQuery(offset=10))
    assert pf.page_summary(past) == "No posts on this page; 5 posts match."


def _lake_sources(
    lake: Lake, accounts: pl.DataFrame = ACCOUNTS, counters: bool = False
) -> pf.Sources:
    return pf.Sources(
        posts=lake.scan("silver/posts"),
        features=lake.scan("silver/post_features"),
        metrics=lake.scan("silver/post_metrics"),
        curves=lake.scan("gold/post_curves"),
        accounts=accounts,
        counters=lake.scan("gold/post_counters") if counters else None,
    )


def test_filters_reach_the_posts_scan(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"), storage_options={})
    lake.write("silver/posts", _frame("silver/posts", POSTS))
    sources = _lake_sources(lake)
    since = dt.date(2026, 3, 1)
    plan = pf.matching(sources, pf.PostQuery(text="FLU", platform="x", since=since)).explain()
    scan = plan[plan.index("Parquet SCAN") :].split("RIGHT PLAN")[0]
    # only the platform's partition is read, only the needed columns, filtered while reading
    assert "platform=x" in scan and "platform=bluesky" not in scan
    assert "PROJECT 7/29 COLUMNS" in scan  # keys, account, times, text and title
    selection = scan[scan.index("SELECTION") :]
    assert 'str.contains(["(?i)FLU"])' in selection and "created_at" in selection
    assert pf.search_posts(sources, pf.PostQuery(text="FLU", platform="x")).total == 2


def test_latest_counters_take_the_newest_observation() -> None:
    metrics = _frame("silver/post_metrics", METRICS).lazy()
    latest = pf.latest_counters(metrics).collect().sort("post_id")
    assert latest.select("post_id", "likes", "reposts", "engagement").rows() == [
        ("p1", 30, 5, 35),
        ("p2", 100, 0, 102),
        ("p3", 7, 0, 8),
        ("p4", 1, 0, 1),
    ]


def test_curve_points_step_at_changes_and_keep_run_ends() -> None:
    metrics = _frame("silver/post_metrics", METRICS).filter(pl.col("post_id") == "p1")
    points = pf.curve_points(T0, metrics)
    assert points.select("hours", "likes", "engagement").rows() == [
        (1.0, 10, 10),
        (3.0, 10, 10),
        (4.0, 30, 35),
    ]
    assert points["observed_at"].to_list() == [T0 + H, T0 + 3 * H, T0 + 4 * H]


def test_baseline_points() -> None:
    curves = pl.DataFrame(CURVES).filter(pl.col("post_id") == "p1").reverse()
    assert pf.baseline_points(curves).rows() == [(1.0, 10, 5.0, 2.0), (6.0, 35, 70.0, 0.5)]


def test_display_rows_escape_nothing_but_offer_only_web_links(search: Search) -> None:
    rows = search(pf.PostQuery()).rows
    shown = pf.display_rows(rows, chars=10)
    by_key = {r["key"]: r for r in shown.iter_rows(named=True)}
    assert by_key["x:p1"]["created"] == "2026-03-01 12:00"
    assert by_key["x:p1"]["text"] == "Get your …"
    assert by_key["x:p2"]["text"] == "Heat safe…"
    assert by_key["x:p1"]["hashtags"] == "fluseason"
    assert by_key["x:p1"]["topics"] == "influenza, vaccines"
    assert (by_key["x:p1"]["link"], by_key["x:p1"]["link_label"]) == (
        "https://example.org/p1",
        "open",
    )
    assert by_key["x:p1"]["other_link"] is None
    # a javascript: URL is never a link; it is shown as text
    p3 = by_key["bluesky:p3"]
    assert (p3["link"], p3["link_label"], p3["other_link"]) == (None, None, "javascript:alert(1)")
    assert by_key["bluesky:p4"]["deleted"] == "deleted" and by_key["x:p1"]["deleted"] == ""
    assert (
        by_key["x:p5"]["agency"] == pf.UNASSIGNED_AGENCY and by_key["x:p5"]["text"] == "Flu video"
    )


def test_export_rows_join_lists() -> None:
    rows = pl.DataFrame(
        {"hashtags": [["a", "b"], []], "topics": [["flu"], []]},
        schema={"hashtags": pl.List(pl.String), "topics": pl.List(pl.String)},
    )
    assert pf.export_rows(rows).rows() == [("a, b", "flu"), ("", "")]


def test_normalise_hashtag() -> None:
    assert pf.normalise_hashtag("  #FluSeason ") == "fluseason"
    assert pf.normalise_hashtag("") == ""


def test_details_read_within_the_shown_posts_times_and_by_key_what_lies_outside(
    tmp_path: Path, sources: pf.Sources
) -> None:
    """The shown rows' details are read within their sighting times (the tables' clustered
    columns); a post whose features or counters lie outside them is found by key alone: the
    same page as reading by key only."""
    lake = Lake(str(tmp_path / "lake"), storage_options={})
    # p3's platform clock ahead of ours: published, by its time, after its only counters
    later = T0 + 5 * H
    posts = [
        {**p, "created_at": later, "first_seen_at": later, "last_seen_at": later}
        if p["post_id"] == "p3"
        else p
        for p in POSTS
    ]
    for batch in (posts[:2], posts[2:]):  # two commits: two files for x
        lake.append("silver/posts", _frame("silver/posts", batch))
    lake.append("silver/post_metrics", _frame("silver/post_metrics", METRICS))
    seen = {p["post_id"]: p["last_seen_at"] for p in posts}
    features = [
        {**f, "source_last_seen_at": None if f["post_id"] == "p2" else seen[f["post_id"]]}
        for f in FEATURES
    ]
    lake.append("silver/post_features", _frame("silver/post_features", features))
    lake.append("gold/post_curves", _frame("gold/post_curves", sources.curves.collect().to_dicts()))
    on_lake = _lake_sources(lake)
    in_memory = pf.Sources(
        posts=_frame("silver/posts", posts).lazy(),
        features=sources.features,  # without source_last_seen_at: read by key only
        metrics=sources.metrics,
        curves=sources.curves,
        accounts=ACCOUNTS,
    )
    for query in (
        pf.PostQuery(),
        pf.PostQuery(sort="Most likes"),
        pf.PostQuery(platform="bluesky"),
    ):
        got, want = pf.search_posts(on_lake, query), pf.search_posts(in_memory, query)
        assert got.total == want.total and got.rows.equals(want.rows), query
    rows = {r["post_id"]: r for r in pf.search_posts(on_lake, pf.PostQuery()).rows.to_dicts()}
    assert rows["p2"]["topics"] == ["heat"]  # features without a sighting time
    assert rows["p1"]["likes"] == 30 and rows["p1"]["hashtags"] == ["fluseason"]
    bluesky = pf.search_posts(on_lake, pf.PostQuery(platform="bluesky")).rows
    p3 = bluesky.row(by_predicate=pl.col("post_id") == "p3", named=True)
    assert (p3["likes"], p3["quotes"]) == (7, 1)  # counters only before the page's times


def test_counter_sorts_read_the_gold_counters_and_the_runs_observed_since(
    world_lake: str, tmp_path: Path
) -> None:
    """Sorts and filters by counters read each post's latest counters from gold/post_counters,
    and reduce only the runs observed after its newest: on two weeks of real collections, the
    pages are those of reducing every observation, before and after new runs land in silver
    that no gold build has read yet."""
    lake = Lake(str(tmp_path / "lake"))
    shutil.copytree(world_lake, lake.uri)
    accounts = lake.read("silver/accounts").select(pf.ACCOUNT_COLUMNS)

    def sources(counters: bool) -> pf.Sources:
        return _lake_sources(lake, accounts, counters)

    platform = lake.read("silver/posts").group_by("platform").len().sort("len")["platform"][-1]
    smallest = (
        lake.read("silver/posts")
        .join(accounts, on=["platform", "account_id"])
        .group_by("agency")
        .len()
        .filter(pl.col("len") >= 3)
        .sort("len", "agency")["agency"][0]
    )
    queries = [
        pf.PostQuery(sort=sort, platform=chosen, min_engagement=least)
        for sort in ("Most likes", "Most engagement", "Most views")
        for chosen in (pf.ALL, platform)
        for least in (0, 5)
    ] + [
        pf.PostQuery(sort="Most replies", offset=25),
        pf.PostQuery(sort="Most likes", offset=75),
        pf.PostQuery(min_engagement=5),
        # too few of the most liked posts are the agency's: every match is joined and sorted
        pf.PostQuery(sort="Most likes", agency=smallest),
    ]

    def pages() -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
        read, reduced = sources(True), sources(False)
        stored = [pf.search_posts(read, q).rows for q in queries]
        # the search index reads the same counters (and those of the runs since) once
        index = pf.build_index(read)
        same = [
            pf.search_index(index, q).rows.equals(p) for q, p in zip(queries, stored, strict=True)
        ]
        assert same == [True] * len(queries)
        return stored, [pf.search_posts(reduced, q).rows for q in queries]

    stored, whole = pages()
    assert sum(p.height for p in whole) > 200
    # the first pages of the most liked posts come from the largest counters alone
    read = sources(True)

    def top(query: pf.PostQuery) -> pl.DataFrame | None:
        matches = pf.matching(read, pf._unsorted(query))
        return pf._top_by_counter(read, query, matches, 0, 25)

    assert top(pf.PostQuery(sort="Most likes")) is not None
    assert top(queries[-1]) is None
    assert [p.equals(w) for p, w in zip(stored, whole, strict=True)] == [True] * len(queries)

    # new runs after the last gold build: the least liked post of the platform now leads
    counters = lake.read("gold/post_counters")
    newest = counters["last_observed_at"].max()
    least = counters.filter(platform=platform).sort("likes", "post_id").row(0, named=True)
    run = lake.read("silver/post_metrics").filter(
        platform=platform, post_id=least["post_id"], observed_at=least["observed_at"]
    )
    lake.merge(
        "silver/post_metrics",
        run.with_columns(
            observed_at=pl.lit(newest + H),
            last_observed_at=pl.lit(newest + 2 * H),
            likes=pl.lit(10**7, pl.Int64),
        ),
    )
    stored, whole = pages()
    assert [p.equals(w) for p, w in zip(stored, whole, strict=True)] == [True] * len(queries)
    first = stored[queries.index(pf.PostQuery(sort="Most likes"))].row(0, named=True)
    assert (first["post_id"], first["likes"]) == (least["post_id"], 10**7)
    # the gold table itself still has the older counters: the page read the new run
    assert lake.read("gold/post_counters").filter(post_id=least["post_id"])["likes"].to_list() == [
        least["likes"]
    ]


def test_index_search_gives_the_lake_searchs_rows_and_totals(world_lake: str) -> None:
    """On two weeks of real collections, a search of the index (:func:`pf.build_index`) gives
    the rows and totals of the search over the lake's scans, for every kind of filter, sort,
    page and agency restriction. One account is left out of silver/accounts' rows and another
    has no agency: the first one's posts are kept only when no agency is asked for."""
    lake = Lake(world_lake)
    posts = lake.read("silver/posts")
    features = lake.read("silver/post_features")
    registry = lake.read("silver/accounts").select(pf.ACCOUNT_COLUMNS)
    by_account = posts.group_by("platform", "account_id").len().sort("len", "account_id")
    missing, unassigned = by_account.row(-1, named=True), by_account.row(-2, named=True)
    accounts = registry.filter(
        ~(
            (pl.col("platform") == missing["platform"])
            & (pl.col("account_id") == missing["account_id"])
        )
    ).with_columns(
        agency=pl.when(pl.col("account_id") == unassigned["account_id"])
        .then(None)
        .otherwise("agency")
    )
    sources = _lake_sources(lake, accounts, counters=True)
    index = pf.build_index(sources)
    assert index.height == posts.height

    def common(column: str) -> str:
        return str(features[column].explode().drop_nulls().value_counts(sort=True)[0, column])

    word = str(posts["text"].drop_nulls().str.extract(r"([A-Za-z]{5,})").drop_nulls().mode()[0])
    agency = str(accounts["agency"].drop_nulls().mode().sort()[0])
    platform = str(posts["platform"].mode().sort()[0])
    middle = posts["created_at"].sort()[posts.height // 2].date()
    queries = [
        pf.PostQuery(),
        pf.PostQuery(text=word.upper()),
        pf.PostQuery(text=word, platform=platform, sort="Oldest first"),
        pf.PostQuery(hashtag="#" + common("hashtags")),
        pf.PostQuery(topic=common("topics"), sort="Most engagement", offset=10),
        pf.PostQuery(agency=agency, sort="Highest overperformance"),
        pf.PostQuery(agency=pf.UNASSIGNED_AGENCY),
        pf.PostQuery(since=middle, sort="Most likes"),
        pf.PostQuery(until=middle, sort="Most views", offset=50),
        pf.PostQuery(min_engagement=5, include_deleted=False, sort="Most replies"),
        pf.PostQuery(sort="Most reposts", offset=100_000),
    ]
    totals = []
    for allowed in (None, frozenset({agency})):
        for query in queries:
            want = pf.search_posts(sources, query, allowed=allowed)
            got = pf.search_index(index, query, allowed=allowed)
            assert (got.total, got.offset, got.sort) == (want.total, want.offset, want.sort)
            assert got.rows.equals(want.rows), (query, allowed)
            totals.append(want.total)
    # the queries found something, and not everything; the restriction kept fewer posts
    unrestricted, restricted = totals[: len(queries)], totals[len(queries) :]
    assert min(unrestricted[1:-1]) > 0 and max(unrestricted[1:-1]) < posts.height
    assert unrestricted[0] == posts.height and 0 < restricted[0] < posts.height
    # the posts of the account left out: in the unfiltered search, in no agency's
    every = pf.search_index(index, pf.PostQuery(), limit=None).rows
    left_out = every.filter(account_id=missing["account_id"], platform=missing["platform"])
    assert left_out.height == missing["len"] and left_out["agency"].is_null().all()
    no_agency = pf.search_index(index, pf.PostQuery(agency=pf.UNASSIGNED_AGENCY), limit=None)
    assert no_agency.rows["account_id"].unique().to_list() == [unassigned["account_id"]]
