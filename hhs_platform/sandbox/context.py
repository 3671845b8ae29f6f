"""State shared by the route modules: the world, settings, faults and request statistics."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hhs_platform.sandbox.clock import SimClock
from hhs_platform.sandbox.faults import FaultProfile

if TYPE_CHECKING:
    from hhs_platform.sandbox.world import World


class SandboxConfig:
    """Platform limits the sandbox enforces: every platform's settings, read as attributes.

    Each platform module declares its settings and defaults (``Platform.config``), named
    ``<platform>_<setting>``: ``bluesky_rate_limit`` (3000 per 5 min per IP),
    ``youtube_api_keys`` (empty: any key), ``youtube_daily_quota``, ``x_bearer_tokens``,
    ``x_rate_limits``, ``mastodon_rate_limit``, ... ``SandboxConfig(bluesky_rate_limit=10)``
    overrides one; an unknown name is a TypeError listing the known ones. Immutable.
    """

    __slots__ = ("_values",)
    _values: Mapping[str, Any]

    def __init__(self, **settings: Any) -> None:
        """Every platform's defaults, overridden by ``settings``."""
        from hhs_platform.sandbox.platforms import config_defaults

        defaults = config_defaults()
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise TypeError(
                f"unknown sandbox setting(s) {unknown}; the platforms accept {sorted(defaults)}"
            )
        values = {**defaults, **settings}
        for k, default in defaults.items():
            if isinstance(default, frozenset):  # sets of keys or tokens: accept any iterable
                values[k] = frozenset(values[k])
            elif isinstance(default, Mapping):
                values[k] = MappingProxyType({**default, **values[k]})
        object.__setattr__(self, "_values", MappingProxyType(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"SandboxConfig has no setting {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SandboxConfig is immutable; build a new one")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SandboxConfig) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __repr__(self) -> str:
        return f"SandboxConfig({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def as_dict(self) -> dict[str, Any]:
        """Every setting and its value."""
        return dict(self._values)


@dataclass
class Stats:
    """Counts of what the sandbox served."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    faults: Counter[tuple[str, str]] = field(default_factory=Counter)
    quota_used: dict[tuple[str, str], int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": {f"{p} {e}": n for (p, e), n in sorted(self.requests.items())},
            "requests_by_platform": _by_first(self.requests),
            "rate_limited": dict(sorted(self.rate_limited.items())),
            "faults": {f"{p} {k}": n for (p, k), n in sorted(self.faults.items())},
            "quota_used": [
                {"key_suffix": k[-4:], "day": d, "units": n}
                for (k, d), n in sorted(self.quota_used.items())
            ],
        }


def _by_first(counter: Counter[tuple[str, str]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (p, _), n in counter.items():
        out[p] += n
    return dict(sorted(out.items()))


@dataclass
class SandboxContext:
    """Everything a route handler needs; stored on the root app under ``CONTEXT``."""

    world: World
    config: SandboxConfig = field(default_factory=SandboxConfig)
    faults: FaultProfile | None = None
    stats: Stats = field(default_factory=Stats)
    request_number: int = 0

    @property
    def clock(self) -> SimClock:
        """The world's clock."""
        return self.world.clock

    def next_request(self) -> int:
        """Number the platform requests (the fault stream is indexed by it)."""
        n = self.request_number
        self.request_number += 1
        return n


CONTEXT = web.AppKey("sandbox_context", SandboxContext)


def context(request: web.Request) -> SandboxContext:
    """The context of the app serving ``request`` (sub-apps see the root's)."""
    return request.config_dict[CONTEXT]


def json_response(
    payload: Any,
    status: int = 200,
    *,
    indent: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Serialise deterministically (same payload → same bytes) as UTF-8 JSON."""
    sep = (",", ": ") if indent else (",", ":")
    body = json.dumps(payload, ensure_ascii=False, indent=indent, separators=sep)
    return web.Response(
        body=body.encode(),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )
