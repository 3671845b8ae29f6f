"""The Operations page's figures: runs and SLO, heatmap, scorecard, quarantine, flags, quotas."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hhs_platform.dashboards import operations_figures as of
from schemas import table_spec

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _fetch(run: str, key: str, status: str, start: float, end: float) -> dict[str, Any]:
    return {
        "run_id": run,
        "batch_id": "b1",
        "platform": key.split(":", 1)[0],
        "account_key": key,
        "status": status,
        "error_type": None,
        "error": None,
        "terminal": False,
        "responses": 3,
        "started_at": _at(start),
        "finished_at": _at(end),
    }


@pytest.fixture
def fetch_log() -> pl.DataFrame:
    rows = [
        # r1: 4 accounts, 3 ok -> 75 %
        _fetch("r1", "x:CDCgov", "complete", 0, 1),
        _fetch("r1", "x:US_FDA", "partial", 0.5, 2),
        _fetch("r1", "bluesky:cdc.gov", "complete", 1, 3),
        _fetch("r1", "bluesky:nih.gov", "failed", 1, 4.5),
        # r2: 2 accounts, one logged twice (resumed): its last outcome counts -> 100 %
        _fetch("r2", "x:CDCgov", "failed", 60, 61),
        _fetch("r2", "x:CDCgov", "complete", 62, 63),
        _fetch("r2", "bluesky:cdc.gov", "complete", 60, 70),
    ]
    return pl.DataFrame(rows, schema=table_spec("bronze/fetch_log").schema)


def test_run_summary_counts_outcomes_per_run(fetch_log: pl.DataFrame) -> None:
    runs = of.run_summary(fetch_log, slo=0.995)
    assert runs.columns == list(of.RUN_COLUMNS)
    assert runs["run_id"].to_list() == ["r2", "r1"]  # newest first
    r2, r1 = runs.to_dicts()
    assert (r1["accounts"], r1["complete"], r1["partial"], r1["failed"]) == (4, 2, 1, 1)
    assert r1["success_rate"] == 0.75
    assert r1["platforms"] == 2
    assert r1["started_at"] == _at(0) and r1["finished_at"] == _at(4.5)
    assert r1["duration_s"] == 270.0
    assert r1["meets_slo"] is False
    assert (r2["accounts"], r2["complete"], r2["partial"], r2["failed"]) == (2, 2, 0, 0)
    assert r2["success_rate"] == 1.0
    assert r2["duration_s"] == 600.0
    assert r2["meets_slo"] is True


def test_error_budget_pools_the_runs(fetch_log: pl.DataFrame) -> None:
    budget = of.error_budget(of.run_summary(fetch_log, 0.995), 0.995)
    assert (budget.runs, budget.runs_meeting_slo, budget.fetches, budget.succeeded) == (2, 1, 6, 5)
    assert budget.failed == 1
    assert budget.success_rate == pytest.approx(5 / 6)
    assert budget.allowed_failures == pytest.approx(0.03)
    assert budget.burned == pytest.approx(1 / 0.03)  # 33x over budget

    loose = of.error_budget(of.run_summary(fetch_log, 0.5), 0.5)
    assert loose.runs_meeting_slo == 2
    assert loose.burned == pytest.approx(1 / 3)


def test_error_budget_of_nothing() -> None:
    runs = of.run_summary(table_spec("bronze/fetch_log").empty(), 0.995)
    assert runs.is_empty() and runs.columns == list(of.RUN_COLUMNS)
    budget = of.error_budget(runs, 0.995)
    assert (budget.fetches, budget.success_rate, budget.burned) == (0, None, None)
    perfect = of.ErrorBudget(slo=1.0, runs=1, runs_meeting_slo=1, fetches=10, succeeded=10)
    assert perfect.burned is None
    broken = of.ErrorBudget(slo=1.0, runs=1, runs_meeting_slo=0, fetches=10, succeeded=9)
    assert broken.burned == float("inf")


def _score(day: int, key: str, **scores: float | None) -> dict[str, Any]:
    platform, handle = key.split(":")
    values = {name: scores.get(name) for name in of.SCORE_COLUMNS}
    return {
        "date": dt.date(2026, 3, 1) + dt.timedelta(days=day),
        "platform": platform,
        "account_id": f"id-{handle}",
        "account_key": key,
        "agency": "CDC",
        "flags": day,
        "rows_quarantined": 0,
        **values,
    }


@pytest.fixture
def scorecard() -> pl.DataFrame:
    rows = [
        _score(0, "x:CDCgov", freshness=1.0, completeness=0.5, overall=0.8),
        _score(1, "x:CDCgov", freshness=0.25, completeness=0.75, overall=0.6),
        _score(0, "bluesky:cdc.gov", freshness=0.5, completeness=None, overall=0.9),
        _score(2, "mastodon:hhs", freshness=None, completeness=None, overall=None),
    ]
    schema = {c: t for c, t in table_spec("quality/scorecard").schema.items()}
    return pl.DataFrame(rows, schema={c: schema[c] for c in of.SCORECARD_COLUMNS})


def test_heatmap_cells_and_table(scorecard: pl.DataFrame) -> None:
    cells = of.heatmap_cells(scorecard, "freshness")
    assert cells.height == scorecard.height  # one cell a row, in the scorecard's order
    assert cells.sort("account_key", "date").rows() == [
        ("2026-03-01", "bluesky:cdc.gov", "bluesky", 0.5),
        ("2026-03-03", "mastodon:hhs", "mastodon", None),
        ("2026-03-01", "x:CDCgov", "x", 1.0),
        ("2026-03-02", "x:CDCgov", "x", 0.25),
    ]
    table = of.heatmap_table(of.heatmap_cells(scorecard, "completeness"))
    assert table.columns == ["account_key", "platform", "2026-03-01", "2026-03-02", "2026-03-03"]
    assert table.rows() == [
        ("bluesky:cdc.gov", "bluesky", None, None, None),
        ("mastodon:hhs", "mastodon", None, None, None),
        ("x:CDCgov", "x", 0.5, 0.75, None),
    ]
    with pytest.raises(ValueError, match="unknown heatmap metric"):
        of.heatmap_cells(scorecard, "followers")
    empty = of.heatmap_cells(scorecard.clear(), "overall")
    assert of.heatmap_table(empty).columns == ["account_key", "platform"]


def test_heatmap_table_equals_polars_pivot_of_the_cells() -> None:
    import random

    rng = random.Random(5)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(40)]
    rows = []
    for n in range(60):
        platform = rng.choice(["x", "bluesky", "youtube"])
        for day in rng.sample(days, rng.randint(1, 40)):  # days missing: empty cells
            value = None if rng.random() < 0.2 else rng.choice([0.0, 1.0, rng.random()])
            rows.append((f"{platform}:account-{n}", platform, day, value))
    scorecard = pl.DataFrame(
        rows,
        schema={"account_key": pl.String, "platform": pl.String, "date": pl.Date, "f": pl.Float64},
        orient="row",
    ).rename({"f": "freshness"})
    cells = of.heatmap_cells(scorecard.sample(fraction=1.0, shuffle=True, seed=3), "freshness")
    dates = sorted(cells["date"].unique().to_list())
    expected = (
        cells.pivot(on="date", index=["account_key", "platform"], values="value")
        .select("account_key", "platform", *dates)
        .sort("account_key")
    )
    table = of.heatmap_table(cells)
    assert table.height == 60 and table.width == 2 + len(dates)
    assert table.null_count().sum_horizontal().item() > 0
    assert_frame_equal(table, expected)
    with pytest.raises(ValueError, match="repeat an account and day"):
        of.heatmap_table(pl.concat([cells, cells.head(1)]))


def test_latest_scorecard_keeps_each_accounts_last_day(scorecard: pl.DataFrame) -> None:
    latest = of.latest_scorecard(scorecard)
    assert latest.select("account_key", "date", "freshness", "overall", "flags").rows() == [
        ("x:CDCgov", dt.date(2026, 3, 2), 0.25, 0.6, 1),
        ("bluesky:cdc.gov", dt.date(2026, 3, 1), 0.5, 0.9, 0),
        ("mastodon:hhs", dt.date(2026, 3, 3), None, None, 2),
    ]
    means = of.score_means(latest)
    assert means["freshness"] == pytest.approx(0.375)
    assert means["overall"] == pytest.approx(0.75)
    assert means["completeness"] == pytest.approx(0.75)
    assert means["drift"] is None


def test_windows_and_platform_selection(scorecard: pl.DataFrame) -> None:
    assert of.window_start(dt.date(2026, 3, 14), 7) == dt.date(2026, 3, 8)
    assert of.window_start(dt.date(2026, 3, 14), None) is None
    assert of.window_start(None, 7) is None
    assert of.in_window(scorecard, "date", dt.date(2026, 3, 2)).height == 2
    assert of.in_window(scorecard, "date", None).height == 4
    stamps = pl.DataFrame({"at": [_at(0), _at(60 * 24)]})
    assert of.in_window(stamps, "at", dt.date(2026, 3, 11)).height == 1
    assert of.select_platform(scorecard, "x").height == 2
    assert of.select_platform(scorecard, of.ALL).height == 4
    assert of.latest_day(None, dt.date(2026, 3, 1), dt.date(2026, 2, 1)) == dt.date(2026, 3, 1)
    assert of.latest_day(None) is None


@pytest.mark.parametrize(
    "dtype",
    [pl.Datetime("us", "UTC"), pl.Datetime("ms", "America/New_York"), pl.Datetime("ns")],
)
def test_window_of_instants_starts_at_the_days_first_instant_in_their_zone(
    dtype: pl.DataType,
) -> None:
    local = [
        dt.datetime(2026, 3, 9, 23, 59, 59),
        dt.datetime(2026, 3, 10, 0, 0),
        dt.datetime(2026, 3, 10, 4, 30),
        None,
    ]
    zone = getattr(dtype, "time_zone", None)
    frame = pl.DataFrame({"at": local, "run_id": ["r1", "r2", "r3", "r4"]}).with_columns(
        pl.col("at").dt.replace_time_zone(zone).cast(dtype)
    )
    start = dt.date(2026, 3, 10)
    by_date = frame.filter(pl.col("at").dt.date() >= start)
    assert of.in_window(frame, "at", start).equals(by_date)
    assert by_date["run_id"].to_list() == ["r2", "r3"]
    late = of.in_runs_or_window(frame, ["r1"], "at", start)
    assert late["run_id"].to_list() == ["r1", "r2", "r3"]


def test_in_runs_or_window_keeps_late_stamped_rows_of_shown_runs() -> None:
    frame = pl.DataFrame({"run_id": ["r1", "r2", "r3"], "at": [_at(0), _at(0), _at(60 * 24 * 20)]})
    start = dt.date(2026, 3, 10)
    assert of.in_runs_or_window(frame, [], "at", start)["run_id"].to_list() == ["r1", "r2", "r3"]
    later = dt.date(2026, 3, 20)
    assert of.in_runs_or_window(frame, ["r2"], "at", later)["run_id"].to_list() == ["r2", "r3"]
    assert of.in_runs_or_window(frame, [], "at", None).height == 3


def test_rule_names_drop_row_details() -> None:
    assert (
        of.rule_name("created_at: future_timestamp (2026-11-02T13:00:00Z is after the fetch)")
        == "created_at: future_timestamp"
    )
    assert (
        of.rule_name("followers: greater_than_or_equal_to(0)")
        == "followers: greater_than_or_equal_to"
    )
    assert of.rule_name("body is not valid JSON: Expecting value") == "truncated_body"
    assert of.rule_name("parser crashed: KeyError: 'x'") == "parser_error"
    assert of.rule_name("something else entirely") == "other"


def test_quarantine_by_rule_explodes_the_rules() -> None:
    rows = [
        ("silver/posts", "x", ["created_at: future_timestamp (a)", "post_id: post_id_unique"]),
        ("silver/posts", "x", ["created_at: future_timestamp (b)"]),
        # Two columns failing the same check: the row counts once for it.
        (
            "silver/posts",
            "bluesky",
            ["created_at: future_timestamp (c)", "created_at: future_timestamp (d)"],
        ),
        ("bronze/raw_responses", None, ["body is not valid JSON"]),
    ]
    frame = pl.DataFrame(
        [
            {"table": t, "platform": p, "rules": r, "row": "{}", "quarantined_at": T0}
            for t, p, r in rows
        ],
        schema={c: table_spec("quarantine/rows").schema[c] for c in of.QUARANTINE_COLUMNS},
    )
    counts = of.quarantine_by_rule(frame)
    assert counts.rows() == [
        ("created_at: future_timestamp", "silver/posts", "x", 2),
        ("created_at: future_timestamp", "silver/posts", "bluesky", 1),
        ("post_id: post_id_unique", "silver/posts", "x", 1),
        ("truncated_body", "bronze/raw_responses", "unknown", 1),
    ]
    assert of.quarantine_by_rule(frame.clear()).columns == ["rule", "table", "platform", "rows"]


def test_quarantine_account_ids_read_from_the_row() -> None:
    frame = pl.DataFrame({"row": ['{"account_id": "a1", "x": 1}', '{"response_id": "r"}']})
    assert of.quarantine_account_ids(frame)["account_id"].to_list() == ["a1", None]


def test_flags_by_rule() -> None:
    flags = pl.DataFrame(
        {
            "platform": ["x", "x", "x", "bluesky"],
            "rule": ["counter_fall", "counter_fall", "day_change", "counter_fall"],
            "severity": ["warning", "warning", "critical", "warning"],
        }
    )
    assert of.flags_by_rule(flags).rows() == [
        ("counter_fall", "warning", "x", 2),
        ("counter_fall", "warning", "bluesky", 1),
        ("day_change", "critical", "x", 1),
    ]
    assert of.flags_by_rule(flags.clear()).height == 0


def _response(
    platform: str, minutes: float, headers: dict[str, str], endpoint: str = "e"
) -> dict[str, Any]:
    return {
        "platform": platform,
        "endpoint": endpoint,
        "fetched_at": _at(minutes),
        "headers": json.dumps(headers),
    }


def test_rate_limit_headroom_reads_each_platforms_latest_headers() -> None:
    reset = int(_at(5).timestamp())
    responses = pl.DataFrame(
        [
            _response(
                "bluesky",
                0,
                {
                    "RateLimit-Limit": "3000",
                    "RateLimit-Remaining": "10",
                    "RateLimit-Reset": str(reset),
                },
            ),
            _response(
                "bluesky",
                2,
                {
                    "RateLimit-Limit": "3000",
                    "RateLimit-Remaining": "2250",
                    "RateLimit-Reset": str(reset),
                    "RateLimit-Policy": "3000;w=300",
                },
                "app.bsky.feed.getAuthorFeed",
            ),
            _response("bluesky", 3, {"content-type": "application/json"}),  # no budget news
            _response(
                "reddit",
                1,
                {
                    "x-ratelimit-used": "40",
                    "x-ratelimit-remaining": "60.0",
                    "x-ratelimit-reset": "120",
                },
            ),
            _response(
                "mastodon",
                1,
                {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": "2026-03-10T12:05:00.000Z",
                },
            ),
            _response("facebook", 1, {"x-app-usage": '{"call_count": 30, "total_time": 62.5}'}),
            _response("youtube", 1, {"content-type": "application/json"}),
        ]
    )
    rows = {r["platform"]: r for r in of.rate_limit_headroom(responses).to_dicts()}
    assert list(rows) == ["bluesky", "facebook", "mastodon", "reddit"]
    bs = rows["bluesky"]
    assert (bs["endpoint"], bs["as_of"], bs["limit"], bs["remaining"]) == (
        "app.bsky.feed.getAuthorFeed",
        _at(2),
        3000,
        2250,
    )
    assert bs["headroom"] == 0.75 and bs["used_pct"] == 25.0
    # a reset named in whole seconds is shown one second later: when the budget sends again
    assert bs["reset_at"] == _at(5) + dt.timedelta(seconds=1)
    rd = rows["reddit"]
    assert (rd["limit"], rd["remaining"], rd["headroom"]) == (100, 60, 0.6)
    assert rd["reset_at"] == _at(3) + dt.timedelta(seconds=1)  # 120 s after the response, +1
    ms = rows["mastodon"]
    assert (ms["limit"], ms["remaining"], ms["headroom"], ms["reset_at"]) == (300, 0, 0.0, _at(5))
    fb = rows["facebook"]
    assert (fb["limit"], fb["remaining"], fb["used_pct"], fb["headroom"]) == (
        None,
        None,
        62.5,
        0.375,
    )
    assert (
        of.rate_limit_headroom(
            pl.DataFrame(schema=dict.fromkeys(of.RESPONSE_COLUMNS, pl.String)).with_columns(
                pl.col("fetched_at").cast(pl.Datetime("us", "UTC"))
            )
        ).height
        == 0
    )


def test_quota_day_counts_units_of_the_latest_pacific_day() -> None:
    base = "http://sandbox/youtube/youtube/v3/"
    # 2026-03-10 07:30 UTC is 00:30 PDT on the 10th; 06:30 UTC is still the 9th in Pacific time.
    calls = pl.DataFrame(
        {
            "platform": ["youtube"] * 5 + ["x"],
            "fetched_at": [
                dt.datetime(2026, 3, 10, 6, 30, tzinfo=UTC),
                dt.datetime(2026, 3, 10, 7, 30, tzinfo=UTC),
                dt.datetime(2026, 3, 10, 8, 0, tzinfo=UTC),
                dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
                dt.datetime(2026, 3, 10, 9, 5, tzinfo=UTC),
                dt.datetime(2026, 3, 11, 9, 5, tzinfo=UTC),
            ],
            "request_url": [
                base + "channels?id=1",
                base + "channels?id=1&key=***",
                base + "search?q=x",
                base + "playlistItems?playlistId=2",
                "http://sandbox/youtube/feeds/videos.xml?channel_id=UC1",  # RSS: free
                "http://sandbox/x/2/tweets",
            ],
        }
    )
    day = of.quota_day(calls, keys=2)
    assert day.day == dt.date(2026, 3, 10)
    assert (day.calls, day.units_used) == (3, 102)
    assert (day.daily_units, day.keys, day.units_left) == (10_000, 2, 19_898)
    assert day.used_share == pytest.approx(102 / 20_000)
    earlier = of.quota_day(calls, day=dt.date(2026, 3, 9))
    assert (earlier.calls, earlier.units_used, earlier.keys) == (1, 1, 1)
    none = of.quota_day(calls.clear())
    assert (none.day, none.calls, none.units_used) == (None, 0, 0)


def test_latest_partitions() -> None:
    parts = [
        {"platform": "x", "fetched_date": "2026-03-01"},
        {"platform": "x", "fetched_date": "2026-03-09"},
        {"platform": "bluesky", "fetched_date": "2026-03-08"},
        {"platform": None, "fetched_date": "2026-03-10"},
    ]
    assert of.latest_partitions(parts) == {
        "x": dt.date(2026, 3, 9),
        "bluesky": dt.date(2026, 3, 8),
    }


def test_heatmap_keeps_the_lowest_scoring_accounts() -> None:
    scorecard = pl.DataFrame(
        {
            "date": [dt.date(2026, 11, 1), dt.date(2026, 11, 2)] * 4,
            "account_key": ["x:a", "x:a", "x:b", "x:b", "x:c", "x:c", "x:d", "x:d"],
            "platform": ["x"] * 8,
            "freshness": [1.0, 0.5, 0.25, 0.5, None, None, 0.5, 0.75],
            "completeness": [0.1, 0.2, 1.0, 1.0, 0.9, 0.9, 0.5, 0.0],
            "validity": [1.0] * 8,
            "drift": [0.0] * 8,
            "overall": [0.5] * 8,
        }
    )
    kept = of.lowest_accounts(scorecard, "freshness", 2)
    # x:c was never judged (lowest), then x:b (mean 0.375); sorted by account and date
    assert kept.to_dicts() == [
        {"date": d, "account_key": k, "platform": "x", "value": v}
        for k, d, v in [
            ("x:b", "2026-11-01", 0.25),
            ("x:b", "2026-11-02", 0.5),
            ("x:c", "2026-11-01", None),
            ("x:c", "2026-11-02", None),
        ]
    ]
    assert of.lowest_accounts(scorecard, "freshness", 10).equals(
        of.heatmap_cells(scorecard, "freshness")
    )
    # another colour ranks by its own means: x:a (0.15), then x:d (0.25)
    lowest = of.lowest_accounts(scorecard, "completeness", 2)
    assert lowest["account_key"].unique(maintain_order=True).to_list() == ["x:a", "x:d"]
    # the means computed once give the same cells; rows in any order give the same cells
    means = of.account_means(scorecard)
    assert means.sort("account_key")["freshness"].to_list() == [0.75, 0.375, None, 0.625]
    for metric in of.HEATMAP_METRICS:
        alone = of.lowest_accounts(scorecard, metric, 3)
        assert of.lowest_accounts(scorecard, metric, 3, means).equals(alone)
        shuffled = scorecard.sample(fraction=1.0, shuffle=True, seed=1)
        assert of.lowest_accounts(shuffled, metric, 3).equals(alone)
    with pytest.raises(ValueError, match="unknown heatmap metric"):
        of.lowest_accounts(scorecard, "followers", 2)
