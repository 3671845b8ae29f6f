"""The ``/v1`` endpoints: read-only views of the lake, scoped to the token's agencies.

Every data route depends on ``authenticate`` (a valid token, within its rate limit); a token
scoped to agencies sees only their rows, and asking for another agency's rows is a 403 problem.
Rows come from the server's in-memory snapshots of the tables (:mod:`.snapshots`): one copy per
Delta version, and shapes built once per version (posts in page order, each account's days, the
last fetch per account), so a request filters memory instead of reading Parquet files.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from hhs_platform.httpapi.auth import Principal, authenticate
from hhs_platform.httpapi.envelope import envelope, enveloped, listing, row_model
from hhs_platform.httpapi.problems import MEDIA_TYPE, Problem
from hhs_platform.httpapi.snapshots import Snapshots
from hhs_platform.lake.filters import row_filter
from schemas import table_spec
from schemas.tables import Registry

MAX_LIMIT = 500
ACCOUNTS = "silver/accounts"
POSTS = "silver/posts"
METRICS = "gold/daily_account_metrics"
AGENCY_METRICS = "gold/agency_metrics"
CURVES = "gold/post_curves"
ANOMALIES = "gold/anomalies"
SCORECARD = "quality/scorecard"
FETCH_LOG = "bronze/fetch_log"
RUNS = "ops/runs"


class ProblemBody(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(description="URI of the problem type, documented in docs/http-api.md.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status.")
    detail: str | None = Field(None, description="What went wrong this time.")
    instance: str | None = Field(None, description="The request path.")
    errors: list[dict[str, str]] | None = Field(
        None, description="invalid-parameter only: each parameter and what is wrong with it."
    )


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("No token, or an unknown, expired or revoked one."),
    403: _problem("The token may not read an agency the request names."),
    422: _problem("A parameter is invalid (see errors)."),
    429: _problem("The token's rate limit is spent; retry after Retry-After seconds."),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem("No such item, or not one the token may read.")
}

router = APIRouter(prefix="/v1", responses=ERRORS)
#: Routes that need no token.
open_router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(authenticate)]

# -- parameters ---------------------------------------------------------------------------------
AgencyQ = Annotated[
    list[str] | None,
    Query(
        description="Agency code(s), e.g. CDC; repeat for several. Default: every agency the "
        "token may read."
    ),
]
PlatformQ = Annotated[list[str] | None, Query(description="Platform slug(s); repeat for several.")]
AccountQ = Annotated[
    list[str] | None, Query(description="Account id(s) or handle(s); repeat for several.")
]
SinceQ = Annotated[dt.date | None, Query(description="First UTC day, inclusive (YYYY-MM-DD).")]
UntilQ = Annotated[dt.date | None, Query(description="Last UTC day, inclusive (YYYY-MM-DD).")]
PlatformP = Annotated[str, Path(description="Platform slug, e.g. bluesky.")]
AccountP = Annotated[str, Path(description="The platform's account id.")]

# -- row models ---------------------------------------------------------------------------------
ACCOUNT_COLUMNS = [
    "platform",
    "account_id",
    "handle",
    "display_name",
    "description",
    "account_created_at",
    "account_key",
    "agency",
    "agency_name",
    "parent_agency",
    "tier",
    "first_seen_at",
    "last_seen_at",
]
Account = row_model("Account", ACCOUNTS, ACCOUNT_COLUMNS)

REGISTRY_COLUMNS = [
    "agency",
    "agency_name",
    "parent_agency",
    "platform",
    "handle",
    "platform_id",
    "url",
    "tier",
    "verified",
]
RegistryEntry = row_model("RegistryEntry", Registry, REGISTRY_COLUMNS)

METRIC_COLUMNS = list(table_spec(METRICS).schema)  # every column of the table
AccountDay = row_model("AccountDay", METRICS, METRIC_COLUMNS)

POST_COLUMNS = [
    "platform",
    "post_id",
    "account_id",
    "author_id",
    "created_at",
    "post_type",
    "text",
    "title",
    "url",
    "lang",
    "reply_to_post_id",
    "quoted_post_id",
    "reposted_post_id",
    "hashtags",
    "mentions",
    "links",
    "media_type",
    "media_count",
    "media_urls",
    "duration_s",
    "is_deleted",
    "deleted_at",
    "first_seen_at",
    "last_seen_at",
]
Post = row_model(
    "Post",
    "silver/posts",
    POST_COLUMNS,
    extra={
        "agency": (str | None, "Agency of the account whose feed holds the post."),
        "handle": (str | None, "Current handle of that account."),
    },
)
POST_OUT = [*POST_COLUMNS[:3], "agency", "handle", *POST_COLUMNS[3:]]

CURVE_COLUMNS = list(table_spec(CURVES).schema)  # every column of the table
CurvePoint = row_model("CurvePoint", CURVES, CURVE_COLUMNS)

AGENCY_COLUMNS = list(table_spec(AGENCY_METRICS).schema)  # every column of the table
AgencyPeriod = row_model("AgencyPeriod", AGENCY_METRICS, AGENCY_COLUMNS)

ANOMALY_COLUMNS = [
    "platform",
    "account_id",
    "handle",
    "agency",
    "metric",
    "date",
    "end_date",
    "days",
    "kind",
    "value",
    "baseline",
    "change",
    "change_pct",
    "usual_change",
    "score",
    "confidence",
    "sentence",
    "detected_at",
]
Anomaly = row_model("Anomaly", ANOMALIES, ANOMALY_COLUMNS)

SCORE_COLUMNS = list(table_spec(SCORECARD).schema)  # every column of the table
Score = row_model("Score", SCORECARD, SCORE_COLUMNS)


class Freshness(BaseModel):
    """How recently one account was collected, from the fetch log."""

    platform: str = Field(description="Platform slug.")
    account_key: str = Field(description="Registry key '<platform>:<handle>'.")
    account_id: str | None = Field(description="Platform's id (null before a first success).")
    handle: str | None = Field(description="Current handle.")
    agency: str | None = Field(description="Agency of the account.")
    tier: int | None = Field(description="Registry tier (sets the expected cadence).")
    last_fetch_at: dt.datetime = Field(description="End of the account's latest fetch.")
    last_status: str = Field(description="How the latest fetch ended: complete, partial, failed.")
    last_success_at: dt.datetime | None = Field(
        description="End of the latest fetch that did not fail (null: none did)."
    )
    age_hours: float | None = Field(description="Hours from last_success_at to checked_at.")
    cadence_hours: float | None = Field(
        description="Expected hours between collections for the tier (HHS_QUALITY_CADENCE_HOURS)."
    )
    fresh: bool = Field(description="age_hours is within cadence_hours.")
    checked_at: dt.datetime = Field(description="When the server computed the row.")


class Run(BaseModel):
    """One collection or flow run: ops/runs and the fetch log's accounts of it."""

    run_id: str = Field(description="Run id (Prefect flow run id, or the collection run id).")
    flow: str | None = Field(description="Flow name (null: known from the fetch log only).")
    status: str | None = Field(
        description="running, completed or failed (null: known from the fetch log only)."
    )
    started_at: dt.datetime | None = Field(description="Start of the run (or first fetch).")
    ended_at: dt.datetime | None = Field(description="End of the run (or last fetch).")
    error: str | None = Field(description="Why it failed, secrets removed.")
    accounts: int = Field(description="Accounts fetched in the run.")
    complete: int = Field(description="Of those, read completely.")
    partial: int = Field(description="Of those, read up to the window or page cap.")
    failed: int = Field(description="Of those, stopped by an error.")


