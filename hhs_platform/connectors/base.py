"""What every connector is: how to ask (collect), how to read (parse), what it can give (capabilities)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from hhs_platform.http import HttpClient
    from hhs_platform.settings import Settings


@dataclass(frozen=True)
class AccountRef:
    """The registry facts a connector needs to find an account."""

    platform: str
    handle: str
    platform_id: str | None = None

    @property
    def key(self) -> str:
        """The registry key stored in bronze: ``<platform>:<handle>``."""
        return f"{self.platform}:{self.handle}"


@dataclass(frozen=True)
class RawResponse:
    """One HTTP response exactly as received (becomes a bronze row)."""

    platform: str
    endpoint: str
    account_key: str
    request_url: str  # secrets already removed
    status: int
    headers: Mapping[str, str]  # only the headers that matter (rate limits, paging, type)
    body: bytes
    fetched_at: datetime  # UTC
    elapsed_ms: float
    page: int


@dataclass
class ParsedRows:
    """Rows parsed from one response, by silver table, plus problems found on the way.

    Rows carry platform fields only; the pipeline adds ``platform``, lineage (run, response,
    connector version) and observation times from the bronze record.
    """

    accounts: list[dict[str, Any]] = field(default_factory=list)
    account_snapshots: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    post_metrics: list[dict[str, Any]] = field(default_factory=list)
    #: Reasons the payload (or a part of it) could not be read; each becomes a quarantine row.
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Capabilities:
    """What a platform's API can give; the docs and dashboards read this."""

    followers: bool
    following: bool
    posts_count: bool
    likes: bool
    reposts: bool
    replies: bool
    quotes: bool
    views: bool
    history: str  # how far back posts are reachable, in words
    auth: str  # which credential, in words
    rate_limit: str  # the documented limit, in words


class Connector(ABC):
    """One platform. Subclasses set the class variables and implement ``collect`` and ``parse``."""

    platform: ClassVar[str]
    version: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, http: HttpClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings
        self.base = settings.api_base(self.platform)

    @abstractmethod
    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        """Fetch the account's profile and posts (newest first, down to ``since`` or the end).

        Every response goes through ``self.http``, which hands it to the run's archive before
        this method looks at it; this method reads only what it needs to paginate.

        Raises:
            TerminalError: the account cannot be collected (not found, auth, quota).
            TransientError: retries were exhausted.
        """

    @staticmethod
    @abstractmethod
    def parse(record: Mapping[str, Any]) -> ParsedRows:
        """Turn one archived response (a bronze row as a mapping) into rows. Pure: no I/O.

        ``record`` has at least ``endpoint``, ``account_key``, ``request_url``, ``status``,
        ``body`` (bytes) and ``fetched_at``. Must never raise on bad input: problems go to
        ``ParsedRows.problems``.
        """
