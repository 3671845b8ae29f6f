"""The simulated platforms: one module each, registered in ``PLATFORMS`` (one line per platform)."""

from __future__ import annotations

from typing import Any

from hhs_platform.sandbox.platforms.base import ALL_METRICS, Platform, Row
from hhs_platform.sandbox.platforms.bluesky import PLATFORM as BLUESKY
from hhs_platform.sandbox.platforms.facebook import PLATFORM as FACEBOOK
from hhs_platform.sandbox.platforms.flickr import PLATFORM as FLICKR
from hhs_platform.sandbox.platforms.instagram import PLATFORM as INSTAGRAM
from hhs_platform.sandbox.platforms.linkedin import PLATFORM as LINKEDIN
from hhs_platform.sandbox.platforms.mastodon import MASTODON, TRUTHSOCIAL
from hhs_platform.sandbox.platforms.reddit import PLATFORM as REDDIT
from hhs_platform.sandbox.platforms.threads import PLATFORM as THREADS
from hhs_platform.sandbox.platforms.x import PLATFORM as X
from hhs_platform.sandbox.platforms.youtube import PLATFORM as YOUTUBE

#: Every platform the sandbox serves, in the order the world generates them.
PLATFORMS: dict[str, Platform] = {p.name: p for p in (BLUESKY, YOUTUBE, X, MASTODON, TRUTHSOCIAL)}
PLATFORMS[REDDIT.name] = REDDIT
PLATFORMS[FLICKR.name] = FLICKR
PLATFORMS[FACEBOOK.name] = FACEBOOK
PLATFORMS[INSTAGRAM.name] = INSTAGRAM
PLATFORMS[THREADS.name] = THREADS
PLATFORMS[LINKEDIN.name] = LINKEDIN


def config_defaults() -> dict[str, Any]:
    """Every platform's settings with their defaults (the fields of ``SandboxConfig``)."""
    out: dict[str, Any] = {}
    for p in PLATFORMS.values():
        out.update(p.config)
    return out


__all__ = ["ALL_METRICS", "PLATFORMS", "Platform", "Row", "config_defaults"]
