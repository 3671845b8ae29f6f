"""Backup, restore and verification of the lake: incremental file copies plus content checksums.

A backup location is itself a lake (``<backup>/<table>`` is a Delta table) plus a ``_backup/``
folder of numbered manifests. :func:`backup` copies, table by table, what the destination lacks:
first the data files, then the ``_delta_log`` entries up to the version it read, then the
manifest, so at every moment the backup is a set of complete tables (a log entry is never copied
before the files it points at). Delta files are immutable, so a file already at the destination
with the same size is skipped; nothing at the destination is ever deleted, so every version that
was backed up stays readable (time travel) and older manifests can still be restored.

Each manifest records per table the version backed up, its rows and a content checksum (see
:func:`table_checksum`). :func:`verify_backup` recomputes the checksums from the backup's files,
:func:`restore` copies a backup (the latest or an older manifest) into a new location and checks
the result, :func:`verify` compares two lakes. A mismatch raises
:class:`~hhs_platform.errors.BackupError` naming the tables.

Files are copied with ``pyarrow.fs`` (local folders and ``s3://``, with the same storage options
as deltalake: ``AWS_ENDPOINT_URL``, ``AWS_REGION``, keys, ``AWS_ALLOW_HTTP``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pyarrow.fs as pafs
from polars.exceptions import PanicException

from hhs_platform.custom import known_tables
from hhs_platform.errors import BackupError
from hhs_platform.lake.store import Lake
from schemas import table_spec

#: The manifests' folder at the root of a backup.
MANIFEST_DIR = "_backup"
#: How a checksum is computed; stored in each manifest so a future change is detected, not
#: mistaken for corruption.
CHECKSUM_ALGORITHM = "sha256/ndjson-rows-sorted/v1"
_LOG = "_delta_log"
_LOG_ENTRY = re.compile(r"^(\d{20})\.")
_COPY_THREADS = 8
_HASH_BATCH = 50_000

Progress = Callable[[str], None]


# -- checksums --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checksum:
    """A table's content at one version: its row count and a sha256 over its rows."""

    rows: int
    sha256: str


def frame_checksum(df: pl.DataFrame) -> Checksum:
    """The order-independent, exact checksum of a frame's rows (and its column names).

    ``DataFrame.hash_rows`` would be cheaper, but polars documents that its hashes may change
    between polars versions (and platforms), and a backup must verify years later on other
    software. So each row is serialized to canonical JSON (``struct.json_encode``: values in
    column order, ISO dates and times, nested lists kept), the rows are sorted by that text (so
    the order of rows and files, which compaction and Z-ordering change, does not matter, and
    duplicate rows still count), and sha256 runs over the sorted lines.
    """
    digest = hashlib.sha256()
    # Column names, not polars' type names: those were renamed between versions (Utf8 ->
    # String) and an all-null nested column may come back typed List(Null) after a reshuffle.
    # A real type change still changes the JSON text of the values (1 vs 1.0 vs "1").
    digest.update(json.dumps(df.columns).encode())
    if df.width and df.height:
        # JSON has no bytes: binary columns (raw payloads) are hashed as hex text
        binary = [pl.col(c).bin.encode("hex") for c, t in df.schema.items() if t == pl.Binary]
        lines = (
            df.with_columns(binary)
            .select(pl.struct(pl.all()).struct.json_encode().alias("row"))
            .sort("row")
            .get_column("row")
        )
        for start in range(0, lines.len(), _HASH_BATCH):
            chunk = lines.slice(start, _HASH_BATCH).to_list()
            digest.update(("\n".join(chunk) + "\n").encode())
    return Checksum(df.height, digest.hexdigest())


def table_checksum(lake: Lake, table: str, version: int | None = None) -> Checksum:
    """The checksum of a stored table at a version (default: its latest).

    Raises:
        BackupError: The table does not exist or cannot be read at that version (a missing or
            damaged file), naming the table.
    """
    try:
        delta = lake.delta(table, version=version)
        if delta is None:
            raise BackupError(f"{table}: no Delta table at {lake.uri}", tables=[table])
        df = pl.scan_delta(
            lake.path(table),
            version=delta.version(),
            storage_options=lake.storage_options or None,
        ).collect()
    except BackupError:
        raise
    except (Exception, PanicException) as exc:  # a damaged file: any of several error types,
        # or a panic inside polars' parquet reader (not an Exception subclass)
        raise BackupError(
            f"{table} at {lake.uri} (version {version}) cannot be read: "
            f"{type(exc).__name__}: {_short(exc)}",
            tables=[table],
        ) from exc
    return frame_checksum(df)


