"""What a simulated platform provides: accounts, posts, figure rules, its API and its settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hhs_platform.sandbox.model import Account, Post, Repost

if TYPE_CHECKING:
    from hhs_platform.sandbox.context import SandboxContext
    from hhs_platform.sandbox.world import World

#: A registry row as the world passes it: every value a string or None.
Row = dict[str, str | None]
#: ``(row, seed, taken_handles) -> Account``; ``taken_handles`` is private to the platform.
AccountMaker = Callable[[Row, int, set[str]], Account]
#: ``(accounts, seed, start, days, rate) -> posts and reposts``, oldest first.
Generator = Callable[[Sequence[Account], int, datetime, int, float], Sequence[Post | Repost]]
#: ``(world, account, at) -> figure`` (None: the platform serves no such figure).
FigureRule = Callable[["World", Account, datetime], "int | None"]

#: The counters a truth ``posts`` row can carry.
ALL_METRICS = ("likes", "reposts", "replies", "quotes", "views")


def exact_followers(world: World, account: Account, at: datetime) -> int | None:
    """The default follower rule: the platform serves the exact count."""
    return world.followers(account, at)


def growing_following(world: World, account: Account, at: datetime) -> int | None:
    """A following count that starts at ``follows0`` and grows slowly with the clock."""
    return world.growing_following(account, at)


def no_following(world: World, account: Account, at: datetime) -> int | None:
    """For platforms without a following figure."""
    return None


@dataclass(frozen=True)
class Platform:
    """One simulated platform: everything the world and the server need to know about it.

    Attributes:
        name: the slug; the API is mounted at ``/<name>`` and truth rows carry it.
        metrics: which of ``ALL_METRICS`` the platform serves (the rest are null in the truth).
        make_account: builds an account from a registry row.
        generate: builds every account's posts and reposts.
        create_subapp: the aiohttp sub-application serving the platform's real paths.
        config: the platform's settings and their defaults (``SandboxConfig`` fields).
        served_followers: the follower figure the platform serves.
        following: the following figure the platform serves.
        reposts_in_posts_count: whether the served post count includes reposts (X's
            ``tweet_count`` and Mastodon's ``statuses_count`` do, Bluesky's ``postsCount``
            does not).
        hidden_metric: ``(post_id, metric) -> True`` where the owner hid that counter and the
            API omits it (Instagram's hidden like counts): the truth then has null too.
        serves_posts_count: False where the API serves no post count (Reddit, Facebook pages,
            Threads, LinkedIn): the truth then has none either.
        edit_window_s: how long after publication a post can be edited (X: one hour); None
            when the platform has no edits (Bluesky). The world edits a share of posts within
            it (``World(edit_rate=...)``); every platform can delete posts.
    """

    name: str
    metrics: tuple[str, ...]
    make_account: AccountMaker
    generate: Generator
    create_subapp: Callable[[SandboxContext], web.Application]
    config: Mapping[str, Any] = field(default_factory=dict)
    served_followers: FigureRule = exact_followers
    following: FigureRule = no_following
    reposts_in_posts_count: bool = False
    edit_window_s: float | None = None
    serves_posts_count: bool = True
    hidden_metric: Callable[[str, str], bool] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.metrics) - set(ALL_METRICS)
        if unknown:
            raise ValueError(f"platform {self.name!r}: unknown metrics {sorted(unknown)}")
        foreign = [k for k in self.config if not k.startswith(self.name + "_")]
        if foreign:
            raise ValueError(f"platform {self.name!r}: settings must start with "
                             f"'{self.name}_', got {foreign}")  # fmt: skip
