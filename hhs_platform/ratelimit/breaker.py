"""A circuit breaker per platform: a platform that keeps failing is skipped fast, then probed.

closed ──(N consecutive transient failures)──► open ──(cool-down over)──► half-open
  ▲                                              ▲                           │
  └──────────────(the probe succeeds)────────────┼───────(the probe fails)───┘

Only transient failures of the platform itself count (5xx, timeouts, broken connections); an
answer of any other kind (2xx, 4xx, 429) shows the platform is up and closes the count. In the
half-open state one request at a time is let through as a probe. The state is kept in a
:class:`~hhs_platform.ratelimit.state.SharedState`, so a breaker opened by one worker is open
for every worker sharing the state.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from hhs_platform.errors import CircuitOpenError
from hhs_platform.ratelimit.state import Record, SharedState

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def _before(
    record: Record | None, now: float, cooldown_s: float, probe_timeout_s: float
) -> tuple[Record | None, float | None]:
    """Whether a request may go: None if so, else the seconds until the next probe."""
    if record is None or record.get("state", CLOSED) == CLOSED:
        return record, None
    rec: dict[str, Any] = dict(record)
    if rec["state"] == OPEN:
        left = float(rec["opened_at"]) + cooldown_s - now
        if left > 0:
            return record, left
        rec["state"], rec["probe_at"] = HALF_OPEN, now
        return rec, None
    # Half-open: one probe in flight; another only if that one never reported back.
    if now - float(rec.get("probe_at") or 0.0) < probe_timeout_s:
        return record, max(float(rec.get("probe_at") or 0.0) + probe_timeout_s - now, 0.0)
    rec["probe_at"] = now
    return rec, None


def _failure(record: Record | None, now: float, threshold: int, reason: str) -> tuple[Record, str]:
    rec: dict[str, Any] = dict(record or {"state": CLOSED, "failures": 0})
    rec["failures"] = int(rec.get("failures", 0)) + 1
    rec["last_error"] = reason
    if rec.get("state") == HALF_OPEN or (
        rec.get("state", CLOSED) == CLOSED and rec["failures"] >= threshold
    ):
        rec["state"], rec["opened_at"] = OPEN, now
    return rec, str(rec["state"])


class CircuitBreaker:
    """The breaker of one platform.

    Args:
        state: where the breaker's state lives (shared by every process that shares it).
        platform: the platform it guards.
        failures: consecutive transient failures that open it (``HHS_HTTP_BREAKER_FAILURES``).
        cooldown_s: how long it stays open before a probe (``HHS_HTTP_BREAKER_COOLDOWN_S``).
        probe_timeout_s: after this long without news from a probe, another may go.
    """

    def __init__(
        self,
        state: SharedState,
        platform: str,
        *,
        failures: int = 8,
        cooldown_s: float = 60.0,
        probe_timeout_s: float = 60.0,
    ) -> None:
        self.state = state
        self.platform = platform
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.probe_timeout_s = probe_timeout_s
        self.key = f"breaker:{platform}"

    @property
    def status(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        record = self.state.transact(self.key, lambda r: (r, r))
        return str(record.get("state", CLOSED)) if record else CLOSED

    def before(self, where: str = "") -> None:
        """Let a request through, or fail it fast.

        Raises:
            CircuitOpenError: the breaker is open (or half-open with a probe in flight).
        """
        now = time.time()
        wait = self.state.transact(
            self.key, lambda r: _before(r, now, self.cooldown_s, self.probe_timeout_s)
        )
        if wait is None:
            return
        record = self.state.transact(self.key, lambda r: (r, r)) or {}
        until = datetime.fromtimestamp(now + wait, UTC).strftime("%H:%M:%S UTC")
        raise CircuitOpenError(
            f"{self.platform}{' ' + where if where else ''}: skipped, the platform failed "
            f"{record.get('failures', '?')} times in a row (last: {record.get('last_error', '?')}); "
            f"its circuit is open until {until}, then one request probes it "
            "(HHS_HTTP_BREAKER_FAILURES, HHS_HTTP_BREAKER_COOLDOWN_S)",
            platform=self.platform,
            retry_after=wait,
        )

    def success(self) -> None:
        """The platform answered: close the breaker and reset the count."""
        self.state.transact(self.key, lambda r: (None, None))

    def failure(self, reason: str) -> str:
        """A transient failure of the platform; the breaker's state after it."""
        now = time.time()
        return self.state.transact(
            self.key, lambda r: _failure(r, now, self.failures, reason[:200])
        )
