"""Where budgets, quota ledgers and circuit breakers keep their state: in-process or shared.

Every piece of rate-limit state is one small JSON record under a string key, changed only
through :meth:`SharedState.transact`, an atomic read-modify-write. Two implementations:

- :class:`MemoryState`: a dict and a lock; the tasks of one process (the default outside Dask).
- :class:`SqliteState`: one SQLite file, each transaction a ``BEGIN IMMEDIATE`` (SQLite's own
  file lock serialises writers across processes). Every process of a Dask cluster that opens
  the same file shares every budget, ledger and breaker.

Why SQLite rather than Dask's scheduler primitives (``distributed.Lock`` + ``Variable``): a
transaction here is one local file operation of some microseconds, while a lock-get-set-release
through the scheduler is four network round trips for *every* request; SQLite needs no running
cluster (so the CLI, tests and a worker share one code path), survives scheduler restarts, and,
with ``HHS_HTTP_STATE_DIR`` set, keeps the YouTube unit ledger across runs of the same Pacific
day, which the scheduler's memory cannot. The cost: processes must see one file, so a
multi-node cluster needs ``HHS_HTTP_STATE_DIR`` on a volume every worker mounts (a local disk
per node shares state only within the node). The protocol is one method, so a scheduler-backed
store can replace it without touching budgets, ledgers or breakers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Record = dict[str, Any]
#: A transaction body: the current record (None when absent) in, the new record (None deletes)
#: and a result out. It runs once, holding the lock: it must not block or do I/O.
Change = Callable[[Record | None], tuple[Record | None, T]]


class SharedState(Protocol):
    """Atomic read-modify-write of small JSON records by key."""

    def transact(self, key: str, change: Change[T]) -> T:
        """Apply ``change`` to the record under ``key`` atomically; its result."""
        ...


class MemoryState:
    """State shared by the threads and tasks of one process."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()

    def transact(self, key: str, change: Change[T]) -> T:
        with self._lock:
            current = self._records.get(key)
            new, result = change(dict(current) if current is not None else None)
            if new is None:
                self._records.pop(key, None)
            else:
                self._records[key] = new
            return result


class SqliteState:
    """State shared by every process that opens the same SQLite file.

    One connection per thread and process (SQLite connections must not cross either); WAL mode
    so readers never wait; ``BEGIN IMMEDIATE`` takes the write lock before reading, so two
    processes can never both read the same budget and both spend its last request.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._local = threading.local()
        # Two processes opening a new file at once can find it locked while the other switches it
        # to WAL; SQLite's busy handler does not cover that, so the setup is retried.
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._connection() as conn:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)"
                    )
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def transact(self, key: str, change: Change[T]) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            new, result = change(json.loads(row[0]) if row else None)
            if new is None:
                if row is not None:
                    conn.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                conn.execute(
                    "INSERT INTO state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(new)),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def __getstate__(self) -> dict[str, Any]:  # picklable: reopen the file on the other side
        return {"path": self.path, "timeout_s": self.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], timeout_s=state["timeout_s"])  # type: ignore[misc]


def dask_scheduler_address() -> str | None:
    """The scheduler address when this code runs inside a Dask worker, else None."""
    if "distributed" not in sys.modules:  # a Dask worker has imported it; importing costs ~1.5 s
        return None
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return None
    return str(worker.scheduler.address)


def default_state(state_dir: Path | None) -> SharedState:
    """The store an :class:`~hhs_platform.http.HttpClient` uses when none is given.

    ``state_dir`` set (``HHS_HTTP_STATE_DIR``): a SQLite file in it, shared by every process
    that sees the folder and kept across runs. Otherwise, inside a Dask worker: a SQLite file in
    the temp folder named after the scheduler, shared by the cluster's processes on this machine
    for the cluster's life. Otherwise: in-process memory.
    """
    if state_dir is not None:
        return SqliteState(Path(state_dir) / "http-state.sqlite")
    address = dask_scheduler_address()
    if address is not None:
        name = hashlib.sha256(address.encode()).hexdigest()[:16]
        return SqliteState(Path(tempfile.gettempdir()) / "hhs-http-state" / f"{name}.sqlite")
    return MemoryState()
