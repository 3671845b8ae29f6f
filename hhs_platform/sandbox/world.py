"""The deterministic simulated world: accounts, posts, counters over time, ground truth."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from hhs_platform.sandbox import ids
from hhs_platform.sandbox.clock import DEFAULT_EPOCH, SimClock
from hhs_platform.sandbox.formats import round_3_significant
from hhs_platform.sandbox.model import REPOST, Account, Post, Repost
from hhs_platform.sandbox.platforms import ALL_METRICS, PLATFORMS

SUPPORTED_PLATFORMS = tuple(PLATFORMS)
__all__ = [
    "ACCOUNTS_SCHEMA",
    "DELETED_SCHEMA",
    "PLANTED_KINDS",
    "POSTS_SCHEMA",
    "SUPPORTED_PLATFORMS",
    "Planted",
    "RegistryInput",
    "World",
    "round_3_significant",
    "truth_from_json",
    "truth_to_json",
]

ACCOUNTS_SCHEMA: dict[str, Any] = {
    "platform": pl.Utf8,
    "account_id": pl.Utf8,
    "handle": pl.Utf8,
    "followers": pl.Int64,
    "following": pl.Int64,
    "posts_count": pl.Int64,
}
POSTS_SCHEMA: dict[str, Any] = {
    "platform": pl.Utf8,
    "post_id": pl.Utf8,
    "account_id": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
    "post_type": pl.Utf8,
    "likes": pl.Int64,
    "reposts": pl.Int64,
    "replies": pl.Int64,
    "quotes": pl.Int64,
    "views": pl.Int64,
}
#: Posts deleted by the truth's instant (``World.truth()["deleted"]``); never in ``posts``.
DELETED_SCHEMA: dict[str, Any] = {
    "platform": pl.Utf8,
    "post_id": pl.Utf8,
    "account_id": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
    "deleted_at": pl.Datetime("us", "UTC"),
}
RegistryInput = pl.DataFrame | Iterable[Mapping[str, Any]]

#: Follower figures grow from this instant (any fixed instant works; it must not move).
_FIGURES_ANCHOR = DEFAULT_EPOCH.timestamp()
#: Deletions happen between these many seconds after publication (most of them early).
_DELETE_MIN_S, _DELETE_SPAN_S = 600.0, 14 * 86400.0
#: What an edit appends (appending keeps the text's facets and byte offsets valid).
_EDIT_NOTES = (
    "\n\nUpdate: this post has been corrected.",
    "\n\nUpdated with the latest guidance.",
    "\n\nEdit: link fixed.",
    " (updated)",
)


def _rows(accounts: RegistryInput, platforms: Iterable[str]) -> list[dict[str, str | None]]:
    raw = accounts.to_dicts() if isinstance(accounts, pl.DataFrame) else list(accounts)
    seen: set[tuple[str, str]] = set()
    rows: list[dict[str, str | None]] = []
    for r in raw:
        platform = str(r.get("platform") or "").lower()
        handle = str(r.get("handle") or "")
        if platform not in platforms or not handle or (platform, handle) in seen:
            continue
        seen.add((platform, handle))
        rows.append({k: (None if v is None else str(v)) for k, v in r.items()})
    # Generation order must not depend on the registry's row order.
    return sorted(rows, key=lambda r: (str(r["platform"]), str(r["handle"])))


#: What ``Planted`` can plant, as the anomaly detector names it.
PLANTED_KINDS = (
    "follower_jump",
    "follower_drop",
    "engagement_spike",
    "engagement_collapse",
    "posting_gap",
)


@dataclass(frozen=True)
class Planted:
    """An anomaly planted in the world on one account (``platform`` and registry ``handle``).

    * ``follower_jump`` / ``follower_drop``: from ``day`` (UTC midnight) on, followers are
      multiplied by ``1 + size`` / ``1 - size`` (``size=0.05``: 5% more / fewer);
    * ``engagement_spike`` / ``engagement_collapse``: the counters of the posts published on
      ``day`` grow towards ``size`` times their values (e.g. 20 / 0.05);
    * ``posting_gap``: the account publishes nothing for ``size`` days from ``day`` (its posts and
      reposts of those days, and any post replying to, quoting or reposting them, never exist).
    """

    kind: str
    platform: str
    handle: str
    day: date
    size: float


class World:
    """Seeded accounts and posts whose counters grow with the clock; the source of ground truth.

    Everything derives from ``(seed, platform, handle)`` through stable hashes, so the same
    registry and seed give byte-identical payloads. Posts exist from ``history_days`` before the
    clock's epoch to ``future_days`` after it and become visible once the clock passes them.
    """

    def __init__(
        self,
        accounts: RegistryInput,
        *,
        seed: int = 7,
        clock: SimClock | None = None,
        history_days: int = 60,
        future_days: int = 30,
        tick_seconds: int = 3600,
        posts_per_day: float = 1.0,
        platforms: Iterable[str] | None = None,
        deletion_rate: float = 0.0,
        edit_rate: float = 0.0,
        planted: Iterable[Planted] = (),
    ) -> None:
        """Build the world.

        Args:
            accounts: registry rows (the ``load_registry()`` DataFrame or dicts with at least
                platform, handle, platform_id, agency); rows on platforms the sandbox does not
                serve are ignored.
            seed: the world's seed.
            clock: the simulated clock (default: frozen at ``DEFAULT_EPOCH``).
            history_days: days of posts before the clock's epoch.
            future_days: days of posts after the epoch, appearing as the clock moves.
            tick_seconds: counters are constant within a tick of this length.
            posts_per_day: multiplier on every account's posting rate (for benchmarks).
            platforms: build only these platforms' accounts (default: every platform the
                sandbox serves, ``SUPPORTED_PLATFORMS``); e.g. the ones a pipeline collects.
            deletion_rate: share of posts their author deletes, between 10 minutes and 14 days
                after publication (default 0: the world never changes, payloads as before).
                Posts that other posts reply to, quote or repost are never deleted, so no
                served payload refers to a deleted post.
            edit_rate: share of posts edited within the platform's ``edit_window_s`` (X: an
                hour; none on Bluesky); an edit appends a note to the text.
            planted: anomalies to plant (see ``Planted``), e.g. for the anomaly detector's tests.
        """
        if tick_seconds <= 0:
            raise ValueError(f"tick_seconds must be positive, got {tick_seconds}")
        for name, rate in (("deletion_rate", deletion_rate), ("edit_rate", edit_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a share in [0, 1], got {rate}")
        self.deletion_rate = deletion_rate
        self.edit_rate = edit_rate
        self.seed = seed
        self.clock = clock or SimClock()
        self.tick_seconds = tick_seconds
        # Whole days from a midnight, so each calendar day holds the same posts in every world.
        midnight = self.clock.epoch.replace(hour=0, minute=0, second=0, microsecond=0)
        self.start = midnight - timedelta(days=history_days)
        self.end = midnight + timedelta(days=future_days)
        self.accounts: list[Account] = []
        taken: dict[str, set[str]] = {p: set() for p in PLATFORMS}
        chosen = set(SUPPORTED_PLATFORMS if platforms is None else platforms)
        unknown = chosen - set(SUPPORTED_PLATFORMS)
        if unknown:
            raise ValueError(
                f"the sandbox has no platform(s) {sorted(unknown)}; it serves {SUPPORTED_PLATFORMS}"
            )
        for row in _rows(accounts, chosen):
            platform = str(row["platform"])
            make = PLATFORMS[platform].make_account
            self.accounts.append(make(row, seed, taken[platform]))
        self._by_id = {a.account_id: a for a in self.accounts}
        self._lookup: dict[tuple[str, str, str], Account] = {}
        for a in self.accounts:
            # Ids are case-sensitive (YouTube's are mixed case); handles and user names are not.
            self._lookup[(a.platform, "id", a.account_id)] = a
            self._lookup[(a.platform, "handle", a.handle.lower())] = a
            if a.username:
                self._lookup[(a.platform, "username", a.username.lower())] = a
        self.posts: dict[str, Post] = {}
        self.reposts: dict[str, Repost] = {}
        days = history_days + future_days
        for platform, spec in PLATFORMS.items():
            accs = [a for a in self.accounts if a.platform == platform]
            for item in spec.generate(accs, seed, self.start, days, posts_per_day) if accs else ():
                owner = self._by_id[item.account_id]
                owner.feed.append(item)
                if isinstance(item, Repost):
                    self.reposts[item.uri] = item
                else:
                    self.posts[item.post_id] = item
                    owner.posts.append(item)
        self._planted_followers: dict[str, list[tuple[float, float]]] = {}
        for plant in planted:
            self._plant(plant)
        for a in self.accounts:
            a.index()
        #: Accounts with at least one deleted post (their feeds are filtered, others sliced).
        self._deleting: set[str] = set()
        self._change_posts()

    def _change_posts(self) -> None:
        """Choose, from stable hashes, the posts that get deleted or edited and when."""
        if not self.deletion_rate and not self.edit_rate:
            return
        referenced: set[str] = set()
        for post in self.posts.values():
            referenced.update(r for r in (post.reply_parent, post.reply_root, post.quote_of) if r)
        referenced.update(r.subject for r in self.reposts.values())
        for post in self.posts.values():
            window = PLATFORMS[post.platform].edit_window_s
            if window and ids.unit(self.seed, post.post_id, "edit") < self.edit_rate:
                # Whole seconds, so that the instant round-trips through datetime exactly.
                offset = 60 + ids.unit(self.seed, post.post_id, "edit-at") * max(0.0, window - 120)
                post.edited_ts = float(math.ceil(post.ts + offset))
                note = _EDIT_NOTES[int(ids.unit(self.seed, post.post_id, "note") * 4)]
                post.edited_text = post.text + note
            if post.post_id in referenced:
                continue
            if ids.unit(self.seed, post.post_id, "delete") < self.deletion_rate:
                delay = _DELETE_MIN_S + ids.unit(self.seed, post.post_id, "delete-at") ** 2 * (
                    _DELETE_SPAN_S
                )
                post.deleted_ts = float(math.ceil(post.ts + delay))
                self._deleting.add(post.account_id)

    def _plant(self, plant: Planted) -> None:
        """Alter the generated account, posts and counters as ``plant`` says."""
        if plant.kind not in PLANTED_KINDS:
            raise ValueError(f"unknown planted kind {plant.kind!r}; one of {PLANTED_KINDS}")
        key = plant.handle.lower().lstrip("@")
        account = next(
            (
                a
                for a in self.accounts
                if a.platform == plant.platform
                and key in (a.registry_handle.lower(), a.handle.lower())
            ),
            None,
        )
        if account is None:
            raise ValueError(
                f"no {plant.platform} account {plant.handle!r} in the world to plant in"
            )
        start = datetime(plant.day.year, plant.day.month, plant.day.day, tzinfo=UTC).timestamp()
        if plant.kind.startswith("follower_"):
            factor = 1 + plant.size if plant.kind == "follower_jump" else 1 - plant.size
            self._planted_followers.setdefault(account.account_id, []).append((start, factor))
        elif plant.kind.startswith("engagement_"):
            for post in account.posts:
                if start <= post.ts < start + 86400:
                    post.finals = {m: int(v * plant.size) for m, v in post.finals.items()}
        else:
            self._unpublish(account, start, start + plant.size * 86400)

    def _unpublish(self, account: Account, start: float, end: float) -> None:
        """Remove the account's posts and reposts in [start, end) and whatever points at them."""
        gone = {p.post_id for p in account.posts if start <= p.ts < end}
        grown = True
        while grown:  # replies to replies, quotes of quotes...
            more = {
                p.post_id
                for p in self.posts.values()
                if p.post_id not in gone
                and any(r in gone for r in (p.reply_parent, p.reply_root, p.quote_of) if r)
            }
            gone |= more
            grown = bool(more)
        reposts = {
            r.uri
            for r in self.reposts.values()
            if r.subject in gone or (r.account_id == account.account_id and start <= r.ts < end)
        }
        for post_id in gone:
            post = self.posts.pop(post_id)
            self._unreference(post.reply_parent, "replies", post.ts)
            self._unreference(post.quote_of, "quotes", post.ts)
        for uri in reposts:
            repost = self.reposts.pop(uri)
            self._unreference(repost.subject, "reposts", repost.ts)
        for a in self.accounts:
            a.posts = [p for p in a.posts if p.post_id not in gone]
            a.feed = [
                e
                for e in a.feed
                if (e.uri not in reposts if isinstance(e, Repost) else e.post_id not in gone)
            ]

    def _unreference(self, target: str | None, metric: str, ts: float) -> None:
        """The target post counts one reference (reply, quote, repost) at ``ts`` less."""
        refs = self.posts[target].refs.get(metric, []) if target in self.posts else []
        if ts in refs:
            refs.remove(ts)

    @classmethod
    def from_registry(cls, path: str | Path | None = None, **kwargs: Any) -> World:
        """Build the world from a registry CSV (default: the shipped one)."""
        from hhs_platform.registry import load_registry

        return cls(load_registry(path), **kwargs)

    # -- lookups ---------------------------------------------------------------------------------

    def account(self, platform: str, key: str, by: str = "id") -> Account | None:
        """Find an account by ``id`` (DID / channel id), ``handle`` or ``username`` (YouTube)."""
        return self._lookup.get((platform, by, key if by == "id" else key.lower().lstrip("@")))

    def account_by_id(self, account_id: str) -> Account:
        """The account with this DID / channel id (KeyError if none)."""
        return self._by_id[account_id]

    def platform_accounts(self, platform: str) -> list[Account]:
        """The accounts on one platform, in generation order."""
        return [a for a in self.accounts if a.platform == platform]

    def now(self) -> datetime:
        """The clock's current instant."""
        return self.clock.now()

    def visible_feed(self, account: Account, at: datetime) -> list[Post | Repost]:
        """The account's own posts and reposts created by ``at`` and not deleted, oldest first."""
        ts = at.timestamp()
        feed = account.feed[: bisect.bisect_right(account.feed_ts, ts)]
        if account.account_id not in self._deleting:
            return feed
        return [e for e in feed if isinstance(e, Repost) or not _deleted(e, ts)]

    def visible_posts(self, account: Account, at: datetime) -> list[Post]:
        """The account's own posts (no reposts) created by ``at`` and not deleted, oldest first."""
        ts = at.timestamp()
        posts = account.posts[: bisect.bisect_right(account.post_ts, ts)]
        if account.account_id not in self._deleting:
            return posts
        return [p for p in posts if not _deleted(p, ts)]

    def is_visible(self, post: Post, at: datetime) -> bool:
        """Whether ``post`` exists at ``at`` (published and not deleted)."""
        ts = at.timestamp()
        return post.ts <= ts and not _deleted(post, ts)

    def is_deleted(self, post: Post, at: datetime) -> bool:
        """Whether ``post`` was deleted by ``at`` (its lookups answer as for a deleted item)."""
        return _deleted(post, at.timestamp())

    def deleted_at(self, post: Post) -> datetime | None:
        """When ``post`` is (or will be) deleted; None if never."""
        return None if post.deleted_ts is None else datetime.fromtimestamp(post.deleted_ts, UTC)

    def text(self, post: Post, at: datetime) -> str:
        """The post's text (YouTube: description) as served at ``at``: edited once edited."""
        if post.edited_ts is not None and post.edited_ts <= at.timestamp():
            return post.edited_text
        return post.text

    def edited_at(self, post: Post, at: datetime) -> datetime | None:
        """When ``post`` was last edited, if by ``at``; None otherwise."""
        if post.edited_ts is None or post.edited_ts > at.timestamp():
            return None
        return datetime.fromtimestamp(post.edited_ts, UTC)

    # -- counters --------------------------------------------------------------------------------

    def tick(self, at: datetime) -> float:
        """``at`` floored to the tick, as a unix timestamp: counters change only at tick edges."""
        ts = at.timestamp()
        return math.floor(ts / self.tick_seconds) * self.tick_seconds

    def counter(self, post: Post, metric: str, at: datetime) -> int:
        """One counter of ``post`` at ``at``: monotone non-decreasing in ``at``."""
        tq = self.tick(at)
        age = tq - post.ts
        value = 0
        if age > 0:
            value = math.floor(post.finals.get(metric, 0) * (1.0 - math.exp(-age / post.tau)))
        refs = post.refs.get(metric)
        if refs:
            value += bisect.bisect_right(refs, tq)
        return value

    def followers(self, account: Account, at: datetime) -> int:
        """The true follower/subscriber count at ``at`` (slow growth plus small daily noise)."""
        tq = self.tick(at)
        # Anchored to a fixed instant, not the window, so every world agrees on a given time.
        days = (tq - _FIGURES_ANCHOR) / 86400
        amp = max(1.0, account.followers0 * 0.0004)
        noise = (ids.unit(self.seed, account.account_id, "followers", math.floor(days)) - 0.5) * amp
        value = max(0, int(account.followers0 * math.exp(account.growth_per_day * days) + noise))
        for since, factor in self._planted_followers.get(account.account_id, ()):
            if tq >= since:
                value = int(value * factor)
        return value

    def served_followers(self, account: Account, at: datetime) -> int | None:
        """The follower figure the platform serves (YouTube: 3 significant figures or hidden)."""
        return PLATFORMS[account.platform].served_followers(self, account, at)

    def following(self, account: Account, at: datetime) -> int | None:
        """The following figure the platform serves at ``at``; None where it has none."""
        return PLATFORMS[account.platform].following(self, account, at)

    def growing_following(self, account: Account, at: datetime) -> int:
        """``follows0`` plus slow growth since a fixed instant (Bluesky, X, Mastodon)."""
        days = max(0.0, (self.tick(at) - _FIGURES_ANCHOR) / 86400)
        return account.follows0 + int(days * account.follows_per_day)

    def posts_count(self, account: Account, at: datetime) -> int:
        """The served post count at ``at``: own posts (replies and quotes included), or videos;
        reposts too where the platform counts them (X ``tweet_count``, Mastodon)."""
        with_reposts = PLATFORMS[account.platform].reposts_in_posts_count
        if account.account_id in self._deleting:
            visible = self.visible_feed if with_reposts else self.visible_posts
            return len(visible(account, at))
        if with_reposts:
            return bisect.bisect_right(account.feed_ts, at.timestamp())
        return bisect.bisect_right(account.post_ts, at.timestamp())

    def channel_views(self, account: Account, at: datetime) -> int:
        """A channel's total views: the sum over its visible videos."""
        return sum(self.counter(p, "views", at) for p in self.visible_posts(account, at))

    # -- ground truth ----------------------------------------------------------------------------

    def truth(self, at: datetime | None = None) -> dict[str, pl.DataFrame]:
        """What the platforms serve at ``at`` (default now): ``accounts``, ``posts``, ``deleted``.

        ``posts`` holds only what is served (deleted posts are gone from it); ``deleted`` lists
        the posts deleted by ``at`` (platform, post_id, account_id, created_at, deleted_at),
        empty unless the world was built with a ``deletion_rate``.
        """
        at = at or self.now()
        acc_rows = []
        post_rows = []
        deleted_rows = []
        ts = at.timestamp()
        for post in self.posts.values():
            if post.deleted_ts is not None and post.ts <= ts and _deleted(post, ts):
                deleted_rows.append(
                    {
                        "platform": post.platform,
                        "post_id": post.post_id,
                        "account_id": post.account_id,
                        "created_at": post.created_at,
                        "deleted_at": self.deleted_at(post),
                    }
                )
        for a in self.accounts:
            acc_rows.append(
                {
                    "platform": a.platform,
                    "account_id": a.account_id,
                    "handle": a.registry_handle,
                    "followers": self.served_followers(a, at),
                    "following": self.following(a, at),
                    "posts_count": self.posts_count(a, at)
                    if PLATFORMS[a.platform].serves_posts_count
                    else None,
                }
            )
            metrics = PLATFORMS[a.platform].metrics
            for e in self.visible_feed(a, at):
                if isinstance(e, Repost):
                    post_rows.append(
                        {
                            "platform": a.platform,
                            "post_id": e.uri,
                            "account_id": a.account_id,
                            "created_at": e.created_at,
                            "post_type": REPOST,
                            **dict.fromkeys(ALL_METRICS),
                        }
                    )
                    continue
                row: dict[str, Any] = {
                    "platform": a.platform,
                    "post_id": e.post_id,
                    "account_id": a.account_id,
                    "created_at": e.created_at,
                    "post_type": e.kind,
                }
                hidden = PLATFORMS[a.platform].hidden_metric
                for m in ALL_METRICS:
                    served = m in metrics and not (hidden and hidden(e.post_id, m))
                    row[m] = self.counter(e, m, at) if served else None
                post_rows.append(row)
        accounts = pl.DataFrame(acc_rows, schema=ACCOUNTS_SCHEMA, orient="row")
        posts = pl.DataFrame(post_rows, schema=POSTS_SCHEMA, orient="row")
        deleted = pl.DataFrame(deleted_rows, schema=DELETED_SCHEMA, orient="row")
        return {
            "accounts": accounts.sort("platform", "account_id"),
            "posts": posts.sort("platform", "account_id", "created_at", "post_id"),
            "deleted": deleted.sort("platform", "account_id", "deleted_at", "post_id"),
        }


