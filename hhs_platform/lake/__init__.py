"""The lake: every table at rest in Delta Lake, defined by ``schemas`` and reached through ``Lake``."""

from __future__ import annotations

from hhs_platform.lake.store import AtLeast, Lake, WriteResult
from hhs_platform.lake.timeseries import compact_observations

__all__ = ["AtLeast", "Lake", "WriteResult", "compact_observations"]
