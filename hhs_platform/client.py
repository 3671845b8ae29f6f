"""A typed Python client of the HTTP API (``/v1``).

One method per endpoint, with typed parameters; each returns an :class:`Envelope` whose ``data``
holds typed rows (pydantic models with the fields of the API's response models) and whose
``meta`` holds the count, the next page's cursor and the unit and definition of each metric.
:meth:`Client.iter_posts` follows the cursors across pages. An error answer raises
:class:`ApiProblem` with the RFC 9457 fields.

    from hhs_platform.client import Client

    with Client("http://127.0.0.1:8000", token) as api:
        for post in api.iter_posts(agency="CDC", since=dt.date(2026, 11, 1)):
            print(post.created_at, post.text)

The rows ignore fields they do not know, so the client keeps working when the server adds
fields within ``v1`` (docs/http-api.md, Versioning and compatibility).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

#: Default seconds to wait for an answer.
TIMEOUT = 30.0

Strings = str | Sequence[str] | None


class _Row(BaseModel):
    """A row of an answer: immutable; unknown fields (added by the server later) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Definition(_Row):
    """Unit and meaning of one metric."""

    unit: str
    definition: str


class Meta(_Row):
    """About the data: API version, item count, next page, metric definitions."""

    api_version: str
    count: int
    next_cursor: str | None = None
    definitions: dict[str, Definition] = Field(default_factory=dict)


class Envelope[T](_Row):
    """An answer: the data (a list of rows or one object) and what it means."""

    data: T
    meta: Meta


class Health(_Row):
    """The server answers."""

    status: str = "ok"


class Account(_Row):
    """silver/accounts: one account on one platform, registry facts joined with platform facts."""

    platform: str
    account_id: str
    handle: str
    display_name: str | None
    description: str | None
    account_created_at: dt.datetime | None
    account_key: str
    agency: str | None
    agency_name: str | None
    parent_agency: str | None
    tier: int | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class RegistryEntry(_Row):
    """The shipped list of official accounts to watch (one row per account per platform)."""

    agency: str
    agency_name: str
    parent_agency: str | None
    platform: str
    handle: str
    platform_id: str | None
    url: str
    tier: int
    verified: bool


class AccountDay(_Row):
    """gold/daily_account_metrics: one account's figures for one UTC day."""

    date: dt.date
    platform: str
    account_id: str
    handle: str | None
    agency: str | None
    parent_agency: str | None
    followers: int | None
    followers_change: int | None
    following: int | None
    posts_count: int | None
    posts_published: int
    likes: int
    reposts: int
    replies: int
    quotes: int
    views: int | None
    engagement: int
    engagement_rate: float | None
    engagement_activity: int


class Post(_Row):
    """silver/posts: one post (or repost) with its latest known content."""

    platform: str
    post_id: str
    account_id: str
    author_id: str
    created_at: dt.datetime
    post_type: str
    text: str | None
    title: str | None
    url: str | None
    lang: str | None
    reply_to_post_id: str | None
    quoted_post_id: str | None
    reposted_post_id: str | None
    hashtags: list[str] | None
    mentions: list[str] | None
    links: list[str] | None
    media_type: str | None
    media_count: int
    media_urls: list[str] | None
    duration_s: float | None
    is_deleted: bool
    deleted_at: dt.datetime | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    agency: str | None
    handle: str | None


class CurvePoint(_Row):
    """gold/post_curves: a post's counters at fixed ages and its overperformance at each."""

    platform: str
    post_id: str
    account_id: str
    post_type: str
    created_at: dt.datetime
    age_hours: int
    observed_at: dt.datetime
    offset_minutes: int
    likes: int | None
    reposts: int | None
    replies: int | None
    quotes: int | None
    views: int | None
    engagement: int
    baseline: float | None
    overperformance: float | None


class AgencyPeriod(_Row):
    """gold/agency_metrics: an agency with every agency below it, per day or week and platform."""

    period: str
    period_start: dt.date
    agency: str
    level: int
    platform: str
    accounts: int
    followers: int | None
    followers_change: int | None
    posts_published: int
    likes: int
    reposts: int
    replies: int
    quotes: int
    views: int | None
    engagement: int
    engagement_rate: float | None
    engagement_activity: int


