"""What the Meta Graph API connectors share: version prefix, paging, errors, usage headers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from hhs_platform.connectors.base import RawResponse, as_str, dig
from hhs_platform.errors import (
    AuthError,
    HhsError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)

if TYPE_CHECKING:
    from hhs_platform.http import RateLimitState

#: The Graph API version every request names; one constant so an upgrade is one edit.
GRAPH_VERSION = "v21.0"

#: Error codes that mean throttling: app (4), user (17), page (32), custom (613), app-level
#: limit reached (341) and the Business Use Case limits (80001-80014, Pages and Instagram).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
#: Invalid, expired or revoked tokens (190 and the older session codes 102/463/467).
TOKEN_CODES = frozenset({102, 190, 463, 467})
#: "Unknown error" (1) and "service temporarily unavailable" (2): Meta says retry.
TRANSIENT_CODES = frozenset({1, 2})
#: Alias does not exist (803); Instagram username not found (110 / subcode 2207013).
NOT_FOUND_CODES = frozenset({803, 110})
NOT_FOUND_SUBCODES = frozenset({33, 2207013})
#: Query parameters a ``paging.next`` URL carries that we set ourselves (never copied).
_OWN_PARAMS = frozenset({"access_token", "appsecret_proof"})
_HASHTAG_RE = re.compile(r"(?<![\w#&/])#(\w+)")
_MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9._]+)")
_LINK_RE = re.compile(r"https?://[^\s<>\"']+")
#: Usage headers, lower-case: percentages of the platform's budget already used.
USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-ad-account-usage", "x-business-use-case-usage")


def graph_url(base: str, *path: str) -> str:
    """``{base}/{GRAPH_VERSION}/{path...}``: the documented path after the configured base."""
    return "/".join([base.rstrip("/"), GRAPH_VERSION, *(p.strip("/") for p in path)])


def unix_seconds(when: datetime) -> int:
    """``when`` as whole unix seconds (naive means UTC), the form ``since``/``until`` take."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def next_page_params(next_url: Any) -> dict[str, str] | None:
    """The query of a ``paging.next`` URL without the credential, or None when there is none.

    Only the query is kept: the next request goes to the configured base (a proxy or the
    simulated platform answer with ``graph.facebook.com`` or their own host in ``next``), and
    the token is added back by the caller so the HTTP layer knows it is a secret.
    """
    text = as_str(next_url)
    if text is None:
        return None
    try:
        query = urlsplit(text).query
    except ValueError:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    params = {k: v for k, v in pairs if k.lower() not in _OWN_PARAMS}
    return params or None


def hashtags(text: str) -> list[str]:
    """``#tags`` in a caption or message, in order, without duplicates."""
    tags = (m.group(1) for m in _HASHTAG_RE.finditer(text))
    return list(dict.fromkeys(t for t in tags if not t.isdigit()))


def mentions(text: str) -> list[str]:
    """``@usernames`` in an Instagram caption, in order, without duplicates."""
    found = (m.group(1).rstrip(".") for m in _MENTION_RE.finditer(text))
    return list(dict.fromkeys(m for m in found if m))


def links(text: str) -> list[str]:
    """``http(s)`` URLs in a text, trailing punctuation removed, without duplicates."""
    found = (m.group(0).rstrip(".,;:!?)]}") for m in _LINK_RE.finditer(text))
    return list(dict.fromkeys(found))


# --- errors ----------------------------------------------------------------------------------


