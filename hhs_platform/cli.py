"""The ``hhs`` command: the one face over collection, the lake, the dashboards and the demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hhs_platform.errors import HhsError
from hhs_platform.instants import parse_instant

app = typer.Typer(
    help="HHS social media data platform.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(
    help="The simulated platforms.", no_args_is_help=True, rich_markup_mode=None
)
registry_app = typer.Typer(
    help="The accounts registry.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(registry_app, name="registry")
quality_app = typer.Typer(
    help="Data quality: the lake against the ground truth.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(quality_app, name="quality")
slo_app = typer.Typer(
    help="Service-level objectives: collection success, freshness, dashboard availability.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(slo_app, name="slo")
alerts_app = typer.Typer(
    help="Alerts: check the lake and notify (docs/operations/alerts.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(alerts_app, name="alerts")
backup_app = typer.Typer(
    help="Backups of the lake: copy, list, verify (docs/operations/backup.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(backup_app, name="backup")
api_app = typer.Typer(
    help="The read-only HTTP API over the lake (/v1): serve it, manage its tokens.",
    no_args_is_help=True,
)
app.add_typer(api_app, name="api")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _parse_since(value: str | None, param_hint: str | None = None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=param_hint) from None


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboards afterwards.")
    ] = True,
    lake: Annotated[str, typer.Option(help="Lake folder or s3:// URI.")] = "./lake",
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 7,
    prefect_port: Annotated[int, typer.Option(help="Port of the local Prefect server/UI.")] = 4200,
    dashboard_port: Annotated[int, typer.Option(help="Port of the dashboards.")] = 5006,
    api_port: Annotated[int, typer.Option(help="Port of the HTTP API (/v1).")] = 8080,
    faults: Annotated[
        str | None,
        typer.Option(help="Inject faults into the simulated platforms: a named profile (chaos)."),
    ] = None,
) -> None:
    """Start the simulated platforms, a Prefect server and a Dask cluster; collect; serve dashboards.

    With --no-serve it runs once and stops everything it started (for scripts and CI). The truth
    it served is saved to .hhs/truth.json for `hhs quality audit`.
    """
    from hhs_platform.demo import DemoOptions, run_demo
    from hhs_platform.sandbox.faults import FaultProfile

    if faults:
        try:
            FaultProfile.named(faults)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--faults") from None
    try:
        run_demo(
            DemoOptions(
                lake_uri=lake,
                seed=seed,
                serve=serve,
                prefect_port=prefect_port,
                dashboard_port=dashboard_port,
                api_port=api_port,
                echo=typer.echo,
                faults=faults,
            )
        )
    except HhsError as exc:
        _fail(exc)


@app.command()
def collect(
    platform: Annotated[
        list[str] | None, typer.Option("--platform", "-p", help="Only this platform (repeatable).")
    ] = None,
    accounts_file: Annotated[
        Path | None,
        typer.Option(help="Registry CSV (default: HHS_ACCOUNTS_FILE or the shipped one)."),
    ] = None,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only posts published on or after this ISO date.")
    ] = None,
    repoll: Annotated[
        bool,
        typer.Option(
            "--repoll",
            help="Only the accounts with a post whose engagement-curve age falls due within "
            "HHS_REPOLL_HORIZON_MINUTES (run it on that schedule).",
        ),
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Finish an interrupted run: its ID (printed when a run starts). Accounts it "
            "already archived are parsed from bronze, not fetched again."
        ),
    ] = None,
    tier: Annotated[
        list[int] | None,
        typer.Option(
            "--tier", help="Only registry accounts of this tier (repeatable; 1 hourly, 2, 3 daily)."
        ),
    ] = None,
    backfill: Annotated[
        tuple[str, str] | None,
        typer.Option(
            metavar="FROM TO",
            help="Collect the posts published FROM..TO (ISO UTC days, both included) with "
            "their current counters; no account snapshots (platforms serve only today's).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Stop the run after this many seconds (finish it with --resume)."),
    ] = None,
    lookback_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Only posts published in the last N days (what the scheduled deployments "
            "read; without it, whole feeds).",
        ),
    ] = None,
) -> None:
    """Run the collection flow (Prefect on Dask): bronze, silver, gold. Prints the run summary as JSON.

    A run killed at any point can be finished with --resume RUN_ID: the result equals an
    uninterrupted run's, and no account already in bronze is requested again.
    """
    from flows.collect import run_collect
    from hhs_platform.backfill import backfill_window

    try:
        window = backfill_window(*backfill) if backfill else None
        if sum(bool(x) for x in (window, since, lookback_days)) > 1:
            raise typer.BadParameter("give one of --since, --lookback-days or --backfill")
        summary = run_collect(
            platforms=platform or None,
            accounts_file=str(accounts_file) if accounts_file else None,
            lake_uri=lake,
            since=_parse_since(since),
            run_id=resume,
            repoll=repoll,
            tiers=tier or None,
            backfill=(window.first, window.last) if window else None,
            timeout_seconds=timeout,
            lookback_days=lookback_days,
        )
    except HhsError as exc:
        _fail(exc)
    except TimeoutError as exc:
        _fail(
            TimeoutError(
                f"the run timed out ({exc}); what it archived is kept: finish it with "
                "hhs collect --resume RUN_ID (the ID is in the log line 'starting run ...')"
            )
        )
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def deploy(
    pool: Annotated[str, typer.Option(help="Work pool to create and deploy to.")] = "hhs-process",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be created; contact nothing.")
    ] = False,
    project_file: Annotated[
        Path | None, typer.Option(help="Prefect project file (default: the shipped prefect.yaml).")
    ] = None,
) -> None:
    """Set up scheduling on the Prefect server at PREFECT_API_URL: the work pool and its
    prioritized queues, the per-platform concurrency limits, and every deployment of
    prefect.yaml. Idempotent. Then start a worker: prefect worker start --pool POOL.
    """
    from hhs_platform.deploy import PROJECT_FILE
    from hhs_platform.deploy import deploy as run_deploy

    try:
        run_deploy(project_file or PROJECT_FILE, pool, dry_run=dry_run, echo=typer.echo)
    except HhsError as exc:
        _fail(exc)


@app.command()
def replay(
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Only this run (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only runs started on or after this ISO date or time.")
    ] = None,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    accounts_file: Annotated[
        Path | None,
        typer.Option(help="Registry CSV (default: HHS_ACCOUNTS_FILE or the shipped one)."),
    ] = None,
) -> None:
    """Rebuild silver (and gold) from bronze without a single request.

    With no option every run is replayed into emptied silver tables (the previous version stays
    readable by Delta time travel): how a parser fix reaches history. With --run or --since the
    chosen runs are merged into silver as it stands; replaying twice changes nothing.
    """
    from hhs_platform.lake import Lake
    from hhs_platform.registry import load_registry
    from hhs_platform.replay import replay as run_replay

    try:
        registry = load_registry(str(accounts_file) if accounts_file else None)
        target = Lake(lake)
        typer.echo(f"replaying bronze of {target.uri}")
        report = run_replay(
            target,
            run_ids=run or None,
            since=_parse_since(since),
            registry=registry,
            progress=typer.echo,
        )
    except HhsError as exc:
        _fail(exc)
    if report.runs:
        rows = ", ".join(f"{name} {n}" for name, n in sorted(report.rows.items()))
        typer.echo(
            f"{len(report.runs)} runs, {report.responses} responses replayed"
            f"{' (full rebuild)' if report.full else ''}: {rows}"
        )
        if report.skipped_responses:
            typer.echo(
                f"{report.skipped_responses} responses of interrupted or failed attempts kept in "
                "bronze but not parsed (their accounts were fetched again)"
            )


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 5006,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    warm: Annotated[
        bool,
        typer.Option("--warm/--no-warm", help="Compute every page's default view before serving."),
    ] = True,
) -> None:
    """Serve the dashboards over the lake."""
    from hhs_platform.dashboards.server import DASHBOARDS, serve_dashboards

    for name in DASHBOARDS:
        typer.echo(f"{name}: http://{address}:{port}/{name}")
    try:
        serve_dashboards(port=port, address=address, lake_uri=lake, warm=warm)
    except HhsError as exc:
        _fail(exc)


@app.command()
def tables(
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """List the lake's tables with their row counts and Delta versions."""
    from hhs_platform.lake import Lake
    from schemas import CATALOGUE

    lk = Lake(lake)
    typer.echo(f"lake: {lk.uri}")
    for name in CATALOGUE:
        dt = lk.delta(name)
        if dt is None:
            typer.echo(f"  {name:32s} (not written yet)")
        else:
            rows = lk.scan(name).select(__import__("polars").len()).collect().item()
            typer.echo(f"  {name:32s} {rows:>10,} rows  version {dt.version()}")


