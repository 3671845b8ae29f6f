"""The outbound allow-list: the only hosts the HTTP layer may send a request to.

Every URL a connector asks for is built from an ``HHS_*_API_BASE`` setting plus a documented
path, so a registry entry (a handle, a platform id) can change the path but never the host.
This module enforces that instead of relying on it: :class:`EgressPolicy` is checked by
:class:`~hhs_platform.http.HttpClient` before every attempt and before every redirect hop, and a
URL whose host is not allowed raises :class:`EgressDeniedError` without any request being made.

Allowed are:

- the origin (host and port) of every ``HHS_*_API_BASE`` setting, ``HHS_YOUTUBE_RSS_BASE`` and
  ``HHS_USDR_API_BASE``: pointing a base at a test server allows that server and nothing else;
- the entries of ``HHS_EGRESS_ALLOW_HOSTS``: ``host`` (any port), ``host:port``, ``[v6]:port``
  or ``*.example.com`` (that domain's subdomains, not the domain itself).

Only ``http`` and ``https`` URLs are allowed. Host names are compared lower-case without a
trailing dot; an IP address is allowed only when it is listed (or is a base's host) as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from yarl import URL

from hhs_platform.errors import ConfigurationError, TerminalError
from hhs_platform.settings import Settings

__all__ = ["SCHEMES", "EgressDeniedError", "EgressPolicy", "base_settings"]

#: URL schemes a request may use.
SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressDeniedError(TerminalError, ConfigurationError):
    """A request or a redirect aimed at a host outside the allow-list; nothing was sent.

    A :class:`~hhs_platform.errors.TerminalError` (the account fails, retrying will not help)
    and a :class:`~hhs_platform.errors.ConfigurationError` (the fix is a setting: a base URL
    or ``HHS_EGRESS_ALLOW_HOSTS``).
    """


def base_settings(settings: Settings) -> dict[str, str]:
    """Every setting that names an outbound origin, by setting name (``HHS_X_API_BASE``)."""
    return {
        f"HHS_{name.upper()}": str(getattr(settings, name))
        for name in type(settings).model_fields
        if name.endswith(("_api_base", "_rss_base"))
    }


def _host(value: str) -> str:
    return value.strip().lower().rstrip(".").strip("[]")


@dataclass(frozen=True)
class EgressPolicy:
    """Which hosts the HTTP layer may reach.

    Attributes:
        origins: ``(host, port)`` pairs allowed exactly (the bases' origins, ``host:port`` entries).
        hosts: hosts allowed on any port.
        suffixes: ``.example.com`` suffixes whose subdomains are allowed on any port.
    """

    origins: frozenset[tuple[str, int]]
    hosts: frozenset[str] = frozenset()
    suffixes: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """The policy of ``settings``: the bases' origins plus ``HHS_EGRESS_ALLOW_HOSTS``.

        Raises:
            ConfigurationError: a base is not an http(s) URL with a host, or an allow-list entry
                is malformed (the message names the setting and the value).
        """
        origins: set[tuple[str, int]] = set()
        for name, value in base_settings(settings).items():
            try:
                url = URL(value.strip())
                origin = _origin(url)
            except ValueError:
                origin = None
            if origin is None:
                raise ConfigurationError(
                    f"{name}={value!r} is not an http(s) URL with a host, e.g. "
                    "https://api.example.com or http://127.0.0.1:8765/bluesky"
                )
            origins.add(origin)
        policy = cls.parse(settings.egress_allow_hosts)
        return cls(
            origins=frozenset(origins | policy.origins),
            hosts=policy.hosts,
            suffixes=policy.suffixes,
        )

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EgressPolicy:
        """A policy of ``HHS_EGRESS_ALLOW_HOSTS`` entries alone.

        Raises:
            ConfigurationError: an entry is a URL, has a path, or its port is not a number.
        """
        origins: set[tuple[str, int]] = set()
        hosts: set[str] = set()
        suffixes: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            problem = ""
            if "://" in entry or "/" in entry or "@" in entry:
                problem = "give a host name, not a URL"
            else:
                try:
                    parts = urlsplit(f"//{entry}")
                    host, port = _host(parts.hostname or ""), parts.port
                except ValueError:
                    host, port, problem = "", None, "the port is not a number"
                if not problem and not host:
                    problem = "there is no host name"
                if not problem and host.startswith("*."):
                    if port is not None or "*" in host[2:] or len(host) < 3:
                        problem = "a wildcard is '*.domain' without a port"
                    else:
                        suffixes.add(host[1:])
                elif not problem and "*" in host:
                    problem = "'*' may only open an entry, as in '*.example.com'"
                elif not problem:
                    if port is None:
                        hosts.add(host)
                    else:
                        origins.add((host, port))
            if problem:
                raise ConfigurationError(
                    f"HHS_EGRESS_ALLOW_HOSTS entry {entry!r}: {problem}; entries are host, "
                    "host:port or *.domain, comma separated (see docs/operations/edge.md)"
                )
        return cls(frozenset(origins), frozenset(hosts), frozenset(suffixes))

    def allows(self, url: URL) -> bool:
        """Whether a request to ``url`` may be sent."""
        origin = _origin(url)
        if origin is None:
            return False
        host, _ = origin
        return (
            origin in self.origins
            or host in self.hosts
            or any(host.endswith(suffix) for suffix in self.suffixes)
        )

    def check(self, url: URL, *, where: str, platform: str = "", shown: str | None = None) -> None:
        """Raise unless a request to ``url`` may be sent.

        Args:
            url: the URL about to be requested.
            where: what was being fetched, for the message (``"x profile for x:hhsgov"``).
            platform: the platform slug carried by the error.
            shown: ``url`` as it may be shown (secrets removed); by default its origin only.

        Raises:
            EgressDeniedError: the scheme is not http(s) or the host is not allowed.
        """
        if self.allows(url):
            return
        origin = _origin(url)
        reason = (
            f"host {origin[0]} port {origin[1]} is not on the outbound allow-list"
            if origin is not None
            else f"scheme {url.scheme or '(none)'!r} is not http(s)"
        )
        raise EgressDeniedError(
            f"{where}: refused to request {shown or _shown_origin(url)}: {reason}. Requests go "
            "only to the hosts of the HHS_*_API_BASE settings and HHS_EGRESS_ALLOW_HOSTS; if "
            "this host is meant to be reached, set the platform's base or add it there "
            "(docs/operations/edge.md)",
            platform=platform,
        )

    def describe(self) -> list[str]:
        """The allowed entries as text, sorted (``host:port``, ``host:*``, ``*.domain``)."""
        return sorted(
            [f"{_bracket(h)}:{p}" for h, p in self.origins]
            + [f"{_bracket(h)}:*" for h in self.hosts]
            + [f"*{s}" for s in self.suffixes]
        )


def _origin(url: URL) -> tuple[str, int] | None:
    """``(host, port)`` of an http(s) URL; None for any other scheme or without a host."""
    scheme = (url.scheme or "").lower()
    if scheme not in SCHEMES or not url.raw_host:
        return None
    return _host(url.raw_host), url.explicit_port or _DEFAULT_PORTS[scheme]


def _shown_origin(url: URL) -> str:
    try:
        return str(url.origin())
    except ValueError:
        return f"a {url.scheme or 'relative'} URL"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
