"""Privacy deletion: forget one account everywhere in the lake, and keep only a hashed audit.

:func:`forget` finds the subject's rows in every table through the catalogue (never a fixed
table list): the columns that name an account (``account_id``, ``author_id``, ``account_key``,
``handle``, ``entity``/``entity_id``), then its posts by the post ids collected first
(``post_id``: metrics, features, campaign items, curves, flags), then rows tied to its raw
responses (``response_id``: quarantine) where a table has nothing better. It deletes them with
Delta ``DELETE``, rebuilds what summed the account (campaigns, gold, anomalies, forecasts), then
vacuums every table it changed with no retention and drops the log before the new checkpoint,
so no older version or file still holds the rows (time travel to before the deletion fails).
One row in ``ops/deletions`` records the request with the subject as a sha256 hash only.

Run it when nothing writes to the lake (a concurrent commit makes a DELETE fail; run it again).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from deltalake import DeltaTable

from hhs_platform.errors import ConfigurationError, LakeError
from hhs_platform.lake.audit import AUDIT_TABLES, commit_properties, record_changes
from hhs_platform.lake.store import Lake, repr_sql
from schemas import CATALOGUE, TableSpec, table_spec
from schemas.tables import PLATFORMS

AUDIT = "ops/deletions"
#: Tables forget never deletes from: the audit of deletions itself.
_SKIP = (AUDIT, *AUDIT_TABLES)
#: Identifiers shorter than this are not searched for inside free text (false positives).
_MIN_REFERENCE_LEN = 6


@dataclass(frozen=True)
class Subject:
    """The account a request is about, as every table may name it."""

    platform: str
    value: str  # as requested: a handle or a platform id
    account_ids: tuple[str, ...]
    account_keys: tuple[str, ...]
    handles: tuple[str, ...]

    @property
    def hash(self) -> str:
        """sha256 of ``<platform>:<handle or id>`` as requested, lowercase: what the audit keeps."""
        return subject_hash(self.platform, self.value)

    def identifiers(self) -> list[str]:
        """Every spelling of the subject, longest first (for redaction and reference checks)."""
        names = {*self.account_ids, *self.account_keys, *self.handles, self.value}
        return sorted((n for n in names if n), key=len, reverse=True)


@dataclass
class ForgetReport:
    """What a deletion did (or, in a dry run, would do)."""

    request_id: str
    subject_hash: str
    platform: str
    lake_uri: str
    dry_run: bool
    requested_at: datetime
    completed_at: datetime | None = None
    rows_deleted: dict[str, int] = field(default_factory=dict)
    tables_rebuilt: list[str] = field(default_factory=list)
    files_vacuumed: int = 0
    references_left: dict[str, int] = field(default_factory=dict)
    #: Rows changed in place (a third party's handle removed from official posts).
    rows_rewritten: dict[str, int] = field(default_factory=dict)
    archive: ForgetReport | None = None

    @property
    def rows_total(self) -> int:
        return sum(self.rows_deleted.values())

    def render(self) -> str:
        """The report as lines for the terminal (the subject appears only as its hash)."""
        verb = "would delete" if self.dry_run else "deleted"
        lines = [
            f"request {self.request_id}: subject sha256 {self.subject_hash} on {self.platform}",
            f"{self.lake_uri}: {verb} {self.rows_total:,} rows in {len(self.rows_deleted)} tables",
        ]
        lines += [f"  {t:32s} {n:>10,}" for t, n in sorted(self.rows_deleted.items())]
        redo = "would rewrite" if self.dry_run else "rewrote"
        lines += [
            f"{redo} {n:,} rows of {t} without the subject"
            for t, n in sorted(self.rows_rewritten.items())
        ]
        if self.tables_rebuilt:
            lines.append(f"rebuilt without the subject: {', '.join(self.tables_rebuilt)}")
        if not self.dry_run:
            lines.append(f"{self.files_vacuumed:,} files vacuumed; older versions are gone")
        for t, n in sorted(self.references_left.items()):
            lines.append(f"still naming the subject: {t} {n:,} rows of other accounts")
        text = "\n".join(lines) + "\n"
        if self.archive is not None:
            text += "archive: " + self.archive.render()
        return text


def subject_hash(platform: str, value: str) -> str:
    """sha256 hex of ``<platform>:<value>`` lowercased: the one form the audit keeps."""
    return hashlib.sha256(f"{platform}:{value}".strip().lower().encode()).hexdigest()


def parse_subject(text: str) -> tuple[str, str]:
    """``platform:handle_or_id`` → (platform, value).

    Raises:
        ConfigurationError: No platform prefix, or an unknown platform.
    """
    platform, sep, value = text.strip().partition(":")
    platform = platform.lower()
    value = value.strip()
    if not sep or not value or platform not in PLATFORMS:
        raise ConfigurationError(
            f"--account {text!r} must be <platform>:<handle or id> with a platform among "
            f"{', '.join(PLATFORMS)}, e.g. bluesky:cdc.gov"
        )
    return platform, value


def resolve_subject(lake: Lake, platform: str, value: str) -> Subject:
    """Every id, registry key and handle the lake knows the account by.

    The value itself counts as an id, a handle and a key, so an account already gone from
    ``silver/accounts`` (e.g. forgotten before, now cleaned from the archive) is still found.
    """
    low = value.lower().lstrip("@")
    ids, keys, handles = {value}, {f"{platform}:{value}"}, {value}
    accounts = lake.read("silver/accounts", where=pl.col("platform") == platform)
    match = accounts.filter(
        (pl.col("account_id").str.to_lowercase() == low)
        | (pl.col("handle").str.to_lowercase().str.strip_prefix("@") == low)
        | (pl.col("account_key").str.to_lowercase() == f"{platform}:{low}")
    )
    ids |= set(match["account_id"].to_list())
    handles |= set(match["handle"].to_list())
    keys |= set(match["account_key"].to_list())
    keys |= {f"{platform}:{h}" for h in handles}
    for table in ("bronze/fetch_log", "bronze/raw_responses"):  # keys spelt another way
        found = (
            lake.scan(table)
            .filter(pl.col("platform") == platform)
            .select(pl.col("account_key").unique())
            .filter(pl.col("account_key").str.to_lowercase().is_in([k.lower() for k in keys]))
            .collect()["account_key"]
            .to_list()
        )
        keys |= set(found)
    return Subject(platform, value, tuple(sorted(ids)), tuple(sorted(keys)), tuple(sorted(handles)))


def forget(
    lake: Lake,
    subject: str | Subject,
    *,
    reason: str | None = None,
    dry_run: bool = False,
    archive: Lake | None = None,
    include_mentions: bool = False,
    rebuild: bool = True,
    audit: bool = True,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> ForgetReport:
    """Delete every row about one account from every table, rebuild what summed it, and purge.

    Args:
        lake: The lake.
        subject: ``platform:handle_or_id`` (or a resolved :class:`Subject`).
        reason: Why (a ticket reference); any spelling of the subject in it is redacted.
        dry_run: Only count the rows; change nothing, write no audit.
        archive: Apply the same deletion to this lake too (cold storage; no rebuild there).
        include_mentions: Also delete the raw responses of *other* accounts whose body names the
            subject's id (e.g. their reposts of its posts). They are those accounts' records:
            without this they stay, are reported in ``references_left``, and a replay of them
            would bring back the repost rows.
        rebuild: Rebuild the derived tables (campaigns, gold, anomalies, forecasts) from the
            cleaned silver, so no aggregate still counts the account.
        audit: Write the ``ops/deletions`` row (not in dry runs).
        now: The request time (default now).
        progress: Called with a line per step.

    Returns:
        Rows deleted per table, tables rebuilt, files vacuumed, references left.
    """
    say = progress or (lambda _: None)
    started = now or datetime.now(UTC)
    if isinstance(subject, str):
        subject = resolve_subject(lake, *parse_subject(subject))
    report = ForgetReport(
        request_id=uuid.uuid4().hex,
        subject_hash=subject.hash,
        platform=subject.platform,
        lake_uri=lake.uri,
        dry_run=dry_run,
        requested_at=started,
    )
    post_ids = _post_ids(lake, subject)
    response_ids = _response_ids(lake, subject, include_mentions)
    plans: dict[str, tuple[pl.Expr, str]] = {}
    for name, spec in CATALOGUE.items():
        if name in _SKIP or lake.delta(name) is None:
            continue
        where = _where(spec, subject, post_ids, response_ids)
        if where is None:
            continue
        n = int(lake.scan(name).filter(where[0]).select(pl.len()).collect().item())
        if n:
            plans[name] = where
            report.rows_deleted[name] = n
    say(f"{report.rows_total:,} rows about the subject in {len(plans)} tables")
    if dry_run:
        return report
    for name, (_, sql) in plans.items():
        delta = lake.delta(name)
        assert delta is not None
        metrics = delta.delete(
            sql, commit_properties=commit_properties(f"privacy deletion {report.request_id}")
        )
        deleted = int(metrics.get("num_deleted_rows", report.rows_deleted[name]))
        if deleted != report.rows_deleted[name]:
            raise LakeError(
                f"{name}: {report.rows_deleted[name]} rows of the subject found but the DELETE "
                f"removed {deleted} (a writer committed meanwhile?); run forget again"
            )
        say(f"{name}: {deleted:,} rows deleted")
    if rebuild and plans:
        versions = {name: lake.version(name) for name in CATALOGUE}
        report.tables_rebuilt = _rebuild(lake, versions)
        say(f"rebuilt {', '.join(report.tables_rebuilt) or 'nothing'}")
    touched = sorted({*plans, *report.tables_rebuilt})
    record_changes(lake)  # ops/changes keeps the deletion's commits; the purge drops them
    for name in touched:
        delta = lake.delta(name)
        assert delta is not None
        report.files_vacuumed += purge_history(delta)
    say(f"{len(touched)} tables vacuumed with no retention: {report.files_vacuumed:,} files")
    report.references_left = references(lake, subject, skip=_SKIP)
    if archive is not None:
        report.archive = forget(
            archive,
            subject,
            dry_run=False,
            include_mentions=include_mentions,
            rebuild=False,
            audit=False,
            now=started,
            progress=progress,
        )
    report.completed_at = datetime.now(UTC)
    if audit:
        write_audit(lake, report, redact(reason, subject))
    return report


def forget_person(
    lake: Lake,
    subject: str,
    *,
    pseudonym_key: bytes | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    archive: Lake | None = None,
    audit: bool = True,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> ForgetReport:
    """Forget a third party (a person official posts name, not a registry account).

    The official posts stay: the person's handle becomes ``[removed]`` in their text, title,
    mentions list (dropped), text features and, for a post the person wrote (a repost),
    ``author_id`` (``url`` set to null). Raw responses whose body names the person are
    deleted, with their quarantine rows (silver keeps what was parsed from them, rewritten).
    Every table changed is then vacuumed with no retention, like :func:`forget`.

    Args:
        subject: ``platform:handle`` (or the platform id the lake knows the person by).
        pseudonym_key: ``HHS_PRIVACY_PSEUDONYM_KEY``: the person's pseudonym, written while
            ``HHS_PRIVACY_MENTIONS=pseudonymise``, is removed too.
        reason, dry_run, archive, audit, now, progress: As for :func:`forget`.

    Returns:
        Rows deleted per table (bronze, quarantine) and rows rewritten per table
        (``rows_rewritten``; those tables are listed as rebuilt in ``ops/deletions``).
    """
    from hhs_platform.lake.minimise import (
        REMOVED,
        Decide,
        MentionPolicy,
        changed_rows,
        normalise,
        rewrite_features,
        rewrite_posts,
    )

    say = progress or (lambda _: None)
    started = now or datetime.now(UTC)
    platform, value = parse_subject(subject)
    names = {normalise(value)}
    if pseudonym_key:
        names.add(MentionPolicy("pseudonymise", pseudonym_key).pseudonym(platform, value))
    person = Subject(platform, value, tuple(sorted(names)), (), tuple(sorted(names)))
    report = ForgetReport(
        request_id=uuid.uuid4().hex,
        subject_hash=person.hash,
        platform=platform,
        lake_uri=lake.uri,
        dry_run=dry_run,
        requested_at=started,
    )

    spellings = {value, value.lstrip("@"), value.lstrip("@").lower()}

    def decide(p: str, handle: str) -> str | None:
        if p == platform and normalise(handle) in names:
            spellings.add(handle.lstrip("@"))  # as the platform wrote it: searched in bronze
            return REMOVED
        return None

    def rewrite_person_posts(df: pl.DataFrame, decide: Decide) -> pl.DataFrame:
        in_url = pl.any_horizontal(  # a link to the person's profile or post
            [
                pl.col("url").str.to_lowercase().str.contains(f"/@?{re.escape(n)}(?:[/?#]|$)")
                for n in names
            ]
        ).fill_null(False)
        out = rewrite_posts(df, decide)
        return out.with_columns(url=pl.when(in_url).then(None).otherwise(pl.col("url")))

    rewritten: dict[str, pl.DataFrame] = {}
    on_platform = pl.col("platform") == platform
    for table, rewrite, cols in (
        ("silver/posts", rewrite_person_posts, ("text", "title", "mentions", "author_id", "url")),
        ("silver/post_features", rewrite_features, ("mentions",)),
    ):
        if lake.delta(table) is None:
            continue
        rows = lake.read(table, where=on_platform)
        hit = _naming(rows, cols, names)
        changed = changed_rows(hit, rewrite(hit, decide), cols)
        if changed.height:
            rewritten[table] = changed
            report.rows_rewritten[table] = changed.height
    needles = sorted({*spellings, *names}, key=len, reverse=True)
    response_ids: list[str] = []
    if lake.delta("bronze/raw_responses") is not None:
        body = pl.any_horizontal(
            [pl.col("body").bin.contains(n.encode()) for n in needles if n]
        ).fill_null(False)
        response_ids = (
            lake.scan("bronze/raw_responses")
            .filter(on_platform & body)
            .select("response_id")
            .collect()["response_id"]
            .to_list()
        )
    plans: dict[str, tuple[pl.Expr, str]] = {}
    if response_ids:
        for table in ("bronze/raw_responses", "quarantine/rows"):
            if lake.delta(table) is None:
                continue
            where = _in("response_id", response_ids)
            n = int(lake.scan(table).filter(where[0]).select(pl.len()).collect().item())
            if n:
                plans[table] = where
                report.rows_deleted[table] = n
    say(
        f"{sum(report.rows_rewritten.values()):,} rows to rewrite, {report.rows_total:,} raw "
        "rows to delete"
    )
    if dry_run:
        return report
    for table, df in rewritten.items():
        lake.merge(table, df)
        say(f"{table}: {df.height:,} rows rewritten")
    for table, (_, sql) in plans.items():
        delta = lake.delta(table)
        assert delta is not None
        delta.delete(
            sql, commit_properties=commit_properties(f"privacy deletion {report.request_id}")
        )
        say(f"{table}: {report.rows_deleted[table]:,} rows deleted")
    report.tables_rebuilt = sorted(rewritten)
    record_changes(lake)  # ops/changes keeps the deletion's commits; the purge drops them
    for table in sorted({*plans, *rewritten}):
        delta = lake.delta(table)
        assert delta is not None
        report.files_vacuumed += purge_history(delta)
    report.references_left = references(lake, person, skip=_SKIP)
    if archive is not None:
        report.archive = forget_person(
            archive, subject, pseudonym_key=pseudonym_key, audit=False, now=started
        )
    report.completed_at = datetime.now(UTC)
    if audit:
        write_audit(lake, report, redact(reason, person))
    return report


def _naming(rows: pl.DataFrame, cols: Iterable[str], names: set[str]) -> pl.DataFrame:
    """The rows whose text columns or list columns name one of ``names`` (case-insensitive)."""
    conds = []
    for col in cols:
        if rows.schema[col] == pl.List(pl.Utf8):
            conds.append(
                pl.col(col)
                .list.eval(pl.element().str.strip_chars_start("@").str.to_lowercase().is_in(names))
                .list.any()
            )
        elif col == "author_id":
            conds.append(pl.col(col).str.to_lowercase().is_in(names))
        else:
            conds += [pl.col(col).str.to_lowercase().str.contains(n, literal=True) for n in names]
    return rows.filter(pl.any_horizontal(conds).fill_null(False))


def _in(column: str, values: Iterable[str]) -> tuple[pl.Expr, str]:
    vals = sorted(set(values))
    return pl.col(column).is_in(vals), f"{column} IN ({', '.join(repr_sql(v) for v in vals)})"


def _where(
    spec: TableSpec, s: Subject, post_ids: list[str], response_ids: list[str]
) -> tuple[pl.Expr, str] | None:
    """The rows of a table about the subject (polars filter, SQL predicate), or None."""
    cols = spec.schema
    conds: list[tuple[pl.Expr, str]] = []
    if "account_id" in cols:
        conds.append(_in("account_id", s.account_ids))
    if "author_id" in cols:
        conds.append(_in("author_id", s.account_ids))
    if "account_key" in cols:
        conds.append(_in("account_key", s.account_keys))
    if "handle" in cols and "account_id" not in cols:
        conds.append(_in("handle", s.handles))
    if "entity" in cols and cols["entity"] == pl.Utf8:
        conds.append(_in("entity", s.account_ids))
    if "entity_id" in cols:
        conds.append(_in("entity_id", [*s.account_ids, *post_ids]))
    if "post_id" in cols and post_ids:
        conds.append(_in("post_id", post_ids))
    if "response_id" in cols and response_ids and (not conds or "account_key" in cols):
        conds.append(_in("response_id", response_ids))  # quarantine; bronze with mentions
    if "subject" in cols and cols["subject"] == pl.Utf8:  # webhook events of an anomaly
        conds += [
            (
                pl.col("subject").str.starts_with(f"{s.platform}:{a}:"),
                f"starts_with(subject, {repr_sql(f'{s.platform}:{a}:')})",
            )
            for a in s.account_ids
        ]
    if not conds:  # e.g. an alert whose key embeds the account's registry key
        for key in spec.keys:
            if cols[key] == pl.Utf8:
                conds += [
                    (
                        pl.col(key).str.contains(k, literal=True),
                        f"strpos({key}, {repr_sql(k)}) > 0",
                    )
                    for k in s.account_keys
                ]
    if not conds:
        return None
    expr = pl.any_horizontal([c[0] for c in conds])
    sql = " OR ".join(f"({c[1]})" for c in conds)
    if "platform" in cols:  # a literal partition predicate where platform partitions the table
        expr = (pl.col("platform") == s.platform) & expr
        sql = f"platform = {repr_sql(s.platform)} AND ({sql})"
    return expr, sql


def _post_ids(lake: Lake, s: Subject) -> list[str]:
    """The posts of the subject: in its feed, or authored by it (reposted by another account)."""
    ids: set[str] = set()
    for table, cols in (
        ("silver/posts", ("account_id", "author_id")),
        ("silver/post_metrics", ("account_id",)),
        ("silver/campaign_items", ("account_id",)),
        ("gold/post_curves", ("account_id",)),
    ):
        if table not in CATALOGUE or lake.delta(table) is None:
            continue
        cond = pl.any_horizontal([pl.col(c).is_in(list(s.account_ids)) for c in cols])
        ids |= set(
            lake.scan(table)
            .filter((pl.col("platform") == s.platform) & cond)
            .select("post_id")
            .unique()
            .collect()["post_id"]
            .to_list()
        )
    return sorted(ids)


def _response_ids(lake: Lake, s: Subject, include_mentions: bool) -> list[str]:
    """The subject's raw responses; with mentions, other accounts' responses naming its id."""
    if lake.delta("bronze/raw_responses") is None:
        return []
    scan = lake.scan("bronze/raw_responses").filter(pl.col("platform") == s.platform)
    cond = pl.col("account_key").is_in(list(s.account_keys))
    if include_mentions:
        for ident in s.account_ids:
            if len(ident) >= _MIN_REFERENCE_LEN:
                cond = cond | pl.col("body").bin.contains(ident.encode())
    return sorted(scan.filter(cond).select("response_id").collect()["response_id"].to_list())


def _rebuild(lake: Lake, versions: dict[str, int | None]) -> list[str]:
    """Rebuild the tables derived from silver; return the ones that got a new version."""
    from hhs_platform.analytics.anomalies import build_anomalies
    from hhs_platform.analytics.forecasts import build_forecasts
    from hhs_platform.enrich import link_campaigns
    from hhs_platform.transforms.gold import build_gold

    if lake.exists("silver/posts"):
        link_campaigns(lake, full=True)
    if lake.exists("silver/accounts"):
        build_gold(lake, full=True)
        build_anomalies(lake)
        build_forecasts(lake)
    return sorted(
        name for name in CATALOGUE if name not in _SKIP and lake.version(name) != versions.get(name)
    )


def purge_history(delta: DeltaTable) -> int:
    """Remove every file and log entry no current row needs; return the files deleted.

    Vacuum with no retention (every file the current version does not reference, orphans too),
    then a checkpoint and the log before it dropped: the commits that described the old files
    (their column statistics, the DELETE's predicate) go, and older versions no longer load.
    The table's log retention is set to zero for the clean-up and restored after.
    """
    removed = delta.vacuum(
        retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True
    )
    delta.update_incremental()
    key = "delta.logRetentionDuration"
    previous = delta.metadata().configuration.get(key) or "interval 30 days"
    delta.alter.set_table_properties({key: "interval 0 seconds"})
    delta.create_checkpoint()
    time.sleep(0.01)  # the log clean-up keeps files modified at or after its cut-off instant
    delta.cleanup_metadata()
    delta.alter.set_table_properties({key: previous})
    return len(removed)


def references(lake: Lake, s: Subject, skip: Iterable[str] = ()) -> dict[str, int]:
    """Rows per table whose text (or raw body) still contains one of the subject's ids or keys."""
    needles = [n for n in (*s.account_ids, *s.account_keys) if len(n) >= _MIN_REFERENCE_LEN]
    out: dict[str, int] = {}
    if not needles:
        return out
    for name, spec in CATALOGUE.items():
        if name in skip or lake.delta(name) is None:
            continue
        conds = []
        for col, dtype in spec.schema.items():
            if dtype == pl.Utf8:
                conds += [pl.col(col).str.contains(n, literal=True) for n in needles]
            elif dtype == pl.Binary:
                conds += [pl.col(col).bin.contains(n.encode()) for n in needles]
            elif dtype == pl.List(pl.Utf8):
                conds += [
                    pl.col(col).list.eval(pl.element().str.contains(n, literal=True)).list.any()
                    for n in needles
                ]
        if not conds:
            continue
        n = lake.scan(name).filter(pl.any_horizontal(conds).fill_null(False)).select(pl.len())
        count = int(n.collect().item())
        if count:
            out[name] = count
    return out


def redact(text: str | None, s: Subject) -> str | None:
    """The text with every spelling of the subject replaced by ``[subject]``."""
    if not text:
        return text
    for name in s.identifiers():
        text = re.sub(re.escape(name), "[subject]", text, flags=re.IGNORECASE)
    return text


def write_audit(lake: Lake, report: ForgetReport, reason: str | None) -> None:
    """Append the request's ``ops/deletions`` row (the subject only as its hash)."""
    row = {
        "request_id": report.request_id,
        "subject_hash": report.subject_hash,
        "platform": report.platform,
        "reason": reason,
        "requested_at": report.requested_at,
        "completed_at": report.completed_at or datetime.now(UTC),
        "lake_uri": report.lake_uri,
        "tables": sorted(report.rows_deleted),
        "rows_deleted": json.dumps(dict(sorted(report.rows_deleted.items()))),
        "rows_total": report.rows_total,
        "tables_rebuilt": report.tables_rebuilt,
        "files_vacuumed": report.files_vacuumed,
        "references_left": json.dumps(dict(sorted(report.references_left.items()))),
        "archive_uri": report.archive.lake_uri if report.archive else None,
    }
    lake.append(AUDIT, pl.DataFrame([row], schema=table_spec(AUDIT).schema))


__all__ = [
    "AUDIT",
    "ForgetReport",
    "Subject",
    "forget",
    "forget_person",
    "parse_subject",
    "purge_history",
    "redact",
    "references",
    "resolve_subject",
    "subject_hash",
]
