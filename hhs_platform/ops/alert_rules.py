"""Alert rules: pure functions over polars frames read from the lake, each returning Alerts.

Pipeline rules: :func:`run_failed_alerts`, :func:`repeated_failure_alerts`, :func:`slo_alerts`,
:func:`quota_alerts`, :func:`drift_alerts`, :func:`quarantine_alerts`; content: :func:`anomaly_alerts`.
Every rule takes ``now``; :func:`evaluate` reads what they need and runs them all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl

from hhs_platform.dashboards.operations_figures import (
    quarantine_by_rule,
    quota_day,
    rate_limit_headroom,
    run_summary,
)
from hhs_platform.ratelimit.quota import QUOTA_RULES
from hhs_platform.settings import Settings

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
#: Alerts about a state that can end: resolved (and a note sent) when their rule stops firing.
CONDITION_KINDS = frozenset({"repeated_failures", "slo_breached", "quota_near_exhausted"})
#: Alerts for the people who read the figures (HHS_ALERT_CONTENT_URLS), not the operators.
CONTENT_KINDS = frozenset({"content_anomaly"})
#: Runbook section (anchor of docs/operations/alerts.md) of each kind.
RUNBOOK: dict[str, str] = {
    "run_failed": "run-failed",
    "repeated_failures": "repeated-failures",
    "slo_breached": "slo-breached",
    "quota_near_exhausted": "quota-near-exhausted",
    "schema_drift": "schema-drift",
    "quarantine_spike": "quarantine-spike",
    "content_anomaly": "content-anomaly",
}
#: Anomaly confidence from which an event is this severe (gold/anomalies has a 0-1 confidence:
#: 0.5 at the detection threshold, 0.875 twice past it with a full baseline; docs/analytics.md).
ANOMALY_SEVERITY: tuple[tuple[float, Severity], ...] = ((0.9, "critical"), (0.75, "warning"))
_QUARANTINE_RUNS = 20


@dataclass(frozen=True)
class Alert:
    """One thing an operator (or a reader of the figures) should know now."""

    kind: str
    severity: Severity
    key: str
    title: str
    body: str
    at: dt.datetime

    @property
    def audience(self) -> Literal["pipeline", "content"]:
        """``content`` for anomalies in the figures, ``pipeline`` for everything operational."""
        return "content" if self.kind in CONTENT_KINDS else "pipeline"


@dataclass(frozen=True)
class RuleConfig:
    """The thresholds the rules use (from the ``HHS_ALERT_*`` settings)."""

    slo_success_rate: float = 0.995
    repeated_failures: int = 3
    quota_used_pct: float = 90.0
    quarantine_factor: float = 3.0
    quarantine_min_rows: int = 50
    min_severity: Severity = "warning"
    lookback_hours: float = 6.0
    youtube_keys: int = 1
    runbook_url: str = "docs/operations/alerts.md"

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleConfig:
        """The thresholds of ``settings``; events are looked for over one dedup window."""
        keys = {
            k
            for k in (
                settings.secret("youtube_api_key"),
                *(k.get_secret_value() for k in settings.youtube_api_keys),
            )
            if k
        }
        return cls(
            slo_success_rate=settings.slo_success_rate,
            repeated_failures=settings.alert_repeated_failures,
            quota_used_pct=settings.alert_quota_used_pct,
            quarantine_factor=settings.alert_quarantine_factor,
            quarantine_min_rows=settings.alert_quarantine_min_rows,
            min_severity=settings.alert_min_severity,
            lookback_hours=settings.alert_dedup_hours,
            youtube_keys=max(len(keys), 1),
            runbook_url=settings.alert_runbook_url,
        )

    def runbook(self, kind: str) -> str:
        """The link to the runbook section of a kind."""
        return f"{self.runbook_url}#{RUNBOOK[kind]}"


def _alert(
    cfg: RuleConfig,
    kind: str,
    severity: Severity,
    key: str,
    title: str,
    lines: Iterable[str],
    at: dt.datetime,
) -> Alert:
    body = "\n".join([*lines, "", f"Runbook: {cfg.runbook(kind)}"])
    return Alert(kind=kind, severity=severity, key=key, title=title, body=body, at=at)


def fmt_time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "unknown"


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical."""
    return SEVERITIES.index(severity)  # type: ignore[arg-type]


# -- pipeline rules ---------------------------------------------------------------------------
def _last_outcomes(fetch_log: pl.DataFrame) -> pl.DataFrame:
    """Each account's last outcome in each run (a resumed run logs an account twice)."""
    return (
        fetch_log.sort("started_at")
        .group_by("run_id", "account_key", maintain_order=True)
        .agg(pl.all().last())
    )


def run_failed_alerts(fetch_log: pl.DataFrame, cfg: RuleConfig, now: dt.datetime) -> list[Alert]:
    """The last collection run, when its success rate missed ``HHS_SLO_SUCCESS_RATE``.

    Critical when half the accounts or more failed, else a warning. Key: ``run_failed:<run>``.
    """
    if fetch_log.is_empty():
        return []
    runs = run_summary(fetch_log, cfg.slo_success_rate)
    last = runs.row(0, named=True)
    if last["meets_slo"]:
        return []
    run_id = last["run_id"]
    failed = _last_outcomes(fetch_log.filter(pl.col("run_id") == run_id)).filter(
        pl.col("status") == "failed"
    )
    causes = (
        failed.group_by("platform", pl.col("error_type").fill_null("unknown"))
        .agg(pl.len().alias("n"), pl.col("account_key").first().alias("example"))
        .sort(["n", "platform", "error_type"], descending=[True, False, False])
        .head(8)
    )
    rate = float(last["success_rate"])
    severity: Severity = "critical" if rate < 0.5 else "warning"
    return [
        _alert(
            cfg,
            "run_failed",
            severity,
            f"run_failed:{run_id}",
            f"Collection run {run_id}: {last['failed']} of {last['accounts']} accounts failed",
            [
                f"Run {run_id} ({fmt_time(last['started_at'])} to {fmt_time(last['finished_at'])}) "
                f"fetched {last['accounts']} accounts: {last['complete']} complete, "
                f"{last['partial']} partial, {last['failed']} failed.",
                f"Success rate {rate:.1%}, below the {cfg.slo_success_rate:.1%} objective.",
                "Failures by platform and error:",
                *(
                    f"- {r['platform']}: {r['n']} x {r['error_type']} (e.g. {r['example']})"
                    for r in causes.iter_rows(named=True)
                ),
                f"Resume it: hhs collect --resume {run_id}",
            ],
            now,
        )
    ]


def flow_failed_alert(
    run_id: str, flow_name: str, message: str, cfg: RuleConfig, now: dt.datetime
) -> Alert:
    """A flow run that crashed or failed (the collection flow's ``on_failure`` hook).

    Same key as :func:`run_failed_alerts` (``run_failed:<run>``): the two never both go out.
    """
    return _alert(
        cfg,
        "run_failed",
        "critical",
        f"run_failed:{run_id}",
        f"Flow {flow_name} failed (run {run_id})",
        [
            f"The flow run {run_id} of {flow_name} ended in failure at {fmt_time(now)}.",
            f"Its final state said: {message.strip()[:1500] or '(no message)'}",
            f"Its logs are in the Prefect UI; resume it: hhs collect --resume {run_id}",
        ],
        now,
    )


def repeated_failure_alerts(
    fetch_log: pl.DataFrame, cfg: RuleConfig, now: dt.datetime
) -> list[Alert]:
    """Accounts whose last ``HHS_ALERT_REPEATED_FAILURES`` runs all failed.

    Counted over the runs each account was in (tiers and re-polls skip accounts). A condition:
    resolved once the account's last run succeeds. Key: ``repeated_failures:<account_key>``.
    """
    n = cfg.repeated_failures
    if fetch_log.is_empty():
        return []
    per_account = (
        _last_outcomes(fetch_log)
        .sort("started_at")
        .group_by("account_key", maintain_order=True)
        .agg(
            pl.col("status"),
            pl.col("platform").last(),
            pl.col("error_type").last(),
            pl.col("error").last(),
            pl.col("terminal").last(),
            pl.col("run_id").last(),
            pl.col("started_at").filter(pl.col("status") != "failed").max().alias("last_ok"),
        )
    )
    alerts = []
    for row in per_account.iter_rows(named=True):
        statuses: list[str] = row["status"]
        streak = len(statuses) - next(
            (i + 1 for i in range(len(statuses) - 1, -1, -1) if statuses[i] != "failed"), 0
        )
        if streak < n:
            continue
        account = row["account_key"]
        hint = (
            "Retrying cannot help (terminal error): fix the registry entry or credentials."
            if row["terminal"]
            else "The error is transient: look at the platform's status and rate limits."
        )
        alerts.append(
            _alert(
                cfg,
                "repeated_failures",
                "warning",
                f"repeated_failures:{account}",
                f"{account} failed {streak} collection runs in a row",
                [
                    f"{account} ({row['platform']}) failed in each of its last {streak} runs "
                    f"(threshold {n}); last success: {fmt_time(row['last_ok'])}.",
                    f"Last error ({row['run_id']}): {row['error_type'] or 'unknown'}: "
                    f"{(row['error'] or '').strip()[:500]}",
                    hint,
                ],
                now,
            )
        )
    return alerts


