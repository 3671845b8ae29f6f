"""In-memory copies of the tables the API serves, one per Delta version of each table.

Reading a table with polars for every request costs what reading its Parquet files costs (0.1-1 s
for millions of rows), and on a small machine concurrent requests queue behind each other's
reads. The API instead keeps the columns it answers from in memory, and shapes built from them
(posts sorted in page order with their account's agency, one frame per account's daily figures,
the last fetch per account), and rebuilds each when a table it comes from gets a new Delta
version. A table's version is looked up at most once per ``ttl_s`` seconds (default 2 s), so an
answer may be up to ``ttl_s`` older than the lake, never older than that, and never a mix of two
versions of one table.

Every entry is built once at a time (concurrent requests for the same entry wait for the one
build); an entry replaced by a newer version is dropped, so memory holds one copy of each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import polars as pl

from hhs_platform.lake import Lake

T = TypeVar("T")

#: Seconds a table's Delta version is trusted before it is looked up again.
TTL_S = 2.0


class Snapshots:
    """Versioned in-memory frames of one lake's tables (thread-safe)."""

    def __init__(self, lake: Lake, ttl_s: float = TTL_S) -> None:
        self.lake = lake
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[float, int | None]] = {}
        self._entries: dict[str, tuple[tuple[int | None, ...], Any]] = {}
        self._building: dict[str, threading.Lock] = {}

    # -- versions --------------------------------------------------------------------------------
    def version(self, table: str) -> int | None:
        """The table's Delta version, looked up at most once per ``ttl_s`` (None: not written)."""
        now = time.monotonic()
        with self._lock:
            seen = self._versions.get(table)
        if seen is not None and now - seen[0] < self.ttl_s:
            return seen[1]
        version = self.lake.version(table)
        with self._lock:
            self._versions[table] = (time.monotonic(), version)
        return version

    # -- entries ---------------------------------------------------------------------------------
    def derived(self, key: str, tables: Sequence[str], build: Callable[[], T]) -> T:
        """The value ``build()`` returns, cached until one of ``tables`` gets a new version.

        ``build`` reads the tables itself (through :meth:`frame` or the lake); the versions are
        taken before it runs, so a write during the build makes the next call build again.
        """
        versions = tuple(self.version(t) for t in tables)
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held[0] == versions:
                return held[1]  # type: ignore[no-any-return]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                held = self._entries.get(key)
            if held is not None and held[0] == versions:
                return held[1]  # type: ignore[no-any-return]  # built while this one waited
            value = build()
            with self._lock:
                self._entries[key] = (versions, value)
            return value

    def frame(self, table: str, columns: Sequence[str]) -> pl.DataFrame:
        """``columns`` of ``table`` as of its current version (empty with the catalogue schema
        when the table has not been written)."""
        wanted = list(columns)
        key = f"{table}:{','.join(wanted)}"
        return self.derived(key, [table], lambda: self.lake.read(table, columns=wanted))

    def clear(self) -> None:
        """Forget every entry and version (the next reads load again)."""
        with self._lock:
            self._entries.clear()
            self._versions.clear()


__all__ = ["TTL_S", "Snapshots"]
