"""The platform connectors, by platform slug."""

from __future__ import annotations

from hhs_platform.connectors.base import (
    AccountRef,
    Capabilities,
    Connector,
    ParsedRows,
    RawResponse,
)
from hhs_platform.connectors.bluesky import BlueskyConnector
from hhs_platform.connectors.youtube import YouTubeConnector
from hhs_platform.errors import ConfigurationError

#: Every connector, by the platform slug used in the registry and the tables.
CONNECTORS: dict[str, type[Connector]] = {
    c.platform: c for c in (BlueskyConnector, YouTubeConnector)
}


def get_connector(platform: str) -> type[Connector]:
    """The connector class of ``platform``.

    Raises:
        ConfigurationError: no connector exists for the platform (the message lists those that do).
    """
    try:
        return CONNECTORS[platform.strip().lower()]
    except KeyError:
        raise ConfigurationError(
            f"no connector for platform {platform!r}; supported: {', '.join(sorted(CONNECTORS))}"
        ) from None


__all__ = [
    "CONNECTORS",
    "AccountRef",
    "BlueskyConnector",
    "Capabilities",
    "Connector",
    "ParsedRows",
    "RawResponse",
    "YouTubeConnector",
    "get_connector",
]
