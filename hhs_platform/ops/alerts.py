"""Alerts: rules over the lake, deduplicated and rate-limited in ``ops/alerts``, sent by apprise.

A check (``hhs alerts check``, the ``hhs-alerts`` flow every 15 minutes) runs in three steps:

1. **Rules** (:func:`evaluate`): pure functions over polars frames, ``now`` injected, each
   returning :class:`Alert` s. Pipeline: :func:`run_failed_alerts`, :func:`repeated_failure_alerts`,
   :func:`slo_alerts`, :func:`quota_alerts`, :func:`drift_alerts`, :func:`quarantine_alerts`;
   content: :func:`anomaly_alerts`.
2. **Dedup and rate limit** (:func:`plan`): one ``ops/alerts`` row per key and dedup window; a key
   is sent once per ``HHS_ALERT_DEDUP_HOURS``; at most ``HHS_ALERT_MAX_PER_HOUR`` are sent on their
   own per hour, the rest folded into one digest per audience; a failed delivery is retried at the
   next check; a condition alert whose condition is gone is resolved (with a note).
3. **Delivery** (:mod:`hhs_platform.ops.notify`): apprise URLs, never logged or stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from pydantic import SecretStr

from hhs_platform.ops.alert_rules import (
    ANOMALY_SEVERITY,
    CONDITION_KINDS,
    CONTENT_KINDS,
    RUNBOOK,
    SEVERITIES,
    Alert,
    RuleConfig,
    Severity,
    anomaly_alerts,
    anomaly_severity,
    drift_alerts,
    evaluate,
    flow_failed_alert,
    fmt_time,
    quarantine_alerts,
    quota_alerts,
    repeated_failure_alerts,
    run_failed_alerts,
    severity_rank,
    slo_alerts,
)
from hhs_platform.ops.notify import AppriseSender, Delivery, NotifyType, Sender
from hhs_platform.settings import Settings
from schemas import table_spec

log = logging.getLogger(__name__)

ALERTS_TABLE = "ops/alerts"
_NOTIFY_TYPE: dict[str, NotifyType] = {
    "info": "info",
    "warning": "warning",
    "critical": "failure",
}
_DIGEST_LINES = 40


@dataclass(frozen=True)
class Routes:
    """Where each audience's messages go (apprise URLs, secret)."""

    pipeline: tuple[SecretStr, ...] = ()
    content: tuple[SecretStr, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Routes:
        """HHS_ALERT_URLS, and HHS_ALERT_CONTENT_URLS (defaulting to the former)."""
        urls = tuple(settings.alert_urls)
        return cls(pipeline=urls, content=tuple(settings.alert_content_urls) or urls)

    def urls(self, audience: str) -> tuple[SecretStr, ...]:
        """The URLs of ``pipeline`` or ``content``."""
        return self.content if audience == "content" else self.pipeline


@dataclass(frozen=True)
class Policy:
    """How often the same alert, and how many alerts, may be sent."""

    dedup_hours: float = 6.0
    max_per_hour: int = 20
    send_resolved: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """HHS_ALERT_DEDUP_HOURS, HHS_ALERT_MAX_PER_HOUR, HHS_ALERT_SEND_RESOLVED."""
        return cls(
            settings.alert_dedup_hours, settings.alert_max_per_hour, settings.alert_send_resolved
        )


@dataclass
class Message:
    """One message to send: an alert on its own, a resolved note, or a digest."""

    audience: str
    title: str
    body: str
    notify_type: NotifyType
    severity: Severity
    rows: list[dict[str, Any]] = field(default_factory=list)
    kind: Literal["alert", "resolved", "digest"] = "alert"


@dataclass
class CheckReport:
    """What one check found and did."""

    now: dt.datetime
    alerts: list[Alert]
    actions: dict[str, str]
    messages: list[tuple[Message, Delivery | None]]
    rows: pl.DataFrame
    resolved: list[str]
    dry_run: bool = False

    @property
    def sent(self) -> int:
        """Messages delivered to every URL."""
        return sum(1 for _, d in self.messages if d is not None and d.ok)

    @property
    def failed(self) -> int:
        """Messages some URL refused (retried next check)."""
        return sum(1 for _, d in self.messages if d is not None and not d.ok)

    def lines(self) -> list[str]:
        """The report for a terminal: every alert, what was done with it, and each message."""
        out = [
            f"{len(self.alerts)} alert(s) at {fmt_time(self.now)}" + (" (dry run)" * self.dry_run)
        ]
        for a in sorted(self.alerts, key=lambda a: (-severity_rank(a.severity), a.key)):
            out.append(f"  [{a.severity:8}] {self.actions.get(a.key, '?'):<26} {a.title}")
        for key, action in self.actions.items():
            if action.startswith("retry"):
                out.append(f"  [retry   ] {action:<26} {key}")
        for key in self.resolved:
            out.append(f"  [resolved] {self.actions.get(key, 'resolved'):<26} {key}")
        for msg, delivery in self.messages:
            outcome = "not sent (dry run)" if delivery is None else delivery.describe()
            out.append(f"  message ({msg.kind}, {msg.audience}): {msg.title} -> {outcome}")
        return out


def _new_row(alert: Alert, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": alert.key,
        "window_start": now,
        "kind": alert.kind,
        "audience": alert.audience,
        "severity": alert.severity,
        "title": alert.title,
        "body": alert.body,
        "first_seen_at": now,
        "last_seen_at": now,
        "evaluations": 1,
        "sent_at": None,
        "suppressed": None,
        "channels": 0,
        "delivered": None,
        "attempts": 0,
        "resolved_at": None,
    }


def plan(
    alerts: Sequence[Alert],
    previous: pl.DataFrame,
    now: dt.datetime,
    policy: Policy,
    routes: Routes,
    *,
    resolve: bool = True,
) -> tuple[list[Message], dict[str, dict[str, Any]], dict[str, str], list[str]]:
    """Decide, without sending, what each alert gets: sent, a duplicate, a digest line...

    Args:
        alerts: What the rules found now.
        previous: ``ops/alerts`` rows so far.
        now: The check's time.
        policy: Dedup window and hourly cap.
        routes: URLs per audience (only their presence matters here).
        resolve: Resolve condition alerts no longer found (False when ``alerts`` is not the
            full picture, e.g. the flow-failure hook).

    Returns:
        Messages to send (their ``rows`` are updated with the outcome by :func:`deliver`), the
        rows to write by (key, window), the action per key, and the keys resolved.
    """
    window = dt.timedelta(hours=policy.dedup_hours)
    latest: dict[str, dict[str, Any]] = {
        r["key"]: r
        for r in previous.sort("window_start").iter_rows(named=True)  # last window wins
    }
    rows: dict[str, dict[str, Any]] = {}
    actions: dict[str, str] = {}
    pending: list[dict[str, Any]] = []
    found: set[str] = set()
    for alert in alerts:
        if alert.key in found:
            continue
        found.add(alert.key)
        old = latest.get(alert.key)
        if old is not None and old["resolved_at"] is None and old["window_start"] + window > now:
            row = dict(old)
            row.update(
                severity=alert.severity,
                title=alert.title,
                body=alert.body,
                last_seen_at=now,
                evaluations=old["evaluations"] + 1,
            )
            if old["delivered"]:
                since = old["sent_at"] or old["window_start"]
                actions[alert.key] = f"duplicate ({_ago(now, since)})"
            else:
                pending.append(row)
        else:
            row = _new_row(alert, now)
            pending.append(row)
        rows[alert.key] = row
    # A failed delivery of an event no rule finds any more (its run is no longer the last...)
    for key, old in latest.items():
        if (
            key not in found
            and old["kind"] not in CONDITION_KINDS
            and old["resolved_at"] is None
            and old["delivered"] is False
            and old["window_start"] + window > now
        ):
            rows[key] = dict(old)
            pending.append(rows[key])
            actions[key] = "retry"
    resolved: list[str] = []
    notes: list[Message] = []
    if resolve:
        for key, old in latest.items():
            if key in found or old["kind"] not in CONDITION_KINDS or old["resolved_at"] is not None:
                continue
            row = dict(old, resolved_at=now)
            rows[key] = row
            resolved.append(key)
            actions[key] = "resolved"
            if policy.send_resolved and old["delivered"] and routes.urls(old["audience"]):
                notes.append(
                    Message(
                        audience=old["audience"],
                        title=f"Resolved: {old['title']}",
                        body=f"The condition is gone as of {fmt_time(now)} (first seen "
                        f"{fmt_time(old['first_seen_at'])}).\n\nWas:\n{old['body']}",
                        notify_type="success",
                        severity="info",
                        kind="resolved",
                    )
                )
    # Send the most severe first, then the oldest; the rest of the hour's budget goes to a digest.
    pending.sort(key=lambda r: (-severity_rank(r["severity"]), r["first_seen_at"], r["key"]))
    hour_ago = now - dt.timedelta(hours=1)
    spent = previous.filter((pl.col("sent_at") >= hour_ago) & pl.col("suppressed").is_null()).height
    budget = max(policy.max_per_hour - spent, 0)
    messages: list[Message] = []
    overflow: dict[str, list[dict[str, Any]]] = {}
    for row in pending:
        if not routes.urls(row["audience"]):
            row.update(suppressed="no_channels", channels=0, delivered=None)
            actions.setdefault(row["key"], "not sent: no URL configured")
            continue
        if budget > 0:
            budget -= 1
            messages.append(
                Message(
                    audience=row["audience"],
                    title=row["title"],
                    body=row["body"],
                    notify_type=_NOTIFY_TYPE[row["severity"]],
                    severity=row["severity"],
                    rows=[row],
                )
            )
            actions[row["key"]] = "retry: send" if actions.get(row["key"]) == "retry" else "send"
        else:
            overflow.setdefault(row["audience"], []).append(row)
            actions[row["key"]] = "digest (rate limit)"
    for note in notes:
        if budget > 0:
            budget -= 1
            messages.append(note)
    for audience, held in overflow.items():
        messages.append(_digest(audience, held, policy.max_per_hour))
    return messages, rows, actions, resolved


def _ago(now: dt.datetime, then: dt.datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    return (
        f"sent {minutes // 60}h{minutes % 60:02d} ago"
        if minutes >= 60
        else f"sent {minutes} min ago"
    )


def _digest(audience: str, held: list[dict[str, Any]], cap: int) -> Message:
    worst = max(held, key=lambda r: severity_rank(r["severity"]))["severity"]
    listed = [f"- [{r['severity']}] {r['title']}" for r in held[:_DIGEST_LINES]]
    if len(held) > _DIGEST_LINES:
        listed.append(f"- ... and {len(held) - _DIGEST_LINES} more in ops/alerts")
    return Message(
        audience=audience,
        title=f"And {len(held)} more {audience} alert(s)",
        body=f"More than {cap} alerts this hour (HHS_ALERT_MAX_PER_HOUR); "
        f"and {len(held)} more:\n" + "\n".join(listed) + "\n\nhhs alerts check --dry-run "
        "lists them all.",
        notify_type=_NOTIFY_TYPE[worst],
        severity=worst,
        rows=held,
        kind="digest",
    )


def deliver(
    messages: Sequence[Message], routes: Routes, sender: Sender, now: dt.datetime
) -> list[tuple[Message, Delivery]]:
    """Send each message and record the outcome on its rows (never raises)."""
    out = []
    for msg in messages:
        urls = routes.urls(msg.audience)
        try:
            delivery = sender.send(urls, msg.title, msg.body, msg.notify_type)
        except Exception as exc:  # a sender bug must not stop the others
            log.warning("alert delivery raised %s", type(exc).__name__)
            delivery = Delivery(())
        for row in msg.rows:
            row.update(
                channels=len(urls),
                delivered=delivery.ok,
                attempts=row["attempts"] + 1,
                suppressed="digest" if msg.kind == "digest" else None,
            )
            if msg.kind == "alert":
                row["sent_at"] = now
        out.append((msg, delivery))
    return out


def process(
    lake: Any,
    alerts: Sequence[Alert],
    now: dt.datetime,
    policy: Policy,
    routes: Routes,
    sender: Sender | None = None,
    *,
    dry_run: bool = False,
    resolve: bool = True,
) -> CheckReport:
    """Dedup, rate-limit, send and record ``alerts`` in ``ops/alerts`` (nothing when dry)."""
    previous = lake.read(ALERTS_TABLE)
    messages, rows, actions, resolved = plan(alerts, previous, now, policy, routes, resolve=resolve)
    sent: list[tuple[Message, Delivery | None]]
    if dry_run:
        sent = [(m, None) for m in messages]
        frame = pl.DataFrame(list(rows.values()), schema=table_spec(ALERTS_TABLE).schema)
    else:
        sent = list(deliver(messages, routes, sender or AppriseSender(), now))
        frame = pl.DataFrame(list(rows.values()), schema=table_spec(ALERTS_TABLE).schema)
        if frame.height:
            lake.merge(ALERTS_TABLE, frame)
    for msg, delivery in sent:
        if delivery is not None and not delivery.ok:
            for row in msg.rows:
                actions[row["key"]] = f"{actions.get(row['key'], 'send')}: FAILED (retried)"
    return CheckReport(now, list(alerts), actions, sent, frame, resolved, dry_run)


def check(
    lake: Any,
    settings: Settings,
    now: dt.datetime | None = None,
    sender: Sender | None = None,
    *,
    dry_run: bool = False,
    extra: Sequence[Alert] = (),
) -> CheckReport:
    """One full check: every rule, then :func:`process` (what the CLI and the flow run)."""
    now = now or dt.datetime.now(dt.UTC)
    cfg = RuleConfig.from_settings(settings)
    alerts = [*extra, *evaluate(lake, cfg, now)]
    return process(
        lake,
        alerts,
        now,
        Policy.from_settings(settings),
        Routes.from_settings(settings),
        sender or AppriseSender(settings.alert_timeout_s),
        dry_run=dry_run,
    )


def alert_flow_failure(
    lake: Any,
    settings: Settings,
    run_id: str,
    flow_name: str,
    message: str,
    now: dt.datetime | None = None,
    sender: Sender | None = None,
) -> CheckReport:
    """Send (deduplicated, recorded) the "run failed" alert of a failed flow run.

    The message is scrubbed of every configured secret first. Only this alert is processed:
    nothing else is resolved or retried.
    """
    now = now or dt.datetime.now(dt.UTC)
    for secret in settings.secret_values():
        message = message.replace(secret, "***")
    alert = flow_failed_alert(run_id, flow_name, message, RuleConfig.from_settings(settings), now)
    return process(
        lake,
        [alert],
        now,
        Policy.from_settings(settings),
        Routes.from_settings(settings),
        sender or AppriseSender(settings.alert_timeout_s),
        resolve=False,
    )


def send_test(settings: Settings, sender: Sender | None = None) -> list[tuple[str, Delivery]]:
    """One test message to every configured URL: ``[(audience, delivery)]``."""
    sender = sender or AppriseSender(settings.alert_timeout_s)
    routes = Routes.from_settings(settings)
    out = []
    seen: set[str] = set()
    for audience in ("pipeline", "content"):
        urls = [u for u in routes.urls(audience) if u.get_secret_value() not in seen]
        seen.update(u.get_secret_value() for u in urls)
        if not urls:
            continue
        delivery = sender.send(
            urls,
            "HHS platform: test alert",
            f"A test of the {audience} alert channel, sent by `hhs alerts test` at "
            f"{fmt_time(dt.datetime.now(dt.UTC))}. If you read this, the channel works.",
            "info",
        )
        out.append((audience, delivery))
    return out


__all__ = [
    "ALERTS_TABLE",
    "ANOMALY_SEVERITY",
    "CONDITION_KINDS",
    "CONTENT_KINDS",
    "RUNBOOK",
    "SEVERITIES",
    "Alert",
    "CheckReport",
    "Message",
    "Policy",
    "Routes",
    "RuleConfig",
    "alert_flow_failure",
    "anomaly_alerts",
    "anomaly_severity",
    "check",
    "deliver",
    "drift_alerts",
    "evaluate",
    "flow_failed_alert",
    "plan",
    "process",
    "quarantine_alerts",
    "quota_alerts",
    "repeated_failure_alerts",
    "run_failed_alerts",
    "send_test",
    "slo_alerts",
]
