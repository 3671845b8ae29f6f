"""Our payloads against recorded real ones: every key a sample has, ours has in the same place."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from hhs_platform.sandbox import SandboxThread

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"recorded API samples not found at {SAMPLES}"),
]
Fetch = Callable[..., Any]

# Keys the public, unauthenticated AppView does not send (the samples were recorded logged in),
# keys a platform has since dropped, and fields no HHS account sets.
IGNORED = {
    "viewer.following",
    "viewer.followedBy",
    "viewer.knownFollowers",
    "statistics.dislikeCount",  # removed from the YouTube API in December 2021
    "brandingSettings.channel.trackingAnalyticsAccountId",
}


def missing(sample: Any, ours: Any, path: str = "") -> list[str]:
    """Paths of keys present in ``sample`` but absent from ``ours``.

    A list's first sample element is compared with the closest of our elements; objects of
    different ``$type`` are different members of a union and are not compared.
    """
    if isinstance(sample, dict):
        if not isinstance(ours, dict):
            return [path or "."]
        if "$type" in sample and "$type" in ours and sample["$type"] != ours["$type"]:
            return []
        out = []
        for k, v in sample.items():
            p = f"{path}.{k}" if path else k
            if any(p == i or p.endswith("." + i) for i in IGNORED):
                continue
            if k not in ours:
                out.append(p)
            else:
                out += missing(v, ours[k], p)
        return out
    if isinstance(sample, list) and sample and isinstance(ours, list) and ours:
        return min((missing(sample[0], o, path + "[0]") for o in ours), key=len)
    return []


def best(sample: Any, candidates: Iterable[Any]) -> list[str]:
    """The missing keys of the closest candidate (there must be at least one candidate)."""
    results = [missing(sample, c) for c in candidates]
    assert results, "no candidate payload of this kind was generated"
    return min(results, key=len)


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(scope="module")
def feeds(sandbox: SandboxThread, fetch: Fetch) -> list[dict[str, Any]]:
    """Every feed item of every Bluesky account (all pages)."""
    items: list[dict[str, Any]] = []
    for acc in sandbox.world.platform_accounts("bluesky"):
        query: dict[str, Any] = {"actor": acc.handle, "limit": 100}
        while True:
            page = fetch(sandbox.url("bluesky") + "/xrpc/app.bsky.feed.getAuthorFeed", query).json()
            items += page["feed"]
            if "cursor" not in page:
                break
            query["cursor"] = page["cursor"]
    return items


def _embed(item: dict[str, Any]) -> str:
    return item["post"].get("embed", {}).get("$type", "")


def test_profile_shape(sandbox: SandboxThread, fetch: Fetch) -> None:
    sample = load("bluesky/app.bsky.actor.getProfile_bsky.app_authenticated.json")
    ours = fetch(sandbox.url("bluesky") + "/xrpc/app.bsky.actor.getProfile", {"actor": "cdc.gov"})
    assert missing(sample, ours.json()) == []


def test_author_feed_shape(
    sandbox: SandboxThread, fetch: Fetch, feeds: list[dict[str, Any]]
) -> None:
    sample = load("bluesky/app.bsky.feed.getAuthorFeed_bsky.app_1item_cursor.json")
    page = fetch(sandbox.url("bluesky") + "/xrpc/app.bsky.feed.getAuthorFeed",
                 {"actor": "cdc.gov", "limit": 1}).json()  # fmt: skip
    assert missing({k: v for k, v in sample.items() if k != "feed"}, page) == []
    plain = [i for i in feeds if "reason" not in i and not _embed(i)]
    assert best(sample["feed"][0], plain) == []


def test_repost_item_shape(feeds: list[dict[str, Any]]) -> None:
    sample = load("bluesky/feedViewPost_reasonRepost_quote_embed.json")
    reposts = [i for i in feeds if "reason" in i]
    assert best(sample, reposts) == []


@pytest.mark.parametrize(
    ("name", "embed"),
    [
        ("postView_external_embed.json", "app.bsky.embed.external#view"),
        ("postView_images_embed.json", "app.bsky.embed.images#view"),
        ("postView_video_embed.json", "app.bsky.embed.video#view"),
        ("postView_record_quote_embed.json", "app.bsky.embed.record#view"),
        ("postView_reply_no_embed.json", ""),
    ],
)
def test_post_view_shapes(name: str, embed: str, feeds: list[dict[str, Any]]) -> None:
    sample = load(f"bluesky/{name}")
    candidates = [
        i["post"] for i in feeds
        if _embed(i) == embed and ("reply" in i["post"]["record"]) == ("reply" in sample["record"])
    ]  # fmt: skip
    assert best(sample, candidates) == []


def test_bluesky_error_bodies(sandbox: SandboxThread, fetch: Fetch) -> None:
    r = fetch(sandbox.url("bluesky") + "/xrpc/app.bsky.actor.getProfile", {"actor": "no.such"})
    assert r.json() == load("bluesky/error_400_profile_not_found.json")


def test_youtube_channel_shape(sandbox: SandboxThread, fetch: Fetch) -> None:
    sample = load("youtube/channels.list_snippet_statistics_contentDetails_brandingSettings.json")
    ids = [a.account_id for a in sandbox.world.platform_accounts("youtube")]
    ours = fetch(sandbox.url("youtube") + "/youtube/v3/channels",
                 {"part": "snippet,statistics,contentDetails,brandingSettings", "key": "k",
                  "id": ",".join(ids)}).json()  # fmt: skip
    assert missing({k: v for k, v in sample.items() if k != "items"}, ours) == []
    visible = [i for i in ours["items"] if not i["statistics"]["hiddenSubscriberCount"]]
    assert best(sample["items"][0], visible) == []


def test_youtube_playlist_and_video_shapes(sandbox: SandboxThread, fetch: Fetch) -> None:
    base = sandbox.url("youtube")
    channel = sandbox.world.platform_accounts("youtube")[0]
    playlist = "UU" + channel.account_id[2:]
    page1 = load("youtube/playlistItems.list_page1.json")
    query = {"part": "snippet", "playlistId": playlist, "maxResults": 2, "key": "k"}
    ours1 = fetch(base + "/youtube/v3/playlistItems", query).json()
    assert missing(page1, ours1) == []
    page2 = load("youtube/playlistItems.list_page2.json")
    ours2 = fetch(
        base + "/youtube/v3/playlistItems", {**query, "pageToken": ours1["nextPageToken"]}
    ).json()
    assert missing(page2, ours2) == []
    item = load("youtube/playlistItem_item_snippet_contentDetails_status.json")
    ours_item = fetch(base + "/youtube/v3/playlistItems",
                      {"part": "snippet,contentDetails,status", "playlistId": playlist,
                       "maxResults": 1, "key": "k"}).json()["items"][0]  # fmt: skip
    assert missing(item, ours_item) == []
    videos = load("youtube/videos.list_snippet_contentDetails_status_statistics.json")
    ours_videos = fetch(base + "/youtube/v3/videos",
                        {"part": "snippet,contentDetails,status,statistics", "key": "k",
                         "id": ours_item["contentDetails"]["videoId"]}).json()  # fmt: skip
    assert missing(videos, ours_videos) == []


def test_youtube_quota_body_is_the_recorded_one(
    make_sandbox: Callable[..., SandboxThread], fetch: Fetch
) -> None:
    sb = make_sandbox(limits={"youtube_daily_quota": 0})
    r = fetch(sb.url("youtube") + "/youtube/v3/videos", {"part": "id", "id": "x", "key": "k"})
    assert r.status == 403
    assert r.json() == load("youtube/error_403_quotaExceeded.json")
    sb2 = make_sandbox(limits={"youtube_api_keys": {"right"}})
    r = fetch(sb2.url("youtube") + "/youtube/v3/videos", {"part": "id", "id": "x", "key": "wrong"})
    assert r.json() == load("youtube/error_400_keyInvalid.json")
