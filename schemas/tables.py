"""Pandera (polars) models: the columns, types and checks of every table."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

UTC_TS = pl.Datetime(time_unit="us", time_zone="UTC")
PLATFORMS = [
    "bluesky",
    "facebook",
    "flickr",
    "instagram",
    "linkedin",
    "mastodon",
    "pinterest",
    "reddit",
    "threads",
    "truthsocial",
    "x",
    "youtube",
]
POST_TYPES = ["original", "reply", "quote", "repost"]
#: One media attachment of a post; fields a platform does not give are null.
MEDIA = pl.Struct(
    {
        "type": pl.Utf8,
        "url": pl.Utf8,
        "width": pl.Int64,
        "height": pl.Int64,
        "duration_s": pl.Float64,
        "alt_text": pl.Utf8,
    }
)


class _Lineage(pa.DataFrameModel):
    """Columns every silver row carries: where it came from."""

    run_id: pl.Utf8 = pa.Field(nullable=False, description="Collection run that produced the row.")
    response_id: pl.Utf8 = pa.Field(
        nullable=False, description="bronze/raw_responses row the values were parsed from."
    )
    connector_version: pl.Utf8 = pa.Field(
        nullable=False, description="Version of the connector that parsed the response."
    )


class Registry(pa.DataFrameModel):
    """The shipped list of official accounts to watch (one row per account per platform)."""

    agency: pl.Utf8 = pa.Field(str_matches=r"^[A-Za-z][A-Za-z0-9-]*$", description="Agency code.")
    agency_name: pl.Utf8 = pa.Field(str_length={"min_value": 2}, description="Agency name.")
    parent_agency: pl.Utf8 = pa.Field(
        nullable=True, description="Code of the parent in the HHS hierarchy (empty for HHS)."
    )
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS, description="Platform slug.")
    handle: pl.Utf8 = pa.Field(
        str_length={"min_value": 1}, description="Handle or id on the platform."
    )
    platform_id: pl.Utf8 = pa.Field(
        nullable=True,
        description="Stable platform id where known; the account's key once resolved.",
    )
    previous_handles: pl.Utf8 = pa.Field(
        nullable=True,
        description="Earlier handles of the account, oldest first, separated by '|'.",
    )
    url: pl.Utf8 = pa.Field(str_startswith="https://", description="Public profile URL.")
    tier: pl.Int64 = pa.Field(
        isin=[1, 2, 3], description="Collection priority: 1 hourly, 2 every 6 h, 3 daily."
    )
    verified: pl.Boolean = pa.Field(
        description="True when the handle comes from an official HHS source."
    )
    source: pl.Utf8 = pa.Field(description="Where the fact comes from.")

    class Config:
        strict = True
        unique = ["platform", "handle"]


class RawResponses(pa.DataFrameModel):
    """bronze/raw_responses: one API response exactly as received, appended before parsing."""

    response_id: pl.Utf8 = pa.Field(unique=True, description="sha256 of request and fetch time.")
    run_id: pl.Utf8 = pa.Field(description="Collection run.")
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    endpoint: pl.Utf8 = pa.Field(description="API method, e.g. app.bsky.feed.getAuthorFeed.")
    account_key: pl.Utf8 = pa.Field(
        description="Registry key '<platform>:<handle>' the request served."
    )
    request_url: pl.Utf8 = pa.Field(description="URL requested, secrets removed.")
    status: pl.Int32 = pa.Field(ge=0, le=599, description="HTTP status (0 = no response).")
    headers: pl.Utf8 = pa.Field(description="JSON of the response headers that matter.")
    body: pl.Binary = pa.Field(
        nullable=True,
        description="Body bytes as received (may name people other than the account).",
        metadata={"personal": "third-party"},
    )
    payload_hash: pl.Utf8 = pa.Field(description="sha256 of the body.")
    fetched_at: UTC_TS = pa.Field(description="When the response arrived (UTC).")
    fetched_date: pl.Date = pa.Field(description="Partition: UTC date of fetched_at.")
    elapsed_ms: pl.Float64 = pa.Field(ge=0)
    page: pl.Int32 = pa.Field(
        ge=0, description="Position of the page within the account's request chain."
    )
    connector_version: pl.Utf8 = pa.Field()

    class Config:
        strict = True


class FetchLog(pa.DataFrameModel):
    """bronze/fetch_log: one account fetched in one run: how it ended and the window of its responses.

    Appended right after the responses it describes. A resumed run skips accounts already logged,
    and ``hhs replay`` re-parses exactly the responses each logged fetch parsed.
    """

    run_id: pl.Utf8 = pa.Field(description="Collection run.")
    batch_id: pl.Utf8 = pa.Field(description="Batch of the run that fetched the account.")
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_key: pl.Utf8 = pa.Field(description="Registry key '<platform>:<handle>'.")
    status: pl.Utf8 = pa.Field(
        isin=["complete", "partial", "failed"],
        description="complete: the whole feed was read; partial: read up to --since or the page "
        "cap; failed: an error stopped it (see error).",
    )
    error_type: pl.Utf8 = pa.Field(nullable=True, description="e.g. NotFoundError.")
    error: pl.Utf8 = pa.Field(nullable=True, description="The error message (secrets removed).")
    terminal: pl.Boolean = pa.Field(description="True when retrying cannot help (e.g. not found).")
    responses: pl.Int64 = pa.Field(ge=0, description="Responses archived for the account.")
    started_at: UTC_TS = pa.Field(description="Fetch window start: no response of it is older.")
    finished_at: UTC_TS = pa.Field(description="Fetch window end: no response of it is newer.")

    class Config:
        strict = True
        unique = ["run_id", "account_key", "started_at"]


class Accounts(_Lineage):
    """silver/accounts: one account on one platform, registry facts joined with platform facts."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field(str_length={"min_value": 1}, description="Platform's stable id.")
    handle: pl.Utf8 = pa.Field(description="Current handle.")
    display_name: pl.Utf8 = pa.Field(nullable=True)
    description: pl.Utf8 = pa.Field(nullable=True)
    account_created_at: UTC_TS = pa.Field(nullable=True)
    account_key: pl.Utf8 = pa.Field(description="Registry key '<platform>:<handle>'.")
    agency: pl.Utf8 = pa.Field(nullable=True)
    agency_name: pl.Utf8 = pa.Field(nullable=True)
    parent_agency: pl.Utf8 = pa.Field(nullable=True)
    tier: pl.Int64 = pa.Field(nullable=True)
    first_seen_at: UTC_TS = pa.Field()
    last_seen_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["platform", "account_id"]


class AccountSnapshots(_Lineage):
    """silver/account_snapshots: an account's public figures, one row per change.

    A row is written when a figure changes; an unchanged observation only moves the row's
    ``last_observed_at`` forward, so the table is a run-length encoded time series.
    """

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field(str_length={"min_value": 1})
    observed_at: UTC_TS = pa.Field(description="First observation with these figures.")
    last_observed_at: UTC_TS = pa.Field(description="Latest observation with the same figures.")
    followers: pl.Int64 = pa.Field(ge=0, nullable=True)
    following: pl.Int64 = pa.Field(ge=0, nullable=True)
    posts_count: pl.Int64 = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        unique = ["platform", "account_id", "observed_at"]


