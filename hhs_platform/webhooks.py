"""Webhooks: an outbox of events in the lake, signed deliveries to subscribers, retries, replay.

Events are appended to ``ops/webhook_events`` where they arise (:func:`emit`); their id is
derived from what they are about, so appending the same event twice is a no-op.
:func:`deliver_pending` POSTs each event to the subscriptions (``ops/webhooks``) that want it and
records every attempt in ``ops/webhook_deliveries``. A body is ``{id, type, created_at, data}``,
signed with the subscription's secret: ``X-HHS-Signature: t=<unix>,v1=<hex>``, the HMAC-SHA256
of ``"<t>.<body>"``. Receivers check it with :func:`verify_signature`. docs/webhooks.md.

Errors raised (all :class:`~hhs_platform.errors.HhsError`)::

    ConfigurationError   no or short HHS_WEBHOOK_SIGNING_KEY, a refused URL, an unknown event
    LakeError            an unknown subscription, delivery or event
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import polars as pl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from deltalake.exceptions import CommitFailedError

from hhs_platform.errors import ConfigurationError, LakeError
from hhs_platform.lake import Lake
from hhs_platform.lake.audit import commit_properties
from hhs_platform.settings import Settings
from schemas.tables import WEBHOOK_EVENTS

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "ops/webhooks"
EVENTS = "ops/webhook_events"
DELIVERIES = "ops/webhook_deliveries"
EVENT_TYPES: tuple[str, ...] = tuple(WEBHOOK_EVENTS)
#: Namespace of the event ids (uuid5 of "<type>:<subject>").
_NAMESPACE = uuid.UUID("6f1c2d0e-8b7a-4c3e-9d51-2a4b6c8e0f13")
_USER_AGENT = "hhs-platform-webhooks/1"


# -- signatures ----------------------------------------------------------------------------------
def subscription_secret(signing_key: str, subscription_id: str) -> str:
    """The signing secret of a subscription: ``whsec_`` + hex HMAC-SHA256(key, id)."""
    mac = hmac.new(signing_key.encode(), subscription_id.encode(), hashlib.sha256)
    return "whsec_" + mac.hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-HHS-Signature`` header of ``body``: ``t=<unix>,v1=<hex HMAC-SHA256>``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether ``header`` (``X-HHS-Signature``) signs ``body`` with ``secret``, recently.

    Args:
        secret: The subscription's secret (``whsec_...``, printed by ``hhs webhooks add``).
        header: The ``X-HHS-Signature`` header as received.
        body: The request body exactly as received (bytes, before any JSON parsing).
        tolerance_s: Refuse signatures older (or further in the future) than this many
            seconds: a captured request cannot be replayed later.
        now: The current Unix time (default: the clock).

    Returns:
        True when one ``v1`` value matches and ``t`` is within the tolerance.
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def _signing_key(settings: Settings) -> str:
    key = settings.secret("webhook_signing_key")
    if not key or len(key) < 16:
        raise ConfigurationError(
            "HHS_WEBHOOK_SIGNING_KEY is not set or shorter than 16 characters: set it to a long "
            "random string (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key


# -- URLs: https only, no private addresses (SSRF) -----------------------------------------------
def _address_allowed(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_url(url: str, settings: Settings, *, resolve: bool = True) -> str:
    """Refuse a subscription URL that is not https (http: loopback only, when
    HHS_WEBHOOK_ALLOW_LOOPBACK), carries credentials, or names a private, link-local, loopback
    or reserved address (also after DNS resolution, when ``resolve``). Returns the URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    allow_loopback = settings.webhook_allow_loopback
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"webhook URL {url!r}: give an https:// URL with a host")
    if parts.username or parts.password:
        raise ConfigurationError("webhook URL: no user or password in the URL")
    if parts.scheme == "http" and not allow_loopback:
        raise ConfigurationError(
            f"webhook URL {url!r}: only https URLs (http is allowed for loopback addresses when "
            "HHS_WEBHOOK_ALLOW_LOOPBACK is true, for tests)"
        )
    if _is_ip(host):
        addresses = [host]
    elif not resolve:
        return url
    else:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConfigurationError(
                f"webhook URL {url!r}: {host} does not resolve: {exc}"
            ) from exc
        addresses = sorted({str(i[4][0]) for i in infos})
    for address in addresses:
        ok = _address_allowed(address, allow_loopback)
        if ok and parts.scheme == "http":
            ok = ipaddress.ip_address(address.split("%")[0]).is_loopback
        if not ok:
            raise ConfigurationError(
                f"webhook URL {url!r}: {host} is (or resolves to) {address}, a private, "
                "loopback, link-local or reserved address: refused"
            )
    return url


