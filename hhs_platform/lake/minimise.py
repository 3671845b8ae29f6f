"""Minimise third-party personal data in silver: the people posts name who are not registry accounts.

Official accounts post about and to people: an ``@someone`` in a reply, a mentions list, a
repost of a private person's post. :class:`MentionPolicy` (``HHS_PRIVACY_MENTIONS``) decides
what silver keeps of them:

- ``keep`` (the default): everything verbatim, as the platform served it.
- ``pseudonymise``: each third-party handle or id becomes ``anon-<16 hex>``, an HMAC-SHA256 of
  ``<platform>:<handle>`` (lowercase, without ``@``) under ``HHS_PRIVACY_PSEUDONYM_KEY``. The same
  person gets the same pseudonym on every post, so counts by person still work; without the key
  nobody can tell who it is (an unkeyed hash of a handle is reversed by hashing candidate handles).
- ``drop``: third-party handles become ``[removed]`` in text and the mentions list loses them.

What is rewritten in ``silver/posts``: ``@handle`` (and Reddit ``u/name``) in ``text`` and
``title``, the ``mentions`` list, and for a post by a third party (a repost or quote of their
post) ``author_id`` and ``url`` (whose path names the author; set to null). Handles and ids of
registry accounts (the registry file, ``silver/accounts`` and the batch's own accounts) are
never changed. ``silver/post_features.mentions`` is derived from the rewritten text, so it holds
the same pseudonyms. Bronze keeps the responses as received (covered by retention and
``hhs forget``/``hhs privacy forget-person``); see docs/privacy.md.

:func:`minimise_batch` runs in ``write_silver`` on every batch; :func:`minimise_lake` applies
the policy to what silver already holds (after switching from ``keep``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import polars as pl

from hhs_platform.errors import ConfigurationError, RegistryError
from hhs_platform.lake.store import Lake
from hhs_platform.settings import Settings, get_settings
from hhs_platform.transforms.normalize import SilverBatch

log = logging.getLogger(__name__)

Mode = Literal["keep", "pseudonymise", "drop"]
MODES: tuple[str, ...] = get_args(Mode)
#: What a dropped (or forgotten) handle becomes.
REMOVED = "[removed]"
PSEUDONYM_PREFIX = "anon-"
#: Shortest pseudonym key accepted (characters).
MIN_KEY_LENGTH = 16
#: ``@handle`` as the text features read it (``hhs_platform.enrich.text.MENTION_RE``), and
#: Reddit's ``u/name``.
_AT_RE = re.compile(r"\B@([\w.\-]+)")
_REDDIT_RE = re.compile(r"(?<![\w/])(/?u/)([\w\-]+)")

#: A decision per (platform, handle): the replacement, or None to keep it.
Decide = Callable[[str, str], str | None]


def normalise(handle: str) -> str:
    """The comparable form of a handle or id: stripped, without a leading ``@``, lowercase."""
    return handle.strip().lstrip("@").lower()


@dataclass(frozen=True)
class MentionPolicy:
    """What silver keeps of third-party handles: ``keep``, ``pseudonymise`` or ``drop``."""

    mode: Mode = "keep"
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError(
                f"HHS_PRIVACY_MENTIONS={self.mode!r} is not one of {', '.join(MODES)}"
            )
        if self.mode == "pseudonymise" and (self.key is None or len(self.key) < MIN_KEY_LENGTH):
            raise ConfigurationError(
                "HHS_PRIVACY_MENTIONS=pseudonymise needs HHS_PRIVACY_PSEUDONYM_KEY, a secret of "
                f"at least {MIN_KEY_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MentionPolicy:
        """The policy of ``HHS_PRIVACY_MENTIONS`` and ``HHS_PRIVACY_PSEUDONYM_KEY``."""
        s = settings or get_settings()
        key = s.secret("privacy_pseudonym_key")
        return cls(s.privacy_mentions, key.encode() if key else None)

    def pseudonym(self, platform: str, handle: str) -> str:
        """``anon-`` and 16 hex digits of HMAC-SHA256(key, ``<platform>:<handle>``)."""
        if self.key is None:
            raise ConfigurationError("no HHS_PRIVACY_PSEUDONYM_KEY: pseudonyms cannot be made")
        msg = f"{platform.lower()}:{normalise(handle)}".encode()
        return PSEUDONYM_PREFIX + hmac.new(self.key, msg, hashlib.sha256).hexdigest()[:16]

    def decide(self, official: Mapping[str, set[str]]) -> Decide | None:
        """The per-handle decision of this policy (None for ``keep``: nothing to do)."""
        if self.mode == "keep":
            return None

        def decide(platform: str, handle: str) -> str | None:
            norm = normalise(handle)
            known = official.get(platform, set())
            if not norm or norm in known or norm.startswith(PSEUDONYM_PREFIX) or norm == REMOVED:
                return None
            if "@" in norm and norm.split("@", 1)[0] in known:  # Mastodon user@instance
                return None
            return self.pseudonym(platform, norm) if self.mode == "pseudonymise" else REMOVED

        return decide


def official_identifiers(
    lake: Lake | None = None,
    accounts: pl.DataFrame | None = None,
    registry: pl.DataFrame | None = None,
) -> dict[str, set[str]]:
    """Per platform, every handle and id of a registry account (normalised).

    From the registry rows (``handle``, ``platform_id``, ``previous_handles``), account rows
    (``account_id``, ``handle``) given, and ``silver/accounts`` of the lake.
    """
    out: dict[str, set[str]] = {}

    def add(platform: str | None, *values: str | None) -> None:
        for v in values:
            if platform and v:
                out.setdefault(platform, set()).add(normalise(v))

    frames = [accounts] if accounts is not None else []
    if lake is not None and lake.exists("silver/accounts"):
        frames.append(lake.read("silver/accounts", columns=["platform", "account_id", "handle"]))
    for df in frames:
        for r in df.select("platform", "account_id", "handle").iter_rows():
            add(*r)
    if registry is not None:
        for p, h, pid, prev in registry.select(
            "platform", "handle", "platform_id", "previous_handles"
        ).iter_rows():
            add(p, h, pid, *((prev or "").split("|")))
    return out


def rewrite_text(text: str | None, platform: str, decide: Decide) -> str | None:
    """The text with each ``@handle`` (and ``u/name``) the decision replaces, replaced."""
    if not text or ("@" not in text and "u/" not in text):
        return text

    def at(m: re.Match[str]) -> str:
        handle = m.group(1).rstrip(".-")
        new = decide(platform, handle)
        return m.group(0) if new is None else "@" + new + m.group(1)[len(handle) :]

    def reddit(m: re.Match[str]) -> str:
        new = decide(platform, m.group(2))
        return m.group(0) if new is None else m.group(1) + new

    return _REDDIT_RE.sub(reddit, _AT_RE.sub(at, text))


def rewrite_list(values: list[str] | None, platform: str, decide: Decide) -> list[str] | None:
    """A mentions list with each entry the decision replaces replaced; ``[removed]`` ones dropped."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        new = decide(platform, v)
        if new is None:
            out.append(v)
        elif new != REMOVED:
            out.append(new)
    return out