class Posts(_Lineage):
    """silver/posts: one post (or repost) with its latest known content."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    post_id: pl.Utf8 = pa.Field(str_length={"min_value": 1})
    account_id: pl.Utf8 = pa.Field(
        str_length={"min_value": 1}, description="Account whose feed holds the post."
    )
    author_id: pl.Utf8 = pa.Field(
        description="Author of the content (differs from account_id for reposts; a third "
        "party's id is minimised by HHS_PRIVACY_MENTIONS).",
        metadata={"personal": "third-party"},
    )
    created_at: UTC_TS = pa.Field(description="When the post was published.")
    utc_offset_minutes: pl.Int64 = pa.Field(
        nullable=True,
        ge=-18 * 60,
        le=18 * 60,
        description="UTC offset the platform wrote created_at with (0 for Z or epoch times).",
    )
    post_type: pl.Utf8 = pa.Field(isin=POST_TYPES)
    text: pl.Utf8 = pa.Field(
        nullable=True,
        description="Text of the post; @-handles of people who are not registry accounts as "
        "HHS_PRIVACY_MENTIONS decides.",
        metadata={"personal": "third-party"},
    )
    title: pl.Utf8 = pa.Field(nullable=True, metadata={"personal": "third-party"})
    url: pl.Utf8 = pa.Field(
        nullable=True,
        description="Link to the post (null when a third party's post is minimised).",
        metadata={"personal": "third-party"},
    )
    lang: pl.Utf8 = pa.Field(nullable=True)
    reply_to_post_id: pl.Utf8 = pa.Field(nullable=True)
    quoted_post_id: pl.Utf8 = pa.Field(nullable=True)
    reposted_post_id: pl.Utf8 = pa.Field(nullable=True)
    hashtags: pl.List(pl.Utf8) = pa.Field(nullable=True)
    mentions: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Handles or ids the platform marks as mentioned (minimised by "
        "HHS_PRIVACY_MENTIONS).",
        metadata={"personal": "third-party"},
    )
    links: pl.List(pl.Utf8) = pa.Field(nullable=True)
    media_type: pl.Utf8 = pa.Field(
        nullable=True, description="image, video, external, gif or null."
    )
    media_count: pl.Int64 = pa.Field(ge=0)
    media_urls: pl.List(pl.Utf8) = pa.Field(nullable=True)
    duration_s: pl.Float64 = pa.Field(ge=0, nullable=True)
    media: pl.List(MEDIA) = pa.Field(
        nullable=True,
        description="Each attachment: type, url, width, height, duration_s, alt_text.",
        metadata={"personal": "third-party"},
    )
    is_deleted: pl.Boolean = pa.Field(
        description="True once a complete read of the feed no longer has it."
    )
    deleted_at: UTC_TS = pa.Field(
        nullable=True, description="When the post was first found gone (tombstone)."
    )
    first_seen_at: UTC_TS = pa.Field()
    last_seen_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["platform", "post_id"]


class PostMetrics(_Lineage):
    """silver/post_metrics: a post's counters, one row per change (run-length encoded)."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    post_id: pl.Utf8 = pa.Field(str_length={"min_value": 1})
    account_id: pl.Utf8 = pa.Field()
    observed_at: UTC_TS = pa.Field(description="First observation with these counters.")
    last_observed_at: UTC_TS = pa.Field(description="Latest observation with the same counters.")
    likes: pl.Int64 = pa.Field(ge=0, nullable=True)
    reposts: pl.Int64 = pa.Field(ge=0, nullable=True)
    replies: pl.Int64 = pa.Field(ge=0, nullable=True)
    quotes: pl.Int64 = pa.Field(ge=0, nullable=True)
    views: pl.Int64 = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        unique = ["platform", "post_id", "observed_at"]


class PostFeatures(pa.DataFrameModel):
    """silver/post_features: a post's text features, health topics and places (docs/enrichment.md).

    Text is the post's title and text together. Enriched again when the post is seen again or
    the taxonomy changes.
    """

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    post_id: pl.Utf8 = pa.Field(str_length={"min_value": 1})
    text_length: pl.Int64 = pa.Field(ge=0, description="Characters of the text.")
    word_count: pl.Int64 = pa.Field(ge=0, description="Words of the text, links left out.")
    emoji: pl.List(pl.Utf8) = pa.Field(description="Every emoji, in order, repeats included.")
    emoji_count: pl.Int64 = pa.Field(ge=0, description="Length of emoji.")
    hashtags: pl.List(pl.Utf8) = pa.Field(
        description="Hashtags of the text and the platform, lowercase, without '#', unique."
    )
    mentions: pl.List(pl.Utf8) = pa.Field(
        description="Handles @-mentioned in the text (lowercase), else the platform's mentions.",
        metadata={"personal": "third-party"},
    )
    link_domains: pl.List(pl.Utf8) = pa.Field(
        description="Registered domain of each link (a shortener's own host), unique."
    )
    links_shortened: pl.Boolean = pa.Field(
        description="A link goes through a shortener (t.co, bit.ly, ...): its target is unknown."
    )
    language: pl.Utf8 = pa.Field(
        nullable=True, description="ISO 639 code: the platform's, else a guess (en/es) or null."
    )
    language_source: pl.Utf8 = pa.Field(
        nullable=True, isin=["platform", "detected"], description="Where language came from."
    )
    topics: pl.List(pl.Utf8) = pa.Field(description="Health topics of the taxonomy, sorted.")
    states: pl.List(pl.Utf8) = pa.Field(
        description="USPS codes of the states named (or of the places named), sorted."
    )
    places: pl.List(pl.Utf8) = pa.Field(description="Places named, as 'Place, ST', sorted.")
    taxonomy_version: pl.Utf8 = pa.Field(
        description="'<version>[+<user version>]#<digest>' of the taxonomy and feature code."
    )
    enriched_at: UTC_TS = pa.Field()
    source_last_seen_at: UTC_TS = pa.Field(
        description="The post's last_seen_at when it was enriched (what incremental runs compare)."
    )

    class Config:
        strict = True
        unique = ["platform", "post_id"]


class CampaignItems(pa.DataFrameModel):
    """silver/campaign_items: the same content cross-posted by one agency, linked as one campaign.

    One row per post (reposts left out); a post linked to nothing is a campaign of one. The rule
    is in docs/enrichment.md.
    """

    campaign_id: pl.Utf8 = pa.Field(description="Stable id: a hash of the campaign's first post.")
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    post_id: pl.Utf8 = pa.Field(str_length={"min_value": 1})
    agency: pl.Utf8 = pa.Field(description="Agency of the posting account.")
    account_id: pl.Utf8 = pa.Field()
    created_at: UTC_TS = pa.Field(description="When this post was published.")
    fingerprint: pl.Utf8 = pa.Field(
        nullable=True, description="Hash of the normalised text (null when it has no words)."
    )
    first_posted_at: UTC_TS = pa.Field(description="When the campaign's first post was published.")
    platforms: pl.Int64 = pa.Field(ge=1, description="Platforms the campaign is on.")
    posts: pl.Int64 = pa.Field(ge=1, description="Posts in the campaign.")
    source_last_seen_at: UTC_TS = pa.Field(description="The post's last_seen_at when linked.")
    linked_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["campaign_id", "platform", "post_id"]


