"""Service-level objectives: daily good/total events per SLO, error budgets, the dashboard probe.

Three SLOs, one ``ops/slo`` row per UTC day, SLO and scope (definitions in
docs/operations/slos.md):

- ``collection_success``: account fetches of ``bronze/fetch_log`` that ended complete or partial
  (scope ``all`` and each platform; target ``HHS_SLO_SUCCESS_RATE``);
- ``freshness``: accounts of ``quality/scorecard`` whose newest observation, at the end of the day
  (at ``now`` for today), is within their tier's cadence + ``HHS_QUALITY_FRESHNESS_GRACE_HOURS``
  (scope ``all`` and ``tier-1``...; target ``HHS_SLO_FRESHNESS``);
- ``dashboard_availability``: probes of ``ops/probes`` that were answered (scope ``dashboard``;
  target ``HHS_SLO_DASHBOARD_AVAILABILITY``).

Each row carries the error budget burned over the ``HHS_SLO_WINDOW_DAYS`` days ending that day:
bad events / ((1 - target) x events), see :func:`budget_burned`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import polars as pl

from hhs_platform.http import redact_text, redact_url
from hhs_platform.lake.store import Lake, WriteResult
from hhs_platform.settings import Settings, get_settings
from schemas import table_spec
from schemas.tables import OpsProbes, OpsSlo

SLO_TABLE, PROBES = "ops/slo", "ops/probes"
FETCH_LOG, SCORECARD = "bronze/fetch_log", "quality/scorecard"
COLLECTION, FRESHNESS, AVAILABILITY = "collection_success", "freshness", "dashboard_availability"
#: SLOs in the order they are shown.
SLO_NAMES: tuple[str, ...] = (COLLECTION, FRESHNESS, AVAILABILITY)
#: Share of the budget burned from which an SLO is shown as at risk.
AT_RISK = 0.75
#: Columns of :func:`slo_summary`, in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "slo",
    "scope",
    "target",
    "date",
    "value",
    "window_days",
    "window_good",
    "window_total",
    "window_value",
    "budget_burned",
    "status",
)
_COUNTS = {"date": pl.Date, "slo": pl.Utf8, "scope": pl.Utf8, "good": pl.Int64, "total": pl.Int64}


def budget_burned(bad: float, total: float, target: float) -> float | None:
    """Share of an error budget burned: bad events / the bad events the target allows.

    ``(1 - target) x total`` bad events are allowed; 1.0 means the budget is spent. None when
    nothing is allowed and nothing failed, infinity when nothing is allowed but something failed.
    E.g. 7 failed fetches of 1,000 against 99.5 %: 7 / 5 = 1.4.
    """
    allowed = (1.0 - target) * total
    if allowed <= 0:
        return None if bad == 0 else float("inf")
    return bad / allowed


def targets(settings: Settings) -> dict[str, float]:
    """The target of each SLO, from the settings."""
    return {
        COLLECTION: settings.slo_success_rate,
        FRESHNESS: settings.slo_freshness,
        AVAILABILITY: settings.slo_dashboard_availability,
    }


# -- daily events -----------------------------------------------------------------------------
def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def collection_counts(lake: Lake, first: date, last: date) -> pl.DataFrame:
    """Fetches and successful fetches per UTC day (of ``started_at``): scope ``all`` and per
    platform. An account logged twice in one run (a resumed run) counts once, last outcome."""
    log = (
        lake.scan(FETCH_LOG)
        .filter(
            (pl.col("started_at") >= _start(first))
            & (pl.col("started_at") < _start(last + timedelta(days=1)))
        )
        .select("run_id", "account_key", "platform", "status", "started_at")
        .collect()
        .sort("started_at")
        .group_by("run_id", "account_key", maintain_order=True)
        .agg(pl.all().last())
        .with_columns(
            date=pl.col("started_at").dt.date(),
            good=pl.col("status").is_in(["complete", "partial"]),
        )
    )
    return _count(log, COLLECTION, pl.lit("all"), pl.col("platform"))


def freshness_counts(
    lake: Lake, first: date, last: date, now: datetime, grace_hours: float
) -> pl.DataFrame:
    """Fresh and scored accounts per UTC day of ``quality/scorecard``: scope ``all`` and per tier.

    An account is fresh when its newest observation is at most ``cadence_hours + grace_hours``
    old at the end of the day (at ``now`` for today); one never observed is stale. An account
    without a tier counts in the loosest tier of the day, whose cadence the scorecard gave it.
    """
    cards = (
        lake.scan(SCORECARD)
        .filter(pl.col("date").is_between(first, last) & (pl.col("date") <= now.date()))
        .select("date", "tier", "cadence_hours", "newest_observation_at")
        .collect()
    )
    end = pl.col("date").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1, microseconds=-1)
    at = pl.min_horizontal(end, pl.lit(now, pl.Datetime("us", "UTC")))
    age_hours = (at - pl.col("newest_observation_at")).dt.total_microseconds() / 3.6e9
    loosest = pl.col("tier").filter(pl.col("cadence_hours") == pl.col("cadence_hours").max())
    cards = cards.with_columns(
        good=(age_hours <= pl.col("cadence_hours") + grace_hours).fill_null(False),
        tier=pl.col("tier").fill_null(loosest.max().over("date")).fill_null(0),
    )
    tier = pl.when(pl.col("tier") > 0).then(pl.format("tier-{}", pl.col("tier")))
    return _count(cards, FRESHNESS, pl.lit("all"), tier.otherwise(pl.lit("tier-unknown")))


def availability_counts(lake: Lake, first: date, last: date) -> pl.DataFrame:
    """Probes sent and answered per UTC day (scope ``dashboard``)."""
    probes = (
        lake.scan(PROBES)
        .filter(
            (pl.col("checked_at") >= _start(first))
            & (pl.col("checked_at") < _start(last + timedelta(days=1)))
        )
        .select(pl.col("checked_at").dt.date().alias("date"), pl.col("ok").alias("good"))
        .collect()
    )
    return _count(probes, AVAILABILITY, pl.lit("dashboard"))


def _count(events: pl.DataFrame, slo: str, *scopes: pl.Expr) -> pl.DataFrame:
    """Good and total events per day for each scope expression (one boolean ``good`` per event)."""
    frames = [
        events.group_by("date", scope.alias("scope")).agg(
            pl.col("good").sum().cast(pl.Int64), pl.len().cast(pl.Int64).alias("total")
        )
        for scope in scopes
    ]
    out = pl.concat(frames) if frames else pl.DataFrame(schema=_COUNTS)
    return out.with_columns(slo=pl.lit(slo)).select([pl.col(c).cast(t) for c, t in _COUNTS.items()])


# -- rows ---------------------------------------------------------------------------------------
def slo_rows(
    counts: pl.DataFrame,
    days: list[date],
    target_of: dict[str, float],
    window_days: int,
    computed_at: datetime,
) -> pl.DataFrame:
    """The ``ops/slo`` rows of ``days`` from daily event counts.

    Args:
        counts: ``date``, ``slo``, ``scope``, ``good``, ``total`` per day, covering at least the
            ``window_days`` days ending on each of ``days``.
        days: The days to give rows for.
        target_of: Target of each SLO.
        window_days: Days of the error-budget window.
        computed_at: Stamped on every row.

    Returns:
        One row per day of ``days`` and SLO scope with events in the window ending that day (a
        day without events has ``value`` and ``met`` null), validated against ``ops/slo``.
    """
    spec = table_spec(SLO_TABLE)
    wanted = pl.DataFrame({"day": sorted(set(days))}, schema={"day": pl.Date})
    windowed = (
        counts.join(wanted, how="cross")
        .filter(
            (pl.col("date") <= pl.col("day"))
            & (pl.col("date") > pl.col("day") - pl.duration(days=window_days))
        )
        .group_by("day", "slo", "scope")
        .agg(pl.col("good").sum().alias("w_good"), pl.col("total").sum().alias("w_total"))
    )
    daily = counts.rename({"date": "day"})
    rows: list[dict[str, Any]] = []
    for day, slo, scope, w_good, w_total, good, total in (
        windowed.join(daily, on=["day", "slo", "scope"], how="left")
        .sort("day", "slo", "scope")
        .select("day", "slo", "scope", "w_good", "w_total", "good", "total")
        .iter_rows()
    ):
        target = target_of[slo]
        good, total = good or 0, total or 0
        value = good / total if total else None
        rows.append(
            {
                "date": day,
                "slo": slo,
                "scope": scope,
                "target": target,
                "good": good,
                "total": total,
                "value": value,
                "met": value >= target if value is not None else None,
                "window_days": window_days,
                "budget_burned": budget_burned(w_total - w_good, w_total, target),
                "computed_at": computed_at,
            }
        )
    frame = pl.DataFrame(rows, schema=spec.schema)
    return OpsSlo.validate(frame)


def build_slo(
    lake: Lake,
    now: datetime | None = None,
    settings: Settings | None = None,
    days: int | None = None,
) -> WriteResult:
    """Compute the ``ops/slo`` rows of the last ``days`` UTC days (today included) and MERGE them.

    Idempotent: rebuilding a day updates its rows. Called by the collection flow after the
    quality scorecard, and by the probe flow for today.

    Args:
        lake: The lake to read and write.
        now: The current time (default the wall clock): the build stamp, and when today's
            freshness is judged.
        settings: Targets, window and freshness grace; default the process settings.
        days: Days to (re)build; default every day since the last build (its day included), or
            the whole window on the first build.
    """
    settings = settings or get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today, window = now.date(), settings.slo_window_days
    lake.create_missing([SLO_TABLE, PROBES])
    if days is None:
        last_built = lake.scan(SLO_TABLE).select(pl.col("computed_at").max()).collect().item()
        first_day = (
            min(last_built.date(), today)
            if last_built is not None
            else today - timedelta(days=window - 1)
        )
    else:
        first_day = today - timedelta(days=max(days, 1) - 1)
    wanted = [first_day + timedelta(days=n) for n in range((today - first_day).days + 1)]
    since = first_day - timedelta(days=window - 1)
    counts = pl.concat(
        [
            collection_counts(lake, since, today),
            freshness_counts(lake, since, today, now, settings.quality_freshness_grace_hours),
            availability_counts(lake, since, today),
        ]
    )
    rows = slo_rows(counts, wanted, targets(settings), window, now)
    return lake.merge(SLO_TABLE, rows)


# -- the view -----------------------------------------------------------------------------------
def slo_summary(rows: pl.DataFrame, as_of: date | None = None) -> pl.DataFrame:
    """Each SLO scope on its latest day (up to ``as_of``): the day's value, the window's, the
    budget burned and a status.

    Args:
        rows: ``ops/slo`` rows.
        as_of: Last day to look at (default: the latest day in ``rows``).

    Returns:
        :data:`SUMMARY_COLUMNS`, in the order of :data:`SLO_NAMES` then scope (``all`` first).
        ``window_good``/``window_total`` add up the days of the window stored in ``rows``;
        ``status`` is ``ok``, ``at risk`` (budget burned >= :data:`AT_RISK`), ``budget spent``
        (>= 1) or ``no events``.
    """
    schema = {
        "slo": pl.Utf8,
        "scope": pl.Utf8,
        "target": pl.Float64,
        "date": pl.Date,
        "value": pl.Float64,
        "window_days": pl.Int32,
        "window_good": pl.Int64,
        "window_total": pl.Int64,
        "window_value": pl.Float64,
        "budget_burned": pl.Float64,
        "status": pl.Utf8,
    }
    if as_of is not None:
        rows = rows.filter(pl.col("date") <= as_of)
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    latest = rows.sort("date").group_by("slo", "scope", maintain_order=True).agg(pl.all().last())
    window = (
        rows.join(latest.select("slo", "scope", pl.col("date").alias("_last")), on=["slo", "scope"])
        .filter(
            (pl.col("date") <= pl.col("_last"))
            & (pl.col("date") > pl.col("_last") - pl.duration(days=pl.col("window_days")))
        )
        .group_by("slo", "scope")
        .agg(pl.col("good").sum().alias("window_good"), pl.col("total").sum().alias("window_total"))
    )
    burned = pl.col("budget_burned")
    order = pl.col("slo").replace_strict(
        {s: i for i, s in enumerate(SLO_NAMES)}, default=len(SLO_NAMES)
    )
    return (
        latest.join(window, on=["slo", "scope"], how="left")
        .with_columns(
            window_value=pl.when(pl.col("window_total") > 0).then(
                pl.col("window_good") / pl.col("window_total")
            ),
            status=pl.when(burned.is_null())
            .then(pl.lit("no events"))
            .when(burned >= 1)
            .then(pl.lit("budget spent"))
            .when(burned >= AT_RISK)
            .then(pl.lit("at risk"))
            .otherwise(pl.lit("ok")),
        )
        .sort(order, pl.col("scope") != "all", "scope")
        .select([pl.col(c).cast(t) for c, t in schema.items()])
    )


def format_summary(summary: pl.DataFrame) -> str:
    """:func:`slo_summary` as plain text: one table per SLO (what ``hhs slo show`` prints)."""
    if summary.is_empty():
        return "no SLO rows yet: run a collection (or `hhs slo build`) first\n"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    def burn(v: float | None) -> str:
        return "-" if v is None else ("inf" if v == float("inf") else f"{100 * v:.0f}%")

    lines: list[str] = []
    head = ("scope", "target", "last day", "value", "window", "good/total", "burned", "status")
    for slo in summary["slo"].unique(maintain_order=True).to_list():
        part = summary.filter(pl.col("slo") == slo)
        table = [head]
        for r in part.iter_rows(named=True):
            table.append(
                (
                    r["scope"],
                    pct(r["target"]),
                    str(r["date"]),
                    pct(r["value"]),
                    f"{pct(r['window_value'])} ({r['window_days']} d)",
                    f"{r['window_good']:,}/{r['window_total']:,}",
                    burn(r["budget_burned"]),
                    r["status"],
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        lines.append(slo)
        lines += [
            ("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))).rstrip()
            for row in table
        ]
        lines.append("")
    return "\n".join(lines)


# -- the dashboard probe --------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """One probe of the dashboards: an ``ops/probes`` row."""

    url: str
    checked_at: datetime
    ok: bool
    status: int | None
    elapsed_ms: float
    error: str | None

    def row(self) -> dict[str, Any]:
        """The probe as a table row."""
        return dict(self.__dict__)


def _credentials(url: str, settings: Settings) -> tuple[str, str, str | None]:
    """The URL without user info, and the user and password to log in with (if any)."""
    parts = urlsplit(url)
    user, password = parts.username, parts.password
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit(parts._replace(netloc=netloc))
    if password is None and settings.dashboard_password is not None:
        password = settings.dashboard_password.get_secret_value()
    return url, user or settings.slo_probe_user, password


async def _fetch(
    url: str, user: str, password: str | None, timeout_s: float
) -> tuple[int, str | None]:
    """GET ``url`` (logging in through Panel's form when it asks); the final status and why it
    is not a success (None when it is)."""
    # HTTP basic auth for a proxy in front of the dashboards; aiohttp drops it on a redirect to
    # another origin.
    headers = {"Authorization": aiohttp.encode_basic_auth(user, password)} if password else {}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    # unsafe=True: keep the login cookie of a host given by IP address (aiohttp drops it otherwise).
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as session:
        async with session.get(url, headers=headers) as response:
            await response.read()
            status, final = response.status, response.url
        if final.path.rstrip("/").endswith("/login"):
            if not password:
                return status, "the dashboards ask for a login; set HHS_DASHBOARD_PASSWORD"
            # Panel's basic auth is a form that sets a cookie, then sends us back to the page.
            login = final.with_query(None)
            data = {"username": user, "password": password}
            async with session.post(login, data=data) as response:
                await response.read()
                status, final = response.status, response.url
            if final.path.rstrip("/").endswith("/login"):
                return status, "the dashboards refused the login (check HHS_DASHBOARD_PASSWORD)"
    if not 200 <= status < 300:
        return status, f"HTTP {status}"
    return status, None


def run_probe(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    timeout_s: float | None = None,
) -> Probe:
    """Request the dashboards once and say whether they answered (nothing is written).

    Args:
        url: Page to request (default ``HHS_DASHBOARD_URL``). Credentials in it are used to log in
            and never kept.
        settings: Password, probe user and timeout; default the process settings.
        timeout_s: Seconds to wait at most (default ``HHS_SLO_PROBE_TIMEOUT_S``).

    Returns:
        The probe: ``ok`` when the page (after logging in, if it asks) answered 2xx in time.
    """
    settings = settings or get_settings()
    url, user, password = _credentials(url or settings.dashboard_url, settings)
    secrets = [s for s in (password, *settings.secret_values()) if s]
    checked_at = datetime.now(UTC)
    started = time.perf_counter()
    status: int | None
    try:
        status, error = asyncio.run(
            _fetch(url, user, password, timeout_s or settings.slo_probe_timeout_s)
        )
    except TimeoutError:
        status, error = None, f"no answer in {timeout_s or settings.slo_probe_timeout_s:g} s"
    except aiohttp.ClientError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return Probe(
        url=redact_url(url, secrets),
        checked_at=checked_at,
        ok=error is None,
        status=status,
        elapsed_ms=elapsed_ms,
        error=redact_text(error, secrets) if error is not None else None,
    )


def probe_dashboard(
    lake: Lake,
    url: str | None = None,
    *,
    settings: Settings | None = None,
    timeout_s: float | None = None,
) -> Probe:
    """Probe the dashboards (:func:`run_probe`) and append the result to ``ops/probes``."""
    probe = run_probe(url, settings=settings, timeout_s=timeout_s)
    frame = pl.DataFrame([probe.row()], schema=table_spec(PROBES).schema)
    lake.append(PROBES, OpsProbes.validate(frame))
    return probe


__all__ = [
    "AT_RISK",
    "AVAILABILITY",
    "COLLECTION",
    "FRESHNESS",
    "PROBES",
    "SLO_NAMES",
    "SLO_TABLE",
    "SUMMARY_COLUMNS",
    "Probe",
    "availability_counts",
    "budget_burned",
    "build_slo",
    "collection_counts",
    "format_summary",
    "freshness_counts",
    "probe_dashboard",
    "run_probe",
    "slo_rows",
    "slo_summary",
    "targets",
]
