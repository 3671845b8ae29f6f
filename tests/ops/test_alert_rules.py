"""Each alert rule fires on its condition and stays silent without it, over rows of the real
table schemas; and ``evaluate`` finds them in a real Delta lake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
from alert_lakes import (
    NOW,
    anomaly,
    drift_row,
    fetch_log,
    frame,
    quarantine_rows,
    response,
    runs_of,
    slo_row,
)

from hhs_platform.lake import Lake
from hhs_platform.ops.alert_rules import (
    RuleConfig,
    anomaly_alerts,
    anomaly_severity,
    drift_alerts,
    evaluate,
    quarantine_alerts,
    quota_alerts,
    repeated_failure_alerts,
    run_failed_alerts,
    slo_alerts,
)

CFG = RuleConfig(slo_success_rate=0.95, runbook_url="https://example.org/alerts.md")


def test_run_failed_fires_on_the_last_run_below_the_slo_only() -> None:
    ok = {f"x:a{i}": "complete" for i in range(10)}
    bad = dict(ok, **{"x:a0": "failed", "x:a1": "failed", "x:a2": "failed"})
    log = fetch_log(
        [("run-1", NOW - timedelta(hours=2), ok), ("run-2", NOW - timedelta(hours=1), bad)]
    )
    [alert] = run_failed_alerts(log, CFG, NOW)
    assert alert.key == "run_failed:run-2" and alert.severity == "warning"
    assert alert.title == "Collection run run-2: 3 of 10 accounts failed"
    assert "Success rate 70.0%, below the 95.0% objective." in alert.body
    assert "- x: 3 x ServerError (e.g. x:a0)" in alert.body
    assert alert.body.endswith("Runbook: https://example.org/alerts.md#run-failed")
    # the failed run is no longer the last one: silent
    later = pl.concat([log, fetch_log([("run-3", NOW - timedelta(minutes=5), ok)])])
    assert run_failed_alerts(later, CFG, NOW) == []
    # most accounts failed: critical
    worst = {a: "failed" for a in ok} | {"x:a9": "partial"}
    assert run_failed_alerts(fetch_log([("r", NOW, worst)]), CFG, NOW)[0].severity == "critical"
    assert run_failed_alerts(frame("bronze/fetch_log", []), CFG, NOW) == []


def test_repeated_failures_need_n_failed_runs_in_a_row() -> None:
    log = runs_of(
        {
            "x:always": ["failed"] * 4,
            "x:two": ["complete", "complete", "failed", "failed"],
            "x:healed": ["failed", "failed", "failed", "complete"],
            "youtube:three": ["complete", "failed", "failed", "failed"],
        }
    )
    alerts = {a.key: a for a in repeated_failure_alerts(log, CFG, NOW)}
    assert set(alerts) == {"repeated_failures:x:always", "repeated_failures:youtube:three"}
    assert (
        alerts["repeated_failures:x:always"].title == "x:always failed 4 collection runs in a row"
    )
    assert (
        "Last error (run-03): ServerError: x answered 503"
        in alerts["repeated_failures:youtube:three"].body
    )
    # a higher threshold: only the 4-run streak
    four = RuleConfig(repeated_failures=4)
    assert [a.key for a in repeated_failure_alerts(log, four, NOW)] == [
        "repeated_failures:x:always"
    ]


def test_slo_alerts_on_missed_freshness_and_collection_success_of_the_latest_day() -> None:
    today, yesterday = NOW.date(), NOW.date() - timedelta(days=1)
    slo = frame(
        "ops/slo",
        [
            slo_row("freshness", "all", yesterday, True),
            slo_row("freshness", "all", today, False, burned=1.3),
            slo_row("collection_success", "x", yesterday, False),
            slo_row("collection_success", "x", today, True),  # met again today: silent
            slo_row("collection_success", "youtube", today, False, burned=0.4),
            slo_row("dashboard_availability", "dashboard", today, False),  # not this rule's
            slo_row("freshness", "tier-3", today - timedelta(days=3), False),  # stale
        ],
    )
    alerts = {a.key: a for a in slo_alerts(slo, CFG, NOW)}
    assert set(alerts) == {"slo_breached:freshness:all", "slo_breached:collection_success:youtube"}
    assert alerts["slo_breached:freshness:all"].severity == "critical"
    assert alerts["slo_breached:collection_success:youtube"].severity == "warning"
    assert (
        "900 of 1000 account fetches that succeeded (youtube): 90.0%"
        in alerts["slo_breached:collection_success:youtube"].body
    )
    met = frame("ops/slo", [slo_row("freshness", "all", NOW.date(), True)])
    assert slo_alerts(met, CFG, NOW) == []


def _x_headers(remaining: int, reset_in_s: int = 600) -> dict[str, str]:
    reset = int((NOW + timedelta(seconds=reset_in_s)).timestamp())
    return {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def test_quota_alerts_on_rate_limit_headroom_and_youtube_units() -> None:
    url = "https://api.x.com/2/users/1/tweets"
    near = frame("bronze/raw_responses", [response("x", NOW, _x_headers(5), url)])
    [alert] = quota_alerts(near, CFG, NOW)
    assert alert.key == "quota_near_exhausted:x" and alert.severity == "warning"
    assert "5 of 100 requests left (95% used" in alert.body
    spent = frame("bronze/raw_responses", [response("x", NOW, _x_headers(0), url)])
    assert quota_alerts(spent, CFG, NOW)[0].severity == "critical"
    roomy = frame("bronze/raw_responses", [response("x", NOW, _x_headers(50), url)])
    assert quota_alerts(roomy, CFG, NOW) == []
    # the window has reset since: silent
    reset = frame(
        "bronze/raw_responses",
        [response("x", NOW - timedelta(hours=1), _x_headers(0, reset_in_s=-60), url)],
    )
    assert quota_alerts(reset, CFG, NOW) == []
    # YouTube: 91 searches x 100 units = 9,100 of 10,000 units today
    search = "https://www.googleapis.com/youtube/v3/search?part=snippet"
    calls = [response("youtube", NOW - timedelta(minutes=i), {}, search) for i in range(91)]
    [yt] = quota_alerts(frame("bronze/raw_responses", calls), CFG, NOW)
    assert yt.key == "quota_near_exhausted:youtube"
    assert "91 YouTube API calls" in yt.body and "9,100 of 10,000 units" in yt.body
    assert quota_alerts(frame("bronze/raw_responses", calls[:80]), CFG, NOW) == []
    two_keys = RuleConfig(youtube_keys=2)
    assert quota_alerts(frame("bronze/raw_responses", calls), two_keys, NOW) == []


def test_drift_alerts_on_fields_missed_within_the_lookback() -> None:
    drift = frame(
        "quality/field_drift",
        [
            drift_row(
                "bluesky", "getAuthorFeed", "feed[].post.likeCount", NOW - timedelta(hours=1)
            ),
            drift_row("bluesky", "getAuthorFeed", "feed[].post.replyCount", NOW),
            drift_row("x", "users/tweets", "data[].public_metrics", NOW - timedelta(hours=9)),
        ],
    )
    [alert] = drift_alerts(drift, CFG, NOW)
    assert alert.key == "schema_drift:bluesky:getAuthorFeed"
    assert "lacked: feed[].post.likeCount, feed[].post.replyCount." in alert.body
    assert drift_alerts(drift, CFG, NOW + timedelta(hours=7)) == []


def test_quarantine_spike_against_the_median_of_previous_runs_and_a_floor() -> None:
    log = runs_of({"x:a": ["complete"] * 6})  # run-00 .. run-05, run-05 the last
    usual = [r for k in range(5) for r in quarantine_rows(f"run-{k:02d}", 10)]
    spike = frame("quarantine/rows", usual + quarantine_rows("run-05", 100))
    [alert] = quarantine_alerts(log, spike, CFG, NOW)
    assert alert.key == "quarantine_spike:run-05"
    assert alert.title == "Run run-05 quarantined 100 rows (10x usual)"
    assert "- created_at: future_timestamp (silver/posts, x): 100" in alert.body
    usual_again = frame("quarantine/rows", usual + quarantine_rows("run-05", 25))
    assert quarantine_alerts(log, usual_again, CFG, NOW) == []
    # nothing before, 40 rows now: under the floor of 50
    first = frame("quarantine/rows", quarantine_rows("run-05", 40))
    assert quarantine_alerts(log, first, CFG, NOW) == []
    assert quarantine_alerts(log, frame("quarantine/rows", quarantine_rows("run-05", 51)), CFG, NOW)


def test_anomaly_alerts_by_severity_and_detection_time() -> None:
    rows = frame(
        "gold/anomalies",
        [
            anomaly("follower_drop", 0.95, NOW - timedelta(hours=1), "1"),
            anomaly("follower_drop", 0.8, NOW - timedelta(hours=1), "2"),
            anomaly("follower_jump", 0.6, NOW - timedelta(hours=1), "3"),
            anomaly("collection_gap", 1.0, NOW - timedelta(hours=1), "4"),
            anomaly("follower_drop", 0.99, NOW - timedelta(hours=8), "5"),
        ],
    )
    alerts = anomaly_alerts(rows, CFG, NOW)
    assert [(a.key.split(":")[2], a.severity) for a in alerts] == [
        ("1", "critical"),
        ("2", "warning"),
    ]
    assert all(a.audience == "content" for a in alerts)
    assert alerts[0].title.startswith("CDC followers on X fell 4.8%")
    info = RuleConfig(min_severity="info")
    assert len(anomaly_alerts(rows, info, NOW)) == 3
    crit = RuleConfig(min_severity="critical")
    assert len(anomaly_alerts(rows, crit, NOW)) == 1
    assert [anomaly_severity(c) for c in (0.5, 0.75, 0.9)] == ["info", "warning", "critical"]


def test_evaluate_reads_every_rule_from_a_real_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"), {})
    assert evaluate(lake, CFG, NOW) == []  # an empty lake: nothing, no error
    lake.append("bronze/fetch_log", runs_of({"x:a": ["failed"] * 3, "x:b": ["complete"] * 3}))
    lake.merge("ops/slo", frame("ops/slo", [slo_row("freshness", "all", NOW.date(), False)]))
    lake.merge(
        "quality/field_drift",
        frame("quality/field_drift", [drift_row("x", "users/tweets", "data[].id", NOW)]),
    )
    lake.merge("quarantine/rows", frame("quarantine/rows", quarantine_rows("run-02", 60)))
    lake.overwrite(
        "gold/anomalies",
        frame("gold/anomalies", [anomaly("follower_drop", 0.95, NOW - timedelta(hours=1))]),
    )
    url = "https://api.x.com/2/users/1/tweets"
    lake.append(
        "bronze/raw_responses",
        frame("bronze/raw_responses", [response("x", NOW, _x_headers(1), url)]),
    )
    kinds = sorted(a.kind for a in evaluate(lake, CFG, NOW))
    assert kinds == [
        "content_anomaly",
        "quarantine_spike",
        "quota_near_exhausted",
        "repeated_failures",
        "run_failed",
        "schema_drift",
        "slo_breached",
    ]