class Health(BaseModel):
    """The server answers."""

    status: Literal["ok"] = "ok"


# -- helpers ------------------------------------------------------------------------------------
def _snapshots(request: Request) -> Snapshots:
    return request.app.state.snapshots  # type: ignore[no-any-return]


def _accounts(request: Request) -> pl.DataFrame:
    return _snapshots(request).frame(ACCOUNTS, ACCOUNT_COLUMNS)


def posts_in_order(snapshots: Snapshots) -> pl.DataFrame:
    """Every post with its account's agency and handle, in page order (newest first, then
    platform and post id descending): a page is the first rows a filter keeps."""

    def build() -> pl.DataFrame:
        accounts = snapshots.frame(ACCOUNTS, ACCOUNT_COLUMNS).select(
            "platform", "account_id", "agency", "handle"
        )
        return (
            snapshots.lake.scan(POSTS)
            .select(POST_COLUMNS)
            .join(accounts.lazy(), on=["platform", "account_id"], how="left")
            .select(POST_OUT)
            .sort(["created_at", "platform", "post_id"], descending=True)
            .collect()
        )

    return snapshots.derived("posts-in-order", [POSTS, ACCOUNTS], build)


def days_by_account(snapshots: Snapshots) -> dict[tuple[str, str], pl.DataFrame]:
    """Each account's daily figures, oldest day first, by (platform, account id)."""

    def build() -> dict[tuple[str, str], pl.DataFrame]:
        frame = snapshots.lake.scan(METRICS).select(METRIC_COLUMNS).sort("date").collect()
        parts = frame.partition_by(["platform", "account_id"], as_dict=True, maintain_order=True)
        return {(str(k[0]), str(k[1])): part for k, part in parts.items()}

    return snapshots.derived("days-by-account", [METRICS], build)


