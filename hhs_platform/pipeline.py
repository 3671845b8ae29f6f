"""The pipeline's steps as plain functions: what the Prefect flows run, callable from a notebook.

The collection flow (``flows/collect.py``) wraps each step below in a Prefect task; here they are
the same functions without Prefect, so a data scientist can run a collection, or rebuild gold and
the analytics, on a Dask cluster they already have:

```python
from dask.distributed import Client
from hhs_platform import pipeline

client = Client("tcp://scheduler:8786")  # or Client() for a local cluster
summary = pipeline.collect(client, platforms=["bluesky"], lookback_days=7)
pipeline.refresh(client=client)  # gold, anomalies, forecasts, quality
```

Fetching runs on the cluster one batch per task (as in the flow); the lake writes run as tasks
on it too, and enrichment and forecasts hand their parts to every worker from inside their task
(``hhs_platform.spread``). Without a client, ``collect`` uses the client of the current Dask context
(``distributed.get_client``) and fails clearly when there is none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from hhs_platform.analytics.anomalies import build_anomalies, changed_since
from hhs_platform.analytics.forecasts import build_forecasts
from hhs_platform.collect import (
    BatchOutcome,
    collect_batch,
    plan_batches,
    select_tiers,
    skipped_platforms,
)
from hhs_platform.enrich import enrich_posts, link_campaigns
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.ops.slo import build_slo
from hhs_platform.quality.scorecard import build_quality
from hhs_platform.registry import load_registry
from hhs_platform.reports.run_summary import run_quality, run_summary_rows
from hhs_platform.settings import Settings
from hhs_platform.transforms.gold import build_gold
from hhs_platform.transforms.normalize import SilverBatch
from hhs_platform.webhooks import emit_anomalies
from schemas import table_spec

if TYPE_CHECKING:
    from distributed import Client

Progress = Callable[[str], None]


# -- the steps after fetching (the flow's tasks call these) --------------------------------------
def write_outcomes(lake: Lake, outcomes: list[BatchOutcome]) -> dict[str, dict[str, int]]:
    """Write the silver rows of fetched batches: rows given, inserted and updated per table."""
    results = write_silver(lake, SilverBatch.concat([o.silver for o in outcomes]))
    return {
        name: {"rows": r.rows_in, "inserted": r.inserted, "updated": r.updated}
        for name, r in results.items()
    }


def enrich(lake: Lake) -> dict[str, int]:
    """Text features, topics and places of changed posts, and cross-platform campaign links."""
    return {r.table: r.rows_in for r in (enrich_posts(lake), link_campaigns(lake))}


_DAILY = "gold/daily_account_metrics"


def refresh_gold(lake: Lake) -> tuple[dict[str, int], date | None]:
    """Bring gold up to date (incrementally); rows written per table, and the first day whose
    daily figures changed (None: none changed)."""
    before = lake.version(_DAILY)
    written = {name: r.rows_in for name, r in build_gold(lake).items()}
    return written, first_changed_day(lake, before)


def first_changed_day(lake: Lake, version: int | None) -> date | None:
    """The first day whose ``gold/daily_account_metrics`` rows differ between ``version`` (None:
    not written yet) and now.

    Only files a commit since added or removed hold changed rows: per platform, both versions
    are compared from the earliest day in those files on (their statistics; the table is
    clustered by day, so the older files are not read); platforms without such files are not
    read. Without statistics, the whole table is compared.
    """
    if version is None:
        return changed_since(table_spec(_DAILY).empty(), lake.read(_DAILY))
    now = lake.version(_DAILY)
    if now == version:
        return None
    files = [lake.delta(_DAILY, v) for v in (version, now)]
    adds = [pl.DataFrame(f.get_add_actions(flatten=True)) for f in files if f is not None]
    scans = [lake.scan(_DAILY, version=version), lake.scan(_DAILY)]
    columns = ("path", "partition.platform", "min.date")
    if all(c in a.columns for a in adds for c in columns):
        touched = (
            pl.concat([a.select(columns) for a in adds])
            .filter(pl.col("path").is_unique())
            .group_by("partition.platform")
            .agg(pl.col("min.date").min(), pl.col("min.date").null_count().alias("_unknown"))
        )
        if touched["_unknown"].sum() == 0:
            bounds = touched.select("partition.platform", "min.date").rows()
            since = pl.any_horizontal(
                [(pl.col("platform") == p) & (pl.col("date") >= d) for p, d in bounds]
                or [pl.lit(False)]
            )
            scans = [scan.filter(since) for scan in scans]
    before, after = pl.collect_all(scans)
    return changed_since(before, after)


def refresh_analytics(lake: Lake, since: date) -> dict[str, int]:
    """Explained anomalies from ``since`` on (with their trailing window), and forecasts.

    The anomalies the build found first become ``anomaly.detected`` webhook events.
    """
    anomalies = build_anomalies(lake, since)
    emit_anomalies(lake)
    return {r.table: r.rows_in for r in (anomalies, build_forecasts(lake))}


def score_quality(lake: Lake, run_id: str) -> dict[str, int]:
    """The quality scorecard and flags of a run: rows written per table."""
    return {name: r.inserted + r.updated for name, r in build_quality(lake, run_id).items()}


def refresh_slo(lake: Lake) -> int:
    """The ``ops/slo`` rows of the days since the last build; rows written."""
    result = build_slo(lake)
    return result.inserted + result.updated


# -- whole runs on a Dask client ------------------------------------------------------------------
def collect(
    client: Client | None = None,
    *,
    lake: Lake | str | None = None,
    platforms: list[str] | None = None,
    tiers: list[int] | None = None,
    accounts_file: str | None = None,
    since: datetime | None = None,
    lookback_days: int | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = print,
) -> dict[str, Any]:
    """Collect the registry's accounts on ``client``'s cluster, then build silver, gold, the
    analytics and the quality scorecard: the collection flow's steps, without Prefect.

    Args:
        client: A ``distributed.Client``; ``None`` means the current one (``get_client``).
        lake: The lake (or its URI); ``None`` means ``HHS_LAKE_URI``.
        platforms: Only these platforms' accounts.
        tiers: Only the accounts of these tiers (1, 2, 3).
        accounts_file: Another registry CSV than the shipped one.
        since: Read each feed back to this moment only.
        lookback_days: Read each feed back this many days only (instead of ``since``).
        run_id: Resume an interrupted run: accounts it archived are parsed from bronze, not
            fetched again. Default: a new ``notebook-<uuid>``.
        settings: Settings (credentials, API bases, batch size); default from the environment.
            They travel to the workers with the tasks.
        progress: Called with a line per batch done (``None``: silent).

    Returns:
        The run's summary: accounts, responses, errors, rows per table and per platform.

    Raises:
        ConfigurationError: Both ``since`` and ``lookback_days``, or no Dask client.
    """
    settings = settings or Settings()
    if since is not None and lookback_days is not None:
        raise ConfigurationError("give since or lookback_days, not both")
    if lookback_days is not None:
        if lookback_days < 1:
            raise ConfigurationError(f"lookback_days must be 1 or more, not {lookback_days}")
        since = datetime.now(UTC) - timedelta(days=lookback_days)
    client = client or _current_client()
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    registry = select_tiers(
        load_registry(accounts_file or settings.accounts_file, platforms), tiers
    )
    run_id = run_id or f"notebook-{uuid.uuid4()}"
    batches = plan_batches(registry, settings.batch_size, settings)
    say = progress or (lambda _line: None)
    say(f"run {run_id}: {sum(map(len, batches))} accounts in {len(batches)} batches")

    from distributed import as_completed

    futures = [
        client.submit(
            collect_batch,
            batch,
            run_id=run_id,
            batch_id=f"{batch[0]['platform']}-{i:04d}",
            lake=lake,
            settings=settings,
            registry=registry,
            since=since,
            pure=False,
        )
        for i, batch in enumerate(batches)
    ]
    for done, future in enumerate(as_completed(futures), start=1):
        say(f"batch {done}/{len(futures)}: {future.result().summary()}")
    # The batches go from the workers that fetched them to the one that writes silver.
    silver = client.submit(write_outcomes, lake, futures, pure=False).result()
    outcomes: list[BatchOutcome] = client.gather(futures)
    say(f"silver: {_rows(silver)}")
    refreshed = refresh(lake, client=client, run_id=run_id, progress=progress)
    return {
        "run_id": run_id,
        "lake_uri": lake.uri,
        "accounts": sum(o.accounts for o in outcomes),
        "responses": sum(o.responses for o in outcomes),
        "fetched_accounts": sum(o.fetched for o in outcomes),
        "errors": [e.__dict__ for o in outcomes for e in o.errors],
        "silver": silver,
        **refreshed,
        "quality_score": run_quality(lake, registry, datetime.now(UTC).date()),
        "skipped_platforms": skipped_platforms(registry, settings),
        "per_platform": run_summary_rows(outcomes),
    }


def refresh(
    lake: Lake | str | None = None,
    *,
    client: Client | None = None,
    since: date | None = None,
    run_id: str | None = None,
    progress: Progress | None = print,
) -> dict[str, Any]:
    """Rebuild what depends on silver, in the flow's order: enrichment, gold, anomalies and
    forecasts, the quality scorecard of ``run_id`` (skipped when None), the SLO table.

    Args:
        lake: The lake (or its URI); ``None`` means ``HHS_LAKE_URI``.
        client: Run each step as a task on this Dask client; ``None`` runs them here.
        since: Recompute anomalies from this day on; default the first day gold changed (or
            today).
        run_id: The collection run whose quality to score.
        progress: Called with a line per step (``None``: silent).

    Returns:
        Rows written per step: ``enriched``, ``gold``, ``analytics``, ``quality``, ``slo_rows``.
    """
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    say = progress or (lambda _line: None)

    def run(fn: Callable[..., Any], *args: Any) -> Any:
        if client is None:
            return fn(*args)
        return client.submit(fn, *args, pure=False).result()

    enriched = run(enrich, lake)
    say(f"enriched: {_rows(enriched)}")
    gold, changed = run(refresh_gold, lake)
    say(f"gold: {_rows(gold)}")
    today = datetime.now(UTC).date()
    analytics = run(refresh_analytics, lake, min(since or changed or today, today))
    say(f"analytics: {_rows(analytics)}")
    quality = run(score_quality, lake, run_id) if run_id else {}
    slo = run(refresh_slo, lake)
    return {
        "enriched": enriched,
        "gold": gold,
        "analytics": analytics,
        "quality": quality,
        "slo_rows": slo,
    }


def _current_client() -> Client:
    try:
        from distributed import get_client

        return get_client()
    except ValueError:
        raise ConfigurationError(
            "no Dask client: pass one (pipeline.collect(Client(...))) or create one first"
        ) from None


def _rows(written: dict[str, Any]) -> str:
    parts = []
    for name, value in written.items():
        n = value["rows"] if isinstance(value, dict) else value
        parts.append(f"{name} {n:,}")
    return ", ".join(parts) or "nothing"


__all__ = [
    "collect",
    "enrich",
    "refresh",
    "refresh_analytics",
    "refresh_gold",
    "refresh_slo",
    "score_quality",
    "write_outcomes",
]