class Anomaly(_Row):
    """gold/anomalies: an unusual day (or run of days) of one account, explained in one sentence."""

    platform: str
    account_id: str
    handle: str | None
    agency: str | None
    metric: str
    date: dt.date
    end_date: dt.date
    days: int
    kind: str
    value: float
    baseline: float | None
    change: float | None
    change_pct: float | None
    usual_change: float | None
    score: float | None
    confidence: float
    sentence: str
    detected_at: dt.datetime


class Score(_Row):
    """quality/scorecard: one account's data quality on one UTC day, each score in [0, 1]."""

    date: dt.date
    platform: str
    account_id: str
    account_key: str
    agency: str | None
    tier: int | None
    posts_expected: int | None
    posts_collected: int
    completeness_basis: str
    completeness: float | None
    newest_observation_at: dt.datetime | None
    age_hours: float | None
    cadence_hours: float
    freshness: float | None
    rows_valid: int
    rows_quarantined: int
    validity: float | None
    fields_expected: int
    fields_missing: int
    drift: float | None
    flags: int
    overall: float | None
    computed_at: dt.datetime


class Freshness(_Row):
    """How recently one account was collected, from the fetch log."""

    platform: str
    account_key: str
    account_id: str | None
    handle: str | None
    agency: str | None
    tier: int | None
    last_fetch_at: dt.datetime
    last_status: str
    last_success_at: dt.datetime | None
    age_hours: float | None
    cadence_hours: float | None
    fresh: bool
    checked_at: dt.datetime


class Run(_Row):
    """One collection or flow run: ops/runs and the fetch log's accounts of it."""

    run_id: str
    flow: str | None
    status: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    error: str | None
    accounts: int
    complete: int
    partial: int
    failed: int