def last_fetches(snapshots: Snapshots) -> pl.DataFrame:
    """Per account in the fetch log: its last fetch, that fetch's status and its last fetch that
    did not fail, with the account's agency and tier."""

    def build() -> pl.DataFrame:
        per_account = (
            snapshots.lake.scan(FETCH_LOG)
            .select("platform", "account_key", "status", "finished_at")
            .sort("finished_at")
            .group_by("platform", "account_key")
            .agg(
                pl.col("finished_at").last().alias("last_fetch_at"),
                pl.col("status").last().alias("last_status"),
                pl.col("finished_at")
                .filter(pl.col("status") != "failed")
                .max()
                .alias("last_success_at"),
            )
        )
        known = snapshots.frame(ACCOUNTS, ACCOUNT_COLUMNS).select(
            "account_key", "account_id", "handle", "agency", "tier"
        )
        return (
            per_account.join(known.lazy(), on="account_key", how="left")
            .sort("platform", "account_key")
            .collect()
        )

    return snapshots.derived("last-fetches", [FETCH_LOG, ACCOUNTS], build)


def runs_fetched(snapshots: Snapshots) -> pl.DataFrame:
    """Per collection run in the fetch log: accounts fetched by outcome, first start, last end."""

    def build() -> pl.DataFrame:
        return (
            snapshots.lake.scan(FETCH_LOG)
            .select("run_id", "status", "started_at", "finished_at")
            .group_by("run_id")
            .agg(
                pl.len().cast(pl.Int64).alias("accounts"),
                (pl.col("status") == "complete").sum().cast(pl.Int64).alias("complete"),
                (pl.col("status") == "partial").sum().cast(pl.Int64).alias("partial"),
                (pl.col("status") == "failed").sum().cast(pl.Int64).alias("failed"),
                pl.col("started_at").min().alias("fetch_started"),
                pl.col("finished_at").max().alias("fetch_ended"),
            )
            .collect()
        )

    return snapshots.derived("runs-fetched", [FETCH_LOG], build)


def warm(snapshots: Snapshots) -> None:
    """Build the shapes every common query reads (the server calls it at start, in the
    background, so the first requests do not pay for them)."""
    posts_in_order(snapshots)
    days_by_account(snapshots)
    last_fetches(snapshots)
    runs_fetched(snapshots)
    for table, columns in (
        (AGENCY_METRICS, AGENCY_COLUMNS),
        (ANOMALIES, ANOMALY_COLUMNS),
        (SCORECARD, SCORE_COLUMNS),
    ):
        snapshots.frame(table, columns)


def scope(principal: Principal, requested: list[str] | None) -> list[str] | None:
    """The agencies to read: ``requested`` (None: all) within the token's agencies.

    Raises:
        Problem: 403 when ``requested`` names an agency outside the token's scope.
    """
    allowed = principal.agencies
    if allowed is None:
        return requested
    if requested is None:
        return sorted(allowed)
    outside = sorted(set(requested) - allowed)
    if outside:
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            f"this token may not read agency {', '.join(outside)}",
        )
    return requested


def _in(column: str, values: list[str] | None) -> pl.Expr:
    return pl.lit(True) if values is None else pl.col(column).is_in(values)


def _between(column: str, since: dt.date | None, until: dt.date | None) -> pl.Expr:
    expr = pl.lit(True)
    if since is not None:
        expr &= pl.col(column) >= since
    if until is not None:
        expr &= pl.col(column) <= until
    return expr


def _check_days(since: dt.date | None, until: dt.date | None) -> None:
    if since is not None and until is not None and since > until:
        raise Problem(
            422,
            "invalid-parameter",
            "Invalid parameter",
            f"since ({since}) is after until ({until})",
            errors=[{"parameter": "since", "message": "after until"}],
        )


def _account(
    request: Request, principal: Principal, platform: str, account_id: str
) -> dict[str, Any]:
    found = _accounts(request).filter(
        (pl.col("platform") == platform)
        & (pl.col("account_id") == account_id)
        & _in("agency", scope(principal, None))
    )
    if found.is_empty():
        raise Problem(404, "not-found", "Not found", f"no account {platform}/{account_id}")
    return found.row(0, named=True)


# -- cursors ------------------------------------------------------------------------------------
def encode_cursor(created_at: dt.datetime, platform: str, post_id: str) -> str:
    """An opaque cursor after the post ``(created_at, platform, post_id)``."""
    stamp = int(created_at.timestamp() * 1_000_000)
    raw = json.dumps([stamp, platform, post_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str, str]:
    """The post key a cursor points after.

    Raises:
        Problem: 422 for a cursor this API did not issue.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, platform, post_id = json.loads(raw)
        if not (isinstance(stamp, int) and isinstance(platform, str) and isinstance(post_id, str)):
            raise ValueError(cursor)
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=stamp)
    except (ValueError, TypeError, binascii.Error, OverflowError):
        raise Problem(
            422,
            "invalid-parameter",
            "Invalid parameter",
            "cursor: not a cursor this API issued",
            errors=[{"parameter": "cursor", "message": "not a cursor this API issued"}],
        ) from None
    return moment, platform, post_id


def _after(key: tuple[dt.datetime, str, str]) -> pl.Expr:
    """Posts after ``key`` in the order newest first, then platform and post id descending."""
    moment, platform, post_id = key
    at = pl.lit(moment, dtype=pl.Datetime("us", "UTC"))
    created, plat, pid = pl.col("created_at"), pl.col("platform"), pl.col("post_id")
    return (created < at) | (
        (created == at) & ((plat < platform) | ((plat == platform) & (pid < post_id)))
    )


def page(
    ordered: pl.DataFrame,
    where: list[pl.Expr],
    after: tuple[dt.datetime, str, str] | None,
    size: int,
    block: int = 20_000,
) -> pl.DataFrame:
    """The first ``size`` posts of ``ordered`` (in page order) after the cursor's post that
    match ``where``.

    The cursor's position is found by binary search on ``created_at``; from there the rows are
    filtered a block at a time (growing blocks) until the page is full, so a page costs what
    its rows cost, not what the whole table costs.
    """
    start = 0
    if after is not None:
        at = ordered["created_at"].search_sorted(after[0], side="left", descending=True)
        start = int(at) if isinstance(at, int) else int(at[0])
        where = [*where, _after(after)]
    found: list[pl.DataFrame] = []
    need = size
    while start < ordered.height and need > 0:
        part = ordered.slice(start, block)
        if where:
            part = part.filter(*where)
        part = part.head(need)
        found.append(part)
        need -= part.height
        start += block
        block = min(block * 4, 2_000_000)
    return pl.concat(found) if found else ordered.clear()


# -- routes -------------------------------------------------------------------------------------
@open_router.get("/health", response_model=enveloped(Health), tags=["status"])
def health() -> dict[str, Any]:
    """The server answers (no token needed, no data)."""
    return envelope({"status": "ok"})


@router.get("/accounts", response_model=enveloped(list[Account]), tags=["accounts"])  # type: ignore[valid-type]
def accounts(
    request: Request, principal: Caller, agency: AgencyQ = None, platform: PlatformQ = None
) -> Response:
    """Accounts (silver/accounts): platform facts joined with the registry's agency and tier."""
    frame = (
        _accounts(request)
        .filter(_in("agency", scope(principal, agency)), _in("platform", platform))
        .sort("platform", "account_id")
    )
    return listing(frame)


@router.get(
    "/accounts/{platform}/{account_id}",
    response_model=enveloped(Account),  # type: ignore[valid-type]
    tags=["accounts"],
    responses=NOT_FOUND,
)
def account(
    request: Request, principal: Caller, platform: PlatformP, account_id: AccountP
) -> dict[str, Any]:
    """One account."""
    return envelope(_account(request, principal, platform, account_id))


@router.get(
    "/accounts/{platform}/{account_id}/metrics",
    response_model=enveloped(list[AccountDay]),  # type: ignore[valid-type]
    tags=["accounts"],
    responses=NOT_FOUND,
)
def account_metrics(
    request: Request,
    principal: Caller,
    platform: PlatformP,
    account_id: AccountP,
    since: SinceQ = None,
    until: UntilQ = None,
) -> Response:
    """One account's figures per UTC day (gold/daily_account_metrics), oldest day first."""
    _check_days(since, until)
    _account(request, principal, platform, account_id)
    days = days_by_account(_snapshots(request)).get((platform, account_id))
    if days is None:  # an account known but not yet in gold
        days = table_spec(METRICS).empty().select(METRIC_COLUMNS)
    frame = days.filter(_between("date", since, until))
    return listing(frame, columns=METRIC_COLUMNS)


@router.get("/registry", response_model=enveloped(list[RegistryEntry]), tags=["accounts"])  # type: ignore[valid-type]
def registry(
    request: Request, principal: Caller, agency: AgencyQ = None, platform: PlatformQ = None
) -> Response:
    """The registry of official accounts the platform watches (HHS_ACCOUNTS_FILE)."""
    from hhs_platform.registry import load_registry

    frame = (
        load_registry(request.app.state.settings.accounts_file)
        .select(REGISTRY_COLUMNS)
        .filter(_in("agency", scope(principal, agency)), _in("platform", platform))
        .sort("agency", "platform", "handle")
    )
    return listing(frame)


@router.get("/posts", response_model=enveloped(list[Post]), tags=["posts"])  # type: ignore[valid-type]
def posts(
    request: Request,
    principal: Caller,
    agency: AgencyQ = None,
    platform: PlatformQ = None,
    account: AccountQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Text the post's text or title contains (case-insensitive).",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=MAX_LIMIT, description="Posts per page (default HHS_API_PAGE_SIZE)."),
    ] = None,
    cursor: Annotated[
        str | None, Query(description="meta.next_cursor of the previous page.")
    ] = None,
) -> Response:
    """Posts (silver/posts), newest first, with their account's agency and handle; paged.

    Pages follow a stable order (created_at, then platform and post id, descending): walking
    the cursors returns every post matching the filters exactly once, also while new posts
    arrive (those newer than the first page are not in the walk).
    """
    _check_days(since, until)
    size = limit or request.app.state.settings.api_page_size
    where: list[pl.Expr] = []
    agencies = scope(principal, agency)
    if agencies is not None:
        where.append(pl.col("agency").is_in(agencies))
    if platform is not None:
        where.append(pl.col("platform").is_in(platform))
    if account is not None:
        where.append(pl.col("account_id").is_in(account) | pl.col("handle").is_in(account))
    dates = row_filter(POSTS, since=since, until=until)
    if dates is not None:
        where.append(dates)
    if q is not None:
        needle = q.lower()
        where.append(
            pl.col("text").str.to_lowercase().str.contains(needle, literal=True).fill_null(False)
            | pl.col("title").str.to_lowercase().str.contains(needle, literal=True).fill_null(False)
        )
    after = None if cursor is None else decode_cursor(cursor)
    frame = page(posts_in_order(_snapshots(request)), where, after, size + 1)
    next_cursor = None
    if frame.height > size:
        frame = frame.head(size)
        last = frame.row(size - 1, named=True)
        next_cursor = encode_cursor(last["created_at"], last["platform"], last["post_id"])
    return listing(frame, next_cursor=next_cursor)


