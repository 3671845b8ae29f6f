"""Quotas counted in units per day (YouTube: 10,000 a day per key): a ledger, forecasts, rotation.

The ledger charges a call's units to a key *before* the call (so concurrent workers never
plan on the same last units), picks the first key with units left, and marks a key spent when
the platform says so (YouTube's ``quotaExceeded``) even if the ledger thought otherwise.
Counts live in a :class:`~hhs_platform.ratelimit.state.SharedState` under
``quota:<platform>:<key hash>:<quota day>``, so a new day starts a new count by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hhs_platform.ratelimit.state import Record, SharedState


@dataclass(frozen=True)
class QuotaRule:
    """A daily unit quota: ``daily_units`` per key, the day counted in ``timezone``."""

    daily_units: int
    timezone: str
    costs: dict[str, int] = field(default_factory=dict)  # method (last path part) -> units
    default_cost: int = 1


#: Unit quotas per platform. YouTube's day resets at midnight Pacific time.
QUOTA_RULES: dict[str, QuotaRule] = {
    "youtube": QuotaRule(
        daily_units=10_000,
        timezone="America/Los_Angeles",
        costs={
            "channels": 1,
            "playlistItems": 1,
            "videos": 1,
            "playlists": 1,
            "commentThreads": 1,
            "search": 100,
        },
    ),
}


def unit_cost(platform: str, path: str) -> int:
    """Units a call to ``path`` costs on ``platform`` (0 where the platform counts no units)."""
    rule = QUOTA_RULES.get(platform)
    if rule is None:
        return 0
    method = path.rstrip("/").rsplit("/", 1)[-1]
    return rule.costs.get(method, rule.default_cost)


@dataclass(frozen=True)
class QuotaForecast:
    """Whether today's units left cover a planned run."""

    units_needed: int
    units_left: int
    per_key: dict[str, int]  # key hash -> units left today
    resets_at: datetime

    @property
    def covers(self) -> bool:
        """True when the keys' units left today pay for the run."""
        return self.units_left >= self.units_needed

    @property
    def shortfall(self) -> int:
        """Units missing today (0 when covered)."""
        return max(self.units_needed - self.units_left, 0)


def _spend(record: Record | None, units: int, daily: int | None) -> tuple[Record | None, bool]:
    rec: dict[str, Any] = dict(record or {"spent": 0, "exhausted": False})
    if rec.get("exhausted") or (daily is not None and rec["spent"] + units > daily):
        return record, False
    rec["spent"] = int(rec["spent"]) + units
    return rec, True


def _exhaust(record: Record | None) -> tuple[Record, None]:
    rec: dict[str, Any] = dict(record or {"spent": 0})
    rec["exhausted"] = True
    return rec, None


class QuotaLedger:
    """Units spent per key per quota day, for one platform's keys.

    Args:
        state: where the counts live (shared by every process that shares it).
        platform: whose quota (``QUOTA_RULES`` gives the day's units and time zone).
        keys: the key hashes, in the order they are to be used.
        daily_units: units per key and day; the platform's rule by default (None: uncounted).
    """

    def __init__(
        self,
        state: SharedState,
        platform: str,
        keys: Sequence[str],
        *,
        daily_units: int | None = None,
    ) -> None:
        rule = QUOTA_RULES.get(platform)
        self.state = state
        self.platform = platform
        self.keys = list(keys)
        self.daily_units = (
            daily_units if daily_units is not None else (rule.daily_units if rule else None)
        )
        self.zone = ZoneInfo(rule.timezone if rule else "UTC")

    def day(self, now: datetime | None = None) -> str:
        """The quota day ``now`` falls in (ISO date in the quota's time zone)."""
        return (now or datetime.now(self.zone)).astimezone(self.zone).date().isoformat()

    def resets_at(self, now: datetime | None = None) -> datetime:
        """When the current quota day ends."""
        local = (now or datetime.now(self.zone)).astimezone(self.zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
        return midnight.replace(tzinfo=self.zone)

    def _key(self, key: str, now: datetime | None) -> str:
        return f"quota:{self.platform}:{key}:{self.day(now)}"

    def spent(self, key: str, now: datetime | None = None) -> int:
        """Units charged to ``key`` today."""
        record = self.state.transact(self._key(key, now), lambda r: (r, r))
        return int(record["spent"]) if record else 0

    def remaining(self, key: str, now: datetime | None = None) -> int:
        """Units ``key`` has left today (0 once the platform said it is spent)."""
        record = self.state.transact(self._key(key, now), lambda r: (r, r))
        if record and record.get("exhausted"):
            return 0
        if self.daily_units is None:
            return 2**31
        return max(self.daily_units - (int(record["spent"]) if record else 0), 0)

    def reserve(
        self,
        units: int,
        *,
        exclude: frozenset[str] | set[str] = frozenset(),
        now: datetime | None = None,
    ) -> str | None:
        """Charge ``units`` to the first key that has them left; that key, or None if none has."""
        for key in self.keys:
            if key in exclude:
                continue
            if self.state.transact(
                self._key(key, now), lambda r: _spend(r, units, self.daily_units)
            ):
                return key
        return None

    def mark_exhausted(self, key: str, now: datetime | None = None) -> None:
        """Record that the platform refused ``key`` for the rest of the day."""
        self.state.transact(self._key(key, now), _exhaust)

    def forecast(self, units_needed: int, now: datetime | None = None) -> QuotaForecast:
        """Whether the keys' units left today cover ``units_needed``."""
        per_key = {key: self.remaining(key, now) for key in self.keys}
        return QuotaForecast(
            units_needed=units_needed,
            units_left=sum(per_key.values()),
            per_key=per_key,
            resets_at=self.resets_at(now),
        )