# -- file systems -----------------------------------------------------------------------------
def filesystem(uri: str, storage_options: dict[str, str] | None = None) -> tuple[Any, str]:
    """A ``pyarrow.fs`` file system and the path inside it for a folder or ``s3://`` URI.

    For S3, the deltalake storage options are translated (keys are case-insensitive):
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_REGION``,
    ``AWS_ENDPOINT_URL`` (an S3-compatible server: MinIO, R2, moto). Without keys the default
    AWS credential chain applies (environment, profile, instance role).
    """
    opts = {k.lower(): v for k, v in (storage_options or {}).items()}
    if uri.startswith(("s3://", "s3a://")):
        kwargs: dict[str, Any] = {}
        key = opts.get("aws_access_key_id") or opts.get("access_key_id")
        secret = opts.get("aws_secret_access_key") or opts.get("secret_access_key")
        if key and secret:
            kwargs.update(access_key=key, secret_key=secret)
            token = opts.get("aws_session_token") or opts.get("session_token")
            if token:
                kwargs["session_token"] = token
        region = opts.get("aws_region") or opts.get("region") or opts.get("aws_default_region")
        if region:
            kwargs["region"] = region
        endpoint = opts.get("aws_endpoint_url") or opts.get("aws_endpoint") or opts.get("endpoint")
        if endpoint:
            parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            kwargs.update(endpoint_override=parts.netloc + parts.path, scheme=parts.scheme)
        return pafs.S3FileSystem(**kwargs), uri.split("://", 1)[1].rstrip("/")
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif "://" in uri:
        fs, path = pafs.FileSystem.from_uri(uri)
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(uri)


@dataclass(frozen=True)
class _File:
    rel: str  # path inside the table folder, '/'-separated
    size: int


def _list(fs: Any, root: str) -> dict[str, _File]:
    """Every file under ``root`` by relative path (empty when the folder does not exist)."""
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return {}
    out = {}
    for info in infos:
        if info.type == pafs.FileType.File:
            rel = info.path[len(root) :].lstrip("/")
            out[rel] = _File(rel, int(info.size or 0))
    return out


def _log_version(rel: str) -> int | None:
    """The version of a ``_delta_log`` entry (commit, checkpoint, crc), None for other files."""
    if not rel.startswith(f"{_LOG}/") or rel.count("/") != 1:
        return None
    match = _LOG_ENTRY.match(rel.split("/", 1)[1])
    return int(match.group(1)) if match else None


def _is_data(rel: str) -> bool:
    """Data files (and anything else outside the log, e.g. deletion vectors), not temp files."""
    name = rel.rsplit("/", 1)[-1]
    if name.startswith(".") or name.endswith((".tmp", ".partial")):
        return False
    return not rel.startswith(f"{_LOG}/") or rel.startswith(f"{_LOG}/_sidecars/")


def _plan(files: dict[str, _File], version: int) -> tuple[list[_File], list[_File], _File | None]:
    """What makes up a table at ``version``: data files, log entries up to it (in version order)
    and the ``_last_checkpoint`` hint (only when its checkpoint is within them)."""
    data = [f for rel, f in sorted(files.items()) if _is_data(rel)]
    entries = [(v, f) for rel, f in files.items() if (v := _log_version(rel)) is not None]
    log = [f for v, f in sorted(entries, key=lambda e: (e[0], e[1].rel)) if v <= version]
    hint = files.get(f"{_LOG}/_last_checkpoint")
    return data, log, hint


