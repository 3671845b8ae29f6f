"""The data scientists' read API: any lake table in one line, as polars, pandas or Dask.

``lake = hhs_platform.connect()`` opens the lake of the settings (``HHS_LAKE_URI``) or an explicit
URI; its methods return lazy polars frames whose filters polars pushes into the Delta scan, so
only the needed files, columns and rows are read. No paths, no Delta details; time travel with
``as_of=`` (a Delta version or a moment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable

from hhs_platform.errors import ReadError
from hhs_platform.lake.filters import row_filter
from hhs_platform.lake.store import Lake
from schemas import CATALOGUE, TableSpec
from schemas.catalogue import CUSTOM, CUSTOM_PREFIX

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd
    import pandera.polars as pa

    from hhs_platform.custom import PublishResult

POSTS = "silver/posts"
ACCOUNTS = "silver/accounts"
METRICS = "gold/daily_account_metrics"
ANOMALIES = "gold/anomalies"

#: Delta reader features ``LakeClient.to_dask`` cannot honour by reading parquet files alone.
UNSUPPORTED_DASK_FEATURES = frozenset({"deletionVectors", "columnMapping"})

AsOf = int | dt.datetime | str | None
Values = str | Iterable[str] | None
Day = str | dt.date | None


def connect(uri: str | None = None, storage_options: dict[str, str] | None = None) -> LakeClient:
    """Open the lake for reading.

    Args:
        uri: The lake's URI (local folder, ``s3://...``); ``None`` means ``HHS_LAKE_URI``.
        storage_options: Object-store options; ``None`` means those of the settings.

    Returns:
        A ``LakeClient`` over that lake.
    """
    return LakeClient(Lake(uri, storage_options))


def _spec(name: str) -> TableSpec:
    spec = CATALOGUE.get(name) or CUSTOM.get(name)
    if spec is None:
        known = ", ".join([*sorted(CATALOGUE), *sorted(CUSTOM)])
        raise ReadError(f"unknown table {name!r}; known tables: {known}")
    return spec


def _as_list(values: Values) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


def _filters(
    name: str, agency: Values, platform: Values, account: Values, since: Day, until: Day
) -> list[pl.Expr]:
    """The row filters of the by-meaning reads of ``name``: agency and platform codes, account
    ids or handles, and the inclusive day range on the table's date column."""
    exprs: list[pl.Expr] = []
    for column, values in (("agency", agency), ("platform", platform)):
        wanted = _as_list(values)
        if wanted is not None:
            exprs.append(pl.col(column).is_in(wanted))
    names = _as_list(account)
    if names is not None:
        exprs.append(pl.col("account_id").is_in(names) | pl.col("handle").is_in(names))
    dates = row_filter(name, since=since, until=until)
    if dates is not None:
        exprs.append(dates)
    return exprs


