"""What every connector is: how to ask (collect), how to read (parse), what it can give."""

from __future__ import annotations

import json
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from hhs_platform import jsonio

if TYPE_CHECKING:
    from hhs_platform.errors import HhsError
    from hhs_platform.http import HttpClient
    from hhs_platform.settings import Settings

log = logging.getLogger(__name__)

#: The largest value of the Int64 columns counters land in.
INT64_MAX = 2**63 - 1


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
    #: metric → native field → rows it fed (the metric model's record; see hhs_platform.metrics).
    metric_fields: dict[str, dict[str, int]] = field(default_factory=dict)

    def used(self, metric: str, native_field: str | None) -> None:
        """Record that ``native_field`` fed ``metric`` in one row (nothing when it was absent)."""
        if native_field is not None:
            counts = self.metric_fields.setdefault(metric, {})
            counts[native_field] = counts.get(native_field, 0) + 1


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


@dataclass(frozen=True)
class ResolvedAccount:
    """What a platform says about a registry handle today (``hhs registry check``)."""

    platform: str
    handle: str  # the registry handle that was looked up
    status: str  # "active" | "not_found" | "suspended" | "error"
    account_id: str | None = None  # the platform's stable id: the key once resolved
    current_handle: str | None = None  # differs from ``handle`` after a rename
    display_name: str | None = None
    verified: bool | None = None  # the platform's own verification mark, where it has one
    detail: str = ""  # what went wrong, for "error" / "suspended"


#: How many times a page that repeats the previous one (its next cursor is the cursor just
#: asked for: a stale cache or proxy) is asked for again before the listing is given up.
PAGE_REPEATS = 5


