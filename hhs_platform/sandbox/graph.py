"""What the simulated Facebook and Instagram Graph APIs share: field expansion, errors, usage.

The ``fields`` parameter is parsed as Graph parses it: ``name``, modifiers such as
``.limit(0)``, ``.summary(true)``, ``.after(cursor)`` or ``.as(alias)``, and nested selections
in braces (``media.limit(5){id,like_count}``), to any depth. Usage is metered in rolling
windows and reported in ``X-App-Usage`` / ``X-Page-Usage`` / ``X-Business-Use-Case-Usage``
(percent of a configurable budget); past 100 % the platform's own throttling error is served.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.context import json_response

VERSION_RE = r"v\d+\.\d+"
#: Error bodies Graph uses for throttling, by code (message, is_transient).
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and "
    "try again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}


class GraphError(Exception):
    """A Graph error answer: ``{"error": {message, type, code, error_subcode?, ...}}``."""

    def __init__(
        self,
        message: str,
        code: int,
        *,
        status: int = 400,
        kind: str = "OAuthException",
        subcode: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.kind = message, code, status, kind
        self.subcode, self.extra, self.headers = subcode, dict(extra or {}), dict(headers or {})

    def body(self, trace: str) -> dict[str, Any]:
        """The JSON body, fields in Graph's order."""
        err: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        err.update(self.extra)
        err["fbtrace_id"] = trace
        return {"error": err}


def trace_id(*parts: object) -> str:
    """An ``fbtrace_id``-like token (11 to 23 characters of base64url)."""
    return ids.etag("fbtrace", *parts)[:23].replace("-", "A").replace("_", "B")


def error_response(exc: GraphError, *parts: object) -> web.Response:
    """The error as Graph serves it (JSON, HTTP 400 unless said otherwise)."""
    trace = trace_id(*parts, exc.code, time.time())
    resp = json_response(exc.body(trace), exc.status, headers={"x-fb-trace-id": trace})
    for k, v in exc.headers.items():
        resp.headers[k] = v
    return resp


def unknown_object(ref: str) -> GraphError:
    """An id or username that names nothing (or nothing this token may see)."""
    return GraphError(
        f"Unsupported get request. Object with ID '{ref}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation. Please read the Graph API "
        "documentation at https://developers.facebook.com/docs/graph-api",
        100,
        kind="GraphMethodException",
        subcode=33,
    )


def nonexisting_field(name: str, node_type: str) -> GraphError:
    """A field the node type does not have."""
    return GraphError(f"(#100) Tried accessing nonexisting field ({name}) on node type "
                      f"({node_type})", 100)  # fmt: skip


def throttled(code: int, headers: Mapping[str, str] | None = None) -> GraphError:
    """Graph's throttling answer: HTTP 400 (403 for the app limit) and a code, never a 429."""
    return GraphError(
        THROTTLE_MESSAGES[code],
        code,
        status=403 if code == 4 else 400,
        subcode=2446079 if code == 80002 else None,
        extra={"is_transient": True},
        headers=headers,
    )


# -- access tokens -------------------------------------------------------------------------------


def access_token(request: web.Request, accepted: frozenset[str]) -> str:
    """The request's token (``access_token`` or an ``Authorization: OAuth|Bearer`` header).

    Raises:
        GraphError: 104 when there is none, 190 when it is not one this server accepts.
    """
    token = request.query.get("access_token", "")
    if not token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = value.strip() if scheme.lower() in ("oauth", "bearer") else ""
    if not token:
        raise GraphError("An access token is required to request this resource.", 104)
    if accepted and token not in accepted:
        raise GraphError(
            "Invalid OAuth access token - Cannot parse access token",
            190,
            headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" '
                     '"Invalid OAuth access token - Cannot parse access token"'},
        )  # fmt: skip
    return token