class _GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, but only to addresses :func:`check_url` allows: the connection
    goes to the address that was checked (no DNS rebinding between the check and the request)."""

    def __init__(self, allow_loopback: bool, loopback_only: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_loopback = allow_loopback
        self._loopback_only = loopback_only

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [
            r
            for r in results
            if _address_allowed(r["host"], self._allow_loopback)
            and (not self._loopback_only or ipaddress.ip_address(r["host"]).is_loopback)
        ]
        if not kept:
            # the strerror is what aiohttp's connection error shows
            raise OSError(errno.EACCES, f"{host} resolves only to refused addresses")
        return kept

    async def close(self) -> None:
        await self._inner.close()


# -- subscriptions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subscription:
    """An active subscription."""

    subscription_id: str
    url: str
    events: tuple[str, ...]
    agencies: tuple[str, ...] | None
    created_at: datetime

    def wants(self, event_type: str, agency: str | None) -> bool:
        """Whether an event of this type and agency goes to it (an agency-scoped subscription
        gets only events of its agencies)."""
        if event_type not in self.events:
            return False
        return self.agencies is None or (agency is not None and agency in self.agencies)


def add_subscription(
    lake: Lake,
    settings: Settings,
    url: str,
    events: Sequence[str],
    agencies: Sequence[str] | None = None,
    now: datetime | None = None,
) -> tuple[Subscription, str]:
    """Add a subscription; the subscription and its signing secret (shown once, never stored)."""
    key = _signing_key(settings)
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if not events or unknown:
        raise ConfigurationError(
            f"unknown event type(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(EVENT_TYPES)}"
        )
    check_url(url, settings)
    sub = Subscription(
        "wh_" + uuid.uuid4().hex[:20],
        url,
        tuple(sorted(set(events))),
        tuple(sorted(set(agencies))) if agencies else None,
        now or datetime.now(UTC),
    )
    row = {
        "subscription_id": sub.subscription_id,
        "url": sub.url,
        "events": list(sub.events),
        "agencies": list(sub.agencies) if sub.agencies else None,
        "created_at": sub.created_at,
        "removed_at": None,
    }
    lake.merge(SUBSCRIPTIONS, pl.DataFrame([row], schema=_schema(SUBSCRIPTIONS)))
    return sub, subscription_secret(key, sub.subscription_id)


def list_subscriptions(lake: Lake, include_removed: bool = False) -> pl.DataFrame:
    """The subscriptions (active ones unless ``include_removed``), oldest first."""
    df = lake.read(SUBSCRIPTIONS).sort("created_at")
    return df if include_removed else df.filter(pl.col("removed_at").is_null())


def remove_subscription(lake: Lake, subscription_id: str, now: datetime | None = None) -> None:
    """Stop sending to a subscription (its row and deliveries stay, marked removed)."""
    df = list_subscriptions(lake).filter(pl.col("subscription_id") == subscription_id)
    if df.is_empty():
        raise LakeError(
            f"no active webhook subscription {subscription_id!r}: see hhs webhooks list"
        )
    lake.merge(SUBSCRIPTIONS, df.with_columns(removed_at=pl.lit(now or datetime.now(UTC))))


def _active(lake: Lake) -> list[Subscription]:
    return [
        Subscription(
            r["subscription_id"],
            r["url"],
            tuple(r["events"]),
            tuple(r["agencies"]) if r["agencies"] else None,
            r["created_at"],
        )
        for r in list_subscriptions(lake).iter_rows(named=True)
    ]


# -- the outbox ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """One event, before it is in the outbox."""

    type: str
    subject: str
    occurred_at: datetime
    data: dict[str, Any]
    agency: str | None = None

    @property
    def event_id(self) -> str:
        return "evt_" + uuid.uuid5(_NAMESPACE, f"{self.type}:{self.subject}").hex


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def emit(lake: Lake, events: Iterable[Event], now: datetime | None = None) -> int:
    """Append the events not yet in the outbox (by id); how many were new."""
    now = now or datetime.now(UTC)
    rows = {
        e.event_id: {
            "event_id": e.event_id,
            "type": e.type,
            "agency": e.agency,
            "subject": e.subject,
            "occurred_at": e.occurred_at,
            "emitted_at": now,
            "data": json.dumps(e.data, default=_json_default, sort_keys=True),
        }
        for e in events
    }
    if rows and lake.exists(EVENTS):
        # Most builds find the same recent events again: leave them out before the MERGE so that
        # such a build commits nothing (the MERGE below still keeps concurrent writers apart).
        known = lake.read(EVENTS, columns=["event_id"], where=pl.col("event_id").is_in(list(rows)))
        for event_id in known["event_id"]:
            rows.pop(event_id, None)
    if not rows:
        return 0
    df = pl.DataFrame(list(rows.values()), schema=_schema(EVENTS))
    lake.create_missing([EVENTS])
    for attempt in range(1, 9):
        dt = lake.delta(EVENTS)
        assert dt is not None
        try:
            # insert-only MERGE: a concurrent writer of the same event makes one of us retry
            metrics = (
                dt.merge(
                    df.to_arrow(),
                    predicate="t.event_id = s.event_id",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=commit_properties(),
                )
                .when_not_matched_insert_all()
                .execute()
            )
            return int(metrics.get("num_target_rows_inserted", 0))
        except CommitFailedError:
            time.sleep(0.05 * attempt)
    raise LakeError(f"writing {EVENTS} at {lake.uri} failed after 8 commit attempts")


def _recent(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(hours=settings.webhook_lookback_hours)


def anomaly_events(anomalies: pl.DataFrame) -> list[Event]:
    """``anomaly.detected`` for each row of gold/anomalies."""
    out = []
    for r in anomalies.iter_rows(named=True):
        subject = f"{r['platform']}:{r['account_id']}:{r['metric']}:{r['date']}:{r['kind']}"
        out.append(Event("anomaly.detected", subject, r["detected_at"], r, r["agency"]))
    return out


def emit_anomalies(lake: Lake, settings: Settings | None = None) -> int:
    """Events for the anomalies of gold/anomalies detected recently and not yet emitted (call
    it after each build); how many were new."""
    settings = settings or Settings()
    now = datetime.now(UTC)
    df = lake.read("gold/anomalies", where=pl.col("detected_at") >= _recent(settings, now))
    return emit(lake, anomaly_events(df), now)


def run_failed_event(
    run_id: str, flow: str, error: str | None, ended_at: datetime | None = None
) -> Event:
    """``run.failed`` for one flow run (one event per run id, however often it is seen)."""
    at = ended_at or datetime.now(UTC)
    data = {"run_id": run_id, "flow": flow, "error": error, "ended_at": at}
    return Event("run.failed", run_id, at, data)


def brief_event(summary: dict[str, Any], period: str, agencies: Sequence[str] | None) -> Event:
    """``brief.published`` for a rendered brief (the brief flow's summary)."""
    scope = ",".join(sorted(agencies)) if agencies else "all"
    start, end = summary.get("period_start"), summary.get("period_end")
    data = {
        "period": period,
        "period_start": start,
        "period_end": end,
        "agencies": sorted(agencies) if agencies else None,
        "headline": summary.get("headline"),
        "dashboard": summary.get("dashboard"),
        "anomalies": summary.get("anomalies"),
        "files": sorted(summary.get("paths", {})),
    }
    agency = agencies[0] if agencies and len(agencies) == 1 else None
    return Event(
        "brief.published", f"{period}:{start}:{end}:{scope}", datetime.now(UTC), data, agency
    )


def lake_events(lake: Lake, settings: Settings, now: datetime | None = None) -> list[Event]:
    """Recent events the lake records: anomalies, failed runs (ops/runs) and freshness SLO
    breaches (ops/slo rows not met)."""
    now = now or datetime.now(UTC)
    since = _recent(settings, now)
    events = anomaly_events(lake.read("gold/anomalies", where=pl.col("detected_at") >= since))
    runs = lake.read("ops/runs", where=(pl.col("status") == "failed"))
    for r in runs.filter(pl.col("ended_at").fill_null(pl.col("started_at")) >= since).iter_rows(
        named=True
    ):
        events.append(run_failed_event(r["run_id"], r["flow"], r["error"], r["ended_at"]))
    slo = lake.read(
        "ops/slo",
        where=(pl.col("slo") == "freshness") & (pl.col("met").not_()),
    ).filter(pl.col("computed_at") >= since)
    for r in slo.iter_rows(named=True):
        data = {k: r[k] for k in ("date", "scope", "target", "value", "good", "total")}
        data["budget_burned"] = r["budget_burned"]
        events.append(
            Event("slo.freshness_breached", f"{r['date']}:{r['scope']}", r["computed_at"], data)
        )
    return events


def emit_from_lake(lake: Lake, settings: Settings | None = None) -> int:
    """Append the events of :func:`lake_events` not yet in the outbox; how many were new."""
    settings = settings or Settings()
    return emit(lake, lake_events(lake, settings))


# -- deliveries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    """One recorded attempt."""

    delivery_id: str
    attempt: int
    subscription_id: str
    event_id: str
    event_type: str
    replay: bool
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    attempted_at: datetime


@dataclass
class DeliveryReport:
    """What one :func:`deliver_pending` or :func:`replay` did."""

    attempts: list[Attempt]

    @property
    def delivered(self) -> int:
        """Deliveries that succeeded."""
        return len({a.delivery_id for a in self.attempts if a.ok})

    @property
    def failed(self) -> int:
        """Deliveries whose every attempt failed."""
        ids = {a.delivery_id for a in self.attempts}
        return len(ids) - self.delivered


def body_of(event: dict[str, Any]) -> bytes:
    """The request body of an outbox row: ``{id, type, created_at, data}`` as compact JSON."""
    payload = {
        "id": event["event_id"],
        "type": event["type"],
        "created_at": event["occurred_at"].isoformat(),
        "data": json.loads(event["data"]),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def backoff_s(attempt: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Wait after failed attempt ``attempt``: base * 2**(attempt-1), capped, with jitter
    between half and all of it."""
    full = min(settings.webhook_backoff_s * 2 ** (attempt - 1), settings.webhook_backoff_max_s)
    return full / 2 + (rng or random).uniform(0, full / 2)


async def _attempt(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            await resp.read()
            if 200 <= resp.status < 300:
                return resp.status, None
            return resp.status, f"HTTP {resp.status} {resp.reason or ''}".strip()
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


async def _deliver_one(
    sub: Subscription,
    event: dict[str, Any],
    secret: str,
    settings: Settings,
    attempts_left: int,
    replay: bool,
) -> list[Attempt]:
    delivery_id = "dlv_" + uuid.uuid4().hex
    body = body_of(event)
    out: list[Attempt] = []
    loopback_only = urlsplit(sub.url).scheme == "http"
    try:
        check_url(sub.url, settings, resolve=False)
        refused = None
    except ConfigurationError as exc:
        refused = str(exc)
    resolver = _GuardedResolver(settings.webhook_allow_loopback, loopback_only)
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for n in range(1, attempts_left + 1):
            at = datetime.now(UTC)
            started = time.perf_counter()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": _USER_AGENT,
                "X-HHS-Event": event["type"],
                "X-HHS-Delivery": delivery_id,
                "X-HHS-Signature": sign(secret, body),
            }
            if refused is None:
                status, error = await _attempt(
                    session, sub.url, body, headers, settings.webhook_timeout_s
                )
            else:
                status, error = None, refused
            out.append(
                Attempt(
                    delivery_id,
                    n,
                    sub.subscription_id,
                    event["event_id"],
                    event["type"],
                    replay,
                    error is None,
                    status,
                    error,
                    (time.perf_counter() - started) * 1000,
                    at,
                )
            )
            if error is None or refused is not None or n == attempts_left:
                break
            await asyncio.sleep(backoff_s(n, settings))
    return out


def _record(lake: Lake, attempts: list[Attempt]) -> None:
    if attempts:
        lake.append(
            DELIVERIES,
            pl.DataFrame([a.__dict__ for a in attempts], schema=_schema(DELIVERIES)),
        )


def _run(
    jobs: list[tuple[Subscription, dict[str, Any], int, bool]], settings: Settings
) -> list[Attempt]:
    key = _signing_key(settings)

    async def main() -> list[Attempt]:
        results = await asyncio.gather(
            *(
                _deliver_one(sub, ev, subscription_secret(key, sub.subscription_id), settings, n, r)
                for sub, ev, n, r in jobs
            )
        )
        return [a for group in results for a in group]

    return asyncio.run(main()) if jobs else []


def pending(lake: Lake, settings: Settings) -> list[tuple[Subscription, dict[str, Any], int]]:
    """(subscription, event, attempts left) of every event a subscription wants, emitted after
    it was added, not yet delivered and not out of attempts."""
    subs = _active(lake)
    if not subs:
        return []
    first = min(s.created_at for s in subs)
    events = lake.read(EVENTS, where=pl.col("emitted_at") >= first).sort("emitted_at")
    done = lake.read(DELIVERIES, where=pl.col("event_id").is_in(events["event_id"].implode()))
    tried = (
        done.filter(~pl.col("replay"))
        .group_by("subscription_id", "event_id")
        .agg(pl.len().alias("n"), pl.col("ok").any().alias("ok"))
    )
    delivered = {
        (r["subscription_id"], r["event_id"])
        for r in done.filter(pl.col("ok")).iter_rows(named=True)
    }
    counts = {(r["subscription_id"], r["event_id"]): r["n"] for r in tried.iter_rows(named=True)}
    out = []
    for ev in events.iter_rows(named=True):
        for sub in subs:
            pair = (sub.subscription_id, ev["event_id"])
            if ev["emitted_at"] < sub.created_at or not sub.wants(ev["type"], ev["agency"]):
                continue
            left = settings.webhook_max_attempts - counts.get(pair, 0)
            if pair not in delivered and left > 0:
                out.append((sub, ev, left))
    return out


def deliver_pending(lake: Lake, settings: Settings | None = None) -> DeliveryReport:
    """Send every pending event to its subscriptions (retrying with backoff) and record each
    attempt. Does nothing without subscriptions."""
    settings = settings or Settings()
    jobs = [(s, e, n, False) for s, e, n in pending(lake, settings)]
    attempts = _run(jobs, settings)
    _record(lake, attempts)
    return DeliveryReport(attempts)


def replay(
    lake: Lake,
    settings: Settings | None = None,
    *,
    delivery_id: str | None = None,
    event_id: str | None = None,
) -> DeliveryReport:
    """Send an event again, under a new delivery id: the event of a delivery to that delivery's
    subscription, or an event to every active subscription that wants it."""
    settings = settings or Settings()
    if (delivery_id is None) == (event_id is None):
        raise ConfigurationError("give a delivery id or an event id (not both)")
    subs = {s.subscription_id: s for s in _active(lake)}
    if delivery_id is not None:
        past = lake.read(DELIVERIES, where=pl.col("delivery_id") == delivery_id)
        if past.is_empty():
            raise LakeError(f"no webhook delivery {delivery_id!r}: see hhs webhooks deliveries")
        event_id = str(past["event_id"][0])
        sub = subs.get(str(past["subscription_id"][0]))
        if sub is None:
            raise LakeError(f"the subscription of delivery {delivery_id} was removed")
        targets = [sub]
    events = lake.read(EVENTS, where=pl.col("event_id") == event_id)
    if events.is_empty():
        raise LakeError(f"no webhook event {event_id!r} in {EVENTS}")
    ev = events.row(0, named=True)
    if delivery_id is None:
        targets = [s for s in subs.values() if s.wants(ev["type"], ev["agency"])]
    attempts = _run([(s, ev, settings.webhook_max_attempts, True) for s in targets], settings)
    _record(lake, attempts)
    return DeliveryReport(attempts)


def deliveries(lake: Lake, failed: bool = False, limit: int = 50) -> pl.DataFrame:
    """Deliveries, newest first: one row each with its last attempt (``failed``: only those
    whose attempts all failed, of events not delivered to that subscription since)."""
    df = lake.read(DELIVERIES)
    per = (
        df.sort("attempt")
        .group_by("delivery_id")
        .agg(
            pl.col("subscription_id").last(),
            pl.col("event_id").last(),
            pl.col("event_type").last(),
            pl.col("replay").last(),
            pl.col("ok").any(),
            pl.len().alias("attempts"),
            pl.col("status_code").last(),
            pl.col("error").last(),
            pl.col("attempted_at").first().alias("first_attempt_at"),
            pl.col("attempted_at").last().alias("last_attempt_at"),
        )
        .sort("last_attempt_at", descending=True)
    )
    if failed:
        served = per.filter(pl.col("ok")).select("subscription_id", "event_id").unique()
        per = per.filter(~pl.col("ok")).join(served, on=["subscription_id", "event_id"], how="anti")
    return per.head(limit)


def emit_and_deliver(
    lake: Lake, settings: Settings | None = None, events: Iterable[Event] = ()
) -> DeliveryReport:
    """What the flows call at their end: ``events`` and the lake's recent events into the
    outbox, then :func:`deliver_pending`. Never raises: a failure is logged, the flow's result
    stands."""
    settings = settings or Settings()
    try:
        emit(lake, [*events, *lake_events(lake, settings)])
        if not _active(lake):
            return DeliveryReport([])
        report = deliver_pending(lake, settings)
    except Exception:
        log.exception("webhook delivery failed")
        return DeliveryReport([])
    if report.attempts:
        log.info("webhooks: %d delivered, %d failed", report.delivered, report.failed)
    return report


def _schema(table: str) -> pl.Schema:
    from schemas import table_spec

    return table_spec(table).schema


__all__ = [
    "EVENT_TYPES",
    "DeliveryReport",
    "Event",
    "Subscription",
    "add_subscription",
    "anomaly_events",
    "body_of",
    "brief_event",
    "check_url",
    "deliver_pending",
    "deliveries",
    "emit",
    "emit_and_deliver",
    "emit_anomalies",
    "emit_from_lake",
    "lake_events",
    "list_subscriptions",
    "pending",
    "remove_subscription",
    "replay",
    "run_failed_event",
    "sign",
    "subscription_secret",
    "verify_signature",
]