class Connector(ABC):
    """One platform. Subclasses set the class variables and implement ``collect`` and ``parse``."""

    platform: ClassVar[str]
    version: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    #: Per endpoint, the fields ``parse`` relies on (``list[].a.b`` fans out over a list). A field
    #: missing from every item of a response is reported as drift in ``quality/field_drift``.
    expected_fields: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: Settings (secret names) without which the platform cannot be collected at all.
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: True when ``collect`` leaves the JSON ``get_json`` gave it as it was: the batch's parse
    #: then takes that decode of a body instead of decoding the archived bytes again (the same
    #: bytes, the same decoder). False by default: a connector that changes what it was given
    #: would parse something other than what bronze holds.
    keeps_fetched_json: ClassVar[bool] = False

    @classmethod
    def missing_configuration(cls, settings: Settings) -> str | None:
        """Why the platform cannot be collected with these settings, or None when it can."""
        missing = [
            f"HHS_{name.upper()}"
            for name in cls.required_settings
            if not (settings.secret(name) or (getattr(settings, name, None) or None))
        ]
        return f"set {' and '.join(missing)}" if missing else None

    def __init__(self, http: HttpClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings
        self.base = settings.api_base(self.platform)
        #: ``(account_key, endpoint)`` chains cut by ``settings.max_pages`` (more pages existed).
        self.cap_hits: list[tuple[str, str]] = []

    def note_cap_hit(self, account: AccountRef, endpoint: str) -> None:
        """Record (and warn) that pagination stopped at ``max_pages`` with more to fetch."""
        self.cap_hits.append((account.key, endpoint))
        log.warning(
            "%s %s for %s stopped at HHS_MAX_PAGES=%d with more pages left; raise it to go further",
            self.platform,
            endpoint,
            account.key,
            self.settings.max_pages,
        )

    def note_cursor_loop(self, account: AccountRef, endpoint: str, cursor: str) -> None:
        """Record (and warn) that pagination stopped on a cursor seen before: the listing was
        not read to its end, so its missing posts must not be taken as deleted."""
        self.cap_hits.append((account.key, endpoint))
        log.warning(
            "%s %s for %s: the cursor %s came back again after %d repeats; stopped, the feed "
            "is incomplete this run",
            self.platform,
            endpoint,
            account.key,
            cursor,
            PAGE_REPEATS,
        )

    @staticmethod
    def classify_error(raw: RawResponse) -> HhsError | None:
        """Map a platform-specific error body to an error type; ``None`` keeps the HTTP default."""
        return None

    @abstractmethod
    async def collect(self, account: AccountRef, since: datetime | None = None) -> None:
        """Fetch the account's profile and posts (newest first, down to ``since`` or the end).

        Every response goes through ``self.http``, which hands it to the run's archive before
        this method looks at it; this method reads only what it needs to paginate.

        Raises:
            TerminalError: the account cannot be collected (not found, auth, quota).
            TransientError: retries were exhausted.
        """

    async def resolve(self, account: AccountRef) -> ResolvedAccount:
        """Look the handle up on the platform (one profile request) for ``hhs registry check``.

        The default reports that this connector cannot resolve handles yet.
        """
        return ResolvedAccount(
            self.platform,
            account.handle,
            "error",
            detail=f"{self.platform}: resolve not implemented",
        )

    @staticmethod
    @abstractmethod
    def parse(record: Mapping[str, Any]) -> ParsedRows:
        """Turn one archived response (a bronze row as a mapping) into rows. Pure: no I/O.

        ``record`` has at least ``endpoint``, ``account_key``, ``request_url``, ``status``,
        ``body`` (bytes) and ``fetched_at``. Must never raise on bad input: problems go to
        ``ParsedRows.problems``.
        """


# --- small pure helpers shared by the parse functions -------------------------------------------


def add_posts(
    rows: ParsedRows,
    items: Sequence[Any],
    parse_one: Callable[[Any], tuple[dict[str, Any], dict[str, Any] | None]],
    where: str,
) -> None:
    """Parse each item into a posts row and (unless None) a post_metrics row.

    One odd item becomes a problem (``<where>[i] skipped: ...``) and costs none of the others; an
    id listed twice in one payload (a pinned post also in its place) is kept once.
    """
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            post, metrics = parse_one(item)
        except ValueError as exc:
            rows.problems.append(f"{where}[{index}] skipped: {exc}")
            continue
        except Exception as exc:  # an odd shape in one item must not cost the others
            rows.problems.append(f"{where}[{index}] skipped: {exc.__class__.__name__}: {exc}")
            continue
        if post["post_id"] in seen:
            continue
        seen.add(post["post_id"])
        rows.posts.append(post)
        if metrics is not None:
            rows.post_metrics.append(metrics)


def media_item(
    kind: str | None,
    url: str | None,
    *,
    width: Any = None,
    height: Any = None,
    duration_s: Any = None,
    alt_text: Any = None,
) -> dict[str, Any]:
    """One entry of a post's ``media`` list (silver/posts), with numbers checked."""

    def count(v: Any) -> int | None:
        if isinstance(v, float):
            v = int(v) if math.isfinite(v) else None
        return as_count(v) if isinstance(v, int) else None

    return {
        "type": kind,
        "url": url,
        "width": count(width),
        "height": count(height),
        "duration_s": as_seconds(duration_s),
        "alt_text": alt_text if isinstance(alt_text, str) and alt_text else None,
    }


def decode_json_body(record: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The record's body decoded as JSON, or ``(None, problem)`` when it is empty or not JSON
    (what the record carries under ``jsonio.DECODED``, when it does)."""
    decoded: tuple[Any, str | None] | None = record.get(jsonio.DECODED)
    if decoded is not None:
        return decoded
    body = record.get("body")
    if isinstance(body, memoryview | bytearray):
        body = bytes(body)
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    if not body:
        return None, "empty body"
    if not isinstance(body, bytes):
        return None, f"body is {type(body).__name__}, not bytes"
    try:
        return jsonio.loads(body), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"body is not valid JSON ({exc.__class__.__name__}: {exc}; {len(body)} bytes)"


def is_success(record: Mapping[str, Any]) -> bool:
    """True when the record holds a 2xx response (only those carry rows)."""
    status = record.get("status")
    return isinstance(status, int) and 200 <= status < 300


def utc_offset_minutes(value: Any) -> int | None:
    """The UTC offset, in minutes, a platform wrote a timestamp with (created_at keeps UTC).

    ISO-8601 strings give their own offset (``Z``: 0); epoch numbers are UTC by definition (0);
    anything else, or a naive time, None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return 0
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return 0
    if text.endswith(("z", "Z")):
        return 0
    try:
        offset = datetime.fromisoformat(text).utcoffset()
    except ValueError:
        try:  # Graph API style "+0000"
            offset = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").utcoffset()
        except ValueError:
            return None
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    return minutes if -18 * 60 <= minutes <= 18 * 60 else None


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 string (``Z``, offsets, any fraction) or aware datetime as aware UTC, else None.

    A naive value is taken as UTC, which is what the platforms mean when they omit the offset.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    try:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or year 9999 west of it: no UTC instant
        return None


def as_count(value: Any) -> int | None:
    """A non-negative counter from an int or a digit string (YouTube sends strings), else None.

    A count past the int64 columns of silver is None too: no platform has one, and one such
    value would otherwise fail the whole batch's frame instead of one row.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None  # NaN and infinities are not
    elif isinstance(value, str):
        text = value.strip()
        # ASCII digits only: "²".isdigit() is true but int() refuses it; 19 digits fit int64.
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    if isinstance(value, int) and 0 <= value <= INT64_MAX:
        return value
    return None


def as_seconds(value: Any) -> float | None:
    """A duration in seconds from a finite, non-negative JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and value > INT64_MAX:
        return None  # too large for a float to hold exactly, and no media lasts that long
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def as_metric(value: Any, field: str) -> int | None:
    """A post's counter: like :func:`as_count`, but a value of the wrong type is an error.

    Absent (None) stays unknown and a negative number stays None (Reddit's net score), but a
    word, a boolean, a list or an object where the platform documents a count is a malformed
    item: ``ValueError`` naming ``field``, so the item is quarantined instead of landing with a
    silent null (``add_posts`` turns the error into the item's quarantine reason).
    """
    if value is None:
        return None
    count = as_count(value)
    if count is None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"{field!r} is {type(value).__name__} {str(value)[:40]!r}, not a count")
    return count


def as_str(value: Any) -> str | None:
    """The value when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def dig(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` through dicts only; None as soon as a step is missing."""
    for key in path:
        # A plain dict (what JSON decodes to) is checked first: with the Mapping ABC alone, a
        # dig of three keys took 1.03 µs instead of 0.29, a dozen times for each item.
        if type(obj) is not dict and not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj
