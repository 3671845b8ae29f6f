"""HHS social media data platform: collect, validate, store and show HHS agencies' public figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hhs_platform.api import LakeClient

__version__ = "0.1.0"


def connect(uri: str | None = None, storage_options: dict[str, str] | None = None) -> LakeClient:
    """Open the lake for reading: ``lake = hhs_platform.connect()`` (see :mod:`hhs_platform.api`)."""
    from hhs_platform.api import connect as _connect

    return _connect(uri, storage_options)