# -- field expansion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One requested field: its name, modifiers (``limit``, ``summary``, ``as``, ...) and the
    nested selection in braces (None when there is none)."""

    name: str
    args: Mapping[str, str] = field(default_factory=dict)
    children: tuple[Field, ...] | None = None

    @property
    def key(self) -> str:
        """The key the value is served under (``.as(alias)`` renames it)."""
        return self.args.get("as") or self.name


def _syntax(text: str, pos: int, expected: str) -> GraphError:
    return GraphError(
        f'Syntax error "Expected {expected} instead of '
        f'{repr(text[pos]) if pos < len(text) else "end of string"}." at character {pos}: {text}',
        2500,
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek().isspace():
            self.pos += 1

    def name(self) -> str:
        start = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() in "_-"):
            self.pos += 1
        if start == self.pos:
            raise _syntax(self.text, self.pos, "field name")
        return self.text[start : self.pos]

    def arg(self) -> str:
        # An argument runs to its closing parenthesis (cursors are opaque, so no nesting).
        end = self.text.find(")", self.pos)
        if end < 0:
            raise _syntax(self.text, len(self.text), '")"')
        value = self.text[self.pos : end].strip()
        self.pos = end + 1
        return value

    def modifiers(self, args: dict[str, str]) -> None:
        while self.peek() == ".":
            self.pos += 1
            mod = self.name()
            if self.peek() != "(":
                raise _syntax(self.text, self.pos, '"("')
            self.pos += 1
            args[mod] = self.arg()

    def fields(self, closing: str) -> tuple[Field, ...]:
        out: list[Field] = []
        while True:
            self.skip_ws()
            if not self.peek() or self.peek() == closing:
                break
            name = self.name()
            args: dict[str, str] = {}
            self.modifiers(args)
            children: tuple[Field, ...] | None = None
            if self.peek() == "{":
                self.pos += 1
                children = self.fields("}")
                if self.peek() != "}":
                    raise _syntax(self.text, self.pos, '"}"')
                self.pos += 1
                self.modifiers(args)  # ``edge{...}.limit(5)`` is accepted too
            out.append(Field(name, args, children))
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() and self.peek() != closing:
                raise _syntax(self.text, self.pos, '","')
            break
        return tuple(out)


def parse_fields(text: str) -> tuple[Field, ...]:
    """Parse a ``fields`` value; GraphError 2500 on a syntax error."""
    parser = _Parser(text)
    out = parser.fields("")
    if parser.pos < len(text.rstrip()):
        raise _syntax(text, parser.pos, "end of string")
    return out


#: ``(field) -> value``; return ``OMIT`` to leave the key out.
Resolver = Callable[[Field], Any]
OMIT = object()


def select(
    node_type: str,
    resolvers: Mapping[str, Resolver],
    requested: Sequence[Field] | None,
    default: Sequence[str],
) -> dict[str, Any]:
    """Build a node with only the requested fields (``default`` when none were requested).

    Raises:
        GraphError: 100 for a field ``node_type`` does not have.
    """
    fields = requested or tuple(Field(n) for n in default)
    out: dict[str, Any] = {}
    for f in fields:
        resolver = resolvers.get(f.name)
        if resolver is None:
            raise nonexisting_field(f.name, node_type)
        value = resolver(f)
        if value is not OMIT:
            out[f.key] = value
    if "id" in resolvers and "id" not in out:
        out["id"] = resolvers["id"](Field("id"))  # Graph always adds the id
    return out


def int_arg(f: Field, name: str, default: int, lo: int, hi: int) -> int:
    """An integer modifier clamped to ``[lo, hi]`` (a malformed one is error 100)."""
    raw = f.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return max(lo, min(hi, int(raw)))
    except ValueError:
        raise GraphError(f"(#100) Param {name} must be an integer", 100) from None


# -- paging --------------------------------------------------------------------------------------


def cursor(position: int, salt: str) -> str:
    """An opaque cursor for an item position (base64 like Graph's ``QVFIU...`` strings)."""
    raw = json.dumps({"p": position, "s": ids.etag(salt)[:8]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_cursor(token: str, salt: str) -> int:
    """The position a cursor points at; GraphError 100 when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["s"] != ids.etag(salt)[:8]:
            raise ValueError(token)
        return int(data["p"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise GraphError("(#100) The after/before cursor is invalid", 100) from None


def graph_time(dt: datetime) -> str:
    """Graph's timestamp format: ``2021-07-09T19:09:52+0000``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time_param(raw: str) -> float | None:
    """``since``/``until``: unix seconds or an ISO date/time; None when empty."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(f"(#100) Invalid time value {raw!r}", 100) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


# -- usage ---------------------------------------------------------------------------------------


class UsageMeter:
    """Calls per key over a rolling window, reported as Meta does: percent of a budget."""

    def __init__(self, budget: int, window_s: float) -> None:
        self.budget, self.window_s = max(1, int(budget)), float(window_s)
        self._calls: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float | None = None) -> tuple[int, float]:
        """Count one call; ``(call_count %, seconds until back under the budget)``."""
        now = time.time() if now is None else now
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - self.window_s:
            calls.popleft()
        calls.append(now)
        over = len(calls) - self.budget
        regain = calls[over - 1] + self.window_s - now if over > 0 else 0.0
        return len(calls) * 100 // self.budget, max(regain, 0.0)


def usage_value(pct: int) -> dict[str, int]:
    """An ``X-App-Usage`` / ``X-Page-Usage`` object (CPU and time trail the call count)."""
    return {"call_count": pct, "total_time": pct * 3 // 5, "total_cputime": pct * 2 // 5}


def usage_header(pct: int) -> str:
    """``{"call_count":28,"total_time":16,"total_cputime":11}`` (compact, as Meta sends it)."""
    return json.dumps(usage_value(pct), separators=(",", ":"))


def buc_header(owner: str, kind: str, pct: int, regain_s: float) -> str:
    """``X-Business-Use-Case-Usage``: usage per business object, regain time in minutes."""
    entry = {**usage_value(pct), "type": kind,
             "estimated_time_to_regain_access": math.ceil(regain_s / 60) if pct >= 100 else 0}  # fmt: skip
    return json.dumps({owner: [entry]}, separators=(",", ":"))