def _deleted(post: Post, ts: float) -> bool:
    return post.deleted_ts is not None and post.deleted_ts <= ts


def truth_to_json(truth: Mapping[str, pl.DataFrame], at: datetime) -> dict[str, Any]:
    """The JSON form of ``World.truth()`` served at ``/_sandbox/truth`` (ISO-8601 timestamps)."""
    out: dict[str, Any] = {"at": at.isoformat()}
    for name, df in truth.items():
        rows = df.to_dicts()
        for r in rows:
            for k, v in r.items():
                if isinstance(v, datetime):
                    r[k] = v.isoformat()
        out[name] = rows
    return out


def truth_from_json(payload: Mapping[str, Any]) -> dict[str, pl.DataFrame]:
    """Rebuild the ``World.truth()`` tables, with their exact dtypes, from the endpoint's JSON."""
    accounts = pl.DataFrame(payload["accounts"], schema=ACCOUNTS_SCHEMA, orient="row")
    posts = pl.DataFrame(
        [{**r, "created_at": datetime.fromisoformat(r["created_at"])} for r in payload["posts"]],
        schema=POSTS_SCHEMA,
        orient="row",
    )
    deleted = pl.DataFrame(
        [
            {
                **r,
                "created_at": datetime.fromisoformat(r["created_at"]),
                "deleted_at": datetime.fromisoformat(r["deleted_at"]),
            }
            for r in payload.get("deleted", [])
        ],
        schema=DELETED_SCHEMA,
        orient="row",
    )
    return {"accounts": accounts, "posts": posts, "deleted": deleted}