def slo_alerts(slo: pl.DataFrame, cfg: RuleConfig, now: dt.datetime) -> list[Alert]:
    """Freshness and collection-success objectives missed on their latest day in ``ops/slo``.

    Only days from yesterday on count (a table nobody writes any more does not alert forever).
    Critical once the error budget is spent (budget_burned >= 1). A condition; key
    ``slo_breached:<slo>:<scope>``.
    """
    recent = slo.filter(
        pl.col("slo").is_in(["freshness", "collection_success"])
        & (pl.col("date") >= (now - dt.timedelta(days=1)).date())
    )
    latest = (
        recent.sort("date")
        .group_by("slo", "scope", maintain_order=True)
        .agg(pl.all().last())
        .filter(pl.col("met").eq(False))
        .sort("slo", "scope")
    )
    alerts = []
    for r in latest.iter_rows(named=True):
        burned = r["budget_burned"]
        severity: Severity = "critical" if burned is not None and burned >= 1 else "warning"
        what = (
            "accounts observed within their tier's cadence"
            if r["slo"] == "freshness"
            else "account fetches that succeeded"
        )
        alerts.append(
            _alert(
                cfg,
                "slo_breached",
                severity,
                f"slo_breached:{r['slo']}:{r['scope']}",
                f"SLO {r['slo']} missed ({r['scope']}): {r['value']:.1%} < {r['target']:.1%}",
                [
                    f"On {r['date']}, {r['good']} of {r['total']} {what} ({r['scope']}): "
                    f"{r['value']:.1%}, below the {r['target']:.1%} objective.",
                    "Error budget burned over the last "
                    f"{r['window_days']} days: "
                    + (f"{burned:.0%}" if burned is not None else "n/a")
                    + (" (spent)." if severity == "critical" else "."),
                ],
                now,
            )
        )
    return alerts


def quota_alerts(responses: pl.DataFrame, cfg: RuleConfig, now: dt.datetime) -> list[Alert]:
    """Rate-limit budgets and unit quotas used at ``HHS_ALERT_QUOTA_USED_PCT`` or more.

    Per platform: the latest rate-limit reading of its responses (one whose window has not reset,
    or, without a reset time, from the last hour), and YouTube's units spent today (Pacific day)
    over every configured key. Critical when nothing is left. A condition; key
    ``quota_near_exhausted:<platform>``.
    """
    alerts: list[Alert] = []
    if responses.is_empty():
        return alerts
    for r in rate_limit_headroom(responses).iter_rows(named=True):
        used = r["used_pct"]
        if used is None or used < cfg.quota_used_pct:
            continue
        reset = r["reset_at"]
        if (reset is not None and reset <= now) or (
            reset is None and r["as_of"] < now - dt.timedelta(hours=1)
        ):
            continue
        left = (
            f"{r['remaining']} of {r['limit']} requests left"
            if r["limit"] is not None
            else f"{100 - used:.0f}% of the usage budget left"
        )
        alerts.append(
            _alert(
                cfg,
                "quota_near_exhausted",
                "critical" if used >= 100 else "warning",
                f"quota_near_exhausted:{r['platform']}",
                f"{r['platform']} rate limit {used:.0f}% used",
                [
                    f"{r['platform']} ({r['endpoint']}) reported at {fmt_time(r['as_of'])}: {left} "
                    f"({used:.0f}% used, alert threshold {cfg.quota_used_pct:.0f}%).",
                    f"It resets at {fmt_time(reset)}. Requests beyond it wait (429s) or are skipped.",
                ],
                now,
            )
        )
    rule = QUOTA_RULES.get("youtube")
    if rule is not None and responses.filter(pl.col("platform") == "youtube").height:
        today = now.astimezone(ZoneInfo(rule.timezone)).date()
        day = quota_day(responses, "youtube", cfg.youtube_keys, day=today)
        share = day.used_share
        if share is not None and share * 100 >= cfg.quota_used_pct:
            alerts.append(
                _alert(
                    cfg,
                    "quota_near_exhausted",
                    "critical" if day.units_left == 0 else "warning",
                    "quota_near_exhausted:youtube",
                    f"YouTube quota {share:.0%} used today",
                    [
                        f"{day.calls} YouTube API calls on {today} (Pacific) spent "
                        f"{day.units_used:,} of {day.daily_units * day.keys:,} units over "
                        f"{day.keys} key(s) ({share:.0%}; alert threshold "
                        f"{cfg.quota_used_pct:.0f}%).",
                        "The quota resets at midnight Pacific time; add keys with "
                        "HHS_YOUTUBE_API_KEYS or lower the YouTube tier's cadence.",
                    ],
                    now,
                )
            )
    return alerts