class _Copier:
    """Copies files between two ``pyarrow.fs`` roots; each file appears whole or not at all."""

    def __init__(self, src: tuple[Any, str], dst: tuple[Any, str]) -> None:
        self.sfs, self.sroot = src
        self.dfs, self.droot = dst
        self.local = self.dfs.type_name == "local"

    def copy(self, files: list[_File], *, parallel: bool) -> tuple[int, int]:
        """Copy ``files``; returns (files, bytes) copied. Missing sources (vacuumed meanwhile)
        are skipped."""
        if self.local:
            for parent in {f.rel.rsplit("/", 1)[0] for f in files if "/" in f.rel}:
                self.dfs.create_dir(f"{self.droot}/{parent}", recursive=True)
            if files:
                self.dfs.create_dir(self.droot, recursive=True)
        if parallel and len(files) > 1:
            with ThreadPoolExecutor(_COPY_THREADS) as pool:
                done = list(pool.map(self._one, files))
        else:
            done = [self._one(f) for f in files]  # log entries: strictly in version order
        copied = [f for f, ok in zip(files, done, strict=True) if ok]
        return len(copied), sum(f.size for f in copied)

    def _one(self, f: _File) -> bool:
        src, dst = f"{self.sroot}/{f.rel}", f"{self.droot}/{f.rel}"
        # A PUT to S3 is atomic; a local file is written aside and renamed, so an interrupted
        # backup never leaves a truncated log entry behind.
        target = f"{dst}.{uuid.uuid4().hex}.partial" if self.local else dst
        try:
            with (
                self.sfs.open_input_stream(src) as reader,
                self.dfs.open_output_stream(target) as writer,
            ):
                while chunk := reader.read(8 << 20):
                    writer.write(chunk)
        except FileNotFoundError:
            return False
        if self.local:
            self.dfs.move(target, dst)
        return True


# -- manifests --------------------------------------------------------------------------------
@dataclass
class TableBackup:
    """One table in one backup."""

    table: str
    version: int
    rows: int
    checksum: str
    files: int = 0  # files of the table at the backup (every version backed up so far)
    bytes: int = 0
    copied_files: int = 0  # copied by this run
    copied_bytes: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.table:32s} v{self.version:<5d} {self.rows:>10,} rows  copied "
            f"{self.copied_files:>5,} files {_mb(self.copied_bytes):>8.2f} MB of "
            f"{self.files:>6,} / {_mb(self.bytes):>8.2f} MB  sha256 {self.checksum[:12]} "
            f"({self.seconds:.1f} s)"
        )


@dataclass
class Manifest:
    """What one backup run saved: the lake's tables at the versions it read."""

    number: int
    created_at: str
    source: str
    tables: dict[str, TableBackup] = field(default_factory=dict)
    algorithm: str = CHECKSUM_ALGORITHM
    polars_version: str = pl.__version__
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return sum(t.files for t in self.tables.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())

    @property
    def copied_files(self) -> int:
        return sum(t.copied_files for t in self.tables.values())

    @property
    def copied_bytes(self) -> int:
        return sum(t.copied_bytes for t in self.tables.values())

    def to_json(self) -> str:
        data = asdict(self)
        data["tables"] = {name: asdict(t) for name, t in self.tables.items()}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        tables = {name: TableBackup(**t) for name, t in data.pop("tables").items()}
        return cls(tables=tables, **data)

    def render(self) -> str:
        lines = [t.line() for t in self.tables.values()]
        lines.append(
            f"backup #{self.number}: {len(self.tables)} tables, {self.files:,} files "
            f"{_mb(self.bytes):.2f} MB, copied {self.copied_files:,} files "
            f"{_mb(self.copied_bytes):.2f} MB in {self.seconds:.1f} s"
        )
        return "\n".join(lines) + "\n"


def manifests(backup_uri: str, storage_options: dict[str, str] | None = None) -> list[int]:
    """The numbers of the manifests at a backup location, oldest first."""
    fs, root = filesystem(backup_uri, storage_options)
    names = _list(fs, f"{root}/{MANIFEST_DIR}")
    found = (re.fullmatch(r"manifest-(\d+)\.json", rel) for rel in names)
    return sorted(int(m.group(1)) for m in found if m)


def load_manifest(
    backup_uri: str, storage_options: dict[str, str] | None = None, number: int | None = None
) -> Manifest:
    """A backup's manifest: number ``number``, or the latest.

    Raises:
        BackupError: There is no such manifest (no backup at that location).
    """
    numbers = manifests(backup_uri, storage_options)
    if not numbers or (number is not None and number not in numbers):
        which = "any manifest" if number is None else f"manifest #{number}"
        raise BackupError(
            f"no backup at {backup_uri}: {which} not found under {MANIFEST_DIR}/ "
            f"(existing: {numbers or 'none'}); check the URI and its storage options"
        )
    fs, root = filesystem(backup_uri, storage_options)
    path = f"{root}/{MANIFEST_DIR}/manifest-{number or numbers[-1]:06d}.json"
    with fs.open_input_stream(path) as f:
        return Manifest.from_json(f.read().decode())