@router.get(
    "/posts/{platform}/{post_id:path}/curve",
    response_model=enveloped(list[CurvePoint]),  # type: ignore[valid-type]
    tags=["posts"],
    responses=NOT_FOUND,
)
def post_curve(
    request: Request,
    principal: Caller,
    platform: PlatformP,
    post_id: Annotated[
        str, Path(description="The platform's post id (it may contain slashes: send it as is).")
    ],
) -> Response:
    """A post's engagement at fixed ages (1 h to 4 weeks) against its account's usual
    (gold/post_curves), youngest age first."""
    known = posts_in_order(_snapshots(request)).filter(
        (pl.col("platform") == platform)
        & (pl.col("post_id") == post_id)
        & _in("agency", scope(principal, None))
    )
    if known.is_empty():
        raise Problem(404, "not-found", "Not found", f"no post {platform}/{post_id}")
    frame = (
        request.app.state.lake.scan(CURVES)
        .filter((pl.col("platform") == platform) & (pl.col("post_id") == post_id))
        .select(CURVE_COLUMNS)
        .sort("age_hours")
        .collect()
    )
    return listing(frame, columns=CURVE_COLUMNS)


@router.get("/agency-metrics", response_model=enveloped(list[AgencyPeriod]), tags=["figures"])  # type: ignore[valid-type]
def agency_metrics(
    request: Request,
    principal: Caller,
    agency: AgencyQ = None,
    platform: Annotated[
        list[str] | None,
        Query(description="Platform slug(s), or all for every platform together."),
    ] = None,
    period: Annotated[
        Literal["day", "week"], Query(description="day, or week (Monday to Sunday).")
    ] = "day",
    since: SinceQ = None,
    until: UntilQ = None,
) -> Response:
    """Figures per agency (each including the agencies below it), period and platform
    (gold/agency_metrics), oldest period first; since/until apply to period_start."""
    _check_days(since, until)
    frame = (
        _snapshots(request)
        .frame(AGENCY_METRICS, AGENCY_COLUMNS)
        .filter(
            pl.col("period") == period,
            _in("agency", scope(principal, agency)),
            _in("platform", platform),
            _between("period_start", since, until),
        )
        .sort("period_start", "agency", "platform")
    )
    return listing(frame, columns=AGENCY_COLUMNS)


