"""Property tests: every connector's ``parse`` on arbitrary and mutated payloads.

Whatever a platform sends, ``parse`` returns ``ParsedRows`` and never raises; a response that gives
no rows either is a valid empty answer or reports a problem (so it is quarantined, never silently
lost); and the rows it does give either meet the silver contracts or are quarantined by
``parse_bronze``, which must itself never raise on them.

The valid payloads that get mutated are every 200 body one collection against the simulated
platforms archives (one account per platform), plus the real recorded responses in
``../shared/api-samples`` where that folder exists (read in place, never copied).

Examples are derandomized so that CI is reproducible: each run tries the same inputs. Set
``HHS_HYPOTHESIS_EXAMPLES=<n>`` to try ``n`` examples per test instead (e.g. 2000 for a long
local hunt); the defaults keep the whole module at a few tens of seconds on two cores.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hhs_platform.connectors import (
    CONNECTORS,
    bluesky,
    facebook,
    flickr,
    instagram,
    linkedin,
    mastodon,
    reddit,
    threads,
    x,
    youtube,
)
from hhs_platform.connectors.base import (
    AccountRef,
    ParsedRows,
    RawResponse,
    as_count,
    as_seconds,
    media_item,
    parse_timestamp,
)
from hhs_platform.http import HttpClient
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch, parse_bronze
from schemas import table_spec
from schemas.tables import POST_TYPES

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
INT64_MAX = 2**63 - 1  # the Int64 columns counters land in


def _examples(default: int) -> int:
    """``default``, or ``HHS_HYPOTHESIS_EXAMPLES`` when it is set (a longer hunt)."""
    return int(os.environ.get("HHS_HYPOTHESIS_EXAMPLES") or default)


PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

#: Every endpoint each connector parses (the constants its module names).
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "bluesky": (bluesky.PROFILE, bluesky.AUTHOR_FEED),
    "youtube": (youtube.CHANNELS, youtube.PLAYLIST_ITEMS, youtube.VIDEOS, youtube.FEED),
    "x": (x.USER_BY_USERNAME, x.USER_BY_ID, x.USER_TWEETS),
    "facebook": (facebook.PAGE, facebook.POSTS),
    "instagram": (instagram.DISCOVERY,),
    "mastodon": (mastodon.LOOKUP, mastodon.ACCOUNT, mastodon.STATUSES),
    "truthsocial": (mastodon.LOOKUP, mastodon.ACCOUNT, mastodon.STATUSES),
    "reddit": (reddit.ABOUT, reddit.SUBMITTED),
    "threads": (
        threads.ME,
        threads.USER_INSIGHTS,
        threads.THREADS,
        threads.MEDIA_INSIGHTS,
        threads.PROFILE_LOOKUP,
        threads.PROFILE_POSTS,
    ),
    "linkedin": (
        linkedin.ORGANIZATIONS,
        linkedin.NETWORK_SIZES,
        linkedin.POSTS,
        linkedin.SHARE_STATS,
    ),
    "flickr": (flickr.LOOKUP_USER, flickr.PEOPLE_INFO, flickr.PUBLIC_PHOTOS),
}
PAIRS = [(p, e) for p, endpoints in sorted(ENDPOINTS.items()) for e in endpoints]
#: Endpoints that only drive pagination or lookups: a well-formed body carries no rows.
ROWLESS = {("youtube", youtube.PLAYLIST_ITEMS), ("flickr", flickr.LOOKUP_USER)}
#: Endpoints whose body is not JSON.
XML = {("youtube", youtube.FEED)}
#: Endpoints one collection from the simulated platforms answers (the others come from samples).
SANDBOX_PAIRS = set(PAIRS) - {
    ("x", x.USER_BY_ID),
    ("mastodon", mastodon.ACCOUNT),
    ("truthsocial", mastodon.ACCOUNT),
    ("threads", threads.PROFILE_LOOKUP),
    ("threads", threads.PROFILE_POSTS),
}
#: Where a listing keeps its items: that list empty is a valid, empty answer (no rows, no problem).
ITEMS_AT: dict[tuple[str, str], tuple[str, ...]] = {
    ("bluesky", bluesky.AUTHOR_FEED): ("feed",),
    ("youtube", youtube.CHANNELS): ("items",),
    ("youtube", youtube.VIDEOS): ("items",),
    ("x", x.USER_TWEETS): ("data",),
    ("facebook", facebook.POSTS): ("data",),
    ("mastodon", mastodon.STATUSES): (),
    ("truthsocial", mastodon.STATUSES): (),
    ("reddit", reddit.SUBMITTED): ("data", "children"),
    ("threads", threads.THREADS): ("data",),
    ("threads", threads.PROFILE_POSTS): ("data",),
    ("threads", threads.MEDIA_INSIGHTS): ("data",),
    ("linkedin", linkedin.ORGANIZATIONS): ("elements",),  # no such page: collect says so
    ("linkedin", linkedin.POSTS): ("elements",),
    ("linkedin", linkedin.SHARE_STATS): ("elements",),
    ("flickr", flickr.PUBLIC_PHOTOS): ("photos", "photo"),
}
#: Silver tables by the ParsedRows attribute that feeds them, with the column naming a row.
TABLES = {
    "accounts": ("silver/accounts", "account_id"),
    "account_snapshots": ("silver/account_snapshots", "account_id"),
    "posts": ("silver/posts", "post_id"),
    "post_metrics": ("silver/post_metrics", "post_id"),
}
COUNTERS = ("followers", "following", "posts_count", "likes", "reposts", "replies", "quotes")


# --- the valid payloads that get mutated --------------------------------------------------------


class Seed:
    """One valid 200 response of one endpoint, as archived."""

    def __init__(
        self, platform: str, endpoint: str, account_key: str, request_url: str, body: bytes,
        source: str,
    ) -> None:  # fmt: skip
        self.platform, self.endpoint, self.account_key = platform, endpoint, account_key
        self.request_url, self.body = request_url, body
        self.source = source  # "sandbox" or the sample file

    def __repr__(self) -> str:  # hypothesis prints the drawn seed: name it, not its body
        return f"Seed({self.platform}, {self.endpoint}, {self.source})"


class Seeds(dict[str, list[Seed]]):
    """Seeds by platform (a short repr: hypothesis prints the fixture of a failing example)."""

    def __repr__(self) -> str:
        return f"Seeds({ {p: len(s) for p, s in self.items()} })"


#: One account per platform in the simulated world (the token / page settings each needs).
SANDBOX_ACCOUNTS = {
    "bluesky": "hhs.gov",
    "youtube": "USGOVHHS",
    "x": "HHSgov",
    "facebook": "HHS",
    "instagram": "hhsgov",
    "mastodon": "hhs",
    "truthsocial": "seckennedy",
    "reddit": "HHSgov",
    "threads": "hhsgov",
    "linkedin": "centers-for-disease-control-and-prevention",
    "flickr": "hhsgov",
}
THREADS_TOKEN, LINKEDIN_TOKEN = "props-threads-token", "props-linkedin-token"

#: Real recorded responses that are a whole answer of one endpoint: (platform, endpoint, file).
SAMPLE_FILES = [
    ("bluesky", bluesky.PROFILE, "bluesky/app.bsky.actor.getProfile_bsky.app_authenticated.json"),
    (
        "bluesky",
        bluesky.AUTHOR_FEED,
        "bluesky/app.bsky.feed.getAuthorFeed_bsky.app_1item_cursor.json",
    ),
    (
        "youtube",
        youtube.CHANNELS,
        "youtube/channels.list_snippet_statistics_contentDetails_brandingSettings.json",
    ),
    (
        "youtube",
        youtube.VIDEOS,
        "youtube/videos.list_snippet_contentDetails_status_statistics.json",
    ),
    ("youtube", youtube.VIDEOS, "youtube/videos.list_chart_page1.json"),
    ("youtube", youtube.FEED, "youtube/feeds_videos.xml_channel_id.xml"),
    ("x", x.USER_BY_USERNAME, "x/users_by_username_fields_expansions_2020.json"),
    ("facebook", facebook.PAGE, "facebook/page_default_fields.json"),
    ("facebook", facebook.POSTS, "facebook/page_feed_reactions_comments_shares_summary_p1.json"),
    ("instagram", instagram.DISCOVERY, "instagram/business_discovery_user_fields.json"),
    ("instagram", instagram.DISCOVERY, "instagram/business_discovery_media_video_p1.json"),
    ("mastodon", mastodon.LOOKUP, "mastodon/accounts_lookup_200.json"),
    ("mastodon", mastodon.STATUSES, "mastodon/accounts_id_statuses_page1_limit5.json"),
    ("reddit", reddit.ABOUT, "reddit/user_about_2025_Lil_SpazBot.json"),
    ("reddit", reddit.SUBMITTED, "reddit/user_submitted_listing_2016_spez_sort_new.json"),
    ("threads", threads.THREADS, "threads/docs_me_threads_example_fixed_trailing_comma.json"),
    ("threads", threads.MEDIA_INSIGHTS, "threads/docs_media_insights_example.json"),
    ("threads", threads.PROFILE_LOOKUP, "threads/docs_profile_lookup_example.json"),
]
#: The request a sample answers, where the parser reads it (the node the insights belong to).
SAMPLE_URLS = {
    threads.MEDIA_INSIGHTS: "https://graph.threads.net/v1.0/18027939643032721/insights?metric=likes",
}


def _trimmed(value: Any, keep: int = 3) -> Any:
    """``value`` with every list cut to its first ``keep`` items (small examples run fast)."""
    if isinstance(value, list):
        return [_trimmed(v, keep) for v in value[:keep]]
    if isinstance(value, dict):
        return {k: _trimmed(v, keep) for k, v in value.items()}
    return value


def _sandbox_responses() -> list[RawResponse]:
    """Every response of one collection of one account per platform from the simulated world."""
    registry = pl.DataFrame(
        [
            {"agency": "HHS", "agency_name": "HHS", "parent_agency": None, "platform": p,
             "handle": h, "platform_id": None, "url": f"https://example.org/{p}/{h}", "tier": 1,
             "verified": False, "source": "test"}
            for p, h in SANDBOX_ACCOUNTS.items()
        ]
    )  # fmt: skip
    limits = {
        "threads_access_tokens": {THREADS_TOKEN: SANDBOX_ACCOUNTS["threads"]},
        "linkedin_access_tokens": {LINKEDIN_TOKEN},
    }
    archived: list[RawResponse] = []
    with SandboxThread(accounts=registry, seed=3, limits=limits, history_days=10) as sb:
        values: dict[str, Any] = {f"{p}_api_base": sb.url(p) for p in SANDBOX_ACCOUNTS}
        values |= {
            "youtube_api_key": "props-yt-key",
            "x_bearer_token": "props-x-token",
            "facebook_access_token": "props-fb-token",
            "instagram_access_token": "props-ig-token",
            "instagram_business_account_id": "17841400000000001",
            "reddit_access_token": "props-reddit-token",
            "threads_access_token": THREADS_TOKEN,
            "linkedin_access_token": LINKEDIN_TOKEN,
            "flickr_api_key": "props-flickr-key",
        }
        config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        keyless = Settings(_env_file=None, youtube_rss_base=sb.url("youtube"))  # type: ignore[call-arg]

        async def collect() -> None:
            async with HttpClient(config, archived.append, backoff_base_s=0.01) as http:
                for platform, handle in SANDBOX_ACCOUNTS.items():
                    await CONNECTORS[platform](http, config).collect(AccountRef(platform, handle))
                # Without an API key YouTube is read through the channel's Atom feed, which
                # needs the channel id (the keyed collection just found it).
                channels = next(r for r in archived if r.endpoint == youtube.CHANNELS)
                channel_id = json.loads(channels.body)["items"][0]["id"]
                youtube_ref = AccountRef("youtube", SANDBOX_ACCOUNTS["youtube"], channel_id)
                await youtube.YouTubeConnector(http, keyless).collect(youtube_ref)

        asyncio.run(collect())
    return archived


@pytest.fixture(scope="module")
def seeds() -> Seeds:
    """Valid 200 bodies by platform: one sandbox collection, plus the real samples if present."""
    out = Seeds({p: [] for p in ENDPOINTS})
    seen: set[tuple[str, str]] = set()
    for raw in _sandbox_responses():
        # One body per endpoint: Threads asks media insights once per post, all alike.
        if raw.status != 200 or (raw.platform, raw.endpoint) in seen:
            continue
        seen.add((raw.platform, raw.endpoint))
        body = raw.body
        if (raw.platform, raw.endpoint) not in XML:
            body = json.dumps(_trimmed(json.loads(body))).encode()
        out[raw.platform].append(
            Seed(raw.platform, raw.endpoint, raw.account_key, raw.request_url, body, "sandbox")
        )
    if SAMPLES.is_dir():
        for platform, endpoint, name in SAMPLE_FILES:
            body = (SAMPLES / name).read_bytes()
            if (platform, endpoint) not in XML:
                body = json.dumps(_trimmed(json.loads(body))).encode()
            url = SAMPLE_URLS.get(endpoint, "https://example.invalid/")
            out[platform].append(Seed(platform, endpoint, f"{platform}:sample", url, body, name))
    sandboxed = {(s.platform, s.endpoint) for v in out.values() for s in v if s.source == "sandbox"}
    assert sandboxed >= SANDBOX_PAIRS, f"the sandbox served none of {SANDBOX_PAIRS - sandboxed}"
    assert sandboxed <= set(PAIRS), f"endpoints missing from ENDPOINTS: {sandboxed - set(PAIRS)}"
    for platform, items in out.items():
        assert items, f"no valid payload of {platform} to mutate"
        for seed in items:  # the unmutated payloads are clean: what follows is the mutations' doing
            rows = _parse(seed.platform, _record(seed.platform, seed.endpoint, seed.body, seed))
            assert not rows.problems, (seed.source, seed.endpoint, rows.problems)
    return out


# --- records, bronze frames, checks ------------------------------------------------------------


def _record(
    platform: str,
    endpoint: str,
    body: bytes,
    seed: Seed | None = None,
    response_id: str = "resp-0",
) -> dict[str, Any]:
    """A bronze row (as ``parse`` and ``parse_bronze`` see it) holding ``body``."""
    return {
        "response_id": response_id,
        "run_id": "run-props",
        "platform": platform,
        "endpoint": endpoint,
        "account_key": seed.account_key if seed else f"{platform}:props",
        "request_url": seed.request_url if seed else "https://example.invalid/",
        "status": 200,
        "headers": "{}",
        "body": body,
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "fetched_at": T0,
        "fetched_date": T0.date(),
        "elapsed_ms": 1.0,
        "page": 0,
        "connector_version": CONNECTORS[platform].version,
    }


def _bronze(records: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(records, schema=table_spec("bronze/raw_responses").schema)


def _parse(platform: str, record: dict[str, Any]) -> ParsedRows:
    rows = CONNECTORS[platform].parse(record)
    assert isinstance(rows, ParsedRows)
    assert all(isinstance(p, str) and p for p in rows.problems), rows.problems
    return rows


def _has_rows(rows: ParsedRows) -> bool:
    return bool(rows.accounts or rows.account_snapshots or rows.posts or rows.post_metrics)


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _empty_answer(record: dict[str, Any]) -> bool:
    """True when the record's body is a well-formed answer with nothing to give (no rows, no
    problem): an empty listing, a pagination-only page, an error the platform sends with a 200."""
    platform, endpoint, body = record["platform"], record["endpoint"], record["body"]
    try:
        value = json.loads(body)
    except ValueError:
        return False  # an undecodable body is a problem even where it would carry no rows
    if (platform, endpoint) in ROWLESS:
        return True
    if platform == "flickr" and isinstance(value, dict) and value.get("stat") == "fail":
        return True  # Flickr's error answer comes with HTTP 200
    if (platform, endpoint) == ("instagram", instagram.DISCOVERY):
        # A later media page of an account: neither profile fields nor media asked back.
        user = _at(value, ("business_discovery",))
        return isinstance(user, dict) and not {"username", "followers_count", "media"} & set(user)
    if (platform, endpoint) == ("linkedin", linkedin.SHARE_STATS):
        # Only the page's lifetime aggregate (it names no post): no post's figures in it.
        elements = _at(value, ("elements",))
        return isinstance(elements, list) and all(
            isinstance(e, dict) and "share" not in e and "ugcPost" not in e
            and isinstance(e.get("totalShareStatistics"), dict)
            for e in elements
        )  # fmt: skip
    if (platform, endpoint) == ("threads", threads.ME) and isinstance(value, dict):
        # The token's own profile, not the account's: the account is read by profile lookup.
        name, account = value.get("username"), record["account_key"].split(":", 1)[-1]
        return isinstance(name, str) and name.lower() != threads.threads_username(account).lower()
    if platform == "x" and isinstance(value, dict) and value.get("data") is None:
        meta = value.get("meta")
        return isinstance(meta, dict) and meta.get("result_count") == 0
    path = ITEMS_AT.get((platform, endpoint))
    return path is not None and _at(value, path) == []


def _count_ok(value: Any) -> bool:
    return value is None or (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX
    )


def _check_rows(rows: ParsedRows) -> None:
    """What every parsed row keeps whatever the payload: ids, UTC times, sane counters."""
    for post in rows.posts:
        assert isinstance(post["post_id"], str) and post["post_id"], post
        created = post["created_at"]
        assert isinstance(created, datetime) and created.utcoffset() is not None, post
        assert created.utcoffset().total_seconds() == 0, post  # type: ignore[union-attr]
        assert post["post_type"] in POST_TYPES, post
        assert _count_ok(post.get("media_count")) and post.get("media_count") is not None, post
        duration = post.get("duration_s")
        assert duration is None or (math.isfinite(duration) and duration >= 0), post
        for media in post.get("media") or []:
            assert _count_ok(media["width"]) and _count_ok(media["height"]), media
            d = media["duration_s"]
            assert d is None or (math.isfinite(d) and d >= 0), media
    for account in rows.accounts:
        assert isinstance(account["account_id"], str) and account["account_id"], account
    for row in rows.account_snapshots + rows.post_metrics:
        for counter in (*COUNTERS, "views"):
            assert _count_ok(row.get(counter)), (counter, row)


def _accounted(batch: SilverBatch, rows: ParsedRows, response_id: str) -> None:
    """Every parsed row is a valid silver row or a quarantined one; problems are quarantined."""
    quarantine = batch.quarantine.filter(pl.col("response_id") == response_id)
    for attr, (table, key) in TABLES.items():
        parsed = {r.get(key) for r in getattr(rows, attr)}
        valid = batch.tables[table].filter(pl.col("response_id") == response_id)
        bad = quarantine.filter(pl.col("table") == table)
        assert valid.height + bad.height == len(parsed), (table, valid.height, bad.height, parsed)
        assert all(r for r in bad["rules"].to_list()), "a quarantined row says why"
    if rows.problems:
        whole = quarantine.filter(pl.col("table") == "bronze/raw_responses")
        assert whole.height >= 1, rows.problems


# --- mutations ----------------------------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 2**63, 2**64 + 1, -(2**63) - 1, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "NaN", "nan", "Infinity", "-1", "1e309", "0x1F", "null", "true"]),
    # digit strings int() refuses or int64 cannot hold: superscript, Arabic-Indic, 5000 digits
    st.sampled_from(["\u00b2", "\u0663\u0664", "9" * 20, "9" * 5000]),
    st.sampled_from(
        ["2026-13-45T99:99:99Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
    ),
    st.text(max_size=30),
    st.just("x" * 20_000),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _node(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@st.composite
def mutated_body(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` after one to three random edits of its JSON tree, sometimes cut at a byte."""
    value = copy.deepcopy(json.loads(body))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(value))))
        node = _node(value, path)
        op = draw(st.sampled_from(["delete", "replace", "retype", "duplicate"]))
        if op == "delete" and path:
            parent = _node(value, path[:-1])
            del parent[path[-1]]
        elif op == "duplicate" and isinstance(node, list) and node:
            i = draw(st.integers(min_value=0, max_value=len(node) - 1))
            node.insert(draw(st.integers(min_value=0, max_value=len(node))), copy.deepcopy(node[i]))
        else:
            digits = node.strip().lstrip("-") if isinstance(node, str) else ""
            if op == "retype" and digits.isascii() and digits.isdigit() and len(digits) < 100:
                new: Any = int(node)
            elif op == "retype" and isinstance(node, int | float) and not isinstance(node, bool):
                new = str(node)
            else:
                new = draw(ODD_VALUES)
            if path:
                _node(value, path[:-1])[path[-1]] = new
            else:
                value = new
    out = json.dumps(value).encode()
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        out = out[: draw(st.integers(min_value=0, max_value=max(len(out) - 1, 0)))]
    return out


