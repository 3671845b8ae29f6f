"""HTTP API tokens: create, list, revoke, and check them against ``ops/api_tokens``.

A token reads ``hhs_<token_id>_<secret>``: ``token_id`` is 12 hex characters, public, and names
the ``ops/api_tokens`` row; ``secret`` is 32 random bytes (URL-safe base64). The table keeps only
the sha256 of the secret, so the token is shown once, when created, and can never be recovered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from hhs_platform.lake import Lake
from hhs_platform.lake.audit import current
from schemas import table_spec
from schemas.tables import OpsApiTokens

TOKENS = "ops/api_tokens"
PREFIX = "hhs_"
_ID_BYTES = 6  # 12 hex characters
_SECRET_BYTES = 32


@dataclass(frozen=True)
class Token:
    """One stored token (never its secret)."""

    token_id: str
    name: str
    secret_sha256: str
    agencies: frozenset[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_limit_per_minute: int | None
    created_by: str | None

    def valid_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this token's (compared in constant time)."""
        return hmac.compare_digest(hash_secret(secret), self.secret_sha256)

    @classmethod
    def from_row(cls, row: dict[str, object]) -> Token:
        agencies = row["agencies"]
        limit = row["rate_limit_per_minute"]
        return cls(
            token_id=str(row["token_id"]),
            name=str(row["name"]),
            secret_sha256=str(row["secret_sha256"]),
            agencies=None if agencies is None else frozenset(agencies),  # type: ignore[call-overload]
            created_at=row["created_at"],  # type: ignore[arg-type]
            expires_at=row["expires_at"],  # type: ignore[arg-type]
            revoked_at=row["revoked_at"],  # type: ignore[arg-type]
            rate_limit_per_minute=None if limit is None else int(limit),  # type: ignore[call-overload]
            created_by=None if row["created_by"] is None else str(row["created_by"]),
        )


def hash_secret(secret: str) -> str:
    """Hex sha256 of a token's secret (what ``ops/api_tokens`` keeps)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a token in the ``hhs_<token_id>_<secret>`` form, else None."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != 2 * _ID_BYTES or not secret:
        return None
    try:
        int(token_id, 16)
    except ValueError:
        return None
    return token_id.lower(), secret


def create(
    lake: Lake,
    name: str,
    agencies: Iterable[str] | None = None,
    *,
    expires_days: int | None = None,
    rate_limit_per_minute: int | None = None,
    now: datetime | None = None,
) -> tuple[str, Token]:
    """Create a token and store its row; returns ``(token, row)``. Show the token once.

    Args:
        lake: Where ``ops/api_tokens`` lives (the lake the API serves).
        name: What the token is for.
        agencies: Agencies it may read; None or empty: every agency.
        expires_days: Days it stays valid (None or 0: never expires).
        rate_limit_per_minute: Its own limit (None: ``HHS_API_RATE_LIMIT_PER_MINUTE``).
        now: Creation time (default: now).
    """
    if not name.strip():
        raise ValueError("a token needs a name")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ValueError("the rate limit must be at least 1 request per minute")
    if expires_days is not None and expires_days < 0:
        raise ValueError("expires_days must be 0 (never) or more")
    now = now or datetime.now(UTC)
    chosen = sorted({a.strip() for a in agencies or () if a.strip()})
    existing = set(lake.read(TOKENS, columns=["token_id"])["token_id"].to_list())
    token_id = secrets.token_hex(_ID_BYTES)
    while token_id in existing:
        token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    row = Token(
        token_id=token_id,
        name=name.strip(),
        secret_sha256=hash_secret(secret),
        agencies=frozenset(chosen) if chosen else None,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
        revoked_at=None,
        rate_limit_per_minute=rate_limit_per_minute,
        created_by=current().actor,
    )
    lake.merge(TOKENS, _frame([row]))
    return f"{PREFIX}{token_id}_{secret}", row


def list_tokens(lake: Lake) -> list[Token]:
    """Every stored token, newest first."""
    rows = lake.read(TOKENS).sort("created_at", descending=True)
    return [Token.from_row(r) for r in rows.iter_rows(named=True)]


def revoke(lake: Lake, token_id: str, *, now: datetime | None = None) -> Token | None:
    """Revoke a token (it stops working within ``HHS_API_TOKEN_CACHE_SECONDS``).

    Returns its row, None when no token has this id. Revoking twice keeps the first time.
    """
    token_id = token_id.strip().lower()
    rows = lake.read(TOKENS, where=pl.col("token_id") == token_id)
    if rows.is_empty():
        return None
    token = Token.from_row(rows.row(0, named=True))
    if token.revoked_at is not None:
        return token
    revoked = Token(**{**token.__dict__, "revoked_at": now or datetime.now(UTC)})
    lake.merge(TOKENS, _frame([revoked]))
    return revoked


def _frame(tokens: list[Token]) -> pl.DataFrame:
    schema = table_spec(TOKENS).schema
    rows = [
        {
            **t.__dict__,
            "agencies": None if t.agencies is None else sorted(t.agencies),
        }
        for t in tokens
    ]
    return OpsApiTokens.validate(pl.DataFrame(rows, schema=schema))


class TokenStore:
    """The tokens of one lake, read at most every ``ttl`` seconds (per process).

    A token id not in memory re-reads the table at most once a second, so a token created
    moments ago works at once while made-up ids cannot make every request read the lake.
    """

    def __init__(self, lake: Lake, ttl: float) -> None:
        self.lake, self.ttl = lake, ttl
        self._tokens: dict[str, Token] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def get(self, token_id: str) -> Token | None:
        """The token with this id, None when there is none. Blocking (reads the lake)."""
        with self._lock:
            now = time.monotonic()
            stale = self._read_at is None or now - self._read_at >= self.ttl
            if not stale and token_id not in self._tokens:
                stale = now - (self._read_at or 0.0) >= min(self.ttl, 1.0)
            if stale:
                self._tokens = {t.token_id: t for t in list_tokens(self.lake)}
                self._read_at = now
            return self._tokens.get(token_id)


__all__ = [
    "PREFIX",
    "TOKENS",
    "Token",
    "TokenStore",
    "create",
    "hash_secret",
    "list_tokens",
    "parse",
    "revoke",
]