def drift_alerts(drift: pl.DataFrame, cfg: RuleConfig, now: dt.datetime) -> list[Alert]:
    """Fields a connector relies on that responses stopped sending (``quality/field_drift``),
    last missed within the look-back, one alert per platform and endpoint.

    Key ``schema_drift:<platform>:<endpoint>``: a drift that goes on is reminded once per
    dedup window.
    """
    since = now - dt.timedelta(hours=cfg.lookback_hours)
    recent = drift.filter(pl.col("last_missing_at") > since)
    if recent.is_empty():
        return []
    grouped = (
        recent.group_by("platform", "endpoint")
        .agg(
            pl.col("field").unique().sort(),
            pl.col("run_id").n_unique().alias("runs"),
            pl.col("responses_missing").sum(),
            pl.col("responses_checked").sum(),
            pl.col("last_missing_at").max(),
            pl.col("example_response_id").last(),
        )
        .sort("platform", "endpoint")
    )
    return [
        _alert(
            cfg,
            "schema_drift",
            "warning",
            f"schema_drift:{r['platform']}:{r['endpoint']}",
            f"{r['platform']} {r['endpoint']} stopped sending {len(r['field'])} field(s)",
            [
                f"{r['responses_missing']} of {r['responses_checked']} {r['platform']} "
                f"{r['endpoint']} responses in {r['runs']} run(s) lacked: "
                + ", ".join(r["field"][:20])
                + ".",
                f"Last seen {fmt_time(r['last_missing_at'])}; an example: bronze response "
                f"{r['example_response_id']}.",
                "Rows parsed meanwhile have nulls there; fix the connector, then hhs replay.",
            ],
            now,
        )
        for r in grouped.iter_rows(named=True)
    ]


