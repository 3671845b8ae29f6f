"""The one settings object: ``HHS_*`` variables, ``.env``, secret files and Prefect Secret blocks."""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

#: The origin each platform documents; ``HHS_<PLATFORM>_API_BASE`` replaces it (it may carry a
#: path prefix, e.g. ``http://127.0.0.1:8765/bluesky``), the documented paths stay after it.
DEFAULT_API_BASES: dict[str, str] = {
    "bluesky": "https://public.api.bsky.app",
    "youtube": "https://www.googleapis.com",
    "x": "https://api.x.com",
    "facebook": "https://graph.facebook.com",
    "instagram": "https://graph.facebook.com",
    "threads": "https://graph.threads.net",
    "linkedin": "https://api.linkedin.com",
    "mastodon": "https://mastodon.social",
    "truthsocial": "https://truthsocial.com",
    "reddit": "https://oauth.reddit.com",
    "flickr": "https://api.flickr.com",
}


class Settings(BaseSettings):
    """Every setting of the platform. Read from arguments, ``HHS_*`` variables, ``.env``, secret
    files (``HHS_SECRETS_DIR``), Prefect Secret blocks (``HHS_PREFECT_SECRET_BLOCKS``), defaults."""

    model_config = SettingsConfigDict(
        env_prefix="HHS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    lake_uri: str = Field("./lake", description="Lake root: a local folder or s3://bucket/prefix.")
    lake_storage_options: dict[str, str] = Field(
        default_factory=dict,
        repr=False,  # may carry AWS_SECRET_ACCESS_KEY: never shown in a repr or a log
        description="deltalake storage options as JSON (e.g. AWS_ENDPOINT_URL for S3-compatible servers).",
    )
    backup_uri: str = Field(
        "",
        description="Where `hhs backup run` and the nightly backup copy the lake: a folder or "
        "s3://bucket/prefix (see docs/operations/backup.md).",
    )
    backup_storage_options: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="Storage options of the backup location as JSON (same keys as "
        "HHS_LAKE_STORAGE_OPTIONS).",
    )
    lake_retention_hours: int = Field(
        168,
        ge=0,
        description="Time-travel window kept by `hhs maintain` (vacuum leaves every version of "
        "the last this many hours readable).",
    )
    retention_days: dict[str, int] = Field(
        {
            "bronze/raw_responses": 400,
            "bronze/fetch_log": 400,
            "quarantine/rows": 180,
            "quality/field_drift": 365,
            "quality/metric_sources": 365,
            "gold/builds": 90,
            "ops/probes": 90,
            "ops/alerts": 180,
        },
        description="Days each table's rows stay in the lake (JSON table -> days, whole UTC "
        "days); tables not named are kept forever. `hhs retention` and the weekly maintenance "
        "delete older rows (archived first to HHS_ARCHIVE_URI when set). See "
        "docs/operations/retention.md.",
    )
    archive_uri: str = Field(
        "",
        description="Archive lake (cold storage: a folder or s3://bucket/prefix) that receives "
        "rows past retention before they are deleted; empty: they are deleted, not archived.",
    )
    archive_storage_options: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="deltalake storage options of the archive lake as JSON; empty: the lake's.",
    )
    dask_address: str = Field(
        "",
        description="Scheduler address of an existing Dask cluster; empty starts a LocalCluster.",
    )
    dask_workers: int = Field(2, ge=1, description="Workers of the LocalCluster.")
    dask_threads_per_worker: int = Field(2, ge=1, description="Threads per LocalCluster worker.")
    dask_processes: bool = Field(
        True, description="LocalCluster workers as processes (False: threads)."
    )
    dask_local_dashboard: bool = Field(
        True,
        description="Serve the LocalCluster's Dask dashboard on a free port (False: none, and "
        "Bokeh is not imported: about 1.6 s less a run).",
    )
    accounts_file: Path | None = Field(
        None, description="Registry CSV; empty means the shipped registry."
    )
    batch_size: int = Field(
        25,
        ge=1,
        description="Accounts per collection task (one platform and tier each). Larger batches "
        "pay the per-task costs (Prefect, validation, two bronze commits) fewer times; smaller "
        "ones resume and retry in finer steps.",
    )
    gc_threshold: int = Field(
        50_000,
        ge=0,
        description="Allocations between the youngest garbage collections in the processes that "
        "run tasks (Python's default is 700). Decoding pages makes many short-lived objects; "
        "with the default the collector took 13 % of a collection task's CPU. 0 leaves Python's "
        "setting.",
    )
    platform_concurrency: bool = Field(
        False,
        description="A collection run holds the Prefect global concurrency limit "
        "collect-<platform> (created with limit 1 if missing) while it fetches, so two runs never "
        "fetch one platform at once. The deployments of prefect.yaml turn it on; set it for "
        "manual runs next to scheduled ones.",
    )
    repoll_horizon_minutes: int = Field(
        60,
        ge=5,
        description="hhs collect --repoll reads the accounts with a post age (1 h ... 28 d) due "
        "within this many minutes; schedule it at this interval.",
    )
    max_pages: int = Field(200, ge=1, description="Safety cap on pages per account and endpoint.")
    http_timeout_s: float = Field(30.0, gt=0, description="Total timeout of one request.")
    http_connect_timeout_s: float = Field(10.0, gt=0)
    http_max_retries: int = Field(5, ge=0, description="Retries of a transient failure.")
    http_concurrency: int = Field(
        8, ge=1, description="Requests in flight per platform per worker."
    )
    http_state_dir: Path | None = Field(
        None,
        description="Folder of the shared rate-limit/quota/breaker state (SQLite); empty: per cluster.",
    )
    http_breaker_failures: int = Field(
        8, ge=1, description="Consecutive transient failures that open a platform's circuit."
    )
    http_breaker_cooldown_s: float = Field(
        60.0, gt=0, description="Seconds an open circuit fails fast before one probe request."
    )
    # Data quality rules and scorecard (docs/quality.md).
    quality_clock_skew_s: float = Field(
        300.0,
        ge=0,
        description="Clock skew tolerated before a timestamp counts as in the future (hard rule).",
    )
    quality_fall_tolerance_pct: float = Field(
        1.0, ge=0, description="A counter may fall by this % of its previous value unflagged."
    )
    quality_fall_tolerance_units: int = Field(
        10,
        ge=0,
        description="A counter may fall by this many units unflagged (both must be exceeded).",
    )
    quality_day_change_pct: float = Field(
        25.0,
        gt=0,
        description="Followers or posts_count changing by more than this % a day is flagged.",
    )
    quality_day_change_min_units: int = Field(
        100, ge=0, description="Day-over-day changes of at most this many units are never flagged."
    )
    quality_engagement_max_ratio: float = Field(
        50.0,
        gt=0,
        description="A post's engagement above this many times the followers is flagged.",
    )
    quality_engagement_min_units: int = Field(
        1000, ge=0, description="Engagement of at most this many is never flagged as implausible."
    )
    quality_cadence_hours: dict[int, float] = Field(
        {1: 1.0, 2: 6.0, 3: 24.0},
        description="Expected hours between observations per registry tier (JSON), for freshness.",
    )
    quality_freshness_grace_hours: float = Field(
        1.0, ge=0, description="Hours past the cadence before freshness starts to decay."
    )
    quality_weights: dict[str, float] = Field(
        {"completeness": 0.3, "freshness": 0.3, "validity": 0.25, "drift": 0.15},
        description="Weights of the scorecard's overall score (JSON); null scores are left out.",
    )
    # Enrichment (docs/enrichment.md).
    topics_file: Path | None = Field(
        None,
        description="Your YAML topic taxonomy, merged over the shipped one; empty: shipped only.",
    )
    # Anomalies and forecasts (docs/analytics.md).
    anomaly_z_threshold: float = Field(
        5.0, gt=0, description="Robust z-score (|score|) from which a change is an anomaly."
    )
    anomaly_window_days: int = Field(
        56,
        ge=21,
        description="Trailing days behind a baseline; same-weekday medians use its whole weeks.",
    )
    anomaly_min_history: int = Field(
        10, ge=3, description="Observations a baseline needs before a day is scored."
    )
    anomaly_min_follower_change: int = Field(
        10, ge=0, description="Follower changes off the baseline by at most this many are normal."
    )
    anomaly_min_engagement_change: int = Field(
        20, ge=0, description="Engagement off the baseline by at most this much is normal."
    )
    anomaly_settle_days: int = Field(
        3,
        ge=0,
        description="Engagement of a day is scored (and forecast) once its posts are this many "
        "days old.",
    )
    anomaly_gap_min_days: int = Field(
        2, ge=1, description="Days without posts, at least, for a posting gap."
    )
    anomaly_gap_min_expected_posts: float = Field(
        8.0,
        gt=0,
        description="Posts the account would usually have published over the days, at least, "
        "for a posting gap.",
    )
    anomaly_collection_gap_min_days: int = Field(
        1, ge=1, description="Days without a successful fetch, at least, for a collection gap."
    )
    forecast_horizon_days: int = Field(28, ge=1, le=366, description="Days ahead forecast.")
    forecast_fit_days: int = Field(
        28, ge=14, description="Trailing days a forecast is fitted on (trend, weekday medians)."
    )
    forecast_backtest_origins: int = Field(
        84, ge=1, description="Rolling origins of the back-test (the most recent days)."
    )
    # Executive brief (docs/briefs.md).
    chromium_path: Path = Field(
        Path("/usr/bin/chromium"),
        description="Chromium that draws the brief's charts and prints it to PDF (hhs report, brief flow).",
    )
    dashboard_url: str = Field(
        "http://127.0.0.1:5006",
        description="Public base URL of the dashboards, linked from the executive brief.",
    )
    # Operations dashboard (docs/dashboards.md).
    slo_success_rate: float = Field(
        0.995,
        gt=0,
        le=1,
        description="Collection SLO: share of account fetches per run that must end complete or "
        "partial.",
    )
    # SLOs and the dashboard probe (docs/operations/slos.md).
    slo_freshness: float = Field(
        0.99,
        gt=0,
        le=1,
        description="Freshness SLO: share of accounts per tier observed within the tier's "
        "cadence + grace at the end of each day.",
    )
    slo_dashboard_availability: float = Field(
        0.999,
        gt=0,
        le=1,
        description="Dashboard availability SLO: share of probes of HHS_DASHBOARD_URL answered.",
    )
    slo_window_days: int = Field(
        28, ge=1, description="Days of the rolling window each SLO's error budget is counted over."
    )
    slo_probe_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a dashboard probe waits for an answer before failing."
    )
    slo_probe_user: str = Field(
        "hhs-probe",
        description="User name the probe logs in with when HHS_DASHBOARD_PASSWORD is set.",
    )
    prefect_ui_url: str = Field(
        "",
        description="Prefect UI linked from the operations page; empty: PREFECT_UI_URL, else "
        "PREFECT_API_URL without /api, else http://127.0.0.1:4200.",
    )
    dask_dashboard_url: str = Field(
        "",
        description="Dask dashboard linked from the operations page; empty: the host of "
        "HHS_DASK_ADDRESS on port 8787, else http://127.0.0.1:8787/status.",
    )

    # Alerts (docs/operations/alerts.md).
    alert_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Where alerts go: apprise URLs (json://, mailto://, slack://, workflows://...), "
        "space separated or a JSON list. Secret: a URL carries its tokens.",
    )
    alert_content_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Where content alerts (anomalies) go; empty: HHS_ALERT_URLS.",
    )
    alert_min_severity: Literal["info", "warning", "critical"] = Field(
        "warning", description="Anomalies at or above this severity are alerted."
    )
    alert_repeated_failures: int = Field(
        3, ge=1, description="An account failing this many runs in a row is alerted."
    )
    alert_quota_used_pct: float = Field(
        90.0, gt=0, le=100, description="Rate-limit or quota share used (%) that is alerted."
    )
    alert_quarantine_factor: float = Field(
        3.0,
        gt=0,
        description="Quarantine spike: a run rejecting more than this many times the median "
        "of the previous runs' rejected rows.",
    )
    alert_quarantine_min_rows: int = Field(
        50, ge=0, description="Quarantine spike: and more than this many rows (a floor)."
    )
    alert_dedup_hours: float = Field(
        6.0, gt=0, description="The same alert is not sent again within this many hours."
    )
    alert_max_per_hour: int = Field(
        20, ge=1, description="Alerts sent per hour at most; the rest go out as one digest."
    )
    alert_send_resolved: bool = Field(
        True, description="Send a note when an alerted condition is gone."
    )
    alert_timeout_s: float = Field(
        20.0, gt=0, description="Seconds one delivery to one URL may take."
    )
    alert_runbook_url: str = Field(
        "docs/operations/alerts.md",
        description="Runbook linked from every alert (e.g. the file's URL in your repository).",
    )

    # Dashboards (docs/dashboards.md).
    dashboard_password: SecretStr | None = Field(
        None,
        description="Basic-auth password of the dashboards (any user name); empty: no login.",
    )
    dashboard_users_file: Path | None = Field(
        None,
        description="Basic auth with named users: a JSON file mapping user name to password.",
    )
    dashboard_oauth_provider: str | None = Field(
        None,
        description="Panel OAuth provider (generic, azure, github, google, okta, auth0...); "
        "set it with the key, secret and cookie secret for single sign-on (OIDC).",
    )
    dashboard_oauth_key: str | None = Field(None, description="OAuth client id.")
    dashboard_oauth_secret: SecretStr | None = Field(None, description="OAuth client secret.")
    dashboard_oauth_redirect_uri: str | None = Field(
        None, description="OAuth redirect URI, when the dashboards sit behind a proxy."
    )
    dashboard_oauth_extra_params: dict[str, str] = Field(
        default_factory=dict,
        description="Provider parameters (JSON), e.g. the generic OIDC endpoints or a tenant.",
    )
    dashboard_cookie_secret: SecretStr | None = Field(
        None, description="Secret signing the login cookies (required with login)."
    )
    dashboard_oauth_encryption_key: SecretStr | None = Field(
        None, description="Key encrypting OAuth tokens in cookies (Fernet key)."
    )
    dashboard_posts_index: bool = Field(
        True,
        description="The Posts explorer searches an index of every post held in the dashboards' "
        "memory (about 330 bytes a post: 725 MB for 2.2 M posts), made in the background when "
        "the page is first shown and again when the lake changes; searches read the lake until "
        "it is ready. False: every search reads the lake (0.1-0.9 s instead of 16-117 ms on "
        "2.2 M posts).",
    )
    dashboard_agency_access: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Which agencies each viewer sees (JSON: user -> agency codes; '*' = other "
        "users; an agency includes those below it). Empty: everyone sees everything.",
    )

    bluesky_api_base: str = DEFAULT_API_BASES["bluesky"]
    youtube_api_base: str = DEFAULT_API_BASES["youtube"]
    youtube_rss_base: str = Field("https://www.youtube.com", description="Keyless RSS feed origin.")
    x_api_base: str = DEFAULT_API_BASES["x"]
    facebook_api_base: str = DEFAULT_API_BASES["facebook"]
    instagram_api_base: str = DEFAULT_API_BASES["instagram"]
    instagram_business_account_id: str = Field("", description="Own IG business account id.")
    threads_api_base: str = DEFAULT_API_BASES["threads"]
    linkedin_api_base: str = DEFAULT_API_BASES["linkedin"]
    mastodon_api_base: str = DEFAULT_API_BASES["mastodon"]
    truthsocial_api_base: str = DEFAULT_API_BASES["truthsocial"]
    reddit_api_base: str = DEFAULT_API_BASES["reddit"]
    flickr_api_base: str = DEFAULT_API_BASES["flickr"]
    usdr_api_base: str = Field(
        "https://api.gsa.gov/technology/digital-registry/v1",
        description="U.S. Digital Registry API (GSA) base, read by `hhs registry sync`.",
    )

    youtube_api_key: SecretStr | None = Field(None, description="YouTube Data API v3 key.")
    youtube_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="More YouTube keys (comma separated or a JSON list), rotated when one's daily quota is spent.",
    )
    x_bearer_token: SecretStr | None = None
    facebook_access_token: SecretStr | None = None
    instagram_access_token: SecretStr | None = None
    threads_access_token: SecretStr | None = None
    linkedin_access_token: SecretStr | None = None
    reddit_access_token: SecretStr | None = None
    mastodon_access_token: SecretStr | None = Field(
        None, description="Optional Mastodon bearer token (public accounts need none)."
    )
    truthsocial_access_token: SecretStr | None = Field(
        None, description="Truth Social bearer token (its API often refuses anonymous calls)."
    )
    flickr_api_key: SecretStr | None = None
    usdr_api_key: SecretStr | None = Field(
        None, description="api.data.gov key for the U.S. Digital Registry (sent as API_KEY)."
    )

    # Secret sources (docs/credentials.md).
    secrets_dir: Path | None = Field(
        None,
        description="Folder of secret files, one per setting named like its variable (e.g. "
        "/run/secrets/HHS_X_BEARER_TOKEN, a Kubernetes Secret volume); read after the "
        "environment and .env. Set it as a variable or in .env; empty: no secret files.",
    )
    prefect_secret_blocks: bool = Field(
        False,
        description="Also read settings from Prefect Secret blocks named hhs- and the setting "
        "with dashes (e.g. hhs-x-bearer-token), after the secret files, from the Prefect API of "
        "PREFECT_API_URL. Set it as a variable or in .env.",
    )

    @field_validator("secrets_dir", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: Any) -> Any:
        # HHS_SECRETS_DIR="" means no folder (as for the sources), not the working directory.
        return None if isinstance(v, str) and not v.strip() else v

    # Dashboard access and web hardening (docs/dashboards.md).
    dashboard_roles: dict[str, Literal["viewer", "analyst", "admin"]] = Field(
        default_factory=dict,
        description="Role of each signed-in user (JSON: user -> viewer, analyst or admin; '*' = "
        "other users, else viewer). Empty: every signed-in user may do everything.",
    )
    dashboard_session_hours: float = Field(
        8.0, gt=0, description="Hours a dashboard login lasts before the user signs in again."
    )
    dashboard_rate_limit_per_minute: int = Field(
        300,
        ge=0,
        description="Requests per minute one client may make to the dashboards (static files "
        "excepted) before it is answered 429; 0: no limit.",
    )
    dashboard_login_max_failures: int = Field(
        5,
        ge=0,
        description="Failed sign-ins from one client or for one user name that lock further "
        "attempts for the lockout time; 0: no lockout.",
    )
    dashboard_lockout_minutes: float = Field(
        15.0, gt=0, description="Minutes a client or user name stays locked out."
    )
    dashboard_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR, JSON list) of reverse proxies whose "
        "X-Forwarded-For names the client; others' is ignored.",
    )

    # Outbound hosts the connectors may reach (docs/operations/edge.md).
    egress_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts the HTTP layer may reach besides those of the HHS_*_API_BASE "
        "settings: host (any port), host:port or *.domain, comma separated or a JSON list. "
        "Any other host, also as a redirect target, is refused.",
    )

    # Audit trail (docs/operations/audit.md).
    actor: str = Field(
        "",
        description="Who is acting, recorded with every flow run (ops/runs) and lake commit "
        "(ops/changes), e.g. a person's login or a service account. Empty: the Prefect user or "
        "deployment that created the run, else the OS user.",
    )
    code_version: str = Field(
        "",
        description="Code version recorded with every run and commit, e.g. the git commit the "
        "image was built from (cluster/Dockerfile sets it from its CODE_VERSION build argument). "
        "Empty: the commit of the checkout's .git folder, else the package version.",
    )

    # HTTP API server (docs/http-api.md).
    api_host: str = Field(
        "127.0.0.1",
        description="Interface `hhs api serve` binds (0.0.0.0 for every interface; put TLS in "
        "front of it, see docs/http-api.md).",
    )
    api_port: int = Field(8080, ge=1, le=65535, description="TCP port of `hhs api serve`.")
    api_page_size: int = Field(
        100,
        ge=1,
        le=500,
        description="Items per page of the paged /v1 lists when the request gives no limit= "
        "(a request may ask for up to 500).",
    )
    api_snapshot_ttl_s: float = Field(
        2.0,
        ge=0,
        description="Seconds the API server trusts a table's Delta version before looking it up "
        "again: it answers from an in-memory copy of each table, rebuilt when the table "
        "changes, so answers are at most this much older than the lake (0: look up every time).",
    )
    api_v1_deprecated_at: datetime | None = Field(
        None,
        description="When /v1 was deprecated (set on the day /v2 is released): every /v1 answer "
        "then carries a Deprecation header (RFC 9745) with this moment.",
    )
    api_v1_sunset_at: datetime | None = Field(
        None,
        description="When /v1 will be removed: every /v1 answer then carries a Sunset header "
        "(RFC 8594) with this moment.",
    )

    # HTTP API tokens and rate limits (docs/http-api.md).
    api_rate_limit_per_minute: int = Field(
        60,
        ge=1,
        description="Requests a token may make per minute (sliding window) unless it was created "
        "with its own limit; more are answered 429 with Retry-After.",
    )
    api_token_expires_days: int = Field(
        365,
        ge=0,
        description="Days a new token stays valid unless created with --expires-days "
        "(0: it never expires).",
    )
    api_token_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="Seconds each server process keeps the token table (ops/api_tokens) in "
        "memory: a revocation or expiry takes effect within this time.",
    )
    api_audit_flush_seconds: float = Field(
        5.0,
        gt=0,
        description="Seconds between appends of the logged requests to ops/api_requests "
        "(also flushed when the server stops).",
    )

    # Webhooks (docs/webhooks.md).
    webhook_signing_key: SecretStr | None = Field(
        None,
        description="Key each subscription's signing secret is derived from "
        "(HMAC-SHA256 of the subscription id); at least 16 characters. Changing it changes "
        "every subscriber's secret. Required to add subscriptions and deliver.",
    )
    webhook_max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts per event and subscription before giving up."
    )
    webhook_backoff_s: float = Field(
        2.0,
        ge=0,
        description="Wait before the second attempt; doubled at each further attempt, with "
        "random jitter (between half and all of it).",
    )
    webhook_backoff_max_s: float = Field(
        60.0, ge=0, description="Longest wait between two attempts."
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, description="Seconds one attempt may take (connect, send and answer)."
    )
    webhook_lookback_hours: float = Field(
        48.0,
        gt=0,
        description="Failed runs, freshness breaches and anomalies found in the lake become "
        "events only when this recent (a new or restored lake does not replay its history).",
    )
    webhook_allow_loopback: bool = Field(
        False,
        description="Accept subscription URLs on loopback addresses, over http too: for tests "
        "and development only. Private and link-local addresses are always refused.",
    )

    # Privacy: third-party personal data (docs/privacy.md).
    privacy_mentions: Literal["keep", "pseudonymise", "drop"] = Field(
        "keep",
        description="What silver keeps of people posts name who are not registry accounts "
        "(@-mentions in text and title, the mentions list, authors of reposted posts): keep "
        "them verbatim, pseudonymise them (keyed hash, needs HHS_PRIVACY_PSEUDONYM_KEY) or drop "
        "them. Registry accounts stay as they are. Production: pseudonymise. See docs/privacy.md.",
    )
    privacy_pseudonym_key: SecretStr | None = Field(
        None,
        description="Secret key of the keyed hash (HMAC-SHA256) that turns a third-party handle "
        "into its pseudonym (at least 16 characters). Changing it changes every later pseudonym.",
    )
    allow_unverified_accounts: bool = Field(
        True,
        description="Collect registry rows whose verified is false. Set false in production to "
        "collect only accounts confirmed official (`hhs registry check` / `sync`); skipped rows "
        "are logged.",
    )

    @field_validator("alert_urls", "alert_content_urls", mode="before")
    @classmethod
    def _split_urls(cls, v: Any) -> Any:
        # Not on commas: an apprise URL may hold a comma list (mailto://...?to=a@x,b@y).
        if isinstance(v, str):
            text = v.strip()
            return json.loads(text) if text.startswith("[") else text.split()
        return v

    @field_validator("youtube_api_keys", "egress_allow_hosts", mode="before")
    @classmethod
    def _split_keys(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [k.strip() for k in text.split(",") if k.strip()]
        return v

    @field_validator("lake_uri")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError(
                "HHS_LAKE_URI is empty: set a folder such as ./lake or s3://bucket/prefix"
            )
        return v.rstrip("/") or "/"

    @field_validator("quality_weights")
    @classmethod
    def _known_weights(cls, v: dict[str, float]) -> dict[str, float]:
        known = {"completeness", "freshness", "validity", "drift"}
        if set(v) - known or any(w < 0 for w in v.values()) or not sum(v.values()) > 0:
            raise ValueError(
                f"HHS_QUALITY_WEIGHTS must map some of {', '.join(sorted(known))} to weights >= 0 "
                f"with a positive sum, got {v}"
            )
        return v

    @field_validator("quality_cadence_hours")
    @classmethod
    def _positive_cadence(cls, v: dict[int, float]) -> dict[int, float]:
        if not v or any(h <= 0 for h in v.values()):
            raise ValueError(
                f"HHS_QUALITY_CADENCE_HOURS must map tiers to hours > 0, e.g. "
                f'{{"1": 1, "2": 6, "3": 24}}, got {v}'
            )
        return v

    def api_base(self, platform: str) -> str:
        """The base URL for a platform, without a trailing slash."""
        value = getattr(self, f"{platform}_api_base", None)
        if value is None:
            raise KeyError(f"no API base setting for platform {platform!r}")
        return str(value).rstrip("/")

    def prefect_ui(self) -> str:
        """The Prefect UI's URL: the setting, else derived from Prefect's own variables."""
        if self.prefect_ui_url.strip():
            return self.prefect_ui_url.strip().rstrip("/")
        ui = os.environ.get("PREFECT_UI_URL", "").strip()
        if ui:
            return ui.rstrip("/")
        api = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
        if api:
            return api.removesuffix("/api")
        return "http://127.0.0.1:4200"

    def dask_dashboard(self) -> str:
        """The Dask dashboard's URL: the setting, else the scheduler's host on port 8787."""
        if self.dask_dashboard_url.strip():
            return self.dask_dashboard_url.strip().rstrip("/")
        host = urlsplit(self.dask_address.strip()).hostname if self.dask_address.strip() else None
        return f"http://{host or '127.0.0.1'}:8787/status"

    def secret(self, name: str) -> str | None:
        """The plain value of a secret setting (only the HTTP layer should call this)."""
        value = getattr(self, name, None)
        return value.get_secret_value() if isinstance(value, SecretStr) else None

    def secret_values(self) -> list[str]:
        """Every configured secret, for redaction: the secret settings and the credentials in
        the ``*_storage_options`` (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``...)."""
        from hhs_platform.secrets import storage_option_secrets

        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name.endswith("_storage_options"):
                values.extend(storage_option_secrets(value))
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, SecretStr) and item.get_secret_value():
                    values.append(item.get_secret_value())
        return values

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, environment, ``.env``, secret files, Prefect Secret blocks (secrets.py)."""
        from hhs_platform.secrets import settings_sources

        return settings_sources(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
