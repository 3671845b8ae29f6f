"""Read and write lake tables: appends, MERGEs on natural keys, overwrites; retried on commit races."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import polars as pl
from deltalake import DeltaTable, Schema, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from hhs_platform.errors import LakeError
from hhs_platform.lake.audit import commit_properties
from schemas import TableSpec, table_spec

log = logging.getLogger(__name__)

#: Columns a MERGE must not overwrite once set, and how to combine them instead.
_KEEP_EARLIEST = ("first_seen_at",)
_KEEP_LATEST = ("last_seen_at", "last_observed_at")
_COMMIT_ATTEMPTS = 8
#: Properties every table is created with. A checkpoint every 10 commits instead of Delta's
#: default 100: opening a table replays the JSON commits since its last checkpoint, so a table
#: that grows by small appends (the fetch log, bronze) opened in 28 ms after 60 commits with the
#: default and in 6 ms with 10 (reads and writes both open the table).
TABLE_PROPERTIES = {"delta.checkpointInterval": "10"}
#: The Delta property of the size of the files a MERGE (and compaction) writes.
_FILE_SIZE = "delta.targetFileSize"


def table_properties(table: str) -> dict[str, str]:
    """The Delta properties of a catalogue table: ``TABLE_PROPERTIES`` and, for a clustered
    table, the size of its files (``TableSpec.file_bytes``), so that its MERGEs write files of
    that size too: a MERGE of rows sorted by the cluster columns then leaves them in files each
    holding a range of them."""
    spec = table_spec(table)
    sized = {_FILE_SIZE: str(spec.file_bytes)} if spec.file_bytes else {}
    return {**TABLE_PROPERTIES, **sized}


#: Most values the filter of one replacing commit lists (``Lake.replace_many``). The Delta
#: writer's predicate parser turns ``IN`` lists into chains of ``OR``: 20,000 values parse,
#: 40,000 crash the process.
MAX_LISTED_VALUES = 5_000


@dataclass(frozen=True)
class AtLeast:
    """A lower bound in a :meth:`Lake.replace` filter: the column's values from ``value`` on."""

    value: date | datetime


#: A :meth:`Lake.replace` filter: per column, the values replaced or their lower bound.
Where = Mapping[str, list[str] | AtLeast]


@dataclass(frozen=True)
class WriteResult:
    """What one write did."""

    table: str
    rows_in: int
    inserted: int = 0
    updated: int = 0
    skipped: bool = False  # a retried write whose transaction was already committed