def quarantine_alerts(
    fetch_log: pl.DataFrame, quarantine: pl.DataFrame, cfg: RuleConfig, now: dt.datetime
) -> list[Alert]:
    """The last run's quarantined rows, when above ``HHS_ALERT_QUARANTINE_FACTOR`` x the median
    of the previous runs (up to 19; a run without rejects counts 0) and above
    ``HHS_ALERT_QUARANTINE_MIN_ROWS``. Key ``quarantine_spike:<run>``.
    """
    if fetch_log.is_empty():
        return []
    runs = (
        fetch_log.group_by("run_id")
        .agg(pl.col("started_at").min())
        .sort("started_at", "run_id")
        .tail(_QUARANTINE_RUNS)
    )
    counts = dict(quarantine.group_by("run_id").len().iter_rows())
    per_run = [int(counts.get(run, 0)) for run in runs["run_id"]]
    last_run, last = runs["run_id"][-1], per_run[-1]
    previous = per_run[:-1]
    median = float(sorted(previous)[len(previous) // 2]) if previous else 0.0
    if previous and len(previous) % 2 == 0:
        mid = sorted(previous)[len(previous) // 2 - 1 : len(previous) // 2 + 1]
        median = (mid[0] + mid[1]) / 2
    if last <= cfg.quarantine_min_rows or last <= cfg.quarantine_factor * median:
        return []
    rules = quarantine_by_rule(quarantine.filter(pl.col("run_id") == last_run)).head(8)
    return [
        _alert(
            cfg,
            "quarantine_spike",
            "warning",
            f"quarantine_spike:{last_run}",
            f"Run {last_run} quarantined {last} rows ({last / max(median, 1):.0f}x usual)",
            [
                f"Run {last_run} rejected {last} rows; the previous {len(previous)} runs "
                f"rejected a median of {median:g} (alert at {cfg.quarantine_factor:g}x and over "
                f"{cfg.quarantine_min_rows}).",
                "Rules failed most:",
                *(
                    f"- {r['rule']} ({r['table']}, {r['platform']}): {r['rows']}"
                    for r in rules.iter_rows(named=True)
                ),
            ],
            now,
        )
    ]


# -- content rules ----------------------------------------------------------------------------
def anomaly_severity(confidence: float) -> Severity:
    """The severity of an anomaly event of this confidence (see :data:`ANOMALY_SEVERITY`)."""
    for floor, severity in ANOMALY_SEVERITY:
        if confidence >= floor:
            return severity
    return "info"


def anomaly_alerts(anomalies: pl.DataFrame, cfg: RuleConfig, now: dt.datetime) -> list[Alert]:
    """``gold/anomalies`` events detected within the look-back, at ``HHS_ALERT_MIN_SEVERITY`` or
    above. Collection gaps are left out: they are operations matters, and repeated failures
    already tell them. Key ``content_anomaly:<platform>:<account>:<metric>:<kind>:<date>``.
    """
    since = now - dt.timedelta(hours=cfg.lookback_hours)
    recent = anomalies.filter(
        (pl.col("detected_at") > since) & (pl.col("kind") != "collection_gap")
    ).sort("detected_at", "platform", "account_id", "date")
    floor = severity_rank(cfg.min_severity)
    alerts = []
    for r in recent.iter_rows(named=True):
        severity = anomaly_severity(r["confidence"])
        if severity_rank(severity) < floor:
            continue
        who = r["handle"] or r["account_id"]
        change = f"{r['change_pct']:+.1f}%" if r["change_pct"] is not None else "n/a"
        alerts.append(
            _alert(
                cfg,
                "content_anomaly",
                severity,
                f"content_anomaly:{r['platform']}:{r['account_id']}:{r['metric']}:"
                f"{r['kind']}:{r['date']}",
                r["sentence"],
                [
                    r["sentence"] + ".",
                    f"{r['kind'].replace('_', ' ')} of {who} ({r['agency'] or 'no agency'}, "
                    f"{r['platform']}) from {r['date']} to {r['end_date']}: value "
                    f"{r['value']:g}, expected {r['baseline'] if r['baseline'] is not None else 'n/a'}"
                    f", change {change}, confidence {r['confidence']:.2f}.",
                    "See it on the Anomalies dashboard page.",
                ],
                now,
            )
        )
    return alerts


# -- reading the lake -------------------------------------------------------------------------
RuleFn = Callable[[], list[Alert]]


def evaluate(lake: Any, cfg: RuleConfig, now: dt.datetime) -> list[Alert]:
    """Every rule over the lake as of ``now``. A rule that fails is logged and skipped.

    Reads only what the rules look at: 30 days of fetch log, two days of response headers, and
    the look-back of drift and anomalies.
    """
    lookback = now - dt.timedelta(hours=cfg.lookback_hours)

    def fetch_log() -> pl.DataFrame:
        return lake.read(
            "bronze/fetch_log",
            where=pl.col("started_at") >= now - dt.timedelta(days=30),
        )

    log_frame: pl.DataFrame | None = None

    def cached_log() -> pl.DataFrame:
        nonlocal log_frame
        if log_frame is None:
            log_frame = fetch_log()
        return log_frame

    def responses() -> pl.DataFrame:
        start = now - dt.timedelta(days=2)
        return lake.read(
            "bronze/raw_responses",
            columns=["platform", "endpoint", "fetched_at", "headers", "request_url"],
            where=(pl.col("fetched_date") >= start.date()) & (pl.col("fetched_at") >= start),
        )

    def quarantine() -> pl.DataFrame:
        runs = cached_log()["run_id"].unique().to_list()
        return lake.read(
            "quarantine/rows",
            columns=["table", "platform", "run_id", "rules"],
            where=pl.col("run_id").is_in(runs),
        )

    rules: dict[str, RuleFn] = {
        "run_failed": lambda: run_failed_alerts(cached_log(), cfg, now),
        "repeated_failures": lambda: repeated_failure_alerts(cached_log(), cfg, now),
        "slo_breached": lambda: slo_alerts(lake.read("ops/slo"), cfg, now),
        "quota_near_exhausted": lambda: quota_alerts(responses(), cfg, now),
        "schema_drift": lambda: drift_alerts(
            lake.read("quality/field_drift", where=pl.col("last_missing_at") > lookback), cfg, now
        ),
        "quarantine_spike": lambda: quarantine_alerts(cached_log(), quarantine(), cfg, now),
        "content_anomaly": lambda: anomaly_alerts(
            lake.read("gold/anomalies", where=pl.col("detected_at") > lookback), cfg, now
        ),
    }
    alerts: list[Alert] = []
    for name, rule in rules.items():
        try:
            alerts.extend(rule())
        except Exception:  # one broken rule must not silence the others
            log.exception("alert rule %s failed; the other rules still ran", name)
    return alerts