class QuarantineRows(pa.DataFrameModel):
    """quarantine/rows: a row (or a whole response) rejected, with the rules it failed."""

    table: pl.Utf8 = pa.Field(description="Table the row was meant for.")
    row_hash: pl.Utf8 = pa.Field(description="sha256 of the row's JSON.")
    run_id: pl.Utf8 = pa.Field()
    response_id: pl.Utf8 = pa.Field(nullable=True, description="bronze row it came from.")
    platform: pl.Utf8 = pa.Field(nullable=True)
    rules: pl.List(pl.Utf8) = pa.Field(description="Checks that failed, 'column: check'.")
    row: pl.Utf8 = pa.Field(
        description="The rejected row as JSON.", metadata={"personal": "third-party"}
    )
    quarantined_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["table", "row_hash", "run_id"]


class FieldDrift(pa.DataFrameModel):
    """quality/field_drift: a field a connector relies on that a run's responses no longer sent."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    endpoint: pl.Utf8 = pa.Field(description="API method whose responses lacked the field.")
    run_id: pl.Utf8 = pa.Field()
    field: pl.Utf8 = pa.Field(description="Path of the field, e.g. feed[].post.likeCount.")
    responses_missing: pl.Int64 = pa.Field(
        ge=1, description="Responses (with items) lacking it entirely."
    )
    responses_checked: pl.Int64 = pa.Field(
        ge=1, description="Responses of that endpoint checked in the run."
    )
    first_missing_at: UTC_TS = pa.Field()
    last_missing_at: UTC_TS = pa.Field()
    example_response_id: pl.Utf8 = pa.Field(description="A bronze response that shows it.")

    class Config:
        strict = True
        unique = ["platform", "endpoint", "run_id", "field"]


class MetricSources(pa.DataFrameModel):
    """quality/metric_sources: which native field fed a canonical metric, per run (metric model)."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    endpoint: pl.Utf8 = pa.Field()
    run_id: pl.Utf8 = pa.Field()
    metric: pl.Utf8 = pa.Field(description="Canonical metric, e.g. views.")
    field: pl.Utf8 = pa.Field(
        description="Native field that fed it, e.g. public_metrics.impression_count."
    )
    status: pl.Utf8 = pa.Field(
        isin=["current", "fallback", "unknown"],
        description="The field's place in the metric model: current, an older fallback, or unknown.",
    )
    rows: pl.Int64 = pa.Field(ge=1, description="Rows of the run the field fed.")
    first_seen_at: UTC_TS = pa.Field()
    last_seen_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["platform", "endpoint", "run_id", "metric", "field"]


class QualityFlags(pa.DataFrameModel):
    """quality/flags: an observation kept in silver but implausible by a soft rule (docs/quality.md)."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field(description="Account the entity belongs to.")
    entity: pl.Utf8 = pa.Field(isin=["account", "post"], description="What was observed.")
    entity_id: pl.Utf8 = pa.Field(description="account_id or post_id.")
    rule: pl.Utf8 = pa.Field(
        isin=["counter_fall", "day_change", "engagement_bound"], description="Soft rule broken."
    )
    metric: pl.Utf8 = pa.Field(
        description="Figure checked: a counter (followers, likes...) or engagement."
    )
    severity: pl.Utf8 = pa.Field(
        isin=["warning", "critical"],
        description="critical when the rule's relative threshold is exceeded tenfold.",
    )
    observed_at: UTC_TS = pa.Field(description="Observation that broke the rule.")
    value: pl.Int64 = pa.Field(description="The figure observed.")
    reference: pl.Int64 = pa.Field(
        description="What it was compared with: the previous observation (counter_fall, "
        "day_change) or the account's followers (engagement_bound)."
    )
    detail: pl.Utf8 = pa.Field(description="The comparison in words, with the threshold.")
    run_id: pl.Utf8 = pa.Field(description="Run whose quality check first raised the flag.")

    class Config:
        strict = True
        unique = ["platform", "entity", "entity_id", "rule", "metric", "observed_at"]


class QualityScorecard(pa.DataFrameModel):
    """quality/scorecard: one account's data quality on one UTC day, each score in [0, 1].

    Formulas in docs/quality.md; a null score means it cannot be judged and is left out of
    ``overall``.
    """

    date: pl.Date = pa.Field(description="UTC day scored.")
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field()
    account_key: pl.Utf8 = pa.Field(description="Registry key '<platform>:<handle>'.")
    agency: pl.Utf8 = pa.Field(nullable=True)
    tier: pl.Int64 = pa.Field(nullable=True, description="Registry tier (sets the cadence).")
    posts_expected: pl.Int64 = pa.Field(
        ge=0, nullable=True, description="Posts the platform's own count says exist (reachable)."
    )
    posts_collected: pl.Int64 = pa.Field(ge=0, description="Matching live posts in silver.")
    completeness_basis: pl.Utf8 = pa.Field(
        isin=["posts_count", "full_read", "unknown"],
        description="What completeness is measured against.",
    )
    completeness: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    newest_observation_at: UTC_TS = pa.Field(
        nullable=True, description="Newest known observation of the account at scoring time."
    )
    age_hours: pl.Float64 = pa.Field(ge=0, nullable=True)
    cadence_hours: pl.Float64 = pa.Field(gt=0, description="Expected collection interval.")
    freshness: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    rows_valid: pl.Int64 = pa.Field(ge=0, description="Rows of the day that met every rule.")
    rows_quarantined: pl.Int64 = pa.Field(ge=0, description="Rows of the day rejected.")
    validity: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    fields_expected: pl.Int64 = pa.Field(ge=0, description="Fields the connector relies on.")
    fields_missing: pl.Int64 = pa.Field(ge=0, description="Of those, reported as drift that day.")
    drift: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    flags: pl.Int64 = pa.Field(ge=0, description="quality/flags rows of the day.")
    overall: pl.Float64 = pa.Field(
        ge=0, le=1, nullable=True, description="Weighted mean of the scores that are not null."
    )
    computed_at: UTC_TS = pa.Field(description="Scoring time (end of day, or now for today).")

    class Config:
        strict = True
        unique = ["date", "platform", "account_id"]


class DailyAccountMetrics(pa.DataFrameModel):
    """gold/daily_account_metrics: one account's figures for one UTC day."""

    date: pl.Date = pa.Field()
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field()
    handle: pl.Utf8 = pa.Field(nullable=True)
    agency: pl.Utf8 = pa.Field(nullable=True)
    parent_agency: pl.Utf8 = pa.Field(nullable=True)
    followers: pl.Int64 = pa.Field(
        ge=0, nullable=True, description="Followers at the day's last observation."
    )
    followers_change: pl.Int64 = pa.Field(
        nullable=True, description="Change against the previous day with data."
    )
    following: pl.Int64 = pa.Field(ge=0, nullable=True)
    posts_count: pl.Int64 = pa.Field(ge=0, nullable=True)
    posts_published: pl.Int64 = pa.Field(
        ge=0, description="Posts (not reposts) published that day."
    )
    likes: pl.Int64 = pa.Field(ge=0, description="Latest likes of the posts published that day.")
    reposts: pl.Int64 = pa.Field(ge=0)
    replies: pl.Int64 = pa.Field(ge=0)
    quotes: pl.Int64 = pa.Field(ge=0)
    views: pl.Int64 = pa.Field(
        ge=0, nullable=True, description="Null where the platform has no views."
    )
    engagement: pl.Int64 = pa.Field(ge=0, description="likes + reposts + replies + quotes.")
    engagement_rate: pl.Float64 = pa.Field(
        ge=0, nullable=True, description="engagement / followers (null without followers)."
    )
    engagement_activity: pl.Int64 = pa.Field(
        description="Interactions gained that day by all the account's posts, whenever published "
        "(activity in the period; negative when more were withdrawn than given)."
    )

    class Config:
        strict = True
        unique = ["date", "platform", "account_id"]


