"""The simulated world's records: accounts, posts, reposts and embeds (plain data, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hhs_platform.sandbox.text import Facet

# Truth post_type values.
ORIGINAL, REPLY, QUOTE, REPOST = "original", "reply", "quote", "repost"


@dataclass
class Account:
    """One simulated account; ``account_id`` is the platform's id (DID, UC channel id, user id)."""

    platform: str
    registry_handle: str
    handle: str
    account_id: str
    agency: str
    agency_name: str
    display_name: str
    description: str
    domain: str
    created_at: datetime
    followers0: int
    growth_per_day: float
    follows0: int = 0
    follows_per_day: float = 0.0
    hidden_followers: bool = False
    username: str | None = None
    # Mastodon and Truth Social: the instance serving the account.
    instance: str = ""
    avatar_cid: str = ""
    banner_cid: str = ""
    # Filled in by the generators: own posts and the feed (own posts + reposts), both oldest first.
    posts: list[Post] = field(default_factory=list, repr=False)
    feed: list[Post | Repost] = field(default_factory=list, repr=False)
    post_ts: list[float] = field(default_factory=list, repr=False)
    feed_ts: list[float] = field(default_factory=list, repr=False)

    def index(self) -> None:
        """Sort the post lists and build the timestamp indexes used for visibility lookups."""
        self.posts.sort(key=lambda p: p.ts)
        self.feed.sort(key=lambda e: e.ts)
        self.post_ts = [p.ts for p in self.posts]
        self.feed_ts = [e.ts for e in self.feed]


@dataclass(frozen=True)
class Embed:
    """Media or a link card attached to a post: kind is images, external or video."""

    kind: str
    blobs: tuple[str, ...]
    sizes: tuple[int, ...]
    aspect: tuple[int, int]
    alts: tuple[str, ...] = ()
    uri: str = ""
    title: str = ""
    description: str = ""


@dataclass
class Post:
    """A post (Bluesky) or video (YouTube) with the final values its counters grow towards."""

    platform: str
    post_id: str
    account_id: str
    created_at: datetime
    ts: float
    kind: str
    text: str
    cid: str = ""
    facets: tuple[Facet, ...] = ()
    langs: tuple[str, ...] = ("en",)
    embed: Embed | None = None
    reply_parent: str | None = None
    reply_root: str | None = None
    quote_of: str | None = None
    indexed_delay_ms: int = 0
    # Counter model: value(t) = final * (1 - exp(-age / tau)) + world references seen by t.
    finals: dict[str, int] = field(default_factory=dict)
    tau: float = 86400.0
    refs: dict[str, list[float]] = field(default_factory=dict)
    # YouTube only.
    title: str = ""
    tags: tuple[str, ...] = ()
    duration_s: int = 0
    definition: str = "hd"
    caption: bool = False
    category_id: str = "27"
    # Changes over time (set by the world; None: never). See ``World`` deletion_rate/edit_rate.
    deleted_ts: float | None = None
    edited_ts: float | None = None
    edited_text: str = ""


@dataclass
class Repost:
    """A repost: ``account_id`` reposted ``subject`` (a post id) at ``created_at``.

    ``uri`` is the repost's own id: the repost record's at:// URI (Bluesky), the retweet's tweet
    id (X), the reblog's wrapper status id (Mastodon); it is the truth row's ``post_id``.
    """

    uri: str
    cid: str
    account_id: str
    subject: str
    created_at: datetime
    ts: float
