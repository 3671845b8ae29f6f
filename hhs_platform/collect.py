"""Collection: fetch accounts through their connectors, archive to bronze, parse into silver rows.

The flow in ``flows/collect.py`` only wires these functions to Prefect and Dask.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from hhs_platform import bronze
from hhs_platform.connectors import CONNECTORS, get_connector
from hhs_platform.connectors.base import AccountRef, RawResponse
from hhs_platform.errors import ConfigurationError, HhsError, TerminalError
from hhs_platform.http import HttpClient
from hhs_platform.lake.store import Lake
from hhs_platform.ratelimit import rule_for
from hhs_platform.registry.loader import official_only
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch, parse_bronze
from schemas import table_spec

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
    #: Accounts fetched by this call; the others were already in bronze (a resumed run).
    fetched: int = 0
    #: When the batch started and ended (wall clock), for the time per platform of a run.
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def summarised(self) -> BatchOutcome:
        """This outcome without its silver rows (see ``SilverBatch.summarised``)."""
        return replace(self, silver=self.silver.summarised())

    def summary(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accounts": self.accounts,
            "responses": self.responses,
            "errors": len(self.errors),
            "fetched": self.fetched,
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
    """Split the registry's collectable accounts into batches of one platform and one tier each.

    Batches come in priority order: every tier-1 batch first, then tier 2, then tier 3. Within a
    tier the platforms' batches are spread evenly over the tier (a platform with twice the
    batches gets twice the turns; handles in order within a platform), the platform that its
    documented rate limit keeps busiest first at a tie (:func:`limit_seconds`): every platform
    is fetched from the start to the end of the run, so a rate-limited platform's budget is not
    left idle while the batches of the others go by, and the run lasts about as long as its
    slowest platform rather than the sum of them. Tasks are submitted in this order, so when a
    platform's quota or a run's time runs short, the high tiers were served first. Accounts on
    platforms without a connector, or whose credentials are not configured, are left out (see
    ``skipped_platforms``).
    """
    ready = [p for p, why in collectable_platforms(settings).items() if why is None]
    if settings is not None:  # HHS_ALLOW_UNVERIFIED_ACCOUNTS=false: confirmed accounts only
        registry = official_only(registry, settings.allow_unverified_accounts)
    rows = (
        registry.filter(pl.col("platform").is_in(ready))
        .with_columns(pl.col("tier").fill_null(2))
        .sort(["tier", "platform", "handle"])
    )
    accounts = dict(rows.group_by("platform").len().iter_rows())
    lanes: dict[int, list[tuple[str, list[list[dict[str, Any]]]]]] = {}
    for (tier, platform), group in rows.group_by(["tier", "platform"], maintain_order=True):
        recs = group.select("platform", "handle", "platform_id", "tier").to_dicts()
        chunks = [recs[i : i + batch_size] for i in range(0, len(recs), batch_size)]
        lanes.setdefault(int(tier), []).append((str(platform), chunks))
    batches: list[list[dict[str, Any]]] = []
    for tier in sorted(lanes):
        # batch k of a platform's n sits at (k + 1/2) / n of the tier
        spread = [
            ((k + 0.5) / len(chunks), -limit_seconds(p, accounts[p]), p, k, chunk)
            for p, chunks in lanes[tier]
            for k, chunk in enumerate(chunks)
        ]
        batches.extend(item[-1] for item in sorted(spread, key=lambda item: item[:4]))
    return batches


def limit_seconds(platform: str, accounts: int) -> float:
    """Seconds ``platform``'s documented rate limit needs for one request per account beyond
    its burst (0 when it has no fixed limit): how long the platform keeps a run busy at least."""
    rule = rule_for(platform)
    if rule is None:
        return 0.0
    return max(0.0, accounts - rule.limit * rule.burst) * rule.window_s / rule.limit


def select_tiers(registry: pl.DataFrame, tiers: list[int] | None) -> pl.DataFrame:
    """The registry's accounts of some tiers (None: all); a tier nobody is in is an error.

    Raises:
        ConfigurationError: no account of the registry has any of these tiers.
    """
    if not tiers:
        return registry
    picked = registry.filter(pl.col("tier").is_in(list(tiers)))
    if picked.is_empty():
        present = sorted(set(registry["tier"].drop_nulls().to_list()))
        raise ConfigurationError(
            f"no registry account has tier {', '.join(map(str, sorted(tiers)))}; "
            f"the registry's tiers are {', '.join(map(str, present)) or 'none'}"
        )
    return picked


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
    accounts: list[AccountRef],
    settings: Settings,
    since: datetime | None = None,
    decoded: dict[str, tuple[Any, None]] | None = None,
) -> tuple[list[RawResponse], list[AccountError], set[str]]:
    """Fetch every account; every response is archived in the returned list, errors per account.

    Also returns the keys of accounts whose feed was read completely (no ``since``, no page cap,
    no error): only for those can a post that is no longer served be called deleted.

    ``decoded`` receives, by bronze response id, the JSON decode of each body a connector that
    keeps it as it was (``Connector.keeps_fetched_json``) read, for the parse to reuse.
    """
    responses: list[RawResponse] = []
    errors: list[AccountError] = []

    def keep(raw: RawResponse, data: Any) -> None:
        connector = CONNECTORS.get(raw.platform)
        if decoded is not None and connector is not None and connector.keeps_fetched_json:
            decoded[bronze.response_id(raw)] = (data, None)

    async with HttpClient(settings, archive=responses.append, decoded=keep) as http:
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
    parse: bool = True,
) -> BatchOutcome:
    """Fetch a batch, append its responses to bronze (before parsing), parse them into silver rows.

    Resumable: accounts this run already fetched (a row in ``bronze/fetch_log``) are not fetched
    again; their archived responses are parsed instead, so a run killed at any point and started
    again with the same ``run_id`` ends with the tables an uninterrupted run gives. Accounts whose
    fetch failed (not terminally) are fetched again.

    ``parse=False`` only fetches and archives (the outcome's silver batch is empty): for a caller
    that parses the archived responses itself, as the simulated history re-stamps them first.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    keys = [f"{b['platform']}:{b['handle']}" for b in batch]
    done = logged_fetches(lake, run_id, keys)
    done = done.filter((pl.col("status") != "failed") | pl.col("terminal"))
    todo = [b for b, k in zip(batch, keys, strict=True) if k not in set(done["account_key"])]
    errors = [
        AccountError(r["account_key"], r["error_type"], r["error"] or "", r["terminal"])
        for r in done.filter(pl.col("status") == "failed").iter_rows(named=True)
    ]
    frames = [archived_responses(lake, done)] if not done.is_empty() else []
    logs = [done]
    # the bodies the fetch decoded, for this call's parse to reuse
    decoded: dict[str, tuple[Any, None]] | None = {} if parse else None
    if todo:
        refs = [AccountRef(b["platform"], b["handle"], b.get("platform_id")) for b in todo]
        window_start = datetime.now(UTC)
        responses, new_errors, complete = asyncio.run(
            fetch_accounts(refs, settings, since, decoded)
        )
        window_end = datetime.now(UTC)
        versions = {p: c.version for p, c in CONNECTORS.items()}
        frame = bronze.to_frame(responses, run_id=run_id, connector_versions=versions)
        log_rows = fetch_log_rows(
            refs, frame, new_errors, complete, since, run_id, batch_id, window_start, window_end
        )
        lake.append("bronze/raw_responses", frame)
        lake.append("bronze/fetch_log", log_rows)  # the checkpoint: these accounts are archived
        frames.append(frame)
        logs.append(log_rows)
        errors += new_errors
    else:
        log.info(
            "batch %s of run %s: every account already fetched; parsing bronze", batch_id, run_id
        )
    frame = pl.concat(frames) if frames else table_spec("bronze/raw_responses").empty()
    silver = (
        silver_from_bronze(frame, pl.concat(logs), registry, decoded) if parse else SilverBatch()
    )
    return BatchOutcome(
        batch_id=batch_id,
        accounts=len(batch),
        responses=frame.height,
        silver=silver,
        errors=errors,
        elapsed_s=time.perf_counter() - started,
        fetched=len(todo),
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


def silver_from_bronze(
    frame: pl.DataFrame,
    fetch_log: pl.DataFrame,
    registry: pl.DataFrame | None,
    decoded: Mapping[str, tuple[Any, None]] | None = None,
) -> SilverBatch:
    """Parse archived responses into silver rows; feeds the log calls complete may get tombstones.

    The one path from bronze to silver, for collection, resume and replay alike. ``decoded``:
    bodies the fetch already decoded, by response id (see :func:`parse_bronze`).
    """
    silver = parse_bronze(frame, registry, decoded)
    complete = set(fetch_log.filter(pl.col("status") == "complete")["account_key"].to_list())
    # A feed with a quarantined row is not fully known: its missing posts are not called deleted.
    doubtful = frame.filter(pl.col("response_id").is_in(silver.quarantine["response_id"].to_list()))
    complete -= set(doubtful["account_key"].to_list())
    silver.complete_feeds = complete_feed_ids(silver, complete)
    return silver


def fetch_log_rows(
    refs: list[AccountRef],
    frame: pl.DataFrame,
    errors: list[AccountError],
    complete: set[str],
    since: datetime | None,
    run_id: str,
    batch_id: str,
    started_at: datetime,
    finished_at: datetime,
) -> pl.DataFrame:
    """``bronze/fetch_log`` rows: how each account's fetch ended and its responses' window."""
    failed = {e.account_key: e for e in errors}
    counts = dict(frame.group_by("account_key").len().iter_rows()) if frame.height else {}
    rows = []
    for ref in refs:
        err = failed.get(ref.key)
        status = "failed" if err else "complete" if ref.key in complete else "partial"
        rows.append(
            {
                "run_id": run_id,
                "batch_id": batch_id,
                "platform": ref.platform,
                "account_key": ref.key,
                "status": status,
                "error_type": err.error if err else None,
                "error": err.message if err else None,
                "terminal": bool(err and err.terminal),
                "responses": int(counts.get(ref.key, 0)),
                "started_at": started_at,
                "finished_at": finished_at,
            }
        )
    return pl.DataFrame(rows, schema=table_spec("bronze/fetch_log").schema)


def logged_fetches(lake: Lake, run_id: str, account_keys: list[str] | None = None) -> pl.DataFrame:
    """The latest ``bronze/fetch_log`` row per account of a run (optionally of some accounts)."""
    spec = table_spec("bronze/fetch_log")
    if not lake.exists("bronze/fetch_log"):
        return spec.empty()
    scan = lake.scan("bronze/fetch_log").filter(pl.col("run_id") == run_id)
    if account_keys is not None:
        scan = scan.filter(pl.col("account_key").is_in(account_keys))
    return (
        scan.sort("started_at")
        .group_by("account_key", maintain_order=True)
        .last()
        .select(spec.schema.names())
        .collect()
    )


def archived_responses(lake: Lake, fetches: pl.DataFrame) -> pl.DataFrame:
    """The bronze rows of logged fetches: same run, same account, inside the fetch's window.

    Responses of an attempt that was killed before its log row was written fall outside every
    window: they stay in bronze but are not parsed (the account was fetched again).
    """
    spec = table_spec("bronze/raw_responses")
    if fetches.is_empty() or not lake.exists("bronze/raw_responses"):
        return spec.empty()
    windows = fetches.select("run_id", "account_key", "started_at", "finished_at")
    platforms = fetches["platform"].unique().to_list()
    runs = fetches["run_id"].unique().to_list()
    lo = fetches["started_at"].min()
    return (
        lake.scan("bronze/raw_responses")
        .filter(
            pl.col("platform").is_in(platforms)
            & pl.col("run_id").is_in(runs)
            & (pl.col("fetched_date") >= lo.date())  # type: ignore[union-attr]
        )
        .join(windows.lazy(), on=["run_id", "account_key"])
        .filter(pl.col("fetched_at").is_between(pl.col("started_at"), pl.col("finished_at")))
        .select(spec.schema.names())
        .sort("fetched_at", "response_id")
        .collect()
    )