class Lake:
    """The lake at one URI. Tables are addressed by catalogue name (``silver/posts``)."""

    def __init__(
        self, uri: str | None = None, storage_options: dict[str, str] | None = None
    ) -> None:
        if uri is None or storage_options is None:
            from hhs_platform.settings import get_settings

            settings = get_settings()
            uri = uri if uri is not None else settings.lake_uri
            storage_options = (
                storage_options if storage_options is not None else settings.lake_storage_options
            )
        self.uri = uri.rstrip("/")
        self.storage_options = dict(storage_options or {})
        # (table, its catalogue columns) found to hold every column: checked once per Lake, as a
        # table's columns only ever grow (see evolve)
        self._evolved: set[tuple[str, tuple[str, ...], int | None]] = set()
        self._init_snapshots()

    def _init_snapshots(self) -> None:
        # each table as last loaded by a read: reused while no commit came since (see _latest)
        self._snapshots: dict[str, tuple[DeltaTable, tuple[int, Any]]] = {}
        self._snapshots_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # loaded tables (and their lock) stay in this process; a copy loads its own
        state = dict(self.__dict__)
        del state["_snapshots"], state["_snapshots_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_snapshots()

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    # -- paths and existence -------------------------------------------------------------
    def path(self, table: str) -> str:
        """Where a table lives: ``<lake uri>/<table>``."""
        table_spec(table)
        return f"{self.uri}/{table}"

    def delta(self, table: str, version: int | None = None) -> DeltaTable | None:
        """The DeltaTable, or None when the table has not been written yet."""
        try:
            return DeltaTable(
                self.path(table), version=version, storage_options=self.storage_options
            )
        except TableNotFoundError:
            return None

    def _latest(self, table: str) -> DeltaTable | None:
        """The table at its latest version, for reading (None when not written yet).

        The Delta log is loaded again only when a commit came since the last load: the latest
        version and its commit's time are read (about 1 ms on a local disk) where loading the
        log replays the last checkpoint and the commits after it (4-30 ms). A table dropped and
        written again up to the same version is told apart by its commit's time. Readers share
        the loaded table; it is never updated in place, so a scan keeps the version it began with.
        """
        with self._snapshots_lock:
            loaded = self._snapshots.get(table)
        if loaded is not None:
            delta, stamp = loaded
            try:
                if _stamp(delta, delta._table.get_latest_version()) == stamp:
                    return delta
            except DeltaError:  # its log is gone: load it again (or find it missing)
                pass
        current = self.delta(table)
        with self._snapshots_lock:
            if current is None:
                self._snapshots.pop(table, None)
            else:
                self._snapshots[table] = (current, _stamp(current, current.version()))
        return current

    def version(self, table: str) -> int | None:
        """The table's current Delta version (None when not written yet).

        Asks the table loaded last (see :meth:`_latest`): about 1 ms when no commit came since,
        where loading the log takes 3-75 ms on the benchmark's large lake (``silver/posts``, 723
        files: 75 ms), and more with the commits since a checkpoint.
        """
        latest = self._latest(table)
        return None if latest is None else latest.version()

    def exists(self, table: str) -> bool:
        """Whether the table has been written: a look for its Delta log (0.3 ms), not a load of
        the log (20 ms and more, growing with the commits since the last checkpoint)."""
        return DeltaTable.is_deltatable(self.path(table), storage_options=self.storage_options)

    # -- reads ---------------------------------------------------------------------------
    def scan(self, table: str, version: int | None = None) -> pl.LazyFrame:
        """A lazy scan of a table (empty, with the catalogue schema, when it does not exist)."""
        spec = table_spec(table)
        if version is None:
            latest = self._latest(table)
            return spec.empty().lazy() if latest is None else pl.scan_delta(latest)
        if not self.exists(table):
            return spec.empty().lazy()
        with self._snapshots_lock:
            loaded = self._snapshots.get(table)
        if loaded is not None and loaded[0].version() == version:
            return pl.scan_delta(loaded[0])  # the version asked for is loaded already
        return pl.scan_delta(
            self.path(table), version=version, storage_options=self.storage_options or None
        )

    def read(
        self, table: str, columns: list[str] | None = None, where: pl.Expr | None = None
    ) -> pl.DataFrame:
        """Collect a table (optionally some columns and rows)."""
        lf = self.scan(table)
        if where is not None:
            lf = lf.filter(where)
        if columns:
            lf = lf.select(columns)
        return lf.collect()

    # -- writes --------------------------------------------------------------------------
    def write(
        self, table: str, df: pl.DataFrame, *, txn: tuple[str, int] | None = None
    ) -> WriteResult:
        """Write rows the way the catalogue says (append, merge or overwrite)."""
        spec = table_spec(table)
        if spec.mode == "append":
            return self.append(table, df, txn=txn)
        if spec.mode == "merge":
            return self.merge(table, df)
        return self.overwrite(table, df)

    def append(
        self, table: str, df: pl.DataFrame, *, txn: tuple[str, int] | None = None
    ) -> WriteResult:
        """Append rows. With ``txn=(app_id, version)`` a retried append of the same batch is a no-op."""
        spec = table_spec(table)
        df = _conform(spec, df)
        if df.is_empty():
            return WriteResult(table, 0)
        self.evolve(table)
        props = commit_properties(txn=txn)  # who writes (the audit trail) and the transaction

        def run() -> bool:
            # Checked inside the retried commit: a writer that lost the race to the same
            # transaction sees it applied on its next attempt instead of appending again.
            if txn is not None:
                dt = self.delta(table)
                if dt is not None and (dt.transaction_version(txn[0]) or -1) >= txn[1]:
                    return False
            self._write(table, df, "append", commit_properties=props)
            return True

        if not self._retry(table, run):
            return WriteResult(table, df.height, skipped=True)
        return WriteResult(table, df.height, inserted=df.height)

    def overwrite(self, table: str, df: pl.DataFrame) -> WriteResult:
        """Replace a table's contents (gold tables rebuilt from silver)."""
        spec = table_spec(table)
        df = _conform(spec, df)
        self._retry(
            table,
            lambda: self._write(table, df, "overwrite", schema_mode="overwrite"),
        )
        return WriteResult(table, df.height, inserted=df.height)

    def replace(self, table: str, df: pl.DataFrame, where: Where) -> WriteResult:
        """Atomically replace the rows of some entities with ``df`` (one commit).

        ``where`` maps a string column to the values whose rows are replaced, e.g.
        ``{"platform": ["x"], "account_id": ["1", "2"]}``, or a column to a lower bound
        (:class:`AtLeast`): rows matching every column are deleted and ``df`` (which must lie
        inside the same set) is written in their place. A bound on a clustered table's column
        (``TableSpec.cluster_by``) lets the write skip the files below it.
        """
        return self.replace_many(table, [(df, where)])

    def replace_many(self, table: str, parts: list[tuple[pl.DataFrame, Where]]) -> WriteResult:
        """:meth:`replace` of several disjoint sets of entities, each with its rows, in as few
        commits as the Delta writer's predicate allows: parts are packed into one commit while
        their filters list at most ``MAX_LISTED_VALUES`` values (a part listing more gets a
        commit of its own). Parts with an empty filter replace nothing."""
        spec = table_spec(table)
        parts = [
            (_conform(spec, df), where)
            for df, where in parts
            if where and all(values for values in where.values())
        ]
        if not parts:
            return WriteResult(table, 0)
        rows = sum(df.height for df, _ in parts)
        if not self.exists(table):
            frames = [df for df, _ in parts if df.height]
            return self.append(table, pl.concat(frames)) if frames else WriteResult(table, 0)
        self.evolve(table)
        groups: list[list[tuple[pl.DataFrame, Where]]] = [[]]
        listed = 0
        for part in parts:
            size = sum(
                1 if isinstance(values, AtLeast) else len(set(values))
                for values in part[1].values()
            )
            if groups[-1] and listed + size > MAX_LISTED_VALUES:
                groups.append([])
                listed = 0
            groups[-1].append(part)
            listed += size
        for group in groups:
            predicate = " OR ".join(
                "(" + " AND ".join(_condition(col, values) for col, values in where.items()) + ")"
                for _, where in group
            )
            frame = pl.concat([df for df, _ in group])
            self._retry(
                table,
                lambda frame=frame, predicate=predicate: self._write(
                    table, frame, "overwrite", predicate=predicate
                ),
            )
        return WriteResult(table, rows, inserted=rows)

    def evolve(self, table: str) -> list[str]:
        """Add to a stored table the columns its catalogue model gained since it was created,
        and give a clustered table created before it was clustered its file size.

        New columns are nullable; rows written before read them as null. Returns their names.
        """
        spec = table_spec(table)
        checked = (table, tuple(spec.schema), spec.file_bytes)
        if checked in self._evolved:
            return []
        dt = self.delta(table)
        if dt is None:
            return []
        stored = {f.name for f in dt.schema().fields}
        wanted = Schema.from_arrow(spec.empty().to_arrow().schema)
        missing = [f for f in wanted.fields if f.name not in stored]
        if missing:
            dt.alter.add_columns(missing, commit_properties=commit_properties())
            log.info("%s: added columns %s", table, ", ".join(f.name for f in missing))
        size = table_properties(table).get(_FILE_SIZE)
        if size is not None and dt.metadata().configuration.get(_FILE_SIZE) != size:
            changed = {_FILE_SIZE: size}

            def configure() -> None:
                latest = self.delta(table)
                assert latest is not None
                latest.alter.set_table_properties(changed, commit_properties=commit_properties())

            self._retry(table, configure)
            log.info("%s: set %s", table, changed)
        self._evolved.add(checked)
        return [f.name for f in missing]

    def merge(self, table: str, df: pl.DataFrame) -> WriteResult:
        """Upsert on the table's natural keys: insert new keys, refresh existing ones.

        ``first_seen_at`` keeps its earliest value and ``last_seen_at``/``last_observed_at``
        their latest, so replaying old responses never moves a row backwards.
        """
        spec = table_spec(table)
        df = _conform(spec, df)
        if df.is_empty():
            return WriteResult(table, 0)
        df = df.unique(subset=list(spec.keys), keep="last", maintain_order=True)
        if spec.cluster_by:  # new rows go in files of table_properties' size, in this order
            df = df.sort([*spec.partition_by, *spec.cluster_by])
        self.evolve(table)
        if not self.exists(table):
            # Created empty, then merged: two writers appending the first rows at once would both
            # succeed and double every key they share; two MERGEs conflict and one retries.
            self.create_missing([table])
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in spec.keys)
        for col in spec.partition_by:  # a literal partition filter prunes the files the MERGE reads
            values = df[col].unique().to_list()
            if len(values) == 1 and isinstance(values[0], str):
                predicate += f" AND t.{col} = '{_sql_str(values[0])}'"
            elif (
                col in spec.keys
                and 1 < len(values) <= 64
                and all(isinstance(v, str) for v in values)
            ):
                listed = ", ".join(f"'{_sql_str(v)}'" for v in sorted(values))
                predicate += f" AND t.{col} IN ({listed})"
        updates = {}
        for col in df.columns:
            if col in spec.keys:
                continue
            if col in _KEEP_EARLIEST:
                updates[col] = f"CASE WHEN t.{col} < s.{col} THEN t.{col} ELSE s.{col} END"
            elif col in _KEEP_LATEST:
                updates[col] = f"CASE WHEN t.{col} > s.{col} THEN t.{col} ELSE s.{col} END"
            else:
                updates[col] = f"s.{col}"
        # Content columns only move forward: an older response must not overwrite newer content.
        newer = next((c for c in ("last_seen_at", "last_observed_at") if c in df.columns), None)
        content = {k: v for k, v in updates.items() if not k.startswith(("first_", "last_"))}
        stamps = {k: v for k, v in updates.items() if k.startswith(("first_", "last_"))}

        def run() -> dict[str, Any]:
            dt = self.delta(table)
            assert dt is not None
            merger = dt.merge(
                df.to_arrow(),
                predicate=predicate,
                source_alias="s",
                target_alias="t",
                streamed_exec=False,
                commit_properties=commit_properties(),
            )
            if newer is not None and content:
                merger = merger.when_matched_update(
                    {**content, **stamps}, predicate=f"s.{newer} >= t.{newer}"
                )
                merger = merger.when_matched_update(stamps, predicate=f"s.{newer} < t.{newer}")
            else:
                merger = merger.when_matched_update(updates)
            return dict(merger.when_not_matched_insert_all().execute())

        metrics = self._retry(table, run)
        return WriteResult(
            table,
            df.height,
            inserted=int(metrics.get("num_target_rows_inserted", 0)),
            updated=int(metrics.get("num_target_rows_updated", 0)),
        )

    def create_missing(self, tables: list[str] | None = None) -> list[str]:
        """Create, empty and with their schema, the catalogue tables that do not exist yet, and
        add to the others the columns their models gained since.

        So every table reads (``pl.read_delta``) even before it has rows, e.g. a quarantine
        that has never been needed.
        """
        from schemas import CATALOGUE

        created = []
        for name in tables or list(CATALOGUE):
            if self.exists(name):
                self.evolve(name)  # a table written before its model gained a column gets it
                continue
            spec = table_spec(name)
            try:
                self._write(name, spec.empty(), "append")
                created.append(name)
            except CommitFailedError:
                pass  # another writer created it at the same moment
        return created

    def history(self, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The table's commit history (newest first)."""
        dt = self.delta(table)
        return [] if dt is None else dt.history(limit)

    def _write(
        self, table: str, df: pl.DataFrame, mode: Literal["append", "overwrite"], **kw: Any
    ) -> None:
        """One ``write_deltalake`` of ``df`` to the table, partitioned as the catalogue says (and
        for a clustered table sorted by its ``cluster_by`` columns into files of ``file_bytes``).

        The commit carries who writes (:func:`hhs_platform.lake.audit.commit_metadata`).
        """
        kw.setdefault("commit_properties", commit_properties())
        # used when the write creates the table
        kw.setdefault("configuration", table_properties(table))
        spec = table_spec(table)
        if spec.cluster_by:
            df = df.sort([*spec.partition_by, *spec.cluster_by])
            kw.setdefault("target_file_size", spec.file_bytes)
        write_deltalake(
            self.path(table),
            df.to_arrow(),
            mode=mode,
            partition_by=list(spec.partition_by) or None,
            storage_options=self.storage_options or None,
            **kw,
        )

    def _retry(self, table: str, op: Any) -> Any:
        """Run a commit, retrying when a concurrent writer won the race."""
        delay = 0.05
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                return op()
            except CommitFailedError as exc:
                if attempt == _COMMIT_ATTEMPTS:
                    raise LakeError(
                        f"writing {table} at {self.uri} failed after {attempt} commit attempts: {exc}"
                    ) from exc
                log.info("commit race on %s (attempt %d), retrying", table, attempt)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except OSError as exc:
                raise LakeError(f"writing {table} at {self.uri} failed: {exc}") from exc
        raise AssertionError("unreachable")


def _condition(column: str, values: list[str] | AtLeast) -> str:
    """One column's part of a replace predicate."""
    if isinstance(values, AtLeast):
        return f"{column} >= '{values.value.isoformat()}'"
    return f"{column} IN ({', '.join(repr_sql(v) for v in sorted(set(values)))})"


def repr_sql(value: str) -> str:
    """A SQL string literal."""
    return f"'{_sql_str(value)}'"


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def _conform(spec: TableSpec, df: pl.DataFrame) -> pl.DataFrame:
    """Cast to the catalogue schema and column order, so every write has the same layout."""
    schema = spec.schema
    missing = [c for c in schema if c not in df.columns]
    extra = [c for c in df.columns if c not in schema]
    if extra:
        raise LakeError(f"{spec.name}: unexpected column(s) {', '.join(extra)}")
    if missing:
        df = df.with_columns(pl.lit(None, schema[c]).alias(c) for c in missing)
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def _stamp(delta: DeltaTable, version: int) -> tuple[int, Any]:
    """A commit's version and time: the same version of a table dropped and written again has
    another time."""
    commits = delta.history(1) if version == delta.version() else []
    return version, commits[0].get("timestamp") if commits else None
