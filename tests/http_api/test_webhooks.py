"""Webhooks against a real receiver (an aiohttp server on loopback) and a real lake: signatures,
retries with backoff, replay, agency scopes, and anomaly events emitted once across builds."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web
from dashboard_lakes import free_port, gold_frame, gold_rows

from hhs_platform import pipeline
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings
from hhs_platform.webhooks import (
    Event,
    add_subscription,
    check_url,
    deliver_pending,
    deliveries,
    emit,
    remove_subscription,
    replay,
    run_failed_event,
    verify_signature,
)

KEY = "test-signing-key-0123456789abcdef"  # pragma: allowlist secret
BACKOFF = 0.05


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A webhook receiver on loopback: records every request; answers each path with the
    statuses queued for it (then 200)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Received] = []
        self.statuses: dict[str, list[int]] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path, dict(request.headers), body, time.time()))
        queue = self.statuses.get(request.path) or []
        return web.Response(status=queue.pop(0) if queue else 200)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> Receiver:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_signing_key=KEY,
        webhook_allow_loopback=True,
        webhook_backoff_s=BACKOFF,
        webhook_max_attempts=3,
        webhook_timeout_s=5,
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def _anomaly(agency: str, account_id: str) -> Event:
    data = {"platform": "x", "account_id": account_id, "agency": agency, "kind": "follower_jump"}
    subject = f"x:{account_id}:followers:2026-03-21:follower_jump"
    return Event("anomaly.detected", subject, dt.datetime.now(dt.UTC), data, agency)


def _secret(subscription_id: str) -> str:
    return "whsec_" + hmac.new(KEY.encode(), subscription_id.encode(), hashlib.sha256).hexdigest()


def test_signature_verifies_with_the_derived_secret_and_fails_altered_or_old(
    receiver: Receiver, lake: Lake, settings: Settings
) -> None:
    sub, secret = add_subscription(lake, settings, receiver.url("/sig"), ["run.failed"])
    assert secret == _secret(sub.subscription_id)
    assert KEY not in json.dumps(lake.read("ops/webhooks").to_dicts(), default=str)
    event = run_failed_event("run-1", "hhs-collect", "boom")
    assert emit(lake, [event]) == 1

    report = deliver_pending(lake, settings)

    assert report.delivered == 1 and report.failed == 0
    [got] = receiver.at("/sig")
    body = json.loads(got.body)
    assert body["id"] == event.event_id and body["type"] == "run.failed"
    assert body["data"] == {
        "run_id": "run-1",
        "flow": "hhs-collect",
        "error": "boom",
        "ended_at": event.occurred_at.isoformat(),
    }
    assert dt.datetime.fromisoformat(body["created_at"]) == event.occurred_at
    assert got.headers["X-HHS-Event"] == "run.failed"
    assert got.headers["X-HHS-Delivery"] == report.attempts[0].delivery_id
    header = got.headers["X-HHS-Signature"]
    t = int(header.split(",")[0].removeprefix("t="))
    assert abs(t - got.at) < 5
    # the receiver's check, and the same HMAC computed here
    assert verify_signature(secret, header, got.body)
    want = hmac.new(secret.encode(), f"{t}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={want}"
    assert not verify_signature(secret, header, got.body.replace(b"boom", b"bOom"))
    assert not verify_signature(_secret("wh_other"), header, got.body)
    assert not verify_signature(secret, header, got.body, tolerance_s=300, now=t + 301)
    assert verify_signature(secret, header, got.body, tolerance_s=300, now=t + 299)
    # the same event emitted again is not a new event, and is not sent again
    assert emit(lake, [run_failed_event("run-1", "hhs-collect", "boom")]) == 0
    assert deliver_pending(lake, settings).attempts == []
    assert len(receiver.at("/sig")) == 1


def test_a_failing_receiver_is_retried_with_backoff_and_served_once(
    receiver: Receiver, lake: Lake, settings: Settings
) -> None:
    receiver.statuses["/flaky"] = [500, 503]
    sub, _ = add_subscription(lake, settings, receiver.url("/flaky"), ["run.failed"])
    event = run_failed_event("run-2", "hhs-gold", "disk full")
    emit(lake, [event])

    report = deliver_pending(lake, settings)

    got = receiver.at("/flaky")
    assert len(got) == 3
    assert len({r.headers["X-HHS-Delivery"] for r in got}) == 1
    assert {json.loads(r.body)["id"] for r in got} == {event.event_id}
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    # backoff doubles, with jitter between half and all of it
    assert gaps[0] >= BACKOFF / 2 and gaps[1] >= BACKOFF
    recorded = lake.read("ops/webhook_deliveries").sort("attempt")
    assert recorded["attempt"].to_list() == [1, 2, 3]
    assert recorded["status_code"].to_list() == [500, 503, 200]
    assert recorded["ok"].to_list() == [False, False, True]
    assert recorded["delivery_id"].n_unique() == 1
    assert set(recorded["subscription_id"]) == {sub.subscription_id}
    assert recorded["error"].to_list()[:2] == [
        "HTTP 500 Internal Server Error",
        "HTTP 503 Service Unavailable",
    ]
    assert report.delivered == 1
    # delivered: nothing pending any more
    assert deliver_pending(lake, settings).attempts == []
    assert len(receiver.at("/flaky")) == 3


def test_attempts_stop_at_the_maximum_and_replay_sends_the_same_event_again(
    receiver: Receiver, lake: Lake, settings: Settings
) -> None:
    receiver.statuses["/down"] = [500, 500, 500]
    sub, secret = add_subscription(lake, settings, receiver.url("/down"), ["run.failed"])
    event = run_failed_event("run-3", "hhs-collect", None)
    emit(lake, [event])

    first = deliver_pending(lake, settings)

    assert first.failed == 1 and len(first.attempts) == settings.webhook_max_attempts
    assert deliver_pending(lake, settings).attempts == []  # out of attempts: replay only
    [failed] = deliveries(lake, failed=True).to_dicts()
    assert failed["attempts"] == 3 and failed["event_id"] == event.event_id

    again = replay(lake, settings, delivery_id=failed["delivery_id"])

    assert again.delivered == 1
    last = receiver.at("/down")[-1]
    assert json.loads(last.body)["id"] == event.event_id
    assert last.headers["X-HHS-Delivery"] != failed["delivery_id"]
    assert verify_signature(secret, last.headers["X-HHS-Signature"], last.body)
    by_event = replay(lake, settings, event_id=event.event_id)
    ids = [r.headers["X-HHS-Delivery"] for r in receiver.at("/down")]
    assert len(receiver.at("/down")) == 5 and len(set(ids)) == 3
    assert by_event.attempts[0].replay and deliveries(lake, failed=True).is_empty()
    # a removed subscription gets nothing more, not even a replay by event id
    remove_subscription(lake, sub.subscription_id)
    assert replay(lake, settings, event_id=event.event_id).attempts == []


def test_an_agency_scoped_subscription_only_gets_its_agencys_anomalies(
    receiver: Receiver, lake: Lake, settings: Settings
) -> None:
    types = ["anomaly.detected", "run.failed"]
    add_subscription(lake, settings, receiver.url("/cdc"), types, agencies=["CDC"])
    add_subscription(lake, settings, receiver.url("/all"), types)
    cdc, fda = _anomaly("CDC", "cdc-x-1"), _anomaly("FDA", "fda-x-1")
    failed = run_failed_event("run-4", "hhs-collect", "boom")
    emit(lake, [cdc, fda, failed])

    deliver_pending(lake, settings)

    def ids(path: str) -> set[str]:
        return {json.loads(r.body)["id"] for r in receiver.at(path)}

    assert ids("/cdc") == {cdc.event_id}
    assert ids("/all") == {cdc.event_id, fda.event_id, failed.event_id}


def test_anomaly_events_are_emitted_once_across_two_builds(
    receiver: Receiver, lake: Lake, settings: Settings
) -> None:
    rng = random.Random(1)
    rows = gold_rows(days=30)
    for r in rows:
        r["followers"] += rng.randint(-50, 50)
    jumps = {("cdc-x-1", 20): 200_000, ("fda-x-1", 22): -300_000}  # (account, day index): change
    for (account, day), change in jumps.items():
        for r in rows:
            index = (r["date"] - rows[0]["date"]).days
            if r["account_id"] == account and index >= day:
                r["followers"] += change
    first_day = rows[0]["date"]
    add_subscription(lake, settings, receiver.url("/anomalies"), ["anomaly.detected"])
    daily = gold_frame(rows)
    builds = []
    for last in (22, 29):  # days 0..22: the CDC jump only; then the FDA drop too
        cut = first_day + dt.timedelta(days=last)
        lake.overwrite("gold/daily_account_metrics", daily.filter(pl.col("date") <= cut))
        pipeline.refresh_analytics(lake, first_day)
        builds.append(lake.read("gold/anomalies"))
        deliver_pending(lake, settings)

    keys = ["platform", "account_id", "metric", "date", "kind"]
    found = pl.concat(builds).unique(subset=keys)
    assert sorted(found["account_id"]) == ["cdc-x-1", "fda-x-1"]
    events = lake.read("ops/webhook_events")
    assert events.height == found.height == 2
    assert events["event_id"].n_unique() == 2
    subjects = {
        f"{r['platform']}:{r['account_id']}:{r['metric']}:{r['date']}:{r['kind']}"
        for r in found.iter_rows(named=True)
    }
    assert set(events["subject"]) == subjects
    got = [json.loads(r.body) for r in receiver.at("/anomalies")]
    assert sorted(b["data"]["account_id"] for b in got) == ["cdc-x-1", "fda-x-1"]
    assert {b["data"]["agency"] for b in got} == {"CDC", "FDA"}


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",  # http to a public address
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:192.168.1.1]/hook",
        "https://[fe80::1]/hook",
        "https://user:pw@93.184.215.14/hook",  # pragma: allowlist secret
        "ftp://93.184.215.14/hook",
        "https://127.0.0.1/hook",  # loopback, not allowed by default
    ],
)
def test_refused_urls(url: str) -> None:
    plain = Settings(_env_file=None, webhook_signing_key=KEY)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError):
        check_url(url, plain)


def test_allowed_urls(settings: Settings) -> None:
    plain = Settings(_env_file=None, webhook_signing_key=KEY)  # type: ignore[call-arg]
    assert check_url("https://93.184.215.14/hook", plain)
    assert check_url("http://127.0.0.1:8080/hook", settings)  # with HHS_WEBHOOK_ALLOW_LOOPBACK
    with pytest.raises(ConfigurationError):  # still no private address
        check_url("http://10.1.2.3/hook", settings)


def test_adding_needs_a_signing_key_and_known_events(tmp_path: Path, settings: Settings) -> None:
    lake = Lake(str(tmp_path / "lake"))
    no_key = Settings(_env_file=None, webhook_allow_loopback=True)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="HHS_WEBHOOK_SIGNING_KEY"):
        add_subscription(lake, no_key, "http://127.0.0.1:1/x", ["run.failed"])
    with pytest.raises(ConfigurationError, match="unknown event"):
        add_subscription(lake, settings, "http://127.0.0.1:1/x", ["run.started"])
    assert not lake.exists("ops/webhooks")


def test_a_name_resolving_to_a_refused_address_is_not_connected_to(
    receiver: Receiver, lake: Lake, settings: Settings
) -> None:
    url = f"https://localhost:{receiver.port}/rebound"
    sub, _ = add_subscription(lake, settings, url, ["run.failed"])
    emit(lake, [run_failed_event("run-5", "hhs-collect", None)])
    strict = settings.model_copy(
        update={"webhook_allow_loopback": False, "webhook_max_attempts": 1}
    )

    report = deliver_pending(lake, strict)

    [attempt] = report.attempts
    assert not attempt.ok and attempt.status_code is None
    assert "refused addresses" in (attempt.error or "")
    assert receiver.at("/rebound") == []
    assert attempt.subscription_id == sub.subscription_id
