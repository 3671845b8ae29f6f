"""Collection: fetch accounts through their connectors, archive to bronze, parse into silver rows.

The flow in ``flows/collect.py`` only wires these functions to Prefect and Dask.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from hhs_platform import bronze
from hhs_platform.connectors import CONNECTORS, get_connector
from hhs_platform.connectors.base import AccountRef, RawResponse
from hhs_platform.errors import HhsError, TerminalError
from hhs_platform.http import HttpClient
from hhs_platform.lake.store import Lake
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch, parse_bronze

log = logging.getLogger(__name__)


@dataclass
class AccountError:
    """An account that could not be (fully) collected, and why."""

    account_key: str
    error: str  # the error type, e.g. NotFoundError
    message: str
    terminal: bool


@dataclass
class BatchOutcome:
    """What collecting one batch of accounts produced."""

    batch_id: str
    accounts: int
    responses: int
    silver: SilverBatch
    errors: list[AccountError] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accounts": self.accounts,
            "responses": self.responses,
            "errors": len(self.errors),
            # Accounts skipped because their platform's circuit breaker was open (platform down).
            "circuit_open": sum(e.error == "CircuitOpenError" for e in self.errors),
            **self.silver.counts(),
        }


def collectable_platforms(settings: Settings | None = None) -> dict[str, str | None]:
    """Every platform with a connector, and why it cannot be collected (None when it can)."""
    return {
        p: (c.missing_configuration(settings) if settings is not None else None)
        for p, c in CONNECTORS.items()
    }


def plan_batches(
    registry: pl.DataFrame, batch_size: int, settings: Settings | None = None
) -> list[list[dict[str, Any]]]:
    """Split the registry's collectable accounts into batches of one platform each.

    Accounts on platforms without a connector, or whose credentials are not configured, are
    left out (see ``skipped_platforms``).
    """
    ready = [p for p, why in collectable_platforms(settings).items() if why is None]
    rows = registry.filter(pl.col("platform").is_in(ready)).sort(["platform", "tier", "handle"])
    batches: list[list[dict[str, Any]]] = []
    for (_platform,), group in rows.group_by(["platform"], maintain_order=True):
        recs = group.select("platform", "handle", "platform_id").to_dicts()
        batches.extend(recs[i : i + batch_size] for i in range(0, len(recs), batch_size))
    return batches


def skipped_platforms(
    registry: pl.DataFrame, settings: Settings | None = None
) -> dict[str, dict[str, Any]]:
    """Platforms of the registry that a run leaves out: accounts and the reason (the fix)."""
    status = collectable_platforms(settings)
    out: dict[str, dict[str, Any]] = {}
    for platform, n in registry.group_by("platform").len().sort("platform").iter_rows():
        reason = status.get(platform, "no connector yet")
        if reason is not None:
            out[platform] = {"accounts": n, "reason": reason}
    return out


async def fetch_accounts(
    accounts: list[AccountRef], settings: Settings, since: datetime | None = None
) -> tuple[list[RawResponse], list[AccountError], set[str]]:
    """Fetch every account; every response is archived in the returned list, errors per account.

    Also returns the keys of accounts whose feed was read completely (no ``since``, no page cap,
    no error): only for those can a post that is no longer served be called deleted.
    """
    responses: list[RawResponse] = []
    errors: list[AccountError] = []
    async with HttpClient(settings, archive=responses.append) as http:
        connectors = {p: get_connector(p)(http, settings) for p in {a.platform for a in accounts}}

        async def one(account: AccountRef) -> None:
            try:
                await connectors[account.platform].collect(account, since=since)
            except HhsError as exc:
                errors.append(
                    AccountError(
                        account.key, type(exc).__name__, str(exc), isinstance(exc, TerminalError)
                    )
                )
                log.warning("%s: %s: %s", account.key, type(exc).__name__, exc)

        await asyncio.gather(*(one(a) for a in accounts))
    skipped = Counter(
        e.account_key.split(":", 1)[0] for e in errors if e.error == "CircuitOpenError"
    )
    for platform, n in sorted(skipped.items()):
        log.warning(
            "%s is down (circuit open): %d accounts skipped, the rest completed", platform, n
        )
    incomplete = {e.account_key for e in errors}
    incomplete |= {key for c in connectors.values() for key, _endpoint in c.cap_hits}
    complete = set() if since is not None else {a.key for a in accounts} - incomplete
    return responses, errors, complete


def complete_feed_ids(silver: SilverBatch, complete_keys: set[str]) -> set[tuple[str, str]]:
    """(platform, account_id) of the accounts whose feed was read completely."""
    accounts = silver.tables.get("silver/accounts")
    if accounts is None or accounts.is_empty() or not complete_keys:
        return set()
    rows = accounts.filter(pl.col("account_key").is_in(list(complete_keys)))
    return set(rows.select("platform", "account_id").iter_rows())


def collect_batch(
    batch: list[dict[str, Any]],
    *,
    run_id: str,
    batch_id: str,
    lake: Lake,
    settings: Settings,
    registry: pl.DataFrame | None = None,
    since: datetime | None = None,
) -> BatchOutcome:
    """Fetch a batch, append its responses to bronze (before parsing), parse them into silver rows.

    A retried task archives the responses it received again: bronze keeps every response as
    received, and silver's MERGEs make the repeat harmless.
    """
    started = time.perf_counter()
    refs = [AccountRef(b["platform"], b["handle"], b.get("platform_id")) for b in batch]
    responses, errors, complete = asyncio.run(fetch_accounts(refs, settings, since))
    versions = {p: c.version for p, c in CONNECTORS.items()}
    frame = bronze.to_frame(responses, run_id=run_id, connector_versions=versions)
    lake.append("bronze/raw_responses", frame)
    silver = parse_bronze(frame, registry)
    # A feed with a quarantined row is not fully known: its missing posts are not called deleted.
    doubtful = frame.filter(pl.col("response_id").is_in(silver.quarantine["response_id"].to_list()))
    complete -= set(doubtful["account_key"].to_list())
    silver.complete_feeds = complete_feed_ids(silver, complete)
    return BatchOutcome(
        batch_id=batch_id,
        accounts=len(batch),
        responses=frame.height,
        silver=silver,
        errors=errors,
        elapsed_s=time.perf_counter() - started,
    )