def _write_manifest(fs: Any, root: str, manifest: Manifest) -> str:
    folder = f"{root}/{MANIFEST_DIR}"
    path = f"{folder}/manifest-{manifest.number:06d}.json"
    local = fs.type_name == "local"
    if local:
        fs.create_dir(folder, recursive=True)
    target = f"{path}.partial" if local else path
    with fs.open_output_stream(target) as out:
        out.write(manifest.to_json().encode())
    if local:
        fs.move(target, path)
    return path


# -- backup -----------------------------------------------------------------------------------
def backup(
    lake: Lake,
    dest_uri: str,
    dest_storage_options: dict[str, str] | None = None,
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Copy the lake's tables to ``dest_uri``, incrementally, and write a manifest there.

    Safe while collections write: each table is copied as of the version read when its turn
    comes (later commits go to the next backup).

    Args:
        lake: The lake to back up.
        dest_uri: A folder or ``s3://bucket/prefix``; created if needed.
        dest_storage_options: Storage options of the destination (deltalake's keys).
        tables: Tables to back up (default: every catalogue table that exists).
        progress: Called with one line per table.

    Returns:
        The manifest written (numbered one above the destination's latest).

    Raises:
        BackupError: A table's history at the destination differs from the lake's (the table
            was recreated since the last backup: back up to a new location), or a copy failed.
    """
    started = time.monotonic()
    dest_uri = dest_uri.rstrip("/")
    if dest_uri == lake.uri:
        raise BackupError(f"backup destination {dest_uri} is the lake itself; choose another")
    src_fs, src_root = filesystem(lake.uri, lake.storage_options)
    dst_fs, dst_root = filesystem(dest_uri, dest_storage_options)
    numbers = manifests(dest_uri, dest_storage_options)
    previous = load_manifest(dest_uri, dest_storage_options) if numbers else None
    manifest = Manifest(
        number=(numbers[-1] + 1) if numbers else 1,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=lake.uri,
    )
    names = list(tables) if tables is not None else known_tables(lake)
    for name in names:
        table_spec(name)  # an unknown table is an error, not a skip
        t0 = time.monotonic()
        delta = lake.delta(name)
        if delta is None:
            continue
        version = delta.version()
        copier = _Copier((src_fs, f"{src_root}/{name}"), (dst_fs, f"{dst_root}/{name}"))
        have = _list(dst_fs, copier.droot)
        data, log, hint = _plan(_list(src_fs, copier.sroot), version)
        clash = [f.rel for f in data + log if f.rel in have and have[f.rel].size != f.size]
        if clash:
            raise BackupError(
                f"{name}: {len(clash)} file(s) at {dest_uri} differ from the lake's "
                f"(e.g. {clash[0]}): the table was recreated since the last backup; back up "
                "to a new location",
                tables=[name],
            )
        try:
            n_data, b_data = copier.copy([f for f in data if f.rel not in have], parallel=True)
            n_log, b_log = copier.copy([f for f in log if f.rel not in have], parallel=False)
            if hint is not None and _hint_version(src_fs, f"{copier.sroot}/{hint.rel}", version):
                copier.copy([hint], parallel=False)
        except OSError as exc:
            raise BackupError(
                f"{name}: copying to {dest_uri} failed: {_short(exc)}", tables=[name]
            ) from exc
        old = previous.tables.get(name) if previous is not None else None
        same_algorithm = previous is not None and previous.algorithm == CHECKSUM_ALGORITHM
        if old is not None and old.version == version and same_algorithm:
            checksum = Checksum(old.rows, old.checksum)  # immutable version: already summed
        else:
            checksum = table_checksum(lake, name, version)
        now = _list(dst_fs, copier.droot)
        entry = TableBackup(
            name,
            version,
            checksum.rows,
            checksum.sha256,
            files=len(now),
            bytes=sum(f.size for f in now.values()),
            copied_files=n_data + n_log,
            copied_bytes=b_data + b_log,
            seconds=time.monotonic() - t0,
        )
        manifest.tables[name] = entry
        if progress is not None:
            progress(entry.line())
    manifest.seconds = time.monotonic() - started
    _write_manifest(dst_fs, dst_root, manifest)
    if progress is not None:
        progress(manifest.render().splitlines()[-1])
    return manifest


def _hint_version(fs: Any, path: str, version: int) -> bool:
    """Whether the ``_last_checkpoint`` hint points at a checkpoint at or below ``version``."""
    try:
        with fs.open_input_stream(path) as f:
            return int(json.loads(f.read())["version"]) <= version
    except (OSError, ValueError, KeyError):
        return False


# -- verification -----------------------------------------------------------------------------
@dataclass
class TableCheck:
    """One table's checksum compared with what it should be."""

    table: str
    version: int | None
    expected: str | None
    actual: str | None
    rows_expected: int | None = None
    rows_actual: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.expected == self.actual

    def line(self) -> str:
        if self.error:
            return f"{self.table:32s} FAILED: {self.error}"
        if not self.ok:
            return (
                f"{self.table:32s} MISMATCH at v{self.version}: expected {self.rows_expected:,} "
                f"rows sha256 {str(self.expected)[:12]}, found {self.rows_actual:,} rows sha256 "
                f"{str(self.actual)[:12]}"
            )
        return (
            f"{self.table:32s} ok  v{self.version}  {self.rows_actual:,} rows  sha256 {self.actual}"
        )


@dataclass
class VerifyReport:
    """Every table's check; :meth:`raise_for_mismatch` turns failures into a BackupError."""

    checks: list[TableCheck] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[TableCheck]:
        return [c for c in self.checks if not c.ok]

    def render(self) -> str:
        return "\n".join(c.line() for c in self.checks) + "\n"

    def raise_for_mismatch(self, what: str) -> VerifyReport:
        if self.failed:
            names = [c.table for c in self.failed]
            raise BackupError(
                f"{what}: {len(names)} table(s) differ: {', '.join(names)} ("
                + "; ".join(c.line().split(None, 1)[1] for c in self.failed)
                + ")",
                tables=names,
            )
        return self


def _check(
    lake: Lake, name: str, version: int | None, expected: Checksum | None, progress: Progress | None
) -> TableCheck:
    try:
        actual = table_checksum(lake, name, version)
        check = TableCheck(
            name,
            version,
            expected.sha256 if expected else None,
            actual.sha256,
            expected.rows if expected else None,
            actual.rows,
        )
    except BackupError as exc:
        check = TableCheck(
            name, version, expected.sha256 if expected else None, None, error=str(exc)
        )
    if progress is not None:
        progress(check.line())
    return check


def verify_backup(
    backup_uri: str,
    storage_options: dict[str, str] | None = None,
    *,
    number: int | None = None,
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Recompute every table's checksum from the backup's own files and compare with the
    manifest (the latest, or ``number``).

    Raises:
        BackupError: A table's rows differ from the manifest or cannot be read (a damaged or
            missing file), naming the tables.
    """
    started = time.monotonic()
    manifest = load_manifest(backup_uri, storage_options, number)
    lake = Lake(backup_uri.rstrip("/"), dict(storage_options or {}))
    known_tables(lake)  # registers the custom tables the backup holds
    report = VerifyReport()
    for name, entry in manifest.tables.items():
        if tables is not None and name not in tables:
            continue
        expected = Checksum(entry.rows, entry.checksum)
        report.checks.append(_check(lake, name, entry.version, expected, progress))
    report.seconds = time.monotonic() - started
    return report.raise_for_mismatch(f"backup {backup_uri} (manifest #{manifest.number})")


def verify(a: Lake, b: Lake, tables: Iterable[str] | None = None) -> VerifyReport:
    """Compare two lakes table by table (latest versions): same tables, same rows.

    Raises:
        BackupError: A table exists in one lake only or its checksums differ, naming it.
    """
    started = time.monotonic()
    names = list(tables) if tables is not None else sorted({*known_tables(a), *known_tables(b)})
    report = VerifyReport()
    for name in names:
        in_a, in_b = a.exists(name), b.exists(name)
        if not in_a and not in_b:
            continue
        if in_a != in_b:
            where = a.uri if in_a else b.uri
            report.checks.append(
                TableCheck(name, None, None, None, error=f"exists only in {where}")
            )
            continue
        ca, cb = table_checksum(a, name), table_checksum(b, name)
        report.checks.append(
            TableCheck(name, b.version(name), ca.sha256, cb.sha256, ca.rows, cb.rows)
        )
    report.seconds = time.monotonic() - started
    return report.raise_for_mismatch(f"{a.uri} vs {b.uri}")


# -- restore ----------------------------------------------------------------------------------
@dataclass
class RestoreReport:
    """What a restore copied, and its verification."""

    manifest: int
    target: str
    files: int = 0
    bytes: int = 0
    copy_seconds: float = 0.0
    verify: VerifyReport | None = None

    @property
    def seconds(self) -> float:
        return self.copy_seconds + (self.verify.seconds if self.verify else 0.0)

    def render(self) -> str:
        checked = f", verified in {self.verify.seconds:.1f} s" if self.verify else ""
        return (
            f"restored backup #{self.manifest} to {self.target}: {self.files:,} files "
            f"{_mb(self.bytes):.2f} MB copied in {self.copy_seconds:.1f} s{checked}\n"
        )


def restore(
    backup_uri: str,
    target_uri: str,
    *,
    backup_storage_options: dict[str, str] | None = None,
    target_storage_options: dict[str, str] | None = None,
    version: int | None = None,
    tables: Iterable[str] | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RestoreReport:
    """Copy a backup into a new lake at ``target_uri`` and check every table's checksum.

    Args:
        backup_uri: Where the backup is.
        target_uri: Where to restore: a folder or ``s3://`` prefix without those tables yet.
        backup_storage_options: Storage options to read the backup.
        target_storage_options: Storage options of the restored lake.
        version: The backup (manifest number, see ``hhs backup list``) to restore, i.e. the lake
            as that backup run saw it; default the latest. Later log entries are left out.
        tables: Only these tables (default: all the manifest holds).
        verify: Recompute the restored tables' checksums and compare with the manifest.
        progress: Called with one line per table.

    Raises:
        BackupError: The target already holds a table, a copy failed, or a restored table's
            checksum differs from the manifest (naming the table).
    """
    manifest = load_manifest(backup_uri, backup_storage_options, version)
    target_uri = target_uri.rstrip("/")
    src_fs, src_root = filesystem(backup_uri, backup_storage_options)
    dst_fs, dst_root = filesystem(target_uri, target_storage_options)
    names = [n for n in manifest.tables if tables is None or n in tables]
    occupied = [n for n in names if _list(dst_fs, f"{dst_root}/{n}")]
    if occupied:
        raise BackupError(
            f"{target_uri} already holds {', '.join(occupied)}: restore into a new location "
            "(or move those tables away first)",
            tables=occupied,
        )
    report = RestoreReport(manifest.number, target_uri)
    started = time.monotonic()
    for name in names:
        entry = manifest.tables[name]
        copier = _Copier((src_fs, f"{src_root}/{name}"), (dst_fs, f"{dst_root}/{name}"))
        data, log, hint = _plan(_list(src_fs, copier.sroot), entry.version)
        try:
            n_data, b_data = copier.copy(data, parallel=True)
            n_log, b_log = copier.copy(log, parallel=False)
            if hint is not None and _hint_version(
                src_fs, f"{copier.sroot}/{hint.rel}", entry.version
            ):
                copier.copy([hint], parallel=False)
        except OSError as exc:
            raise BackupError(f"{name}: restoring failed: {_short(exc)}", tables=[name]) from exc
        report.files += n_data + n_log
        report.bytes += b_data + b_log
        if progress is not None:
            progress(
                f"{name:32s} v{entry.version:<5d} {n_data + n_log:>6,} files "
                f"{_mb(b_data + b_log):>8.2f} MB"
            )
    report.copy_seconds = time.monotonic() - started
    if verify:
        started = time.monotonic()
        lake = Lake(target_uri, dict(target_storage_options or {}))
        known_tables(lake)  # registers the custom tables restored
        checked = VerifyReport(
            [
                _check(
                    lake,
                    n,
                    None,
                    Checksum(manifest.tables[n].rows, manifest.tables[n].checksum),
                    progress,
                )
                for n in names
            ]
        )
        checked.seconds = time.monotonic() - started
        report.verify = checked
        checked.raise_for_mismatch(f"restore of {backup_uri} #{manifest.number} into {target_uri}")
    if progress is not None:
        progress(report.render().rstrip("\n"))
    return report


def _mb(n: int) -> float:
    return n / 1_000_000


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


__all__ = [
    "CHECKSUM_ALGORITHM",
    "Checksum",
    "Manifest",
    "RestoreReport",
    "TableBackup",
    "TableCheck",
    "VerifyReport",
    "backup",
    "filesystem",
    "frame_checksum",
    "load_manifest",
    "manifests",
    "restore",
    "table_checksum",
    "verify",
    "verify_backup",
]