def _moment(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ReadError(
                f"as_of={value!r} is neither a Delta version nor an ISO time "
                "such as 2026-01-31T12:00:00Z"
            ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class LakeClient:
    """Read access to every table of one lake (see ``connect``)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def __repr__(self) -> str:
        return f"LakeClient({self.lake.uri!r})"

    # -- catalogue -----------------------------------------------------------------------
    def tables(self) -> pl.DataFrame:
        """The tables present in the lake: the catalogue's and the custom gold tables published.

        Returns:
            Columns ``name``, ``layer``, ``description`` and ``version`` (current Delta version),
            one row per table that has been written, sorted by name.
        """
        from hhs_platform.custom import load

        load(self.lake)
        rows = []
        for name, spec in sorted({**CATALOGUE, **CUSTOM}.items()):
            version = self.lake.version(name)
            if version is not None:
                rows.append((name, spec.layer, spec.description, version))
        return pl.DataFrame(
            rows,
            schema={"name": pl.Utf8, "layer": pl.Utf8, "description": pl.Utf8, "version": pl.Int64},
            orient="row",
        )

    def schema(self, name: str) -> pl.Schema:
        """The polars schema of a table, as the catalogue defines it."""
        return self._spec(name).schema

    def dictionary(self, name: str) -> pl.DataFrame:
        """The data dictionary of a table.

        Returns:
            Columns ``column``, ``type``, ``nullable`` and ``description`` (as written in the
            table's model; empty where it has none), one row per column.
        """
        spec = self._spec(name)
        meanings = spec.descriptions
        columns = spec.model.to_schema().columns
        return pl.DataFrame(
            {
                "column": list(spec.schema),
                "type": [str(t) for t in spec.schema.dtypes()],
                "nullable": [bool(columns[c].nullable) for c in spec.schema],
                "description": [meanings.get(c, "") for c in spec.schema],
            },
            schema={
                "column": pl.Utf8,
                "type": pl.Utf8,
                "nullable": pl.Boolean,
                "description": pl.Utf8,
            },
        )

    # -- custom gold tables --------------------------------------------------------------
    def publish(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        model: type[pa.DataFrameModel],
        keys: list[str] | tuple[str, ...],
        partition_by: list[str] | tuple[str, ...] = (),
    ) -> PublishResult:
        """Publish a metric as the custom gold table ``name`` (``gold/custom/<snake_case>``).

        Rows failing the model's checks go to ``quarantine/rows`` with the checks they failed;
        the others are MERGEd on ``keys``, so publishing the same rows again changes nothing.
        The definition (description, keys, columns and their descriptions) is recorded in
        ``gold/custom_tables``, so ``tables``, ``dictionary`` and ``table`` serve
        the table in any later session. See ``hhs_platform.custom.publish``.

        Args:
            name: ``gold/custom/<snake_case>``.
            frame: The rows, with exactly the model's columns.
            model: A ``pandera.polars.DataFrameModel`` with a docstring: the contract and the
                data dictionary.
            keys: The columns that identify a row.
            partition_by: Partition columns (for large tables).

        Returns:
            A ``PublishResult``: ``rows_in``, ``inserted``, ``updated``, ``quarantined``.

        Raises:
            LakeError: A bad name or model, a frame that does not fit the model, or a model that
                changes the keys, partitions or column types of the published table.
        """
        from hhs_platform.custom import publish

        return publish(self.lake, name, frame, model=model, keys=keys, partition_by=partition_by)

    def custom_tables(self) -> pl.DataFrame:
        """The custom gold tables published to this lake (``gold/custom_tables``): name,
        description, keys, partitions, columns (name, type, nullable, description), the model's
        qualified name, first and last publish times, and the last publish's counts."""
        from hhs_platform.custom import definitions

        return definitions(self.lake)

    def _spec(self, name: str) -> TableSpec:
        """The spec of a catalogue table or of a custom table published to this lake."""
        if name.startswith(CUSTOM_PREFIX) and name not in CUSTOM:
            from hhs_platform.custom import load

            load(self.lake)
        return _spec(name)

    # -- time travel ---------------------------------------------------------------------
    def resolve_version(self, name: str, as_of: AsOf) -> int | None:
        """The Delta version ``as_of`` designates (None: the current one).

        Args:
            name: A catalogue table.
            as_of: A version number, or a moment (datetime or ISO string, naive means UTC):
                the latest version committed at or before it.

        Raises:
            ReadError: The table does not exist, the version is not one of its versions, or
                the moment is before its first commit.
        """
        self._spec(name)
        if as_of is None:
            return None
        history = self.lake.history(name)
        if not history:
            raise ReadError(
                f"{name} has not been written at {self.lake.uri}: nothing to time-travel"
            )
        versions = sorted(int(h["version"]) for h in history)
        if isinstance(as_of, bool) or not isinstance(as_of, int | dt.datetime | str):
            raise ReadError(f"as_of must be a version number, a datetime or an ISO time: {as_of!r}")
        if isinstance(as_of, int):
            if as_of not in versions:
                raise ReadError(
                    f"{name} has no version {as_of}; its versions are {versions[0]}..{versions[-1]}"
                )
            return as_of
        moment = _moment(as_of)
        stamp_ms = moment.timestamp() * 1000
        earlier = [
            (int(h["version"]), h["timestamp"]) for h in history if h["timestamp"] <= stamp_ms
        ]
        if not earlier:
            first = min(history, key=lambda h: int(h["version"]))
            first_at = dt.datetime.fromtimestamp(first["timestamp"] / 1000, dt.UTC)
            raise ReadError(
                f"{name} did not exist yet at {moment.isoformat()}: "
                f"its first commit is at {first_at.isoformat()}"
            )
        return max(earlier)[0]

    # -- generic reads -------------------------------------------------------------------
    def table(
        self,
        name: str,
        *,
        as_of: AsOf = None,
        columns: list[str] | None = None,
        lazy: bool = True,
    ) -> Any:
        """Any catalogue table.

        Args:
            name: A catalogue table, e.g. ``gold/daily_account_metrics``.
            as_of: A version number or a moment (see ``resolve_version``).
            columns: Columns to read; ``None`` reads them all.
            lazy: Return a ``pl.LazyFrame`` (default) or a collected ``pl.DataFrame``.

        Returns:
            The rows (empty with the table's schema when it has not been written yet).

        Raises:
            ReadError: An unknown table or column, or an ``as_of`` the table cannot serve.
        """
        return self._finish(self._scan(name, as_of, columns), lazy)

    def to_pandas(
        self, name: str, *, as_of: AsOf = None, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """A table as a pandas DataFrame (read through polars)."""
        return self._scan(name, as_of, columns).collect().to_pandas()

    def to_dask(
        self, name: str, *, as_of: AsOf = None, columns: list[str] | None = None
    ) -> dd.DataFrame:
        """A table as a Dask DataFrame, one partition per Delta data file, for tables too big
        for memory. Columns are pyarrow-backed pandas dtypes, so types and nulls are kept exactly.

        Raises:
            ReadError: The table does not exist, or uses Delta features (deletion vectors,
                column mapping) that reading its parquet files directly would get wrong.
        """
        import dask.dataframe as dd

        self._spec(name)
        version = self.resolve_version(name, as_of)
        delta = self.lake.delta(name, version)
        if delta is None:
            raise ReadError(f"{name} has not been written at {self.lake.uri}")
        protocol = delta.protocol()
        features = set(protocol.reader_features or ())
        if protocol.min_reader_version >= 2 and protocol.reader_features is None:
            features.add("columnMapping")  # reader version 2 means column mapping
        bad = sorted(features & UNSUPPORTED_DASK_FEATURES)
        if bad:
            raise ReadError(
                f"{name} uses Delta feature(s) {', '.join(bad)}: to_dask cannot read it file by "
                "file; use table(..., lazy=True) or install dask-deltatable"
            )
        full = self._scan(name, version, None).collect_schema()
        wanted = list(columns) if columns else list(full)
        self._check_columns(name, wanted, full)
        parts = _file_parts(delta)
        meta = pl.DataFrame(schema={c: full[c] for c in wanted}).to_pandas(
            use_pyarrow_extension_array=True
        )
        if not parts:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_map(
            _read_part,
            parts,
            schema=[(c, full[c]) for c in wanted],
            storage_options=self.lake.storage_options or None,
            meta=meta,
            enforce_metadata=False,
        )

    # -- by meaning ----------------------------------------------------------------------
    def posts(
        self,
        agency: Values = None,
        platform: Values = None,
        account: Values = None,
        since: Day = None,
        until: Day = None,
        *,
        as_of: AsOf = None,
        lazy: bool = True,
    ) -> Any:
        """Posts (``silver/posts``) with their account's ``agency`` and ``handle``.

        Args:
            agency: Agency code(s) of the posting account.
            platform: Platform slug(s).
            account: Account id(s) or handle(s).
            since: First day (ISO date or date, inclusive) of ``created_at``, in UTC.
            until: Last day (inclusive).
            as_of: A version of ``silver/posts`` or a moment (then both tables are read as they
                were at that moment).
            lazy: Return a LazyFrame (default) or a DataFrame.
        """
        posts = self._scan(POSTS, as_of, None)
        accounts_as_of = None if isinstance(as_of, int) else as_of
        accounts = self._scan(
            ACCOUNTS, accounts_as_of, ["platform", "account_id", "agency", "handle"]
        )
        # A left join keeps the posts of accounts missing from silver/accounts (agency and handle
        # null); an agency filter then drops them, as it should.
        joined = posts.join(
            accounts, on=["platform", "account_id"], how="left", maintain_order="left"
        )
        wanted = _filters(POSTS, agency, platform, account, since, until)
        return self._finish(joined.filter(*wanted) if wanted else joined, lazy)

    def metrics(
        self,
        agency: Values = None,
        platform: Values = None,
        account: Values = None,
        since: Day = None,
        until: Day = None,
        *,
        as_of: AsOf = None,
        lazy: bool = True,
    ) -> Any:
        """Daily figures per account (``gold/daily_account_metrics``); same filters as
        ``posts``, ``since``/``until`` on ``date``."""
        return self._by_meaning(METRICS, agency, platform, account, since, until, as_of, lazy)

    def anomalies(
        self,
        agency: Values = None,
        platform: Values = None,
        account: Values = None,
        since: Day = None,
        until: Day = None,
        *,
        as_of: AsOf = None,
        lazy: bool = True,
    ) -> Any:
        """Unusual moves of the figures (``gold/anomalies``); same filters as ``posts``,
        ``since``/``until`` on ``date``."""
        return self._by_meaning(ANOMALIES, agency, platform, account, since, until, as_of, lazy)

    # -- internals -----------------------------------------------------------------------
    def _by_meaning(
        self,
        name: str,
        agency: Values,
        platform: Values,
        account: Values,
        since: Day,
        until: Day,
        as_of: AsOf,
        lazy: bool,
    ) -> Any:
        lf = self._scan(name, as_of, None)
        wanted = _filters(name, agency, platform, account, since, until)
        return self._finish(lf.filter(*wanted) if wanted else lf, lazy)

    def _scan(self, name: str, as_of: AsOf, columns: list[str] | None) -> pl.LazyFrame:
        spec = self._spec(name)
        version = self.resolve_version(name, as_of)
        lf = self.lake.scan(name, version)
        if columns:
            self._check_columns(name, columns, spec.schema)
            lf = lf.select(columns)
        return lf

    @staticmethod
    def _check_columns(name: str, columns: list[str], schema: pl.Schema) -> None:
        unknown = [c for c in columns if c not in schema]
        if unknown:
            raise ReadError(
                f"{name} has no column(s) {', '.join(unknown)}; it has: {', '.join(schema)}"
            )

    @staticmethod
    def _finish(lf: pl.LazyFrame, lazy: bool) -> pl.LazyFrame | pl.DataFrame:
        return lf if lazy else lf.collect()


def _file_parts(delta: DeltaTable) -> list[tuple[str, dict[str, str | None]]]:
    """Each current data file's URI and partition values."""
    uris = delta.file_uris()
    actions = pl.DataFrame(delta.get_add_actions(flatten=True))
    part_cols = [c for c in actions.columns if c.startswith("partition.")]
    parts = []
    for uri, row in zip(uris, actions.iter_rows(named=True), strict=True):
        if not unquote(uri).endswith(unquote(row["path"])):
            raise ReadError(f"cannot match data file {uri} to its Delta log entry")
        parts.append((uri, {c.removeprefix("partition."): row[c] for c in part_cols}))
    return parts


def _read_part(
    part: tuple[str, dict[str, str | None]],
    schema: list[tuple[str, pl.DataType]],
    storage_options: dict[str, str] | None,
) -> pd.DataFrame:
    """One data file as pandas, with its partition columns and the table's types."""
    uri, partitions = part
    df = pl.read_parquet(uri, storage_options=storage_options)
    df = df.with_columns(pl.lit(v).alias(c) for c, v in partitions.items())
    return df.select(
        [
            pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in schema
        ]
    ).to_pandas(use_pyarrow_extension_array=True)


__all__ = ["LakeClient", "ReadError", "connect"]