class WeeklyAccountMetrics(pa.DataFrameModel):
    """gold/weekly_account_metrics: one account's figures for one ISO week (Monday start)."""

    week: pl.Date = pa.Field(description="Monday of the week (UTC).")
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field()
    handle: pl.Utf8 = pa.Field(nullable=True)
    agency: pl.Utf8 = pa.Field(nullable=True)
    parent_agency: pl.Utf8 = pa.Field(nullable=True)
    followers: pl.Int64 = pa.Field(
        ge=0, nullable=True, description="Followers at the week's last observation."
    )
    followers_change: pl.Int64 = pa.Field(nullable=True, description="Sum of the daily changes.")
    days_observed: pl.Int64 = pa.Field(ge=0, description="Days of the week with a follower figure.")
    posts_published: pl.Int64 = pa.Field(ge=0)
    likes: pl.Int64 = pa.Field(ge=0, description="Latest likes of the posts published that week.")
    reposts: pl.Int64 = pa.Field(ge=0)
    replies: pl.Int64 = pa.Field(ge=0)
    quotes: pl.Int64 = pa.Field(ge=0)
    views: pl.Int64 = pa.Field(ge=0, nullable=True)
    engagement: pl.Int64 = pa.Field(ge=0)
    engagement_rate: pl.Float64 = pa.Field(
        ge=0, nullable=True, description="engagement / followers at the week's end."
    )
    engagement_activity: pl.Int64 = pa.Field(
        description="Interactions gained that week by all the account's posts."
    )

    class Config:
        strict = True
        unique = ["week", "platform", "account_id"]


class AgencyMetrics(pa.DataFrameModel):
    """gold/agency_metrics: an agency with every agency below it, per day or week and platform."""

    period: pl.Utf8 = pa.Field(isin=["day", "week"])
    period_start: pl.Date = pa.Field(description="The day, or the Monday of the week.")
    agency: pl.Utf8 = pa.Field(description="Agency; its figures include the agencies below it.")
    level: pl.Int64 = pa.Field(ge=0, description="Depth in the hierarchy: 0 = HHS.")
    platform: pl.Utf8 = pa.Field(isin=[*PLATFORMS, "all"], description="A platform, or all.")
    accounts: pl.Int64 = pa.Field(ge=0, description="Accounts with figures in the period.")
    followers: pl.Int64 = pa.Field(
        ge=0, nullable=True, description="Sum of the accounts' followers at the period's end."
    )
    followers_change: pl.Int64 = pa.Field(nullable=True)
    posts_published: pl.Int64 = pa.Field(ge=0)
    likes: pl.Int64 = pa.Field(ge=0)
    reposts: pl.Int64 = pa.Field(ge=0)
    replies: pl.Int64 = pa.Field(ge=0)
    quotes: pl.Int64 = pa.Field(ge=0)
    views: pl.Int64 = pa.Field(ge=0, nullable=True)
    engagement: pl.Int64 = pa.Field(ge=0)
    engagement_rate: pl.Float64 = pa.Field(ge=0, nullable=True)
    engagement_activity: pl.Int64 = pa.Field(
        description="Interactions gained in the period by all the posts, whenever published."
    )

    class Config:
        strict = True
        unique = ["period", "period_start", "agency", "platform"]


class PostCurves(pa.DataFrameModel):
    """gold/post_curves: a post's counters at fixed ages and its overperformance at each."""

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    post_id: pl.Utf8 = pa.Field()
    account_id: pl.Utf8 = pa.Field()
    post_type: pl.Utf8 = pa.Field()
    created_at: UTC_TS = pa.Field()
    age_hours: pl.Int64 = pa.Field(isin=[1, 6, 24, 72, 168, 672])
    observed_at: UTC_TS = pa.Field(description="The observation standing for that age.")
    offset_minutes: pl.Int64 = pa.Field(
        description="observed_at minus the exact age's instant (0 inside an observation run)."
    )
    likes: pl.Int64 = pa.Field(ge=0, nullable=True)
    reposts: pl.Int64 = pa.Field(ge=0, nullable=True)
    replies: pl.Int64 = pa.Field(ge=0, nullable=True)
    quotes: pl.Int64 = pa.Field(ge=0, nullable=True)
    views: pl.Int64 = pa.Field(ge=0, nullable=True)
    engagement: pl.Int64 = pa.Field(ge=0, description="likes + reposts + replies + quotes.")
    baseline: pl.Float64 = pa.Field(
        nullable=True,
        description="Median engagement at that age of the account's previous 20 posts of the "
        "same type (null with fewer than 5).",
    )
    overperformance: pl.Float64 = pa.Field(
        ge=0, nullable=True, description="engagement / baseline: 2.0 is twice the usual."
    )

    class Config:
        strict = True
        unique = ["platform", "post_id", "age_hours"]


class PostCounters(pa.DataFrameModel):
    """gold/post_counters: each post's latest counters (its newest silver/post_metrics run).

    Kept up to date by every gold build: the posts with new observations since the previous
    build are merged in. What sorts and filters posts by their counters reads (the posts
    explorer's "Most likes" and its minimum engagement) instead of every post's observations.
    """

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    post_id: pl.Utf8 = pa.Field(str_length={"min_value": 1})
    account_id: pl.Utf8 = pa.Field()
    observed_at: UTC_TS = pa.Field(description="First observation with these counters.")
    last_observed_at: UTC_TS = pa.Field(
        description="Latest observation with the same counters: when they were last read."
    )
    likes: pl.Int64 = pa.Field(ge=0, nullable=True)
    reposts: pl.Int64 = pa.Field(ge=0, nullable=True)
    replies: pl.Int64 = pa.Field(ge=0, nullable=True)
    quotes: pl.Int64 = pa.Field(ge=0, nullable=True)
    views: pl.Int64 = pa.Field(ge=0, nullable=True)
    engagement: pl.Int64 = pa.Field(
        ge=0, description="likes + reposts + replies + quotes, a missing counter counting 0."
    )

    class Config:
        strict = True
        unique = ["platform", "post_id"]


class Trends(pa.DataFrameModel):
    """gold/trends: a hashtag or topic's use per day and agency, against the 7 days before."""

    date: pl.Date = pa.Field()
    agency: pl.Utf8 = pa.Field(description="Agency; includes the agencies below it.")
    kind: pl.Utf8 = pa.Field(isin=["hashtag", "topic"])
    term: pl.Utf8 = pa.Field(description="Hashtag (lowercase, no '#') or topic name.")
    posts: pl.Int64 = pa.Field(ge=1, description="Posts using the term that day.")
    platforms: pl.Int64 = pa.Field(ge=1, description="Platforms those posts are on.")
    baseline: pl.Float64 = pa.Field(ge=0, description="Mean posts per day over the 7 days before.")
    lift: pl.Float64 = pa.Field(gt=0, description="(posts + 1) / (baseline + 1).")
    rank: pl.Int64 = pa.Field(ge=1, description="By lift then posts, within day, agency, kind.")

    class Config:
        strict = True
        unique = ["date", "agency", "kind", "term"]


class Leaderboards(pa.DataFrameModel):
    """gold/leaderboards: accounts and agencies ranked per ISO week on growth, engagement rate
    and overperformance."""

    period_start: pl.Date = pa.Field(description="Monday of the week.")
    entity_type: pl.Utf8 = pa.Field(isin=["account", "agency"])
    entity: pl.Utf8 = pa.Field(description="account_id, or agency.")
    label: pl.Utf8 = pa.Field(nullable=True, description="Handle, or agency.")
    platform: pl.Utf8 = pa.Field(isin=[*PLATFORMS, "all"])
    agency: pl.Utf8 = pa.Field(nullable=True)
    board: pl.Utf8 = pa.Field(isin=["growth", "engagement_rate", "overperformance"])
    value: pl.Float64 = pa.Field()
    rank: pl.Int64 = pa.Field(ge=1, description="1 is the best; ties share the lower rank.")

    class Config:
        strict = True
        unique = ["period_start", "entity_type", "entity", "platform", "board"]


class GoldBuilds(pa.DataFrameModel):
    """gold/builds: one gold build: when, up to which silver time, full or incremental."""

    built_at: UTC_TS = pa.Field()
    watermark: UTC_TS = pa.Field(
        nullable=True, description="Newest silver sighting the build took into account."
    )
    full: pl.Boolean = pa.Field(description="Full rebuild (else only changed accounts).")
    accounts: pl.Int64 = pa.Field(ge=0, description="Accounts recomputed.")
    posts_version: pl.Int64 = pa.Field(
        nullable=True,
        description="Delta version of silver/posts the build read: the next incremental build "
        "finds there where a changed post was published before (its old day is recomputed too).",
    )

    class Config:
        strict = True
        unique = ["built_at"]


CUSTOM_COLUMN = pl.Struct(
    {"name": pl.Utf8, "type": pl.Utf8, "nullable": pl.Boolean, "description": pl.Utf8}
)


class CustomTables(pa.DataFrameModel):
    """gold/custom_tables: the custom gold tables users published, with their contracts."""

    name: pl.Utf8 = pa.Field(
        str_startswith="gold/custom/", description="Table name, gold/custom/<snake_case>."
    )
    description: pl.Utf8 = pa.Field(description="First line of the model's docstring.")
    keys: pl.List(pl.Utf8) = pa.Field(description="Natural key: a publish merges on it.")
    partition_by: pl.List(pl.Utf8) = pa.Field(description="Partition columns (may be empty).")
    columns: pl.List(CUSTOM_COLUMN) = pa.Field(
        description="Each column's name, type, nullability and description, from the model."
    )
    model: pl.Utf8 = pa.Field(description="Qualified name of the Pandera model published with.")
    first_published_at: UTC_TS = pa.Field()
    last_published_at: UTC_TS = pa.Field()
    last_rows_in: pl.Int64 = pa.Field(ge=0, description="Rows given to the last publish.")
    last_quarantined: pl.Int64 = pa.Field(
        ge=0, description="Rows of the last publish that failed the model's checks."
    )

    class Config:
        strict = True
        unique = ["name"]


ANOMALY_KINDS = [
    "follower_jump",
    "follower_drop",
    "engagement_spike",
    "engagement_collapse",
    "posting_gap",
    "collection_gap",
]


class Anomalies(pa.DataFrameModel):
    """gold/anomalies: an unusual day (or run of days) of one account, explained in one sentence.

    Built by ``hhs_platform.analytics.build_anomalies`` from gold/daily_account_metrics and
    bronze/fetch_log; methods, thresholds and the confidence mapping are in docs/analytics.md.
    """

    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    account_id: pl.Utf8 = pa.Field()
    metric: pl.Utf8 = pa.Field(
        isin=["followers", "engagement", "posts_published", "collection"],
        description="Series the event was found in.",
    )
    date: pl.Date = pa.Field(description="The day of the event (first day of a gap).")
    kind: pl.Utf8 = pa.Field(isin=ANOMALY_KINDS)
    end_date: pl.Date = pa.Field(description="Last day of the event (= date unless a gap).")
    days: pl.Int64 = pa.Field(ge=1, description="Days the event covers.")
    agency: pl.Utf8 = pa.Field(nullable=True)
    handle: pl.Utf8 = pa.Field(nullable=True)
    value: pl.Float64 = pa.Field(
        description="followers / engagement of the day; posts or successful fetches in a gap."
    )
    baseline: pl.Float64 = pa.Field(
        nullable=True, description="What was expected: the same figure from the robust baseline."
    )
    change: pl.Float64 = pa.Field(
        nullable=True,
        description="Followers: change from the previous observation; else value - baseline.",
    )
    change_pct: pl.Float64 = pa.Field(
        nullable=True,
        description="change in % of the previous followers (followers) or of the baseline.",
    )
    usual_change: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        description="Robust scale: the usual size of a day's departure from the baseline "
        "(posting gap: usual posts a day).",
    )
    score: pl.Float64 = pa.Field(
        nullable=True,
        description="Robust z: departure from the baseline in usual_change units "
        "(posting gap: -sqrt(expected posts); null for collection gaps).",
    )
    confidence: pl.Float64 = pa.Field(
        ge=0, le=1, description="0-1, from the score's margin over its threshold and the history."
    )
    sentence: pl.Utf8 = pa.Field(description="The event in plain language.")
    detected_at: UTC_TS = pa.Field(description="Build that first found the event.")

    class Config:
        strict = True
        unique = ["platform", "account_id", "metric", "date", "kind"]