def graph_error(body: bytes) -> Mapping[str, Any] | None:
    """The ``error`` object of a Graph error body, or None when the body is not one."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError):
        return None
    error = dig(payload, "error")
    return error if isinstance(error, Mapping) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def classify_graph_error(raw: RawResponse, credential_env: str) -> HhsError | None:
    """Map Meta's ``{"error": {"message","type","code","error_subcode",...}}`` to an error type.

    Meta throttles with HTTP 400/403 and a code rather than 429, so the code decides:
    4/17/32/341/613/800xx are rate limits (waiting the ``estimated_time_to_regain_access`` of
    ``X-Business-Use-Case-Usage`` when the archived headers carry it), 190 & co. a bad token,
    10 and 200-299 a missing permission, 803 / 110 (2207013) / 100 "does not exist" a missing
    object, 1/2 or ``is_transient`` a server hiccup. Anything else keeps the HTTP default.

    Args:
        raw: the archived response.
        credential_env: the environment variable of the credential, named in auth messages.
    """
    if 200 <= raw.status < 300 or raw.status == 0:
        return None
    error = graph_error(raw.body)
    if error is None:
        return None
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    message = str(error.get("message") or "")
    user_msg = str(error.get("error_user_msg") or "")
    lowered = f"{message} {user_msg}".lower()
    where = (
        f"{raw.platform} {raw.endpoint} for {raw.account_key}: HTTP {raw.status} "
        f"Graph error {code}{f'/{subcode}' if subcode is not None else ''}: {message}"
    )
    kw: dict[str, Any] = {"platform": raw.platform, "status": raw.status}
    if code in RATE_LIMIT_CODES:
        usage = parse_usage_headers(raw.headers)
        wait = usage.regain_s if usage is not None else None
        return RateLimitedError(
            f"{where}; Meta throttled this app/token; usage headers tell when it recovers",
            retry_after=wait,
            **kw,
        )
    if code in TOKEN_CODES:
        return AuthError(
            f"{where}; the access token is invalid or expired: renew {credential_env}", **kw
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return AuthError(
            f"{where}; the token lacks a permission or feature: see docs/platforms.md", **kw
        )
    if code in NOT_FOUND_CODES or subcode in NOT_FOUND_SUBCODES:
        return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
    if code == 100:
        # Meta words a missing permission and a missing object alike ("does not exist, cannot
        # be loaded due to missing permission"); a message naming what is required is the
        # permission case, a bare "does not exist" is the missing object.
        if "requires" in lowered or "app secret proof" in lowered or "app token" in lowered:
            return AuthError(
                f"{where}; the token lacks a permission or feature: see docs/platforms.md", **kw
            )
        if "does not exist" in lowered or "cannot find" in lowered:
            return NotFoundError(f"{where}; check the handle/platform_id in the registry", **kw)
        return None
    if code in TRANSIENT_CODES or error.get("is_transient") is True:
        return ServerError(f"{where}; Meta reports a transient failure", **kw)
    return None


# --- usage headers: Meta's budget signal -------------------------------------------------------


@dataclass(frozen=True)
class GraphUsage:
    """What Meta's usage headers say: the highest share of a budget used, in percent.

    ``parts`` names each figure (``"x-app-usage.call_count"``,
    ``"x-business-use-case-usage.<id>.pages.total_time"``, ...) so an operator can see which
    budget is tight; ``regain_s`` is the longest ``estimated_time_to_regain_access`` (minutes in
    the header, seconds here), None when no header gave one or it was 0.
    """

    max_pct: float
    parts: dict[str, float] = field(default_factory=dict)
    regain_s: float | None = None


def _pct_fields(prefix: str, obj: Any, parts: dict[str, float]) -> None:
    if not isinstance(obj, Mapping):
        return
    for name in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
        value = obj.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            parts[f"{prefix}.{name}"] = float(value)


def parse_usage_headers(headers: Mapping[str, str]) -> GraphUsage | None:
    """Read ``X-App-Usage``, ``X-Page-Usage``, ``X-Ad-Account-Usage`` and
    ``X-Business-Use-Case-Usage``; None when none is present or readable.

    ``X-App-Usage``/``X-Page-Usage`` are ``{"call_count": %, "total_cputime": %,
    "total_time": %}``; ``X-Business-Use-Case-Usage`` is ``{"<business id>": [{"type",
    "call_count", "total_cputime", "total_time", "estimated_time_to_regain_access"}]}``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    parts: dict[str, float] = {}
    regain_min: list[float] = []
    for name in USAGE_HEADERS:
        text = lower.get(name)
        if not text:
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            continue
        if name != "x-business-use-case-usage":
            _pct_fields(name, value, parts)
            continue
        if not isinstance(value, Mapping):
            continue
        for owner, entries in value.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                kind = as_str(dig(entry, "type")) or "buc"
                _pct_fields(f"{name}.{owner}.{kind}", entry, parts)
                minutes = dig(entry, "estimated_time_to_regain_access")
                if isinstance(minutes, int | float) and not isinstance(minutes, bool):
                    regain_min.append(float(minutes))
    if not parts and not regain_min:
        return None
    longest = max(regain_min, default=0.0)
    return GraphUsage(
        max_pct=max(parts.values(), default=0.0),
        parts=parts,
        regain_s=longest * 60.0 if longest > 0 else None,
    )


def usage_rate_limit_state(
    headers: Mapping[str, str],
    now: float | None = None,
    *,
    threshold_pct: float = 95.0,
    cooldown_s: float = 300.0,
) -> RateLimitState | None:
    """Meta's usage headers as a :class:`~hhs_platform.http.RateLimitState`, for the budgets.

    Meta reports percentages, not request counts, over a rolling hour (24 h for pages), so
    there is no honest "remaining requests". This maps them onto the budget the HTTP layer
    already has: below ``threshold_pct`` nothing is said (None); at or above it the budget is
    spent (``remaining=0``) until ``estimated_time_to_regain_access`` or, when Meta gives no
    estimate, ``cooldown_s`` from now. Wire it next to ``parse_rate_limit`` in ``http.py``.
    """
    from hhs_platform.http import RateLimitState  # http imports connectors: keep this lazy

    usage = parse_usage_headers(headers)
    if usage is None:
        return None
    now = time.time() if now is None else now
    if usage.regain_s is not None:
        return RateLimitState(remaining=0, reset_at=now + usage.regain_s, limit=None)
    if usage.max_pct >= threshold_pct:
        return RateLimitState(remaining=0, reset_at=now + cooldown_s, limit=None)
    return None