@app.command("export")
def export(
    table: Annotated[str, typer.Argument(help="Table, e.g. gold/daily_account_metrics.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="File to write: .csv, .xlsx or .parquet.")
    ],
    where: Annotated[
        list[str] | None,
        typer.Option(help="Keep rows where COLUMN=VALUE (repeatable; values of one column OR)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First day to keep (ISO date), on the table's date column.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last day to keep (ISO date).")] = None,
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated columns to export (default: all).")
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Export the table as of this Delta version.")
    ] = None,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Export a table (or some of its rows and columns) to CSV, Excel or Parquet, with its data
    dictionary (inside the Excel and Parquet files; beside a CSV as NAME.dictionary.csv)."""
    from hhs_platform.exports import export_file
    from hhs_platform.lake import Lake
    from hhs_platform.lake.filters import row_filter
    from schemas import CATALOGUE

    if table not in CATALOGUE:
        _fail(ValueError(f"unknown table {table!r}; `hhs tables` lists them"))
    try:
        lk = Lake(lake)
        if lk.delta(table, version) is None:
            raise ValueError(f"{table} has not been written in {lk.uri} yet")
        lf = lk.scan(table, version=version)
        expr = row_filter(table, where or [], since=since, until=until)
        if expr is not None:
            lf = lf.filter(expr)
        if columns:
            lf = lf.select([c.strip() for c in columns.split(",") if c.strip()])
        frame = lf.collect()
        written = export_file(frame, out, table=table)
    except (HhsError, ValueError, OSError) as exc:
        _fail(exc)
    except Exception as exc:  # polars: an unknown column
        if type(exc).__name__ in ("ColumnNotFoundError", "SchemaError", "InvalidOperationError"):
            _fail(ValueError(f"{table}: {exc}"))
        raise
    typer.echo(f"{frame.height:,} rows of {table} written to {', '.join(map(str, written))}")


@app.command()
def report(
    period: Annotated[
        str, typer.Option(help="week (7 days), month (30 days) or <N>d, ending at --end.")
    ] = "week",
    end: Annotated[
        str | None,
        typer.Option(help="Last day of the period, ISO date (default: the latest day of gold)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder to write the brief into.")] = Path("briefs"),
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="html, pdf or html,pdf (PDF needs Chromium).")
    ] = "html,pdf",
    agency: Annotated[
        list[str] | None,
        typer.Option("--agency", "-a", help="Only this agency and those below it (repeatable)."),
    ] = None,
) -> None:
    """Render the executive brief of a period (HTML and PDF) and print the paths written."""
    from hhs_platform.lake import Lake
    from hhs_platform.reports.brief import BriefError, parse_formats, write_brief
    from hhs_platform.reports.highlights import PeriodError, agencies_with_descendants

    day = _parse_since(end)
    try:
        formats = parse_formats(fmt)
    except BriefError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from None
    try:
        target = Lake(lake)
        agencies = (
            sorted(agencies_with_descendants(target.read("silver/accounts"), agency))
            if agency
            else None
        )
        result = write_brief(
            target,
            period,
            out_dir=out,
            end=day.date() if day else None,
            formats=formats,
            agencies=agencies,
        )
    except PeriodError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None
    except HhsError as exc:
        for name, path in getattr(exc, "written", {}).items():
            typer.echo(f"{name}: {path}")
        _fail(exc)
    typer.echo(result.highlights.headline())
    for name, path in result.paths.items():
        typer.echo(f"{name}: {path}")


@app.command()
def maintain(
    table: Annotated[
        list[str] | None, typer.Option(help="Table to maintain (repeatable; default: all).")
    ] = None,
    retention_hours: Annotated[
        int | None,
        typer.Option(help="Time-travel window to keep (default: HHS_LAKE_RETENTION_HOURS)."),
    ] = None,
    zorder: Annotated[
        bool, typer.Option("--zorder/--no-zorder", help="Z-order the filtered-on columns.")
    ] = True,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Compact, Z-order, vacuum and checkpoint the lake's tables (run when nothing writes)."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.maintenance import maintain as run_maintain

    try:
        report = run_maintain(
            Lake(lake), table, retention_hours=retention_hours, zorder=zorder, progress=typer.echo
        )
    except KeyError as exc:
        _fail(ValueError(f"unknown table: {exc}; `hhs tables` lists them"))
    if report.failed:
        typer.secho(f"{len(report.failed)} table(s) failed", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


@app.command()
def retention(
    table: Annotated[
        list[str] | None,
        typer.Option(help="Only this table of the policy (repeatable; default: all it names)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the rows past retention; change nothing.")
    ] = False,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Vacuum with no time-travel window: the files go now (default: keep "
            "HHS_LAKE_RETENTION_HOURS).",
        ),
    ] = False,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    archive: Annotated[
        str | None,
        typer.Option(help="Archive lake for the expired rows (default: HHS_ARCHIVE_URI)."),
    ] = None,
) -> None:
    """Delete the rows older than each table's window (HHS_RETENTION_DAYS), archiving them first
    when an archive lake is set. Prints one line per table; exits 1 if a table failed."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.retention import apply_retention, archive_lake

    try:
        target = Lake(lake)
        cold = archive_lake(archive)
        where = f"expired rows archived to {cold.uri}" if cold else "no archive: rows deleted"
        typer.echo(f"retention of {target.uri}: {where}")
        report = apply_retention(
            target, archive=cold, dry_run=dry_run, tables=table, purge=purge, progress=typer.echo
        )
    except HhsError as exc:
        _fail(exc)
    if report.failed:
        typer.secho(f"{len(report.failed)} table(s) failed", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


@app.command()
def forget(
    account: Annotated[
        str,
        typer.Option(help="The account: <platform>:<handle or platform id>, e.g. bluesky:cdc.gov."),
    ],
    reason: Annotated[
        str | None, typer.Option(help="Why (e.g. the request's ticket); the account is redacted.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the rows per table; change nothing.")
    ] = False,
    include_mentions: Annotated[
        bool,
        typer.Option(
            "--include-mentions",
            help="Also delete other accounts' raw responses whose body names the account's id.",
        ),
    ] = False,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    archive: Annotated[
        str | None,
        typer.Option(help="Apply the deletion to this archive lake too (default HHS_ARCHIVE_URI)."),
    ] = None,
) -> None:
    """Privacy deletion: delete every row about one account from every table, rebuild the
    aggregates without it, vacuum so no older version holds it, and record a hashed audit row
    (ops/deletions). Remove the account from the registry first. Run when nothing writes."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.privacy import forget as run_forget
    from hhs_platform.lake.retention import archive_lake

    try:
        report = run_forget(
            Lake(lake),
            account,
            reason=reason,
            dry_run=dry_run,
            archive=None if dry_run else archive_lake(archive),
            include_mentions=include_mentions,
        )
    except HhsError as exc:
        _fail(exc)
    typer.echo(report.render(), nl=False)
    if report.rows_total + (report.archive.rows_total if report.archive else 0) == 0:
        typer.secho(
            "no row names this account: check the platform and the spelling",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(code=1)


@registry_app.command("validate")
def registry_validate(
    accounts_file: Annotated[
        Path | None, typer.Option(help="Registry CSV (default: the shipped one).")
    ] = None,
) -> None:
    """Check a registry file against its contract and print accounts per platform."""
    from hhs_platform.registry import load_registry

    try:
        df = load_registry(accounts_file)
    except HhsError as exc:
        _fail(exc)
    typer.echo(f"{df.height} accounts, {df['agency'].n_unique()} agencies")
    for platform, n in df.group_by("platform").len().sort("platform").iter_rows():
        typer.echo(f"  {platform:12s} {n}")


@registry_app.command("check")
def registry_check(
    platform: Annotated[
        list[str] | None, typer.Option("--platform", "-p", help="Only this platform (repeatable).")
    ] = None,
    accounts_file: Annotated[
        Path | None,
        typer.Option(help="Registry CSV (default: HHS_ACCOUNTS_FILE or the shipped one)."),
    ] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write", help="Write learned platform ids and renamed handles back to the CSV."
        ),
    ] = False,
) -> None:
    """Resolve every handle on its platform (id, current handle, name, state); report changes."""
    from hhs_platform.registry import DEFAULT_REGISTRY, load_registry, write_registry
    from hhs_platform.registry.check import apply_check, check_registry
    from hhs_platform.settings import get_settings

    settings = get_settings()
    path = accounts_file or settings.accounts_file or DEFAULT_REGISTRY
    try:
        registry = load_registry(path, platforms=platform or None)
        result = check_registry(registry, settings)
    except HhsError as exc:
        _fail(exc)
    typer.echo(result.report(), nl=False)
    if write:
        try:
            full = load_registry(path)
            updated, notes = apply_check(full, result)
            changed = sum(
                a != b for a, b in zip(full.iter_rows(), updated.iter_rows(), strict=True)
            )
            write_registry(updated, path)
        except HhsError as exc:
            _fail(exc)
        for note in notes:
            typer.echo(f"note: {note}")
        typer.echo(f"wrote {path}: {changed} row(s) updated")


@registry_app.command("sync")
def registry_sync(
    accounts_file: Annotated[
        Path | None,
        typer.Option(help="Registry CSV (default: HHS_ACCOUNTS_FILE or the shipped one)."),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Write the proposed registry to this new file, for review."),
    ] = None,
) -> None:
    """Compare the registry with the U.S. Digital Registry (GSA); print additions, removals, renames."""
    from hhs_platform.registry import DEFAULT_REGISTRY, load_registry, write_registry
    from hhs_platform.registry.sync import sync_registry
    from hhs_platform.settings import get_settings

    settings = get_settings()
    path = Path(accounts_file or settings.accounts_file or DEFAULT_REGISTRY)
    if write is not None and write.resolve() in (path.resolve(), DEFAULT_REGISTRY.resolve()):
        _fail(
            ValueError(
                f"--write {write} would overwrite the registry it is compared with; write the "
                "proposal to another file, review it, then copy it over"
            )
        )
    try:
        registry = load_registry(path)
        result = sync_registry(registry, settings, registry_name=path.name)
    except HhsError as exc:
        _fail(exc)
    typer.echo(result.report(), nl=False)
    if write is not None:
        try:
            write_registry(result.proposed, write)
        except HhsError as exc:
            _fail(exc)
        typer.echo(f"wrote the proposed registry to {write} (review it, then copy it over {path})")


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 7,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    accounts_file: Annotated[
        Path | None, typer.Option(help="Registry CSV the world is built from.")
    ] = None,
    frozen: Annotated[
        bool, typer.Option(help="Freeze the simulated clock (exact ground truth).")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            help="The world's instant, ISO 8601, UTC unless a zone is given (e.g. 2026-11-25 "
            "or 2026-11-25T06:00Z); default 2026-11-01 with --frozen, else now."
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(help="Inject faults: a named profile (chaos); see docs/quality-audit.md."),
    ] = None,
) -> None:
    """Serve the simulated platforms (real API paths and shapes) until interrupted."""
    from hhs_platform.sandbox import SandboxConfig
    from hhs_platform.sandbox import serve as sandbox_serve_fn
    from hhs_platform.sandbox.faults import CHAOS_LIMITS, FaultProfile

    try:
        profile = FaultProfile.named(faults, seed) if faults else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    instant = _parse_since(at, "--at")
    typer.echo(
        f"simulated platforms on http://{host}:{port} (seed {seed}); e.g. HHS_BLUESKY_API_BASE=http://{host}:{port}/bluesky"
    )
    sandbox_serve_fn(
        host=host,
        port=port,
        seed=seed,
        accounts_file=accounts_file,
        frozen=frozen,
        at=instant,
        faults=profile,
        config=SandboxConfig(**CHAOS_LIMITS) if profile else None,
    )


@quality_app.command("audit")
def quality_audit(
    lake: Annotated[
        str | None,
        typer.Option(
            help="Lake URI (default: the demo's lake noted in the truth file, else HHS_LAKE_URI)."
        ),
    ] = None,
    sandbox: Annotated[
        str | None,
        typer.Option(help="Base URL of a running sandbox: read its /_sandbox/truth."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="Ground truth JSON (truth_to_json); default .hhs/truth.json."),
    ] = None,
    min_recall: Annotated[float, typer.Option(help="Lowest acceptable recall.")] = 1.0,
    min_accuracy: Annotated[float, typer.Option(help="Lowest acceptable field accuracy.")] = 1.0,
    max_duplicates: Annotated[int, typer.Option(help="Most duplicated post rows accepted.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare the lake with the simulated platforms' ground truth: recall, duplicates, accuracy.

    Prints, per platform, recall, duplicate rate and the share of served values that landed
    exactly for every counter and account figure, then the quarantine's rows by reason class.
    Exits 1 when recall, duplicates or accuracy miss the thresholds (default: exact).
    """
    from hhs_platform.lake import Lake
    from hhs_platform.quality.audit import audit, load_truth, render

    if sandbox and truth:
        raise typer.BadParameter("pass --sandbox or --truth, not both")
    try:
        tables, payload = load_truth(sandbox=sandbox, truth_file=truth)
        lake_uri = lake or (None if sandbox else payload.get("lake_uri"))
        report = audit(Lake(lake_uri), tables)
    except HhsError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        typer.echo(render(report), nl=False)
    failures = report.failures(min_recall, min_accuracy, max_duplicates)
    if failures:
        for line in failures:
            typer.secho(f"below threshold: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


@slo_app.command("show")
def slo_show(
    days: Annotated[
        int, typer.Option(help="Rebuild the SLO rows of the last N days first (0: only read).")
    ] = 0,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Print each SLO: target, last day, window value, error budget burned and status."""
    from hhs_platform.lake import Lake
    from hhs_platform.ops.slo import SLO_TABLE, build_slo, format_summary, slo_summary

    lk = Lake(lake)
    try:
        if days:
            build_slo(lk, days=days)
        summary = slo_summary(lk.read(SLO_TABLE))
    except HhsError as exc:
        _fail(exc)
    typer.echo(format_summary(summary), nl=False)


@slo_app.command("build")
def slo_build(
    days: Annotated[
        int | None,
        typer.Option(help="Days to rebuild, today included (default: since the last build)."),
    ] = None,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Compute the ops/slo rows from fetch log, scorecard and probes (idempotent)."""
    from hhs_platform.lake import Lake
    from hhs_platform.ops.slo import build_slo

    try:
        result = build_slo(Lake(lake), days=days)
    except HhsError as exc:
        _fail(exc)
    typer.echo(f"ops/slo: {result.inserted} rows inserted, {result.updated} updated")


@slo_app.command("probe")
def slo_probe(
    url: Annotated[
        str | None, typer.Option(help="Page to request (default: HHS_DASHBOARD_URL).")
    ] = None,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Request the dashboards once and append the result to ops/probes (exit 1 when down)."""
    from hhs_platform.lake import Lake
    from hhs_platform.ops.slo import probe_dashboard

    try:
        probe = probe_dashboard(Lake(lake), url)
    except HhsError as exc:
        _fail(exc)
    outcome = f"HTTP {probe.status}" if probe.ok else f"DOWN ({probe.error})"
    typer.echo(f"{probe.url}: {outcome} in {probe.elapsed_ms:,.0f} ms")
    if not probe.ok:
        raise typer.Exit(code=1)


@alerts_app.command("check")
def alerts_check(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send and record nothing.")
    ] = False,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Run every alert rule, send what is new (deduplicated, rate-limited) and record it."""
    from hhs_platform.lake import Lake
    from hhs_platform.ops.alerts import check
    from hhs_platform.settings import Settings

    try:
        report = check(Lake(lake), Settings(), dry_run=dry_run)
    except HhsError as exc:
        _fail(exc)
    for line in report.lines():
        typer.echo(line)
    if report.failed:
        typer.secho(
            f"{report.failed} message(s) not delivered; retried at the next check",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1)


@alerts_app.command("test")
def alerts_test() -> None:
    """Send one test message to every configured alert URL (HHS_ALERT_URLS, ..._CONTENT_URLS)."""
    from hhs_platform.ops.alerts import send_test
    from hhs_platform.settings import Settings

    results = send_test(Settings())
    if not results:
        _fail(ValueError("no alert URL configured: set HHS_ALERT_URLS (docs/operations/alerts.md)"))
    for audience, delivery in results:
        for channel in delivery.channels:
            state = "ok" if channel.ok else f"FAILED ({channel.error})"
            typer.echo(f"{audience}: {channel.scheme}:// {state}")
    if not all(d.ok for _, d in results):
        raise typer.Exit(code=1)


def _backup_target(uri: str | None) -> str:
    from hhs_platform.settings import get_settings

    target = uri or get_settings().backup_uri
    if not target:
        raise typer.BadParameter("give --to/--from or set HHS_BACKUP_URI")
    return target


@backup_app.command("run")
def backup_run(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Backup folder or s3:// URI (default: HHS_BACKUP_URI)."),
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option(help="Table to back up (repeatable; default: all).")
    ] = None,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    check: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify the backup's checksums afterwards.")
    ] = True,
) -> None:
    """Copy the lake's new files to the backup (incremental) and write a manifest with checksums."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.backup import backup, verify_backup
    from hhs_platform.settings import get_settings

    dest = _backup_target(to)
    options = get_settings().backup_storage_options
    try:
        manifest = backup(Lake(lake), dest, options, table, progress=typer.echo)
        if check:
            typer.echo(f"verifying backup #{manifest.number}")
            verify_backup(dest, options, number=manifest.number, progress=typer.echo)
    except KeyError as exc:
        _fail(ValueError(f"unknown table: {exc}; `hhs tables` lists them"))
    except HhsError as exc:
        _fail(exc)


@backup_app.command("verify")
def backup_verify(
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Backup folder or s3:// URI (default: HHS_BACKUP_URI)."),
    ] = None,
    number: Annotated[
        int | None, typer.Option(help="Manifest to check (default: the latest).")
    ] = None,
) -> None:
    """Recompute every table's checksum from the backup's files and compare with its manifest."""
    from hhs_platform.lake.backup import verify_backup
    from hhs_platform.settings import get_settings

    source = _backup_target(from_)
    try:
        report = verify_backup(
            source, get_settings().backup_storage_options, number=number, progress=typer.echo
        )
    except HhsError as exc:
        _fail(exc)
    typer.echo(f"{len(report.checks)} tables verified in {report.seconds:.1f} s")


@backup_app.command("list")
def backup_list(
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Backup folder or s3:// URI (default: HHS_BACKUP_URI)."),
    ] = None,
) -> None:
    """List the backups (manifests) at a location: number, time, tables, size."""
    from hhs_platform.lake.backup import load_manifest, manifests
    from hhs_platform.settings import get_settings

    source = _backup_target(from_)
    options = get_settings().backup_storage_options
    try:
        numbers = manifests(source, options)
        if not numbers:
            raise HhsError(f"no backup at {source}")
        for n in numbers:
            m = load_manifest(source, options, n)
            typer.echo(
                f"#{m.number:<4d} {m.created_at}  {len(m.tables):>3} tables  {m.files:>7,} files "
                f"{m.bytes / 1e6:>10.2f} MB  (copied {m.copied_files:,} files) from {m.source}"
            )
    except HhsError as exc:
        _fail(exc)


@app.command()
def restore(
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Backup folder or s3:// URI (default: HHS_BACKUP_URI)."),
    ] = None,
    to: Annotated[
        str,
        typer.Option("--to", help="New lake location (folder or s3:// URI) without those tables."),
    ] = "",
    number: Annotated[
        int | None,
        typer.Option("--backup", help="Manifest number to restore (default: the latest)."),
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option(help="Only this table (repeatable; default: all).")
    ] = None,
) -> None:
    """Restore a backup into a new lake location and verify every table's checksum.

    Storage options: HHS_BACKUP_STORAGE_OPTIONS to read the backup, HHS_LAKE_STORAGE_OPTIONS to
    write the target. Point HHS_LAKE_URI at the target afterwards.
    """
    from hhs_platform.lake.backup import restore as run_restore
    from hhs_platform.settings import get_settings

    if not to:
        raise typer.BadParameter("give --to: the new lake location", param_hint="--to")
    settings = get_settings()
    try:
        run_restore(
            _backup_target(from_),
            to,
            backup_storage_options=settings.backup_storage_options,
            target_storage_options=settings.lake_storage_options,
            version=number,
            tables=table,
            progress=typer.echo,
        )
    except HhsError as exc:
        _fail(exc)


# -- audit trail commands ------------------------------------------------------------------------
audit_app = typer.Typer(
    help="The audit trail: flow runs (who, which code) and every commit to every table "
    "(docs/operations/audit.md). Not the data-quality audit: that is `hhs quality audit`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(audit_app, name="audit")

_AUDIT_LAKE = typer.Option(help="Lake URI (default: HHS_LAKE_URI).")
_AUDIT_JSON = typer.Option("--json", help="One JSON object per line instead of a table.")


def _echo_rows(frame: Any, as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    """Print a polars frame's rows as JSON lines or through ``line(row)``."""
    rows = frame.to_dicts()
    if not rows and not as_json:
        typer.echo("nothing recorded yet")
    for row in rows:
        typer.echo(json.dumps(row, default=str) if as_json else line(row))


def _change_line(row: dict[str, Any]) -> str:
    rows = " ".join(
        f"{sign}{row[k]:,}"
        for k, sign in (("rows_added", "+"), ("rows_updated", "~"), ("rows_deleted", "-"))
        if row[k] is not None
    )
    line = (
        f"{row['committed_at']:%Y-%m-%d %H:%M:%S}  {row['table']:28s} v{row['version']:<5} "
        f"{row['operation']:15s} {rows:22s} {row['actor'] or '-'}  {row['command'] or '-'}"
    )
    if row.get("reason"):
        line += f"  ({row['reason']})"
    if row.get("run_id"):
        line += f"  run {row['run_id']}"
    if row.get("recorded") is False:
        line += "  [not yet in ops/changes]"
    if row.get("in_log") is False:
        line += "  [log entry gone]"
    return line


@audit_app.command("runs")
def audit_runs(
    since: Annotated[
        str | None, typer.Option(help="Only runs started on or after this ISO date or time.")
    ] = None,
    flow: Annotated[str | None, typer.Option(help="Only this flow, e.g. hhs-collect.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The latest this many runs.")] = 20,
    as_json: Annotated[bool, _AUDIT_JSON] = False,
    lake: Annotated[str | None, _AUDIT_LAKE] = None,
) -> None:
    """List flow runs (ops/runs), newest first: when, which flow, how it ended, who started it,
    which code version, and the run id (the Prefect flow run id)."""
    from hhs_platform.lake import Lake, audit

    try:
        frame = audit.runs(Lake(lake), since=_parse_since(since), flow=flow, limit=limit)
    except HhsError as exc:
        _fail(exc)

    def line(r: dict[str, Any]) -> str:
        code = r["code_version"] or r["package_version"]
        error = f"  {r['error']}" if r["error"] else ""
        return (
            f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['flow']:16s} {r['status']:9s} "
            f"{r['actor']}  code {code}  run {r['run_id']}{error}"
        )

    _echo_rows(frame, as_json, line)


@audit_app.command("changes")
def audit_changes(
    table: Annotated[
        list[str] | None, typer.Option(help="Only this table (repeatable; default: all).")
    ] = None,
    run: Annotated[str | None, typer.Option(help="Only the commits of this run id.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only commits on or after this ISO date or time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="The latest this many commits.")] = 50,
    as_json: Annotated[bool, _AUDIT_JSON] = False,
    lake: Annotated[str | None, _AUDIT_LAKE] = None,
) -> None:
    """List commits to the lake's tables, newest first: table, version, operation, rows added (+),
    updated (~) and deleted (-), who, which command, why. Includes the commits not yet copied to
    ops/changes (marked); `hhs audit record` copies them."""
    from hhs_platform.lake import Lake, audit
    from schemas import CATALOGUE

    unknown = sorted(set(table or []) - set(CATALOGUE))
    if unknown:
        _fail(ValueError(f"unknown table(s) {', '.join(unknown)}; `hhs tables` lists them"))
    try:
        frame = audit.changes(
            Lake(lake), tables=table or None, since=_parse_since(since), run_id=run, limit=limit
        )
    except HhsError as exc:
        _fail(exc)
    _echo_rows(frame, as_json, _change_line)


@audit_app.command("history")
def audit_history(
    table: Annotated[str, typer.Argument(help="Table, e.g. silver/posts.")],
    limit: Annotated[int, typer.Option(min=1, help="The latest this many versions.")] = 50,
    as_json: Annotated[bool, _AUDIT_JSON] = False,
    lake: Annotated[str | None, _AUDIT_LAKE] = None,
) -> None:
    """One table's versions, newest first, as recorded and as still in its Delta log (a version
    marked "log entry gone" can no longer be read with time travel, e.g. `hhs export --version`)."""
    from hhs_platform.lake import Lake, audit
    from schemas import CATALOGUE

    if table not in CATALOGUE:
        _fail(ValueError(f"unknown table {table!r}; `hhs tables` lists them"))
    try:
        frame = audit.history(Lake(lake), table, limit=limit)
    except HhsError as exc:
        _fail(exc)
    _echo_rows(frame, as_json, _change_line)


@audit_app.command("record")
def audit_record(lake: Annotated[str | None, _AUDIT_LAKE] = None) -> None:
    """Copy to ops/changes the commits of every table made since the last copy (every flow run
    does it when it ends; run it after writing with other tools)."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.audit import record_changes

    try:
        target = Lake(lake)
        n = record_changes(target)
    except HhsError as exc:
        _fail(exc)
    typer.echo(f"{n:,} commits recorded in ops/changes of {target.uri}")


# -- privacy commands -----------------------------------------------------------------------------
privacy_app = typer.Typer(
    help="Privacy: third-party data policy, forgetting a person, the data inventory "
    "(docs/privacy.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("inventory")
def privacy_inventory_cmd(
    personal_only: Annotated[
        bool, typer.Option("--personal-only", help="Only columns that hold personal data.")
    ] = False,
) -> None:
    """Print every lake column with its personal-data category (third-party, official, none),
    and each table's retention under the current HHS_RETENTION_DAYS."""
    from hhs_platform.privacy_inventory import inventory
    from hhs_platform.settings import Settings

    try:
        tables = inventory(Settings().retention_days)
    except (HhsError, ValueError) as exc:
        _fail(exc)
    for t in tables:
        typer.echo(f"{t.table}  (retention: {t.retention})")
        for c in t.columns:
            if not personal_only or c.category != "none":
                typer.echo(f"  {c.column:28s} {c.category}")


@privacy_app.command("minimise")
def privacy_minimise(
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Apply HHS_PRIVACY_MENTIONS to the posts silver already holds (after switching from keep):
    third-party handles in text, mentions and authors are pseudonymised or removed. Older
    versions keep the old values until `hhs maintain` vacuums them. Run when nothing writes."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.minimise import MentionPolicy, minimise_lake

    try:
        policy = MentionPolicy.from_settings()
        if policy.mode == "keep":
            raise HhsError("HHS_PRIVACY_MENTIONS is keep: nothing to minimise")
        counts = minimise_lake(Lake(lake), policy)
    except HhsError as exc:
        _fail(exc)
    for table, n in counts.items():
        typer.echo(f"{table}: {n:,} rows rewritten ({policy.mode})")


@privacy_app.command("forget-person")
def privacy_forget_person(
    person: Annotated[
        str,
        typer.Option(
            help="The person: <platform>:<handle or platform id>, e.g. x:someone. Not a "
            "registry account (use `hhs forget` for those)."
        ),
    ],
    reason: Annotated[
        str | None, typer.Option(help="Why (e.g. the request's ticket); the person is redacted.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the rows; change nothing.")
    ] = False,
    lake: Annotated[str | None, typer.Option(help="Lake URI (default: HHS_LAKE_URI).")] = None,
    archive: Annotated[
        str | None,
        typer.Option(help="Apply it to this archive lake too (default HHS_ARCHIVE_URI)."),
    ] = None,
) -> None:
    """Privacy request of a third party: remove their handle (and its pseudonym) from the
    official posts that name them, delete the raw responses naming them, vacuum, and record a
    hashed audit row (ops/deletions). The official posts stay. Run when nothing writes."""
    from hhs_platform.lake import Lake
    from hhs_platform.lake.privacy import forget_person
    from hhs_platform.lake.retention import archive_lake
    from hhs_platform.settings import get_settings

    key = get_settings().secret("privacy_pseudonym_key")
    try:
        report = forget_person(
            Lake(lake),
            person,
            pseudonym_key=key.encode() if key else None,
            reason=reason,
            dry_run=dry_run,
            archive=None if dry_run else archive_lake(archive),
        )
    except HhsError as exc:
        _fail(exc)
    typer.echo(report.render(), nl=False)
    if report.rows_total + sum(report.rows_rewritten.values()) == 0:
        typer.secho(
            "no row names this person: check the platform and the spelling",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(code=1)


# -- security commands ----------------------------------------------------------------------------


# -- HTTP API commands (hhs api serve, hhs api openapi) -------------------------------------------
@api_app.command("serve")
def api_serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: HHS_API_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: HHS_API_PORT).")] = None,
    lake: Annotated[str | None, typer.Option(help="Lake to serve (default: HHS_LAKE_URI).")] = None,
) -> None:
    """Serve the read-only HTTP API (/v1) over the lake; explorer at /v1/docs."""
    from hhs_platform.httpapi.app import serve
    from hhs_platform.settings import get_settings

    settings = get_settings()
    url = f"http://{host or settings.api_host}:{port or settings.api_port}"
    typer.echo(f"HTTP API: {url}/v1 (explorer: {url}/v1/docs)")
    try:
        serve(host=host, port=port, lake_uri=lake, settings=settings)
    except HhsError as exc:
        _fail(exc)


@api_app.command("openapi")
def api_openapi(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write (default: print to standard output)."),
    ] = None,
) -> None:
    """Print or write the OpenAPI document of the HTTP API (JSON)."""
    from hhs_platform.httpapi.app import openapi_json

    text = openapi_json()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


# -- HTTP API token commands (hhs api token ...) ---------------------------------------------------
api_token_app = typer.Typer(
    help="API tokens: create (shown once), list, revoke (docs/http-api.md#tokens).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
api_app.add_typer(api_token_app, name="token")
_TOKEN_LAKE = typer.Option(help="Lake the API serves (default: HHS_LAKE_URI).")


@api_token_app.command("create")
def api_token_create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. the system using it.")],
    agency: Annotated[
        list[str] | None,
        typer.Option(help="Agency it may read (repeat for more; none: every agency)."),
    ] = None,
    expires_days: Annotated[
        int | None,
        typer.Option(
            min=0, help="Days it stays valid; 0: never (default: HHS_API_TOKEN_EXPIRES_DAYS)."
        ),
    ] = None,
    rate_limit_per_minute: Annotated[
        int | None,
        typer.Option(
            min=1, help="Its requests per minute (default: HHS_API_RATE_LIMIT_PER_MINUTE)."
        ),
    ] = None,
    lake: Annotated[str | None, _TOKEN_LAKE] = None,
) -> None:
    """Create an API token and print it once: it is stored only as a hash and cannot be shown
    again."""
    from hhs_platform.httpapi import tokens
    from hhs_platform.lake import Lake
    from hhs_platform.settings import get_settings

    days = get_settings().api_token_expires_days if expires_days is None else expires_days
    try:
        token, row = tokens.create(
            Lake(lake),
            name,
            agency,
            expires_days=days,
            rate_limit_per_minute=rate_limit_per_minute,
        )
    except (HhsError, ValueError) as exc:
        _fail(exc)
    typer.echo(_token_line(row))
    typer.echo("token (shown only now; store it safely):")
    typer.echo(token)


@api_token_app.command("list")
def api_token_list(
    lake: Annotated[str | None, _TOKEN_LAKE] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the API tokens, newest first (never their secrets)."""
    from hhs_platform.httpapi import tokens
    from hhs_platform.lake import Lake

    try:
        rows = tokens.list_tokens(Lake(lake))
    except HhsError as exc:
        _fail(exc)
    if not rows and not as_json:
        typer.echo("no tokens")
    for row in rows:
        typer.echo(json.dumps(_token_dict(row), default=str) if as_json else _token_line(row))


@api_token_app.command("revoke")
def api_token_revoke(
    token_id: Annotated[str, typer.Argument(help="Id of the token (`hhs api token list`).")],
    lake: Annotated[str | None, _TOKEN_LAKE] = None,
) -> None:
    """Revoke an API token. Running servers refuse it within HHS_API_TOKEN_CACHE_SECONDS."""
    from hhs_platform.httpapi import tokens
    from hhs_platform.lake import Lake

    try:
        row = tokens.revoke(Lake(lake), token_id)
    except HhsError as exc:
        _fail(exc)
    if row is None:
        _fail(ValueError(f"no token with id {token_id!r}; `hhs api token list` lists them"))
    assert row is not None
    typer.echo(f"revoked {row.token_id} ({row.name}) at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


def _token_dict(row: Any) -> dict[str, Any]:
    return {
        "token_id": row.token_id,
        "name": row.name,
        "agencies": None if row.agencies is None else sorted(row.agencies),
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "rate_limit_per_minute": row.rate_limit_per_minute,
        "created_by": row.created_by,
    }


def _token_line(row: Any) -> str:
    now = datetime.now(UTC)
    if row.revoked_at is not None:
        status = f"revoked {row.revoked_at:%Y-%m-%d}"
    elif row.expires_at is not None and row.expires_at <= now:
        status = f"expired {row.expires_at:%Y-%m-%d}"
    else:
        status = "active" + (f" until {row.expires_at:%Y-%m-%d}" if row.expires_at else "")
    agencies = ",".join(sorted(row.agencies)) if row.agencies else "all agencies"
    limit = f"{row.rate_limit_per_minute}/min" if row.rate_limit_per_minute else "default limit"
    return f"{row.token_id}  {row.name}  [{agencies}]  {limit}  {status}"


# -- webhook commands (hhs webhooks ...) -----------------------------------------------------------
webhooks_app = typer.Typer(
    help="Webhooks: signed event deliveries to subscribers (docs/webhooks.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(webhooks_app, name="webhooks")
_WH_LAKE = typer.Option("--lake", help="Lake URI (default: HHS_LAKE_URI).")
_WH_JSON = typer.Option("--json", help="One JSON object per line.")


def _delivery_report(report: Any) -> None:
    for a in report.attempts:
        outcome = "ok" if a.ok else f"failed: {a.error}"
        typer.echo(
            f"{a.delivery_id}  attempt {a.attempt}  {a.event_type:24s} {a.event_id}  "
            f"-> {a.subscription_id}  {a.status_code or '-'}  {a.duration_ms:.0f} ms  {outcome}"
        )
    typer.echo(f"{report.delivered} delivered, {report.failed} failed")
    if report.failed:
        raise typer.Exit(code=1)


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="https URL the events are POSTed to.")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            help="Event type (repeat): anomaly.detected, run.failed, slo.freshness_breached, "
            "brief.published.",
        ),
    ],
    agency: Annotated[
        list[str] | None,
        typer.Option("--agency", help="Only events of this agency (repeat); default: all."),
    ] = None,
    lake: Annotated[str | None, _WH_LAKE] = None,
) -> None:
    """Subscribe a URL to event types; prints its id and signing secret (shown only once: the
    secret is derived from HHS_WEBHOOK_SIGNING_KEY and never stored)."""
    from hhs_platform.lake import Lake
    from hhs_platform.settings import Settings
    from hhs_platform.webhooks import add_subscription

    try:
        sub, secret = add_subscription(Lake(lake), Settings(), url, event, agency)
    except HhsError as exc:
        _fail(exc)
    typer.echo(f"subscription {sub.subscription_id}: {', '.join(sub.events)} -> {sub.url}")
    typer.echo(f"signing secret (store it now, it is not shown again): {secret}")


@webhooks_app.command("list")
def webhooks_list(
    removed: Annotated[bool, typer.Option("--removed", help="Removed ones too.")] = False,
    as_json: Annotated[bool, _WH_JSON] = False,
    lake: Annotated[str | None, _WH_LAKE] = None,
) -> None:
    """The subscriptions, oldest first."""
    from hhs_platform.lake import Lake
    from hhs_platform.webhooks import list_subscriptions

    def line(r: dict[str, Any]) -> str:
        scope = ",".join(r["agencies"]) if r["agencies"] else "all agencies"
        gone = f"  removed {r['removed_at']:%Y-%m-%d %H:%M}" if r["removed_at"] else ""
        return f"{r['subscription_id']}  {r['url']}  {','.join(r['events'])}  {scope}{gone}"

    try:
        _echo_rows(list_subscriptions(Lake(lake), include_removed=removed), as_json, line)
    except HhsError as exc:
        _fail(exc)


@webhooks_app.command("remove")
def webhooks_remove(
    subscription_id: Annotated[str, typer.Argument(help="Subscription id (wh_...).")],
    lake: Annotated[str | None, _WH_LAKE] = None,
) -> None:
    """Stop sending to a subscription (its deliveries stay recorded)."""
    from hhs_platform.lake import Lake
    from hhs_platform.webhooks import remove_subscription

    try:
        remove_subscription(Lake(lake), subscription_id)
    except HhsError as exc:
        _fail(exc)
    typer.echo(f"removed {subscription_id}")


@webhooks_app.command("deliver")
def webhooks_deliver(lake: Annotated[str | None, _WH_LAKE] = None) -> None:
    """Add the lake's recent events (anomalies, failed runs, freshness breaches) to the outbox
    and send every pending event to its subscriptions, with retries. Exit 1 if one failed."""
    from hhs_platform.lake import Lake
    from hhs_platform.settings import Settings
    from hhs_platform.webhooks import deliver_pending, emit_from_lake

    settings = Settings()
    try:
        target = Lake(lake)
        new = emit_from_lake(target, settings)
        typer.echo(f"{new} new events")
        report = deliver_pending(target, settings)
    except HhsError as exc:
        _fail(exc)
    _delivery_report(report)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only deliveries whose attempts all failed.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="The latest this many.")] = 50,
    as_json: Annotated[bool, _WH_JSON] = False,
    lake: Annotated[str | None, _WH_LAKE] = None,
) -> None:
    """Deliveries, newest first, with their attempts and last answer."""
    from hhs_platform.lake import Lake
    from hhs_platform.webhooks import deliveries

    def line(r: dict[str, Any]) -> str:
        outcome = "ok" if r["ok"] else f"failed: {r['error']}"
        replayed = " (replay)" if r["replay"] else ""
        return (
            f"{r['last_attempt_at']:%Y-%m-%d %H:%M:%S}  {r['delivery_id']}  {r['event_type']:24s} "
            f"{r['event_id']}  -> {r['subscription_id']}  {r['attempts']} attempts  "
            f"{r['status_code'] or '-'}  {outcome}{replayed}"
        )

    try:
        _echo_rows(deliveries(Lake(lake), failed=failed, limit=limit), as_json, line)
    except HhsError as exc:
        _fail(exc)


@webhooks_app.command("replay")
def webhooks_replay(
    delivery_id: Annotated[
        str | None, typer.Argument(help="Delivery to send again (to its subscription).")
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--event-id", help="Or: send this event to every subscription wanting it."),
    ] = None,
    lake: Annotated[str | None, _WH_LAKE] = None,
) -> None:
    """Send an event again under a new delivery id (same event id: receivers deduplicate)."""
    from hhs_platform.lake import Lake
    from hhs_platform.webhooks import replay

    try:
        report = replay(Lake(lake), delivery_id=delivery_id, event_id=event_id)
    except HhsError as exc:
        _fail(exc)
    _delivery_report(report)


def main() -> None:
    """Entry point of the ``hhs`` script."""
    from hhs_platform.secrets import install_redaction_from_environment

    install_redaction_from_environment()  # no secret in any log line of the command
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