@st.composite
def mutated_xml(draw: st.DrawFn, body: bytes) -> bytes:
    """An XML body cut at a byte, with bytes flipped, or with an element's text replaced."""
    op = draw(st.sampled_from(["cut", "flip", "text"]))
    if op == "cut":
        return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]
    if op == "flip":
        data = bytearray(body)
        for _ in range(draw(st.integers(min_value=1, max_value=5))):
            data[draw(st.integers(min_value=0, max_value=len(data) - 1))] = draw(
                st.integers(min_value=0, max_value=255)
            )
        return bytes(data)
    # An element's text or an attribute's value (the counters are attributes) becomes junk.
    marks = [b"<published>", b"<yt:videoId>", b"<yt:channelId>", b"<title>", b'views="', b'count="']
    mark = draw(st.sampled_from(marks))
    starts = [i for i in range(len(body)) if body.startswith(mark, i)]
    if not starts:
        return body
    start = draw(st.sampled_from(starts)) + len(mark)
    end = body.find(b'"' if mark.endswith(b'"') else b"<", start)
    junk = draw(
        st.sampled_from(
            [b"", b"not a date", b"-1", b"1e5", b"9" * 30, "\u00b2\u2603".encode(), b"x" * 5000]
        )
    )
    return body[:start] + junk + body[end:]