class ApiProblem(Exception):
    """An error answer of the API, with the fields of its RFC 9457 problem details.

    Attributes:
        type: URI of the problem type; its last segment (``kind``) names it: unauthorized,
            forbidden, not-found, invalid-parameter, method-not-allowed, rate-limited,
            server-error, http-error.
        title: Short summary of the type.
        status: HTTP status.
        detail: What went wrong this time (for people; its wording may change).
        instance: The request path.
        errors: invalid-parameter only: ``{"parameter", "message"}`` for each bad parameter.
        retry_after: rate-limited only: seconds to wait (the ``Retry-After`` header).
    """

    def __init__(
        self,
        type: str,
        title: str,
        status: int,
        detail: str | None = None,
        instance: str | None = None,
        errors: list[dict[str, str]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))
        self.type, self.title, self.status = type, title, status
        self.detail, self.instance, self.errors = detail, instance, errors
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """The problem type's name, e.g. ``not-found``."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiProblem:
        """The problem an error response carries (or one made from its status when its body is
        not problem details, e.g. from a proxy)."""
        retry = response.headers.get("retry-after")
        try:
            retry_after = float(retry) if retry is not None else None
        except ValueError:
            retry_after = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and isinstance(body.get("type"), str)):
            return cls(
                "about:blank",
                response.reason_phrase or "HTTP error",
                response.status_code,
                response.text[:500] or None,
                response.request.url.path,
                retry_after=retry_after,
            )
        return cls(
            body["type"],
            str(body.get("title", "")),
            int(body.get("status", response.status_code)),
            body.get("detail"),
            body.get("instance"),
            body.get("errors"),
            retry_after,
        )


#: The path of each method's endpoint (method name: path template of the OpenAPI document).
ENDPOINTS: dict[str, str] = {
    "health": "/v1/health",
    "accounts": "/v1/accounts",
    "account": "/v1/accounts/{platform}/{account_id}",
    "account_metrics": "/v1/accounts/{platform}/{account_id}/metrics",
    "registry": "/v1/registry",
    "posts": "/v1/posts",
    "post_curve": "/v1/posts/{platform}/{post_id}/curve",
    "agency_metrics": "/v1/agency-metrics",
    "anomalies": "/v1/anomalies",
    "scorecard": "/v1/quality/scorecard",
    "freshness": "/v1/freshness",
    "runs": "/v1/runs",
}


def _listed(values: Strings) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters: None left out, days as ISO dates, lists repeated."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, str | int):
            pass
        else:
            value = _listed(value)
        out[name] = value
    return out


#: Characters each path parameter keeps unescaped: a post id goes into the path as the platform
#: gives it (a Bluesky ``at://`` URI with its slashes; the route takes the rest of the path).
_SAFE = {"post_id": "/:"}


class Client:
    """A client of one API server.

    Args:
        base_url: The server's address, e.g. ``http://127.0.0.1:8000`` (without ``/v1``).
        token: An API token ``hhs_<id>_<secret>`` (``hhs api token create``); None sends none
            (only :meth:`health` answers then).
        timeout: Seconds to wait for each answer.
        headers: Extra headers sent with every request.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = TIMEOUT,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        sent = {"Accept": "application/json"} | dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, headers=sent)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get[T](
        self,
        adapter: TypeAdapter[T],
        endpoint: str,
        params: dict[str, Any] | None = None,
        **path: str,
    ) -> T:
        """GET the endpoint named ``endpoint`` in :data:`ENDPOINTS`, its path parameters filled
        in (percent-encoded), and parse the answer with ``adapter``; raise its problem if any."""
        url = ENDPOINTS[endpoint].format(
            **{name: quote(value, safe=_SAFE.get(name, "")) for name, value in path.items()}
        )
        response = self._http.get(url, params=params or {})
        if response.is_error:
            raise ApiProblem.from_response(response)
        return adapter.validate_json(response.content)

    def _pages[R](
        self, adapter: TypeAdapter[Envelope[list[R]]], endpoint: str, params: dict[str, Any]
    ) -> Iterator[R]:
        """Every row of a paginated endpoint, following ``meta.next_cursor`` page after page."""
        while True:
            page = self._get(adapter, endpoint, params)
            yield from page.data
            if page.meta.next_cursor is None:
                return
            params = params | {"cursor": page.meta.next_cursor}

    # -- endpoints ------------------------------------------------------------------------------
    def health(self) -> Envelope[Health]:
        """``GET /v1/health``: the server answers (no token needed)."""
        return self._get(_HEALTH, "health")

    def accounts(
        self, *, agency: Strings = None, platform: Strings = None
    ) -> Envelope[list[Account]]:
        """``GET /v1/accounts``: accounts with agency, tier and platform facts."""
        return self._get(_ACCOUNTS, "accounts", _params(agency=agency, platform=platform))

    def account(self, platform: str, account_id: str) -> Envelope[Account]:
        """``GET /v1/accounts/{platform}/{account_id}``: one account."""
        return self._get(_ACCOUNT, "account", platform=platform, account_id=account_id)

    def account_metrics(
        self,
        platform: str,
        account_id: str,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Envelope[list[AccountDay]]:
        """``GET /v1/accounts/{platform}/{account_id}/metrics``: the account's figures per
        UTC day, oldest first."""
        params = _params(since=since, until=until)
        return self._get(
            _ACCOUNT_DAYS, "account_metrics", params, platform=platform, account_id=account_id
        )

    def registry(
        self, *, agency: Strings = None, platform: Strings = None
    ) -> Envelope[list[RegistryEntry]]:
        """``GET /v1/registry``: the official accounts watched."""
        return self._get(_REGISTRY, "registry", _params(agency=agency, platform=platform))

    def posts(
        self,
        *,
        agency: Strings = None,
        platform: Strings = None,
        account: Strings = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Envelope[list[Post]]:
        """``GET /v1/posts``: one page of posts, newest first; ``meta.next_cursor`` (None on the
        last page) is the ``cursor`` of the next. :meth:`iter_posts` walks every page."""
        params = _params(
            agency=agency,
            platform=platform,
            account=account,
            since=since,
            until=until,
            q=q,
            limit=limit,
            cursor=cursor,
        )
        return self._get(_POSTS, "posts", params)

    def iter_posts(
        self,
        *,
        agency: Strings = None,
        platform: Strings = None,
        account: Strings = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        q: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Post]:
        """Every post matching the filters, newest first, page after page (``page_size`` posts
        a request, default the server's, at most 500); each post once."""
        params = _params(
            agency=agency,
            platform=platform,
            account=account,
            since=since,
            until=until,
            q=q,
            limit=page_size,
        )
        return self._pages(_POSTS, "posts", params)

    def post_curve(self, platform: str, post_id: str) -> Envelope[list[CurvePoint]]:
        """``GET /v1/posts/{platform}/{post_id}/curve``: the post's engagement at fixed ages
        against its account's usual, youngest age first. ``post_id`` as the platform gives
        it (it may contain slashes)."""
        return self._get(_CURVE, "post_curve", platform=platform, post_id=post_id)

    def agency_metrics(
        self,
        *,
        agency: Strings = None,
        platform: Strings = None,
        period: Literal["day", "week"] = "day",
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Envelope[list[AgencyPeriod]]:
        """``GET /v1/agency-metrics``: figures per agency (each including the agencies below
        it), period and platform (``all``: every platform together), oldest period first;
        ``since``/``until`` apply to ``period_start``."""
        params = _params(agency=agency, platform=platform, period=period, since=since, until=until)
        return self._get(_AGENCY, "agency_metrics", params)

    def anomalies(
        self,
        *,
        agency: Strings = None,
        platform: Strings = None,
        account: Strings = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Envelope[list[Anomaly]]:
        """``GET /v1/anomalies``: unusual days, newest first, each with a sentence."""
        params = _params(
            agency=agency, platform=platform, account=account, since=since, until=until
        )
        return self._get(_ANOMALIES, "anomalies", params)

    def scorecard(
        self,
        *,
        agency: Strings = None,
        platform: Strings = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Envelope[list[Score]]:
        """``GET /v1/quality/scorecard``: data quality per account and UTC day; the latest day
        scored unless ``since``/``until``."""
        params = _params(agency=agency, platform=platform, since=since, until=until)
        return self._get(_SCORES, "scorecard", params)

    def freshness(
        self, *, agency: Strings = None, platform: Strings = None
    ) -> Envelope[list[Freshness]]:
        """``GET /v1/freshness``: per account, its latest fetches against its tier's cadence."""
        return self._get(_FRESHNESS, "freshness", _params(agency=agency, platform=platform))

    def runs(self, *, limit: int = 50) -> Envelope[list[Run]]:
        """``GET /v1/runs``: the latest ``limit`` runs, newest first."""
        return self._get(_RUNS, "runs", _params(limit=limit))


def to_frame(rows: Sequence[BaseModel]) -> pl.DataFrame:
    """Rows of an answer (e.g. ``api.accounts().data``) as a polars DataFrame, one column per
    field (times as UTC datetimes, days as dates)."""
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame([row.model_dump() for row in rows], infer_schema_length=None)


_HEALTH = TypeAdapter(Envelope[Health])
_ACCOUNTS = TypeAdapter(Envelope[list[Account]])
_ACCOUNT = TypeAdapter(Envelope[Account])
_ACCOUNT_DAYS = TypeAdapter(Envelope[list[AccountDay]])
_REGISTRY = TypeAdapter(Envelope[list[RegistryEntry]])
_POSTS = TypeAdapter(Envelope[list[Post]])
_CURVE = TypeAdapter(Envelope[list[CurvePoint]])
_AGENCY = TypeAdapter(Envelope[list[AgencyPeriod]])
_ANOMALIES = TypeAdapter(Envelope[list[Anomaly]])
_SCORES = TypeAdapter(Envelope[list[Score]])
_FRESHNESS = TypeAdapter(Envelope[list[Freshness]])
_RUNS = TypeAdapter(Envelope[list[Run]])

__all__ = [
    "ENDPOINTS",
    "Account",
    "AccountDay",
    "AgencyPeriod",
    "Anomaly",
    "ApiProblem",
    "Client",
    "CurvePoint",
    "Definition",
    "Envelope",
    "Freshness",
    "Health",
    "Meta",
    "Post",
    "RegistryEntry",
    "Run",
    "Score",
    "to_frame",
]
