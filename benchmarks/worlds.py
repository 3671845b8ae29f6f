"""Registries of any size for the benchmarks: the shipped registry's agencies and tiers, spread
over the platforms the simulated platforms serve, so that a simulated world of 3,000 accounts (10×
the HHS family) can be built and collected.

```bash
.venv/bin/python -m benchmarks.worlds --accounts 3000      # platforms and tiers of the registry
```
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import polars as pl

from hhs_platform.registry import load_registry

#: The ten platforms of the scale targets (those the simulated platforms serve and the
#: collector reads), in the order accounts are dealt to them.
PLATFORMS = (
    "x",
    "facebook",
    "youtube",
    "linkedin",
    "bluesky",
    "instagram",
    "flickr",
    "mastodon",
    "threads",
    "reddit",
)
#: Share of the accounts per platform: the shipped registry's mix, with the platforms it does
#: not use yet given a few accounts each.
WEIGHTS = {
    "x": 0.22,
    "facebook": 0.18,
    "youtube": 0.16,
    "linkedin": 0.14,
    "bluesky": 0.10,
    "instagram": 0.06,
    "flickr": 0.04,
    "mastodon": 0.04,
    "threads": 0.03,
    "reddit": 0.03,
}


def registry(
    accounts: int = 3000,
    *,
    platforms: Sequence[str] = PLATFORMS,
    seed: int = 7,
) -> pl.DataFrame:
    """A registry of ``accounts`` synthetic accounts with the shipped registry's columns.

    Agencies (and their names and parents) are the shipped registry's, each account gets one at
    random; tiers follow the registry's mix (about a quarter tier 1). Handles are unique per
    platform (``<agency><n>`` in lower case letters and digits, such as ``cdcnchs0042``: valid on
    every platform), and deterministic for a seed.

    Args:
        accounts: How many accounts.
        platforms: Platforms to spread them over (weights of ``WEIGHTS``, renormalised).
        seed: Seed of the draws.
    """
    unknown = sorted(set(platforms) - set(WEIGHTS))
    if unknown:
        raise ValueError(f"no weight for platform(s) {', '.join(unknown)}; known: {PLATFORMS}")
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    shipped = load_registry()
    agencies = shipped.select("agency", "agency_name", "parent_agency").unique().sort("agency")
    tiers = shipped["tier"].to_numpy()
    rng = np.random.default_rng(seed)
    weights = np.array([WEIGHTS[p] for p in platforms], dtype=float)
    counts = np.floor(weights / weights.sum() * accounts).astype(int)
    counts[np.argsort(-weights)[: accounts - counts.sum()]] += 1  # the remainder to the largest
    rows = []
    for platform, count in zip(platforms, counts, strict=True):
        picks = rng.integers(0, agencies.height, count)
        drawn = rng.choice(tiers, count)
        for n, (pick, tier) in enumerate(zip(picks, drawn, strict=True)):
            agency = agencies.row(int(pick), named=True)
            # letters and digits only: the one alphabet every platform's handles accept
            # (Facebook refuses "_", X and Mastodon refuse "." and "-")
            handle = f"{agency['agency'].lower().replace('-', '')}{n:04d}"
            rows.append(
                {
                    **agency,
                    "platform": platform,
                    "handle": handle,
                    "platform_id": None,
                    "previous_handles": None,
                    "url": f"https://example.org/{platform}/{handle}",
                    "tier": int(tier),
                    "verified": True,
                    "source": "benchmark",
                }
            )
    return pl.DataFrame(rows, schema=shipped.schema, infer_schema_length=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a synthetic registry's make-up.")
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    df = registry(args.accounts, seed=args.seed)
    with pl.Config(tbl_rows=20):
        print(df.group_by("platform").len().sort("len", descending=True))
        print(df.group_by("tier").len().sort("tier"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