def _mutant(data: st.DataObject, seed: Seed) -> bytes:
    """A mutant of the seed's body, drawn from ``data``."""
    if (seed.platform, seed.endpoint) in XML:
        return data.draw(mutated_xml(seed.body), label="body")
    return data.draw(mutated_body(seed.body), label="body")


# --- a. arbitrary bodies ------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)


@pytest.mark.parametrize(("platform", "endpoint"), PAIRS)
@settings(PROPERTY, max_examples=_examples(40))
@given(body=st.binary(max_size=300))
@example(body=b"")
@example(body=b"\xff\xfe\x00")
@example(body=b'{"data": [')
def test_arbitrary_bytes_give_problems_not_exceptions(
    platform: str, endpoint: str, body: bytes
) -> None:
    record = _record(platform, endpoint, body)
    rows = _parse(platform, record)
    _check_rows(rows)
    if not _has_rows(rows) and not _empty_answer(record):
        assert rows.problems, body  # an undecodable body is never silently empty
    if (platform, endpoint) not in XML and not _decodes(body):
        assert not _has_rows(rows), body


def _decodes(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("platform", "endpoint"), PAIRS)
@settings(PROPERTY, max_examples=_examples(60))
@given(value=JSON_VALUES)
@example(value=[])
@example(value={"data": None, "meta": {"result_count": 3}})
@example(value={"items": [None, 1, "x", {"id": 5}]})
@example(value={"business_discovery": {"id": "1", "username": "u", "media": None}})
@example(value={"elements": [{"share": False, "totalShareStatistics": {"likeCount": 1}}]})
def test_arbitrary_json_gives_rows_or_problems(platform: str, endpoint: str, value: Any) -> None:
    record = _record(platform, endpoint, json.dumps(value).encode())
    rows = _parse(platform, record)
    _check_rows(rows)
    if not _has_rows(rows) and not _empty_answer(record):
        assert rows.problems, (platform, endpoint, value)


# --- b. mutated real-shaped payloads ------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(ENDPOINTS))
@settings(PROPERTY, max_examples=_examples(40))
@given(data=st.data())
def test_mutated_payloads_are_parsed_or_quarantined(
    seeds: Seeds, platform: str, data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(seeds[platform]), label="seed")
    body = _mutant(data, seed)
    record = _record(platform, seed.endpoint, body, seed)
    rows = _parse(platform, record)
    _check_rows(rows)
    if not _has_rows(rows) and not _empty_answer(record):
        assert rows.problems, (seed.source, body[:300])
    batch = parse_bronze(_bronze([record]))
    _accounted(batch, rows, record["response_id"])


# --- c. a whole bronze frame of mutated responses -----------------------------------------------


@settings(PROPERTY, max_examples=_examples(15))
@given(data=st.data())
def test_bronze_frame_of_mutants_is_accounted_for(seeds: Seeds, data: st.DataObject) -> None:
    everything = [s for platform in sorted(seeds) for s in seeds[platform]]
    chosen = data.draw(st.lists(st.sampled_from(everything), min_size=1, max_size=8), label="seeds")
    records = []
    for n, seed in enumerate(chosen):
        body = _mutant(data, seed)
        records.append(_record(seed.platform, seed.endpoint, body, seed, response_id=f"resp-{n}"))
    batch = parse_bronze(_bronze(records))
    assert batch.responses == len(records)
    # The same item in two responses is one row (the latest sighting): look rows up by key.
    valid = {t: set(batch.tables[t][key].to_list()) for t, key in TABLES.values()}
    quarantined = {(r["table"], r["response_id"]) for r in batch.quarantine.iter_rows(named=True)}
    bad_keys = {
        (r["table"], json.loads(r["row"]).get(key))
        for r in batch.quarantine.iter_rows(named=True)
        for t, key in TABLES.values()
        if r["table"] == t
    }
    for record in records:
        rows = CONNECTORS[record["platform"]].parse(record)
        if rows.problems:
            assert ("bronze/raw_responses", record["response_id"]) in quarantined, rows.problems
        for attr, (table, key) in TABLES.items():
            for row in getattr(rows, attr):
                assert row[key] in valid[table] or (table, row[key]) in bad_keys, (table, row)
        if not (_has_rows(rows) or rows.problems):
            assert _empty_answer(record), (record["platform"], record["endpoint"], record["body"])


