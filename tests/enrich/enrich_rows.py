"""Silver posts and accounts for the enrichment tests, written to a real lake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from hhs_platform.lake.store import Lake
from schemas import table_spec

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def post(
    post_id: str,
    text: str | None,
    *,
    platform: str = "x",
    account_id: str = "cdc-x",
    hours: float = 0,
    seen_hours: float | None = None,
    post_type: str = "original",
    title: str | None = None,
    lang: str | None = None,
    hashtags: list[str] | None = None,
    mentions: list[str] | None = None,
    links: list[str] | None = None,
) -> dict[str, Any]:
    """A silver/posts row published ``hours`` after T0 and last seen ``seen_hours`` after it."""
    created = T0 + timedelta(hours=hours)
    seen = T0 + timedelta(hours=hours if seen_hours is None else seen_hours)
    return {
        "run_id": "run-1",
        "response_id": f"resp-{post_id}",
        "connector_version": "test",
        "platform": platform,
        "post_id": post_id,
        "account_id": account_id,
        "author_id": account_id,
        "created_at": created,
        "post_type": post_type,
        "text": text,
        "title": title,
        "url": None,
        "lang": lang,
        "reply_to_post_id": None,
        "quoted_post_id": None,
        "reposted_post_id": None,
        "hashtags": hashtags if hashtags is not None else [],
        "mentions": mentions if mentions is not None else [],
        "links": links if links is not None else [],
        "media_type": None,
        "media_count": 0,
        "media_urls": [],
        "duration_s": None,
        "media": [],
        "is_deleted": False,
        "deleted_at": None,
        "first_seen_at": seen,
        "last_seen_at": seen,
    }


def account(platform: str, account_id: str, agency: str | None) -> dict[str, Any]:
    """A silver/accounts row of an agency."""
    return {
        "run_id": "run-1",
        "response_id": f"resp-{platform}-{account_id}",
        "connector_version": "test",
        "platform": platform,
        "account_id": account_id,
        "handle": account_id,
        "display_name": None,
        "description": None,
        "account_created_at": None,
        "account_key": f"{platform}:{account_id}",
        "agency": agency,
        "agency_name": agency,
        "parent_agency": "HHS" if agency and agency != "HHS" else None,
        "tier": 1,
        "first_seen_at": T0,
        "last_seen_at": T0,
    }


def frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a frame with the table's schema."""
    return pl.DataFrame(rows, schema=table_spec(table).schema)


def write_posts(lake: Lake, rows: list[dict[str, Any]]) -> None:
    """MERGE posts into silver/posts (a newer last_seen_at replaces a post's content)."""
    lake.merge("silver/posts", frame("silver/posts", rows))


def write_accounts(lake: Lake, rows: list[dict[str, Any]]) -> None:
    """MERGE accounts into silver/accounts."""
    lake.merge("silver/accounts", frame("silver/accounts", rows))


def by_post(df: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Rows keyed by post_id."""
    return {row["post_id"]: row for row in df.iter_rows(named=True)}
