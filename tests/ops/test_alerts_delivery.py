"""Alerts delivered for real (apprise to a local webhook and a local SMTP server), deduplicated,
rate-limited into a digest, retried after a failure, resolved; no URL token anywhere."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from alert_lakes import NOW
from alert_receivers import smtp_server, text_of, webhook
from pydantic import SecretStr
from typer.testing import CliRunner

from hhs_platform.cli import app
from hhs_platform.lake import Lake
from hhs_platform.ops.alerts import Alert, Policy, Routes, alert_flow_failure, process
from hhs_platform.ops.notify import AppriseSender
from hhs_platform.settings import Settings
from schemas.tables import OpsAlerts

SENDER = AppriseSender(timeout_s=10)
POLICY = Policy(dedup_hours=6, max_per_hour=20)


def make(key: str, kind: str = "run_failed", severity: str = "warning") -> Alert:
    return Alert(kind, severity, key, f"Title of {key}", f"Body of {key}\n\nRunbook: x", NOW)  # type: ignore[arg-type]


def lake_at(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"), {})


def rows(lake: Lake) -> list[dict]:
    frame = lake.read("ops/alerts").sort("key", "window_start")
    OpsAlerts.validate(frame)
    return frame.to_dicts()


def test_webhook_receives_title_body_and_type_and_the_row_is_recorded(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    with webhook() as hook:
        routes = Routes(pipeline=(SecretStr(hook.url("hooks/ops")),))
        report = process(
            lake, [make("run_failed:r1", severity="critical")], NOW, POLICY, routes, SENDER
        )
    assert hook.paths == ["/hooks/ops"]
    [got] = hook.received
    assert (got["title"], got["message"], got["type"]) == (
        "Title of run_failed:r1",
        "Body of run_failed:r1\n\nRunbook: x",
        "failure",
    )
    assert report.sent == 1 and report.actions == {"run_failed:r1": "send"}
    [row] = rows(lake)
    assert row["sent_at"] == NOW and row["delivered"] is True
    assert (row["channels"], row["attempts"], row["suppressed"]) == (1, 1, None)


def test_content_alerts_go_by_email_and_pipeline_alerts_to_the_webhook(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    content = make("content_anomaly:x:1:followers:follower_drop:2026-11-19", "content_anomaly")
    with webhook() as hook, smtp_server() as (port, mails):
        mailto = f"mailto://127.0.0.1:{port}?from=alerts@example.org&to=comms@example.org"
        routes = Routes(pipeline=(SecretStr(hook.url()),), content=(SecretStr(mailto),))
        report = process(lake, [content, make("run_failed:r1")], NOW, POLICY, routes, SENDER)
    assert report.sent == 2
    assert [m["title"] for m in hook.received] == ["Title of run_failed:r1"]
    [mail] = mails
    assert mail["Subject"] == f"Title of {content.key}"
    assert mail["To"] == "comms@example.org" and mail["From"] == "alerts@example.org"
    assert text_of(mail).replace("\r\n", "\n").strip() == content.body


def test_the_same_key_is_not_sent_again_within_the_dedup_window(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    alert = make("repeated_failures:x:a", "repeated_failures")
    with webhook() as hook:
        routes = Routes(pipeline=(SecretStr(hook.url()),))
        process(lake, [alert], NOW, POLICY, routes, SENDER)
        second = process(lake, [alert], NOW + timedelta(hours=1), POLICY, routes, SENDER)
        assert len(hook.received) == 1 and second.messages == []
        assert second.actions["repeated_failures:x:a"] == "duplicate (sent 1h00 ago)"
        [row] = rows(lake)
        assert row["evaluations"] == 2 and row["last_seen_at"] == NOW + timedelta(hours=1)
        # past the window, a condition still there is reminded: a new window row
        process(lake, [alert], NOW + timedelta(hours=7), POLICY, routes, SENDER)
    assert len(hook.received) == 2
    assert [r["window_start"] for r in rows(lake)] == [NOW, NOW + timedelta(hours=7)]


def test_over_the_hourly_cap_the_rest_is_folded_into_one_digest(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    alerts = [make(f"schema_drift:x:e{i:02d}", "schema_drift") for i in range(25)]
    with webhook() as hook:
        routes = Routes(pipeline=(SecretStr(hook.url()),))
        report = process(lake, alerts, NOW, POLICY, routes, SENDER)
        assert len(hook.received) == 21
        digest = hook.received[-1]
        assert digest["title"] == "And 5 more pipeline alert(s)"
        assert "and 5 more:" in digest["message"]
        assert "- [warning] Title of schema_drift:x:e24" in digest["message"]
        assert report.sent == 21
        recorded = rows(lake)
        assert sum(r["suppressed"] is None and r["sent_at"] == NOW for r in recorded) == 20
        assert sum(r["suppressed"] == "digest" and r["delivered"] for r in recorded) == 5
        # ten minutes later the hour's budget is spent: new alerts go straight to a digest
        more = [make(f"schema_drift:y:e{i}", "schema_drift") for i in range(3)]
        later = process(lake, more, NOW + timedelta(minutes=10), POLICY, routes, SENDER)
    assert len(hook.received) == 22 and hook.received[-1]["title"] == "And 3 more pipeline alert(s)"
    assert all(a == "digest (rate limit)" for a in later.actions.values())


def test_a_failed_delivery_is_recorded_and_retried_at_the_next_check(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    with webhook() as hook:
        hook.status = 500
        routes = Routes(pipeline=(SecretStr(hook.url()),))
        first = process(lake, [make("run_failed:r9")], NOW, POLICY, routes, SENDER)
        assert first.failed == 1 and len(hook.received) == 1
        [row] = rows(lake)
        assert row["delivered"] is False and row["attempts"] == 1
        # the next check no longer finds the event (a newer run is the last): still retried
        hook.status = 200
        second = process(lake, [], NOW + timedelta(minutes=15), POLICY, routes, SENDER)
    assert second.sent == 1 and second.actions == {"run_failed:r9": "retry: send"}
    assert [m["title"] for m in hook.received] == ["Title of run_failed:r9"] * 2
    [row] = rows(lake)
    assert row["delivered"] is True and row["attempts"] == 2


def test_a_condition_gone_is_resolved_with_a_note(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    alert = make("slo_breached:freshness:all", "slo_breached")
    with webhook() as hook:
        routes = Routes(pipeline=(SecretStr(hook.url()),))
        process(lake, [alert], NOW, POLICY, routes, SENDER)
        report = process(lake, [], NOW + timedelta(minutes=30), POLICY, routes, SENDER)
        assert report.resolved == ["slo_breached:freshness:all"]
        assert hook.received[-1]["title"] == "Resolved: Title of slo_breached:freshness:all"
        assert hook.received[-1]["type"] == "success"
        # resolved once: a later check says nothing more
        process(lake, [], NOW + timedelta(hours=1), POLICY, routes, SENDER)
    assert len(hook.received) == 2
    [row] = rows(lake)
    assert row["resolved_at"] == NOW + timedelta(minutes=30)


def test_without_urls_alerts_are_recorded_as_not_sent(tmp_path: Path) -> None:
    lake = lake_at(tmp_path)
    report = process(lake, [make("run_failed:r1")], NOW, POLICY, Routes(), SENDER)
    assert report.messages == [] and report.actions == {
        "run_failed:r1": "not sent: no URL configured"
    }
    [row] = rows(lake)
    assert row["suppressed"] == "no_channels" and row["sent_at"] is None


TOKEN = "T0KEN-s3cr3t-9f8e7d"


def test_no_url_token_in_logs_rows_reports_or_command_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    lake = lake_at(tmp_path)
    with webhook() as hook:
        good = f"json://user:{TOKEN}@127.0.0.1:{hook.port}/hook/{TOKEN}?+X-Token={TOKEN}"
        bad = f"json://127.0.0.1:1/hook/{TOKEN}"  # nothing listens: fails
        routes = Routes(pipeline=(SecretStr(good), SecretStr(bad)))
        report = process(lake, [make("run_failed:r1")], NOW, POLICY, routes, SENDER)
        assert hook.paths == [f"/hook/{TOKEN}"]  # it did go to the URL with the token
        settings = Settings(_env_file=None, alert_urls=[good], lake_uri=lake.uri)  # type: ignore[call-arg]
        failed = alert_flow_failure(
            lake, settings, "r2", "hhs-collect", f"crashed calling {good}", NOW, SENDER
        )
        monkeypatch.setenv("HHS_ALERT_URLS", f"{good} {bad}")
        result = CliRunner().invoke(app, ["alerts", "test"])
    assert report.failed == 1 and result.exit_code == 1
    assert "pipeline: json:// ok" in result.output and "pipeline: json:// FAILED" in result.output
    assert hook.received[-1]["title"] == "HHS platform: test alert"
    assert "crashed calling ***" in failed.rows["body"][0]
    table = lake.read("ops/alerts")
    texts = [
        caplog.text,
        result.output,
        str(result.exception or ""),
        "\n".join(report.lines() + failed.lines()),
        str(table.to_dicts()),
        repr(settings),
        str(settings.model_dump()),
    ]
    assert all(TOKEN not in text for text in texts)
    assert "alert delivery to a json:// URL failed" in caplog.text
