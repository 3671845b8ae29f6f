"""Process-wide tuning of the processes that run the flows' tasks (the Dask workers).

Python's cyclic garbage collector runs its youngest generation every 700 container allocations
beyond deallocations. Decoding a page of posts makes tens of thousands of dicts and lists that
live until the page is parsed, so with the default a collection task ran the collector about
130 times per batch of 25 accounts, each pass walking every young object still alive: 1.8 of
13 CPU seconds for 300 Bluesky accounts, and more through the cache misses it caused (measured
in docs/performance.md). Almost nothing the pipeline makes is cyclic (refcounting frees it), so
a larger threshold costs little memory.
"""

from __future__ import annotations

import gc

from hhs_platform.secrets import install_redaction
from hhs_platform.settings import Settings


def tune_gc(threshold: int) -> None:
    """Run the youngest garbage collection every ``threshold`` allocations (0: leave Python's).

    Idempotent and cheap: tasks call it on every run, whichever worker they land on. The older
    generations keep their own thresholds.
    """
    if threshold <= 0:
        return
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


def prepare_worker() -> Settings:
    """The settings of the process a task runs in, with its log redaction installed and its
    garbage collector tuned (both process-wide and idempotent: every task calls this)."""
    settings = Settings()
    install_redaction(settings)  # the worker's own log records (its libraries' too)
    tune_gc(settings.gc_threshold)
    return settings