def rewrite_posts(posts: pl.DataFrame, decide: Decide) -> pl.DataFrame:
    """``silver/posts`` rows with third-party handles rewritten (see the module doc)."""
    if posts.is_empty():
        return posts
    rows = posts.select("platform", "account_id", "author_id", "text", "title", "mentions", "url")
    texts, titles, mentions, authors, urls = [], [], [], [], []
    for platform, account, author, text, title, ments, url in rows.iter_rows():
        texts.append(rewrite_text(text, platform, decide))
        titles.append(rewrite_text(title, platform, decide))
        mentions.append(rewrite_list(ments, platform, decide))
        new_author = None if author == account else decide(platform, author)
        authors.append(author if new_author is None else new_author)
        urls.append(url if new_author is None else None)
    return posts.with_columns(
        text=pl.Series(texts, dtype=pl.Utf8),
        title=pl.Series(titles, dtype=pl.Utf8),
        mentions=pl.Series(mentions, dtype=pl.List(pl.Utf8)),
        author_id=pl.Series(authors, dtype=pl.Utf8),
        url=pl.Series(urls, dtype=pl.Utf8),
    )


def rewrite_features(features: pl.DataFrame, decide: Decide) -> pl.DataFrame:
    """``silver/post_features`` rows with third-party entries of ``mentions`` rewritten."""
    if features.is_empty():
        return features
    mentions = [
        rewrite_list(m, p, decide) for p, m in features.select("platform", "mentions").iter_rows()
    ]
    return features.with_columns(mentions=pl.Series(mentions, dtype=pl.List(pl.Utf8)))


