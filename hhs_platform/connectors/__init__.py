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
from hhs_platform.connectors.facebook import FacebookConnector
from hhs_platform.connectors.flickr import FlickrConnector
from hhs_platform.connectors.instagram import InstagramConnector
from hhs_platform.connectors.linkedin import LinkedInConnector
from hhs_platform.connectors.mastodon import MastodonConnector, TruthSocialConnector
from hhs_platform.connectors.reddit import RedditConnector
from hhs_platform.connectors.threads import ThreadsConnector
from hhs_platform.connectors.x import XConnector
from hhs_platform.connectors.youtube import YouTubeConnector
from hhs_platform.errors import ConfigurationError

#: Every connector, by the platform slug used in the registry and the tables.
CONNECTORS: dict[str, type[Connector]] = {
    c.platform: c for c in (BlueskyConnector, YouTubeConnector)
}
CONNECTORS[XConnector.platform] = XConnector
CONNECTORS[FacebookConnector.platform] = FacebookConnector
CONNECTORS[InstagramConnector.platform] = InstagramConnector
CONNECTORS[MastodonConnector.platform] = MastodonConnector
CONNECTORS[TruthSocialConnector.platform] = TruthSocialConnector
CONNECTORS[RedditConnector.platform] = RedditConnector
CONNECTORS[ThreadsConnector.platform] = ThreadsConnector
CONNECTORS[LinkedInConnector.platform] = LinkedInConnector
CONNECTORS[FlickrConnector.platform] = FlickrConnector


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