@router.get("/anomalies", response_model=enveloped(list[Anomaly]), tags=["figures"])  # type: ignore[valid-type]
def anomalies(
    request: Request,
    principal: Caller,
    agency: AgencyQ = None,
    platform: PlatformQ = None,
    account: AccountQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
) -> Response:
    """Unusual days of the accounts' figures (gold/anomalies), newest first; since/until apply
    to the event's first day."""
    _check_days(since, until)
    found = (
        _snapshots(request)
        .frame(ANOMALIES, ANOMALY_COLUMNS)
        .filter(
            _in("agency", scope(principal, agency)),
            _in("platform", platform),
            _between("date", since, until),
        )
    )
    if account is not None:
        found = found.filter(pl.col("account_id").is_in(account) | pl.col("handle").is_in(account))
    frame = found.sort(["date", "platform", "account_id", "metric", "kind"], descending=True)
    return listing(frame, columns=["baseline", "confidence", "score"])


@router.get("/quality/scorecard", response_model=enveloped(list[Score]), tags=["status"])  # type: ignore[valid-type]
def scorecard(
    request: Request,
    principal: Caller,
    agency: AgencyQ = None,
    platform: PlatformQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
) -> Response:
    """Data quality per account and UTC day (quality/scorecard). Without since and until,
    the latest day scored."""
    _check_days(since, until)
    scores = _snapshots(request).frame(SCORECARD, SCORE_COLUMNS)
    if since is None and until is None:
        scores = scores.filter(pl.col("date") == pl.col("date").max())
    else:
        scores = scores.filter(_between("date", since, until))
    frame = scores.filter(_in("agency", scope(principal, agency)), _in("platform", platform)).sort(
        "date", "platform", "account_id"
    )
    columns = ["completeness", "freshness", "validity", "drift", "overall", "age_hours"]
    return listing(frame, columns=columns)


@router.get("/freshness", response_model=enveloped(list[Freshness]), tags=["status"])
def freshness(
    request: Request, principal: Caller, agency: AgencyQ = None, platform: PlatformQ = None
) -> Response:
    """How recently each account was collected (bronze/fetch_log), against its tier's cadence."""
    cadence = request.app.state.settings.quality_cadence_hours
    now = dt.datetime.now(dt.UTC)
    frame = last_fetches(_snapshots(request)).filter(
        _in("agency", scope(principal, agency)), _in("platform", platform)
    )
    age = (pl.lit(now) - pl.col("last_success_at")).dt.total_microseconds() / 3_600_000_000
    hours = pl.col("tier").replace_strict(cadence, default=None, return_dtype=pl.Float64)
    frame = frame.with_columns(
        age_hours=age, cadence_hours=hours, checked_at=pl.lit(now, pl.Datetime("us", "UTC"))
    ).with_columns(fresh=(pl.col("age_hours") <= pl.col("cadence_hours")).fill_null(False))
    return listing(frame.select(list(Freshness.model_fields)), columns=["age_hours"])


@router.get("/runs", response_model=enveloped(list[Run]), tags=["status"])
def runs(
    request: Request,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Runs to return.")] = 50,
) -> Response:
    """The latest runs, newest first: ops/runs with the fetch log's account counts of each
    collection run (runs known from the fetch log only have a null flow and status)."""
    snapshots = _snapshots(request)
    fetched = runs_fetched(snapshots).lazy()
    flows = snapshots.frame(
        RUNS, ["run_id", "flow", "status", "started_at", "ended_at", "error"]
    ).lazy()
    frame = (
        flows.join(fetched, on="run_id", how="full", coalesce=True)
        .select(
            "run_id",
            "flow",
            "status",
            pl.coalesce("started_at", "fetch_started").alias("started_at"),
            pl.coalesce("ended_at", "fetch_ended").alias("ended_at"),
            "error",
            *(pl.col(c).fill_null(0) for c in ("accounts", "complete", "partial", "failed")),
        )
        .sort(["started_at", "run_id"], descending=True, nulls_last=True)
        .head(limit)
        .collect()
    )
    return listing(frame)


__all__ = [
    "MAX_LIMIT",
    "days_by_account",
    "decode_cursor",
    "encode_cursor",
    "last_fetches",
    "open_router",
    "page",
    "posts_in_order",
    "router",
    "runs_fetched",
    "scope",
    "warm",
]