def changed_rows(before: pl.DataFrame, after: pl.DataFrame, cols: Iterable[str]) -> pl.DataFrame:
    """The rows of ``after`` whose ``cols`` differ from the same row of ``before``."""
    if after.is_empty():
        return after
    conds = []
    for c in cols:
        b, a = before[c], after[c]
        if b.dtype == pl.List(pl.Utf8):
            b, a = b.list.join("\x00"), a.list.join("\x00")
            conds.append(before[c].is_null() != after[c].is_null())
        conds.append(b.ne_missing(a))
    mask = pl.DataFrame([pl.Series(f"c{i}", c) for i, c in enumerate(conds)]).select(
        pl.any_horizontal(pl.all())
    )
    return after.filter(mask.to_series())


def _registry(settings: Settings) -> pl.DataFrame | None:
    from hhs_platform.registry import load_registry

    try:
        return load_registry(settings.accounts_file)
    except RegistryError as exc:  # the batch's and the lake's accounts still count as official
        log.warning("privacy policy: registry not read (%s)", exc)
        return None


def minimise_batch(
    lake: Lake,
    batch: SilverBatch,
    policy: MentionPolicy | None = None,
    registry: pl.DataFrame | None = None,
) -> SilverBatch:
    """The batch with the policy applied to its ``silver/posts`` (unchanged under ``keep``).

    Args:
        lake: Its ``silver/accounts`` count as official.
        batch: Parsed silver rows; its ``silver/accounts`` count as official too.
        policy: Default: from the settings.
        registry: Registry rows that count as official; default: ``HHS_ACCOUNTS_FILE`` (or the
            shipped registry).
    """
    settings = get_settings() if policy is None or registry is None else None
    policy = policy or MentionPolicy.from_settings(settings)
    posts = batch.tables.get("silver/posts")
    if policy.mode == "keep" or posts is None or posts.is_empty():
        return batch
    if registry is None and settings is not None:
        registry = _registry(settings)
    official = official_identifiers(lake, batch.tables.get("silver/accounts"), registry)
    decide = policy.decide(official)
    assert decide is not None
    tables = {**batch.tables, "silver/posts": rewrite_posts(posts, decide)}
    return dataclasses.replace(batch, tables=tables)


def minimise_lake(
    lake: Lake,
    policy: MentionPolicy | None = None,
    registry: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Apply the policy to what ``silver/posts`` and ``silver/post_features`` hold now.

    For a lake collected under ``keep`` before the policy changed. Rows whose values change are
    merged back (a normal commit: older versions keep the old values until ``hhs maintain``
    vacuums them, or use ``purge_history``). Returns the rows rewritten per table.
    """
    settings = get_settings() if policy is None or registry is None else None
    policy = policy or MentionPolicy.from_settings(settings)
    if registry is None and settings is not None:
        registry = _registry(settings)
    decide = policy.decide(official_identifiers(lake, None, registry))
    out: dict[str, int] = {}
    if decide is None:
        return out
    for table, rewrite, cols in (
        ("silver/posts", rewrite_posts, ["text", "title", "mentions", "author_id", "url"]),
        ("silver/post_features", rewrite_features, ["mentions"]),
    ):
        if not lake.exists(table):
            continue
        before = lake.read(table)
        changed = changed_rows(before, rewrite(before, decide), cols)
        if not changed.is_empty():
            lake.merge(table, changed)
        out[table] = changed.height
    return out


__all__ = [
    "MODES",
    "PSEUDONYM_PREFIX",
    "REMOVED",
    "MentionPolicy",
    "changed_rows",
    "minimise_batch",
    "minimise_lake",
    "normalise",
    "official_identifiers",
    "rewrite_features",
    "rewrite_list",
    "rewrite_posts",
    "rewrite_text",
]