class Forecasts(pa.DataFrameModel):
    """gold/forecasts: followers and engagement forecast 1..28 days ahead per account and agency,
    with 80% and 95% intervals from the back-test's errors."""

    level: pl.Utf8 = pa.Field(isin=["account", "agency"])
    platform: pl.Utf8 = pa.Field(
        isin=[*PLATFORMS, "all"], description="A platform, or all (agency rows)."
    )
    entity: pl.Utf8 = pa.Field(description="account_id (account rows) or agency (agency rows).")
    account_id: pl.Utf8 = pa.Field(description="The account, or '*' for agency rows.")
    handle: pl.Utf8 = pa.Field(nullable=True)
    agency: pl.Utf8 = pa.Field(nullable=True, description="Includes agencies below (agency rows).")
    metric: pl.Utf8 = pa.Field(isin=["followers", "engagement"])
    origin: pl.Date = pa.Field(description="Last day of data the forecast was fitted on.")
    date: pl.Date = pa.Field(description="Day forecast.")
    horizon_days: pl.Int64 = pa.Field(ge=1, description="date - origin, in days.")
    interval: pl.Float64 = pa.Field(isin=[0.8, 0.95], description="Nominal coverage.")
    yhat: pl.Float64 = pa.Field(description="Point forecast.")
    lower: pl.Float64 = pa.Field(description="Lower bound of the interval.")
    upper: pl.Float64 = pa.Field(description="Upper bound of the interval.")
    model: pl.Utf8 = pa.Field(
        description="robust_trend (followers) or weekday_median (engagement)."
    )
    fitted_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["level", "platform", "entity", "metric", "date", "interval"]


class ForecastBacktest(pa.DataFrameModel):
    """gold/forecast_backtest: rolling-origin back-test error of each forecast series, per horizon."""

    level: pl.Utf8 = pa.Field(isin=["account", "agency"])
    platform: pl.Utf8 = pa.Field(isin=[*PLATFORMS, "all"])
    entity: pl.Utf8 = pa.Field(description="account_id, or agency.")
    account_id: pl.Utf8 = pa.Field(description="The account, or '*' for agency rows.")
    handle: pl.Utf8 = pa.Field(nullable=True)
    agency: pl.Utf8 = pa.Field(nullable=True)
    metric: pl.Utf8 = pa.Field(isin=["followers", "engagement"])
    model: pl.Utf8 = pa.Field()
    horizon_days: pl.Int64 = pa.Field(ge=1)
    origins: pl.Int64 = pa.Field(ge=1, description="Back-test forecasts scored at this horizon.")
    mae: pl.Float64 = pa.Field(ge=0, description="Mean absolute error.")
    mape: pl.Float64 = pa.Field(
        ge=0, nullable=True, description="Mean absolute % error (days with a non-zero actual)."
    )
    naive_mae: pl.Float64 = pa.Field(
        ge=0, description="MAE of the naive forecast (last value; same weekday last week)."
    )
    mase: pl.Float64 = pa.Field(
        ge=0, nullable=True, description="mae / naive_mae: below 1 beats the naive forecast."
    )
    coverage_80: pl.Float64 = pa.Field(
        ge=0, le=1, nullable=True, description="Share of actuals inside the 80% interval."
    )
    coverage_95: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    fitted_at: UTC_TS = pa.Field()

    class Config:
        strict = True
        unique = ["level", "platform", "entity", "metric", "horizon_days"]


SLOS = ["collection_success", "freshness", "dashboard_availability"]


class OpsSlo(pa.DataFrameModel):
    """ops/slo: one service-level objective's events on one UTC day, and its error budget burned."""

    date: pl.Date = pa.Field(description="UTC day the events fell on.")
    slo: pl.Utf8 = pa.Field(
        isin=SLOS,
        description="collection_success: account fetches that succeeded; freshness: accounts "
        "observed within their tier's cadence; dashboard_availability: probes answered.",
    )
    scope: pl.Utf8 = pa.Field(
        description="What the row covers: 'all', a platform, 'tier-1'..'tier-3' or 'dashboard'."
    )
    target: pl.Float64 = pa.Field(ge=0, le=1, description="The objective, a share of good events.")
    good: pl.Int64 = pa.Field(ge=0, description="Good events that day.")
    total: pl.Int64 = pa.Field(ge=0, description="Events that day.")
    value: pl.Float64 = pa.Field(
        nullable=True, ge=0, le=1, description="good / total (null without events)."
    )
    met: pl.Boolean = pa.Field(nullable=True, description="value >= target (null without events).")
    window_days: pl.Int32 = pa.Field(ge=1, description="Days of the rolling error-budget window.")
    budget_burned: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        description="Bad events / allowed bad events over the window ending that day "
        "(1.0 = budget spent; null when nothing is allowed and nothing failed).",
    )
    computed_at: UTC_TS = pa.Field(description="When the row was computed.")

    class Config:
        strict = True
        unique = ["date", "slo", "scope"]


class OpsProbes(pa.DataFrameModel):
    """ops/probes: one request to the dashboards, answered or not (the availability SLO's events)."""

    url: pl.Utf8 = pa.Field(description="URL probed, without credentials.")
    checked_at: UTC_TS = pa.Field(description="When the probe was sent.")
    ok: pl.Boolean = pa.Field(description="True when the page answered 2xx (logged in if needed).")
    status: pl.Int32 = pa.Field(
        nullable=True, ge=0, le=599, description="HTTP status of the final answer (null: none)."
    )
    elapsed_ms: pl.Float64 = pa.Field(ge=0, description="Time until the answer or the failure.")
    error: pl.Utf8 = pa.Field(
        nullable=True, description="Why the probe failed (no secrets); null when ok."
    )

    class Config:
        strict = True
        unique = ["url", "checked_at"]


class OpsApiTokens(pa.DataFrameModel):
    """ops/api_tokens: one HTTP API token (``hhs api token create``): whom it is for, what it
    may read, until when. The token itself is never stored: only the sha256 of its secret."""

    token_id: pl.Utf8 = pa.Field(description="Public id of the token (its second part).")
    name: pl.Utf8 = pa.Field(description="What the token is for, e.g. the system that uses it.")
    secret_sha256: pl.Utf8 = pa.Field(
        str_length={"min_value": 64, "max_value": 64},
        description="Hex sha256 of the token's secret (the secret itself is never stored).",
    )
    agencies: pl.List(pl.Utf8) = pa.Field(
        nullable=True, description="Agencies whose data it may read; null: every agency."
    )
    created_at: UTC_TS = pa.Field(description="When it was created.")
    expires_at: UTC_TS = pa.Field(nullable=True, description="When it stops working (null: never).")
    revoked_at: UTC_TS = pa.Field(nullable=True, description="When it was revoked (null: not).")
    rate_limit_per_minute: pl.Int32 = pa.Field(
        nullable=True,
        ge=1,
        description="Requests allowed per minute (null: HHS_API_RATE_LIMIT_PER_MINUTE).",
    )
    created_by: pl.Utf8 = pa.Field(
        nullable=True,
        description="Who created it (HHS_ACTOR, else the OS user).",
        metadata={"personal": "workforce"},
    )

    class Config:
        strict = True
        unique = ["token_id"]


