"""Rate limits before they are hit: budgets, unit quotas and circuit breakers, shared across workers."""

from __future__ import annotations

from hhs_platform.ratelimit.breaker import CircuitBreaker
from hhs_platform.ratelimit.budget import (
    DEFAULT_RULES,
    ENDPOINT_RULES,
    LocalBudget,
    LocalBudgetStore,
    RateLimitState,
    RateRule,
    SharedBudget,
    SharedBudgetStore,
    credential_id,
    pacing,
    rule_for,
)
from hhs_platform.ratelimit.quota import (
    QUOTA_RULES,
    QuotaForecast,
    QuotaLedger,
    QuotaRule,
    unit_cost,
)
from hhs_platform.ratelimit.state import (
    MemoryState,
    SharedState,
    SqliteState,
    dask_scheduler_address,
    default_state,
)

__all__ = [
    "DEFAULT_RULES",
    "ENDPOINT_RULES",
    "QUOTA_RULES",
    "CircuitBreaker",
    "LocalBudget",
    "LocalBudgetStore",
    "MemoryState",
    "QuotaForecast",
    "QuotaLedger",
    "QuotaRule",
    "RateLimitState",
    "RateRule",
    "SharedBudget",
    "SharedBudgetStore",
    "SharedState",
    "SqliteState",
    "credential_id",
    "dask_scheduler_address",
    "default_state",
    "pacing",
    "rule_for",
    "unit_cost",
]