# --- regressions: what the properties found -----------------------------------------------------


def test_counters_past_int64_are_null_not_a_broken_batch() -> None:
    """A counter past int64 once failed building the silver frame, which lost the whole batch."""
    profile = {
        "did": "did:plc:props",
        "handle": "props.test",
        "followersCount": 2**63,
        "followsCount": INT64_MAX,
        "postsCount": "99999999999999999999",
    }
    record = _record("bluesky", bluesky.PROFILE, json.dumps(profile).encode())
    batch = parse_bronze(_bronze([record]))
    snapshots = batch.tables["silver/account_snapshots"]
    assert snapshots.select("followers", "following", "posts_count").rows() == [
        (None, INT64_MAX, None)
    ]
    assert batch.tables["silver/accounts"]["account_id"].to_list() == ["did:plc:props"]
    assert batch.quarantine.is_empty()


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (INT64_MAX, INT64_MAX),
        (2**63, None),
        (-1, None),
        (3.0, 3),
        (1e300, None),
        (float("inf"), None),
        (float("nan"), None),
        (" 42 ", 42),
        ("\u00b2", None),  # "²".isdigit() is true, int("²") raises
        ("\u0663", None),  # an Arabic-Indic digit: no platform sends those
        ("9" * 5000, None),  # past int()'s digit limit, which raises
        (True, None),
    ],
)
def test_as_count_gives_what_an_int64_counter_holds(value: Any, count: int | None) -> None:
    assert as_count(value) == count


