"""The accounts registry: which official accounts to watch, loaded and validated against its schema."""

from __future__ import annotations

from hhs_platform.registry.loader import (
    COLUMNS,
    DEFAULT_REGISTRY,
    account_refs,
    load_registry,
    registry_csv,
    write_registry,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_REGISTRY",
    "account_refs",
    "load_registry",
    "registry_csv",
    "write_registry",
]