class OpsApiRequests(pa.DataFrameModel):
    """ops/api_requests: one request to the HTTP API (the audit log), authenticated or not.

    Never holds a token or a secret: the token only by its id, the query with the values of
    secret-looking parameters replaced by ``***``.
    """

    request_id: pl.Utf8 = pa.Field(description="Random id of the request.")
    requested_at: UTC_TS = pa.Field(description="When the request arrived.")
    token_id: pl.Utf8 = pa.Field(
        nullable=True, description="Token it presented, when valid (null: none or invalid)."
    )
    method: pl.Utf8 = pa.Field(description="HTTP method.")
    path: pl.Utf8 = pa.Field(description="URL path, without the query.")
    query: pl.Utf8 = pa.Field(
        nullable=True, description="Query string, secret-looking values masked (null: none)."
    )
    status: pl.Int32 = pa.Field(ge=100, le=599, description="HTTP status of the answer.")
    elapsed_ms: pl.Float64 = pa.Field(ge=0, description="Time until the answer, in ms.")
    client: pl.Utf8 = pa.Field(
        nullable=True,
        description="Client address as the server saw it (null: unknown).",
        metadata={"personal": "workforce"},
    )

    class Config:
        strict = True
        unique = ["request_id"]


ALERT_KINDS = [
    "run_failed",
    "repeated_failures",
    "slo_breached",
    "quota_near_exhausted",
    "schema_drift",
    "quarantine_spike",
    "content_anomaly",
]
ALERT_SEVERITIES = ["info", "warning", "critical"]


class OpsAlerts(pa.DataFrameModel):
    """ops/alerts: one alert in one dedup window: what it said, when it was seen, sent or held back.

    Written by ``hhs alerts check`` (hhs_platform.ops.alerts); docs/operations/alerts.md.
    """

    key: pl.Utf8 = pa.Field(description="Stable dedup key, e.g. repeated_failures:x:@CDCgov.")
    window_start: UTC_TS = pa.Field(
        description="When this window opened: the key is not sent again before "
        "window_start + HHS_ALERT_DEDUP_HOURS."
    )
    kind: pl.Utf8 = pa.Field(isin=ALERT_KINDS)
    audience: pl.Utf8 = pa.Field(
        isin=["pipeline", "content"],
        description="pipeline alerts go to HHS_ALERT_URLS, content to HHS_ALERT_CONTENT_URLS.",
    )
    severity: pl.Utf8 = pa.Field(isin=ALERT_SEVERITIES)
    title: pl.Utf8 = pa.Field()
    body: pl.Utf8 = pa.Field(description="The message in plain words, with its runbook link.")
    first_seen_at: UTC_TS = pa.Field(description="First check that found it in this window.")
    last_seen_at: UTC_TS = pa.Field(description="Latest check that found it.")
    evaluations: pl.Int64 = pa.Field(ge=1, description="Checks that found it in this window.")
    sent_at: UTC_TS = pa.Field(
        nullable=True, description="When it was sent on its own (null: not sent on its own)."
    )
    suppressed: pl.Utf8 = pa.Field(
        nullable=True,
        isin=["digest", "no_channels"],
        description="Why it was not sent on its own: digest (over HHS_ALERT_MAX_PER_HOUR, "
        "folded into a digest message) or no_channels (no URL configured).",
    )
    channels: pl.Int64 = pa.Field(ge=0, description="URLs the last delivery attempt went to.")
    delivered: pl.Boolean = pa.Field(
        nullable=True,
        description="Every URL accepted the last attempt (null: not attempted). False is "
        "retried at the next check.",
    )
    attempts: pl.Int64 = pa.Field(ge=0, description="Delivery attempts (its own or a digest).")
    resolved_at: UTC_TS = pa.Field(
        nullable=True, description="When a condition alert's condition was found gone."
    )

    class Config:
        strict = True
        unique = ["key", "window_start"]


class OpsDeletions(pa.DataFrameModel):
    """ops/deletions: one privacy deletion (``hhs forget``): what was deleted, never whom.

    The subject is kept only as a hash: whoever holds the account can prove it was deleted
    (hash it, find the row); the table alone does not name it.
    """

    request_id: pl.Utf8 = pa.Field(description="Id of the request (printed by hhs forget).")
    subject_hash: pl.Utf8 = pa.Field(
        str_matches=r"^[0-9a-f]{64}$",
        description="sha256 of the subject as '<platform>:<handle or id>', lowercase.",
        metadata={"personal": "third-party"},
    )
    platform: pl.Utf8 = pa.Field(isin=PLATFORMS)
    reason: pl.Utf8 = pa.Field(
        nullable=True, description="Why (the request's reference); the subject is redacted."
    )
    requested_at: UTC_TS = pa.Field(description="When the deletion started.")
    completed_at: UTC_TS = pa.Field(description="When the vacuum of the last table ended.")
    lake_uri: pl.Utf8 = pa.Field(description="Lake the rows were deleted from.")
    tables: pl.List(pl.Utf8) = pa.Field(description="Tables rows were deleted from, sorted.")
    rows_deleted: pl.Utf8 = pa.Field(description="JSON: table -> rows deleted.")
    rows_total: pl.Int64 = pa.Field(ge=0, description="Sum of rows_deleted.")
    tables_rebuilt: pl.List(pl.Utf8) = pa.Field(
        description="Derived tables rebuilt without the subject (gold aggregates, campaigns), "
        "or tables rewritten without a third party's handle (hhs privacy forget-person)."
    )
    files_vacuumed: pl.Int64 = pa.Field(
        ge=0, description="Files physically deleted (no older version still holds the rows)."
    )
    references_left: pl.Utf8 = pa.Field(
        description="JSON: table -> rows of other accounts still naming the subject's id "
        "(e.g. their reposts in bronze bodies); {} when none."
    )
    archive_uri: pl.Utf8 = pa.Field(
        nullable=True, description="Archive lake the same deletion was applied to, if any."
    )

    class Config:
        strict = True
        unique = ["request_id"]


RUN_STATUSES = ["running", "completed", "failed"]


class OpsRuns(pa.DataFrameModel):
    """ops/runs: one flow run: who started it, with which code and parameters, and how it ended.

    Written by every flow at its start and end (hhs_platform.lake.audit); docs/operations/audit.md.
    """

    run_id: pl.Utf8 = pa.Field(description="Prefect flow run id (the run's id in the Prefect UI).")
    flow: pl.Utf8 = pa.Field(description="Flow name, e.g. hhs-collect.")
    deployment: pl.Utf8 = pa.Field(
        nullable=True,
        description="Prefect deployment that started the run (null: started by hand).",
    )
    actor: pl.Utf8 = pa.Field(
        description="Who ran it: HHS_ACTOR, else the Prefect user that created the run, else "
        "deployment:<name> for a scheduled run, else the OS user.",
        metadata={"personal": "workforce"},
    )
    os_user: pl.Utf8 = pa.Field(
        nullable=True,
        description="OS account the flow process ran as.",
        metadata={"personal": "workforce"},
    )
    host: pl.Utf8 = pa.Field(nullable=True, description="Host name of the flow process.")
    package_version: pl.Utf8 = pa.Field(description="Version of the hhs_platform package.")
    code_version: pl.Utf8 = pa.Field(
        nullable=True,
        description="Code version: HHS_CODE_VERSION (the image's git commit), else the commit of "
        "the checkout; null when unknown.",
    )
    parameters: pl.Utf8 = pa.Field(description="JSON: the flow's parameters, defaults included.")
    lake_uri: pl.Utf8 = pa.Field(description="Lake the run wrote to.")
    started_at: UTC_TS = pa.Field(description="When the run (its latest attempt) started.")
    ended_at: UTC_TS = pa.Field(
        nullable=True, description="When it ended (null: running, or the process died)."
    )
    status: pl.Utf8 = pa.Field(
        isin=RUN_STATUSES,
        description="running (also a process that died: see Prefect), completed or failed.",
    )
    error: pl.Utf8 = pa.Field(
        nullable=True, description="Why it failed: the exception, secrets removed (null: no error)."
    )
    attempt: pl.Int64 = pa.Field(ge=1, description="Attempt number (a retried run keeps its id).")
    changes: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Commits copied to ops/changes when the run ended (any writer's since the "
        "previous copy).",
    )

    class Config:
        strict = True
        unique = ["run_id"]


