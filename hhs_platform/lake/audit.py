"""The audit trail: who ran which flow with which code, and every commit to every lake table.

Two tables hold it, in the lake they describe:

- ``ops/runs``: one row per flow run (:func:`audited` wraps the Prefect flows): the flow, its
  parameters, who started it (``HHS_ACTOR``, else the Prefect user or deployment that created the
  run, else the OS user), the host, the package version and the code version (``HHS_CODE_VERSION``,
  set from the git commit when the image is built, else read from a ``.git`` folder beside the
  package), when it started and ended, and how it ended.
- ``ops/changes``: one row per Delta commit of every other table (write, MERGE, DELETE, optimize,
  vacuum, schema change), with the rows it added, updated and deleted and who made it.
  :func:`record_changes` copies the commits made since the last copy from each table's Delta log;
  every audited flow run does it when it ends, and privacy deletion and retention do it before
  their vacuum, so the record outlives the log entries those remove.

Every commit the platform makes carries its author in the Delta log itself
(:func:`commit_properties`: ``hhs.actor``, ``hhs.run_id``, ``hhs.command``, ``hhs.code_version``,
``hhs.reason``), which is where :func:`record_changes` reads it. Writes made on a Dask worker
inside a flow run carry the run id; the run's ``ops/runs`` row supplies the actor.

Predicates of DELETE and MERGE commits are never copied: a privacy deletion's predicate names the
account it deletes, and the audit must not keep what the deletion removed.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import inspect
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from deltalake import CommitProperties, Transaction

from schemas import CATALOGUE, table_spec
from schemas.catalogue import CUSTOM

if TYPE_CHECKING:
    from hhs_platform.lake.store import Lake

log = logging.getLogger(__name__)

RUNS = "ops/runs"
CHANGES = "ops/changes"
#: The audit tables themselves: never harvested (each harvest would record itself), never
#: deleted by a privacy request.
AUDIT_TABLES = (RUNS, CHANGES)
#: Keys of the platform's own entries in a Delta commit's ``commitInfo``.
META_KEYS = {
    "actor": "hhs.actor",
    "run_id": "hhs.run_id",
    "command": "hhs.command",
    "code_version": "hhs.code_version",
    "reason": "hhs.reason",
}
_ERROR_CHARS = 500


@dataclass(frozen=True)
class Acting:
    """Who is writing, as recorded with each commit (None: not known here)."""

    run_id: str | None = None
    actor: str | None = None
    command: str | None = None
    reason: str | None = None


_ACTING: ContextVar[Acting | None] = ContextVar("hhs_acting", default=None)


# -- who, and which code ------------------------------------------------------------------------
def package_version() -> str:
    """The installed version of the ``hhs_platform`` package."""
    from hhs_platform import __version__

    return __version__


@functools.lru_cache(maxsize=1)
def code_version() -> str | None:
    """``HHS_CODE_VERSION`` (the image's build argument), else the commit of a ``.git`` folder
    beside the package (a checkout), else None."""
    return _setting("code_version") or _git_commit(Path(__file__).resolve().parents[2])


def _setting(name: str) -> str | None:
    """A text setting, stripped; None when empty or when the settings do not load (a write must
    not fail for the audit's sake: the settings' own error shows wherever they are needed)."""
    from hhs_platform.settings import get_settings

    try:
        value = str(getattr(get_settings(), name)).strip()
    except Exception:
        return None
    return value or None


def _git_commit(root: Path) -> str | None:
    """The commit HEAD points at, read from the files of ``root/.git`` (no git binary)."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
    except (OSError, IndexError):
        return None
    return None


def os_user() -> str:
    """The OS account this process runs as (``uid:N`` when it has no name, e.g. in a pod)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@functools.lru_cache(maxsize=1)
def process_command() -> str:
    """The program and its sub-command words, e.g. ``hhs forget`` (never options or values)."""
    argv = sys.argv or [""]
    name = Path(argv[0]).name
    if not name or name.startswith("-"):
        name = "python"
    words = [name]
    for arg in argv[1:3]:
        if not re.fullmatch(r"[a-z][a-z-]*", arg):
            break
        words.append(arg)
    return " ".join(words)


def _prefect_run_id() -> str | None:
    """The Prefect flow run this code runs in (flow or task, any worker), without an API call."""
    if "prefect" not in sys.modules:  # not imported: not inside a run, and not worth importing
        return None
    from prefect.runtime import flow_run

    return flow_run.get_id()


def current() -> Acting:
    """Who is acting now: the innermost :func:`acting` block, else what the process knows.

    Inside a Prefect run (a flow or a task on any worker) that is the run id, and the actor when
    ``HHS_ACTOR`` sets it; outside one, ``HHS_ACTOR`` or the OS user, and the command line.
    """
    acting = _ACTING.get()
    if acting is not None:
        return acting
    actor = _setting("actor")
    run_id = _prefect_run_id()
    if run_id is not None:
        return Acting(run_id=run_id, actor=actor)
    return Acting(actor=actor or os_user(), command=process_command())


@contextmanager
def acting(
    *,
    run_id: str | None = None,
    actor: str | None = None,
    command: str | None = None,
    reason: str | None = None,
) -> Iterator[Acting]:
    """Record the commits made inside the block with these fields (the others stay as they were)."""
    base = current()
    changes = {"run_id": run_id, "actor": actor, "command": command, "reason": reason}
    now = replace(base, **{k: v for k, v in changes.items() if v is not None})
    token = _ACTING.set(now)
    try:
        yield now
    finally:
        _ACTING.reset(token)


def commit_metadata(reason: str | None = None) -> dict[str, str]:
    """The ``hhs.*`` entries a commit made now carries in its ``commitInfo``."""
    now = current()
    values = {
        "actor": now.actor,
        "run_id": now.run_id,
        "command": now.command,
        "code_version": code_version() or package_version(),
        "reason": reason or now.reason,
    }
    return {META_KEYS[k]: v for k, v in values.items() if v}


def commit_properties(
    reason: str | None = None, txn: tuple[str, int] | None = None
) -> CommitProperties:
    """Delta commit properties carrying :func:`commit_metadata` (and an app transaction)."""
    return CommitProperties(
        custom_metadata=commit_metadata(reason),
        app_transactions=[Transaction(txn[0], txn[1])] if txn is not None else None,
    )


# -- ops/runs -----------------------------------------------------------------------------------
@dataclass
class RunRecord:
    """One run as ``ops/runs`` holds it."""

    run_id: str
    flow: str
    actor: str
    parameters: dict[str, Any]
    lake_uri: str
    started_at: datetime
    deployment: str | None = None
    attempt: int = 1
    ended_at: datetime | None = None
    status: str = "running"
    error: str | None = None
    changes: int | None = None
    os_user: str | None = None
    host: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "deployment": self.deployment,
            "actor": self.actor,
            "os_user": self.os_user,
            "host": self.host,
            "package_version": package_version(),
            "code_version": code_version(),
            "parameters": json.dumps(self.parameters, sort_keys=True, default=str),
            "lake_uri": self.lake_uri,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
            "error": self.error,
            "attempt": self.attempt,
            "changes": self.changes,
        }


def _write_run(lake: Lake, record: RunRecord) -> None:
    lake.merge(RUNS, pl.DataFrame([record.row()], schema=table_spec(RUNS).schema))


def _redacted(text: str) -> str:
    from hhs_platform.settings import get_settings

    for secret in get_settings().secret_values():
        if secret:
            text = text.replace(secret, "[secret]")
    return text[:_ERROR_CHARS]


@contextmanager
def recorded_run(
    lake: Lake,
    flow: str,
    parameters: dict[str, Any] | None = None,
    *,
    run_id: str | None = None,
    actor: str | None = None,
    deployment: str | None = None,
    attempt: int = 1,
    now: Callable[[], datetime] | None = None,
) -> Iterator[RunRecord]:
    """Record a run in ``ops/runs`` (at start and at end) and copy its commits to ``ops/changes``.

    Inside the block every commit of this process carries the run id, the actor and the flow
    name. An exception ends the run as ``failed`` with its message (secrets removed) and is raised
    again. The audit never fails the run: a record that cannot be written is logged.

    Args:
        lake: The lake the run writes (where its audit goes).
        flow: The flow (or command) name.
        parameters: What it was called with (JSON; must hold no secret).
        run_id: The run's id (default: a new one).
        actor: Who ran it (default: ``HHS_ACTOR``, else the OS user).
        deployment: The Prefect deployment that started it, if any.
        attempt: The attempt number (a retried flow run keeps its id).
        now: The clock (tests).
    """
    import uuid

    clock = now or (lambda: datetime.now(UTC))
    user = os_user()
    record = RunRecord(
        run_id=run_id or uuid.uuid4().hex,
        flow=flow,
        actor=actor or _setting("actor") or user,
        parameters=dict(parameters or {}),
        lake_uri=lake.uri,
        started_at=clock(),
        deployment=deployment,
        attempt=attempt,
        os_user=user,
        host=socket.gethostname(),
    )
    _safely(lambda: _write_run(lake, record), f"recording the start of run {record.run_id}")
    with acting(run_id=record.run_id, actor=record.actor, command=flow):
        try:
            yield record
        except BaseException as exc:
            record.status = "failed"
            record.error = _redacted(f"{type(exc).__name__}: {exc}")
            raise
        else:
            record.status = "completed"
        finally:
            record.ended_at = clock()

            def finish() -> None:
                record.changes = record_changes(lake)
                _write_run(lake, record)

            _safely(finish, f"recording the end of run {record.run_id}")


def _safely(op: Callable[[], None], what: str) -> None:
    try:
        op()
    except Exception:
        log.exception("audit trail: %s failed; the run goes on without it", what)


def audited[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a Prefect flow function so each run is recorded (``recorded_run``) and its
    process redacts the configured secrets from every log record (``install_redaction``).

    Put it under ``@flow``. The lake is the flow's ``lake_uri`` parameter (else ``HHS_LAKE_URI``);
    the run id is the flow run's id; the actor is ``HHS_ACTOR``, else the Prefect user that created
    the run, else ``deployment:<name>`` for a scheduled run, else the OS user.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from hhs_platform.lake.store import Lake
        from hhs_platform.secrets import install_redaction_from_environment
        from hhs_platform.settings import get_settings

        install_redaction_from_environment()  # no secret in any log line of the run
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        params = dict(bound.arguments)
        ctx = _flow_run_context()
        lake = Lake(params.get("lake_uri") or get_settings().lake_uri)
        with recorded_run(lake, ctx.get("flow") or fn.__name__, params, **ctx.get("run", {})):
            return fn(*args, **kwargs)

    # Prefect validates parameters against the signature, resolving string annotations in the
    # wrapper's module: give it the flow's own annotations, already resolved.
    with contextlib.suppress(NameError):  # a name only type checkers import: leave it as text
        wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


def _flow_run_context() -> dict[str, Any]:
    """The flow name, run id, attempt, deployment and creator of the current Prefect flow run."""
    try:
        from prefect.context import FlowRunContext
    except ImportError:  # pragma: no cover - prefect is a dependency
        return {}
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return {}
    run = ctx.flow_run
    deployment = None
    if run.deployment_id is not None:
        try:
            from prefect.runtime import deployment as runtime_deployment

            deployment = runtime_deployment.get_name() or str(run.deployment_id)
        except Exception:  # the API is unreachable: the id still says which one
            deployment = str(run.deployment_id)
    creator = run.created_by.display_value if run.created_by is not None else None
    actor = _setting("actor") or creator
    if not actor and deployment:
        actor = f"deployment:{deployment}"
    fields: dict[str, Any] = {
        "run_id": str(run.id),
        "attempt": max(int(run.run_count or 1), 1),
        "deployment": deployment,
    }
    if actor:
        fields["actor"] = actor
    return {"flow": ctx.flow.name if ctx.flow is not None else None, "run": fields}


# -- ops/changes --------------------------------------------------------------------------------
def _audited_tables(tables: Iterable[str] | None) -> list[str]:
    names = list(tables) if tables is not None else [*CATALOGUE, *CUSTOM]
    return [n for n in names if n not in AUDIT_TABLES]


def _metric(metrics: dict[str, Any], *names: str) -> int | None:
    values = [metrics[n] for n in names if metrics.get(n) is not None]
    return int(sum(values)) if values else None


def _change_row(table: str, commit: dict[str, Any], recorded_at: datetime) -> dict[str, Any]:
    """One ``ops/changes`` row from one commit of ``DeltaTable.history()``."""
    m = commit.get("operationMetrics") or {}
    params = commit.get("operationParameters") or {}
    operation = str(commit.get("operation") or "UNKNOWN")
    if operation == "MERGE":
        added = _metric(m, "num_target_rows_inserted")
        updated = _metric(m, "num_target_rows_updated")
        deleted = _metric(m, "num_target_rows_deleted")
    else:
        added = _metric(m, "num_added_rows")
        updated = _metric(m, "num_updated_rows")
        deleted = _metric(m, "num_deleted_rows")
    meta = {k: commit.get(v) for k, v in META_KEYS.items()}
    return {
        "table": table,
        "version": int(commit["version"]),
        "committed_at": datetime.fromtimestamp(int(commit["timestamp"]) / 1000, tz=UTC),
        "operation": operation,
        "mode": params.get("mode"),
        "rows_added": added,
        "rows_updated": updated,
        "rows_deleted": deleted,
        "files_added": _metric(m, "num_added_files", "num_target_files_added", "num_files_added"),
        "files_removed": _metric(
            m,
            "num_removed_files",
            "num_target_files_removed",
            "num_files_removed",
            "num_deleted_files",
        ),
        **{k: (str(v) if v is not None else None) for k, v in meta.items()},
        "recorded_at": recorded_at,
    }


def pending_changes(
    lake: Lake, tables: Iterable[str] | None = None, now: datetime | None = None
) -> pl.DataFrame:
    """The commits of every table (or of ``tables``) that ``ops/changes`` does not hold yet.

    A table whose current version is below the last one recorded was dropped and created again:
    its commits after the last recorded time are taken. Commits already gone from a table's log
    (log retention, a privacy purge) cannot be recovered; a warning names them.
    """
    recorded_at = now or datetime.now(UTC)
    seen = (
        lake.scan(CHANGES)
        .group_by("table")
        .agg(pl.col("version").max(), pl.col("committed_at").max())
        .collect()
    )
    marks = {r["table"]: (r["version"], r["committed_at"]) for r in seen.iter_rows(named=True)}
    rows: list[dict[str, Any]] = []
    for name in _audited_tables(tables):
        delta = lake.delta(name)
        if delta is None:
            continue
        version = delta.version()
        mark = marks.get(name)
        if mark is None:
            commits = delta.history()
        elif version > mark[0]:
            commits = delta.history(version - mark[0])
        elif version == mark[0]:
            continue
        else:
            commits = delta.history()
        new = [_change_row(name, c, recorded_at) for c in commits]
        if mark is not None:
            if version < mark[0]:
                new = [r for r in new if r["committed_at"] > mark[1]]
            else:
                new = [r for r in new if r["version"] > mark[0]]
            first = min((r["version"] for r in new), default=None)
            if version >= mark[0] and first is not None and first > mark[0] + 1:
                log.warning(
                    "%s: versions %d..%d are no longer in the Delta log and were not recorded",
                    name,
                    mark[0] + 1,
                    first - 1,
                )
        rows += new
    return pl.DataFrame(rows, schema=table_spec(CHANGES).schema)


def _fill_from_runs(lake: Lake, changes: pl.DataFrame) -> pl.DataFrame:
    """Commits made by a run's workers name only the run: take actor, flow and code from it."""
    ids = changes["run_id"].drop_nulls().unique().to_list()
    if not ids:
        return changes
    runs = (
        lake.scan(RUNS)
        .filter(pl.col("run_id").is_in(ids))
        .select(
            "run_id",
            pl.col("actor").alias("_actor"),
            pl.col("flow").alias("_flow"),
            pl.coalesce("code_version", "package_version").alias("_code"),
        )
        .collect()
    )
    if runs.is_empty():
        return changes
    return (
        changes.join(runs, on="run_id", how="left")
        .with_columns(
            pl.coalesce("actor", "_actor").alias("actor"),
            pl.coalesce("command", "_flow").alias("command"),
            pl.coalesce("code_version", "_code").alias("code_version"),
        )
        .drop("_actor", "_flow", "_code")
    )


def record_changes(
    lake: Lake, tables: Iterable[str] | None = None, now: datetime | None = None
) -> int:
    """Copy the commits ``ops/changes`` does not hold yet from every table's Delta log.

    Idempotent (a commit is keyed by table, version and time). Returns the commits recorded.
    """
    new = pending_changes(lake, tables, now)
    if new.is_empty():
        return 0
    new = _fill_from_runs(lake, new)
    lake.merge(CHANGES, new)
    return new.height


# -- reading the trail --------------------------------------------------------------------------
def runs(
    lake: Lake,
    since: datetime | None = None,
    flow: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """``ops/runs``, newest first (optionally since a time, of one flow, the latest ``limit``)."""
    lf = lake.scan(RUNS)
    if since is not None:
        lf = lf.filter(pl.col("started_at") >= since)
    if flow is not None:
        lf = lf.filter(pl.col("flow") == flow)
    out = lf.sort("started_at", descending=True).collect()
    return out.head(limit) if limit is not None else out


def changes(
    lake: Lake,
    tables: Iterable[str] | None = None,
    since: datetime | None = None,
    run_id: str | None = None,
    limit: int | None = None,
    pending: bool = True,
) -> pl.DataFrame:
    """Every commit of the lake's tables, newest first: ``ops/changes`` and, with ``pending``, the
    commits not recorded yet (column ``recorded`` False), read from the Delta logs.

    Args:
        lake: The lake.
        tables: Only these tables.
        since: Only commits at or after this time.
        run_id: Only the commits of this run.
        limit: The latest this many.
        pending: Include the commits not yet copied to ``ops/changes``.
    """
    wanted = None if tables is None else list(tables)
    lf = lake.scan(CHANGES).with_columns(recorded=pl.lit(True))
    frames = [lf.collect()]
    if pending:
        live = pending_changes(lake, wanted)
        frames.append(_fill_from_runs(lake, live).with_columns(recorded=pl.lit(False)))
    out = pl.concat(frames, how="vertical")
    if wanted is not None:
        out = out.filter(pl.col("table").is_in(wanted))
    if since is not None:
        out = out.filter(pl.col("committed_at") >= since)
    if run_id is not None:
        out = out.filter(pl.col("run_id") == run_id)
    out = out.sort(["committed_at", "table", "version"], descending=True)
    return out.head(limit) if limit is not None else out


def history(lake: Lake, table: str, limit: int | None = None) -> pl.DataFrame:
    """One table's commits, newest first, recorded and pending, with ``in_log``: whether the
    commit is still in the table's Delta log (a version whose log entry is gone can no longer be
    read by time travel; the vacuum may have removed the files of older versions too)."""
    table_spec(table)
    out = changes(lake, [table], limit=limit)
    delta = lake.delta(table)
    kept = pl.DataFrame(
        [
            (int(c["version"]), datetime.fromtimestamp(int(c["timestamp"]) / 1000, tz=UTC))
            for c in (delta.history() if delta is not None else [])
        ],
        schema={"version": pl.Int64, "committed_at": out.schema["committed_at"]},
        orient="row",
    ).with_columns(in_log=pl.lit(True))
    return (
        out.join(kept, on=["version", "committed_at"], how="left")
        .with_columns(pl.col("in_log").fill_null(False))
        .sort(["committed_at", "version"], descending=True)
    )


__all__ = [
    "AUDIT_TABLES",
    "CHANGES",
    "RUNS",
    "Acting",
    "RunRecord",
    "acting",
    "audited",
    "changes",
    "code_version",
    "commit_metadata",
    "commit_properties",
    "current",
    "history",
    "os_user",
    "package_version",
    "pending_changes",
    "process_command",
    "record_changes",
    "recorded_run",
    "runs",
]
