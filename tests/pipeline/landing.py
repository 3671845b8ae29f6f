"""Helpers for end-to-end platform tests: simulated platform → connector → bronze → silver → audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from hhs_platform.collect import BatchOutcome, collect_batch, plan_batches
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.quality.accuracy import compare_with_truth
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch


def registry_rows(rows: list[tuple[str, str, str | None, str, str, str | None]]) -> pl.DataFrame:
    """A registry frame from (agency, agency_name, parent, platform, handle, platform_id) tuples."""
    return pl.DataFrame(
        [
            {
                "agency": a,
                "agency_name": n,
                "parent_agency": parent,
                "platform": p,
                "handle": h,
                "platform_id": pid,
                "url": f"https://example.org/{p}/{h}",
                "tier": 1,
                "verified": False,
                "source": "test",
            }
            for a, n, parent, p, h, pid in rows
        ],
        schema={
            "agency": pl.Utf8,
            "agency_name": pl.Utf8,
            "parent_agency": pl.Utf8,
            "platform": pl.Utf8,
            "handle": pl.Utf8,
            "platform_id": pl.Utf8,
            "url": pl.Utf8,
            "tier": pl.Int64,
            "verified": pl.Boolean,
            "source": pl.Utf8,
        },
    )


@dataclass
class Landed:
    """What one collection against the simulated platforms produced."""

    lake: Lake
    outcomes: list[BatchOutcome]
    truth: dict[str, pl.DataFrame]
    report: list[dict[str, Any]]
    sandbox_stats: Any


def collect_from_sandbox(
    tmp_path: Any,
    registry: pl.DataFrame,
    settings_for: Any,
    *,
    seed: int = 7,
    run_id: str = "run-1",
    sandbox_kwargs: dict[str, Any] | None = None,
) -> Landed:
    """Serve a world built from ``registry``, collect it, write silver and audit it against truth.

    ``settings_for(sandbox) -> dict`` gives the settings the platforms need (API bases pointing
    at ``sandbox.url(platform)``, tokens).
    """
    with SandboxThread(accounts=registry, seed=seed, **(sandbox_kwargs or {})) as sb:
        lake = Lake(str(tmp_path / "lake"))
        settings = Settings(_env_file=None, lake_uri=lake.uri, **settings_for(sb))  # type: ignore[call-arg]
        outcomes = [
            collect_batch(
                b, run_id=run_id, batch_id=str(i), lake=lake, settings=settings, registry=registry
            )
            for i, b in enumerate(plan_batches(registry, 10, settings))
        ]
        write_silver(lake, SilverBatch.concat([o.silver for o in outcomes]))
        truth = sb.world.truth()
        stats = sb.stats
    return Landed(lake, outcomes, truth, compare_with_truth(lake, truth), stats)
