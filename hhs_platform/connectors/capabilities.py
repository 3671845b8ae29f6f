"""What each platform's API can give, as one table for the docs and the dashboards."""

from __future__ import annotations

from dataclasses import asdict

import polars as pl

from hhs_platform.connectors import CONNECTORS


def capabilities_table() -> pl.DataFrame:
    """One row per connector: ``platform``, ``version`` and every :class:`Capabilities` field."""
    rows = [
        {"platform": platform, "version": cls.version, **asdict(cls.capabilities)}
        for platform, cls in sorted(CONNECTORS.items())
    ]
    return pl.DataFrame(rows)