class OpsChanges(pa.DataFrameModel):
    """ops/changes: one Delta commit of one table: what it changed, who made it, with which code.

    Copied from each table's Delta log (hhs_platform.lake.audit.record_changes) at the end of every
    flow run and before a privacy deletion or retention removes log entries. Predicates are not
    copied (a deletion's predicate names what it deleted).
    """

    table: pl.Utf8 = pa.Field(description="Table committed to, e.g. silver/posts.")
    version: pl.Int64 = pa.Field(ge=0, description="Delta version the commit created.")
    committed_at: UTC_TS = pa.Field(description="Commit time, from the Delta log.")
    operation: pl.Utf8 = pa.Field(
        description="Delta operation: WRITE, MERGE, DELETE, CREATE TABLE, OPTIMIZE, VACUUM START, "
        "VACUUM END, ADD COLUMN, SET TBLPROPERTIES..."
    )
    mode: pl.Utf8 = pa.Field(nullable=True, description="Append or Overwrite for a WRITE.")
    rows_added: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Rows written or inserted (null: not reported)."
    )
    rows_updated: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Rows a MERGE updated (null: not reported)."
    )
    rows_deleted: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Rows a DELETE or MERGE removed (null: not reported; an overwrite replaces "
        "files, see files_removed).",
    )
    files_added: pl.Int64 = pa.Field(nullable=True, ge=0, description="Data files added.")
    files_removed: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Data files removed from the table's current version."
    )
    run_id: pl.Utf8 = pa.Field(
        nullable=True, description="Flow run that made it (ops/runs); null outside a flow run."
    )
    actor: pl.Utf8 = pa.Field(
        nullable=True,
        description="Who made it (see ops/runs.actor); null: not recorded.",
        metadata={"personal": "workforce"},
    )
    command: pl.Utf8 = pa.Field(
        nullable=True, description="Flow name, or the command line's program and sub-command."
    )
    code_version: pl.Utf8 = pa.Field(
        nullable=True, description="Code version of the writer (git commit or package version)."
    )
    reason: pl.Utf8 = pa.Field(
        nullable=True,
        description="Why, when the writer says: e.g. privacy deletion <request_id> "
        "(ops/deletions), retention before <date>.",
    )
    recorded_at: UTC_TS = pa.Field(description="When the commit was copied here.")

    class Config:
        strict = True
        unique = ["table", "version", "committed_at"]


WEBHOOK_EVENTS = ["anomaly.detected", "run.failed", "slo.freshness_breached", "brief.published"]


class OpsWebhooks(pa.DataFrameModel):
    """ops/webhooks: one webhook subscription: where events of which types are sent.

    Written by ``hhs webhooks add`` and ``remove`` (hhs_platform.webhooks); docs/webhooks.md.
    The signing secret is not stored: it is derived from HHS_WEBHOOK_SIGNING_KEY and the id.
    """

    subscription_id: pl.Utf8 = pa.Field(description="Id of the subscription, e.g. wh_3f2a...")
    url: pl.Utf8 = pa.Field(description="https URL the events are POSTed to.")
    events: pl.List(pl.Utf8) = pa.Field(description="Event types sent to it, sorted.")
    agencies: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Only events of these agencies (null: every event, with or without agency).",
    )
    created_at: UTC_TS = pa.Field(
        description="When it was added; events emitted before are not sent to it (replay can)."
    )
    removed_at: UTC_TS = pa.Field(nullable=True, description="When it was removed (null: active).")

    class Config:
        strict = True
        unique = ["subscription_id"]


class OpsWebhookEvents(pa.DataFrameModel):
    """ops/webhook_events: one event to send to webhook subscribers (the outbox).

    Appended where the event arises (a build, a failed run, a brief); an event id is derived from
    what the event is about, so the same anomaly or run is one event however often it is seen.
    """

    event_id: pl.Utf8 = pa.Field(description="Id of the event (evt_...), the body's id.")
    type: pl.Utf8 = pa.Field(isin=WEBHOOK_EVENTS, description="Event type.")
    agency: pl.Utf8 = pa.Field(
        nullable=True, description="Agency the event is about (null: none or several)."
    )
    subject: pl.Utf8 = pa.Field(
        description="What it is about: platform:account_id:metric:date:kind of an anomaly, a "
        "run id, date:scope of an SLO breach, period:start:end of a brief."
    )
    occurred_at: UTC_TS = pa.Field(
        description="When it happened (the body's created_at): build, run end, SLO computation."
    )
    emitted_at: UTC_TS = pa.Field(description="When it was added to the outbox.")
    data: pl.Utf8 = pa.Field(
        description="JSON: the body's data object (an anomaly names its official account).",
        metadata={"personal": "official"},
    )

    class Config:
        strict = True
        unique = ["event_id"]


class OpsWebhookDeliveries(pa.DataFrameModel):
    """ops/webhook_deliveries: one attempt to deliver one event to one subscription.

    Written by ``hhs webhooks deliver`` and at the end of the collection and brief flows
    (hhs_platform.webhooks.deliver_pending); the attempts of one delivery share its id.
    """

    delivery_id: pl.Utf8 = pa.Field(description="Id of the delivery (X-HHS-Delivery).")
    attempt: pl.Int64 = pa.Field(ge=1, description="Attempt number within the delivery.")
    subscription_id: pl.Utf8 = pa.Field(description="Subscription (ops/webhooks).")
    event_id: pl.Utf8 = pa.Field(description="Event (ops/webhook_events).")
    event_type: pl.Utf8 = pa.Field(isin=WEBHOOK_EVENTS)
    replay: pl.Boolean = pa.Field(description="True when sent by hhs webhooks replay.")
    ok: pl.Boolean = pa.Field(description="True when the receiver answered 2xx.")
    status_code: pl.Int32 = pa.Field(
        nullable=True, ge=100, le=599, description="HTTP status of the answer (null: none)."
    )
    error: pl.Utf8 = pa.Field(
        nullable=True, description="Why the attempt failed (null when ok); no secrets."
    )
    duration_ms: pl.Float64 = pa.Field(ge=0, description="Time until the answer or the failure.")
    attempted_at: UTC_TS = pa.Field(description="When the attempt was sent.")

    class Config:
        strict = True
        unique = ["delivery_id", "attempt"]