def test_numbers_no_column_can_hold_become_null() -> None:
    assert as_seconds(10**400) is None and as_seconds(float("inf")) is None
    assert as_seconds(-0.5) is None and as_seconds(False) is None and as_seconds(12) == 12.0
    odd = media_item("image", "u", width=float("inf"), height=2**64, duration_s=10**400)
    assert (odd["width"], odd["height"], odd["duration_s"]) == (None, None, None)
    fine = media_item("video", "u", width=1024.0, height=768, duration_s=12.5)
    assert (fine["width"], fine["height"], fine["duration_s"]) == (1024, 768, 12.5)
    assert youtube.iso_duration_seconds("PT" + "9" * 400 + "S") is None
    assert youtube.iso_duration_seconds("PT21M7S") == 1267.0


def test_a_time_with_no_utc_instant_is_null_not_a_lost_profile() -> None:
    """Year 1 east of UTC has no UTC instant: it once raised and cost the profile its row."""
    assert parse_timestamp("0001-01-01T00:00:00+14:00") is None
    assert parse_timestamp("9999-12-31T23:59:59-14:00") is None
    profile = {"did": "did:plc:props", "handle": "p.test", "createdAt": "0001-01-01T00:00:00+01:00"}
    rows = _parse("bluesky", _record("bluesky", bluesky.PROFILE, json.dumps(profile).encode()))
    assert not rows.problems
    assert [(a["account_id"], a["account_created_at"]) for a in rows.accounts] == [
        ("did:plc:props", None)
    ]


def test_a_null_media_edge_is_a_problem_not_an_empty_page() -> None:
    user = {"id": "1784", "username": "props", "followers_count": 3, "media": None}
    body = json.dumps({"business_discovery": user}).encode()
    rows = _parse("instagram", _record("instagram", instagram.DISCOVERY, body))
    assert len(rows.accounts) == 1 and not rows.posts
    assert rows.problems == [
        f"{instagram.DISCOVERY}: business_discovery.media without a 'data' list"
    ]


def test_share_statistics_naming_no_valid_post_are_a_problem() -> None:
    stats = {"likeCount": 4, "shareCount": 1, "commentCount": 0, "impressionCount": 9}
    page = {"organizationalEntity": "urn:li:organization:42", "totalShareStatistics": stats}
    broken = {**page, "share": False}
    body = json.dumps({"elements": [page, broken]}).encode()
    rows = _parse("linkedin", _record("linkedin", linkedin.SHARE_STATS, body))
    assert not rows.post_metrics  # the page's aggregate is skipped, the broken one reported
    assert rows.problems == [f"{linkedin.SHARE_STATS}: elements[1] skipped: no 'share'/'ugcPost'"]
