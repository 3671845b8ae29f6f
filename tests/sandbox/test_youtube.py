"""The simulated YouTube Data API over a real socket: lookups, pagination, strings, keys, quota."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hhs_platform.sandbox import SandboxThread

Fetch = Callable[..., Any]
CHANNELS = "/youtube/v3/channels"
ITEMS = "/youtube/v3/playlistItems"
VIDEOS = "/youtube/v3/videos"
PARTS = "snippet,statistics,contentDetails"
QUOTA_BODY = {
    "error": {
        "errors": [
            {
                "domain": "youtube.quota",
                "reason": "quotaExceeded",
                "message": "The request cannot be completed because you have exceeded your "
                '<a href="/youtube/v3/getting-started#quota">quota</a>.',
            }
        ],
        "code": 403,
        "message": "The request cannot be completed because you have exceeded your "
        '<a href="/youtube/v3/getting-started#quota">quota</a>.',
    }
}


def walk_uploads(fetch: Fetch, base: str, playlist: str, per_page: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        q = {"part": "snippet,contentDetails", "playlistId": playlist, "maxResults": per_page,
             "key": "k"}  # fmt: skip
        if token:
            q["pageToken"] = token
        r = fetch(base + ITEMS, q)
        assert r.status == 200, r.body
        body = r.json()
        assert body["pageInfo"]["resultsPerPage"] == per_page
        assert ("prevPageToken" in body) == bool(items)
        items += body["items"]
        token = body.get("nextPageToken")
        if token is None:
            assert len(items) == body["pageInfo"]["totalResults"]
            return items


def test_channel_lookup_by_id_username_and_handle(sandbox: SandboxThread, fetch: Fetch) -> None:
    base = sandbox.url("youtube")
    legacy = sandbox.world.account("youtube", "CDCstreamingHealth", "username")
    assert legacy is not None
    for q in ({"id": legacy.account_id}, {"forUsername": "cdcstreaminghealth"},
              {"forHandle": "@" + legacy.handle}, {"forHandle": legacy.handle}):  # fmt: skip
        body = fetch(base + CHANNELS, {"part": PARTS, "key": "k", **q}).json()
        assert body["kind"] == "youtube#channelListResponse"
        assert [i["id"] for i in body["items"]] == [legacy.account_id], q
        uploads = body["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"]
        assert uploads == "UU" + legacy.account_id[2:]
    registered = fetch(
        base + CHANNELS, {"part": "id", "key": "k", "id": "UC_NQ14VoXhmabaSZ4RWgKWw"}
    )
    assert registered.json()["items"][0]["id"] == "UC_NQ14VoXhmabaSZ4RWgKWw"
    wrong_case = fetch(
        base + CHANNELS, {"part": "id", "key": "k", "id": "uc_nq14voxhmabasz4rwgkww"}
    )
    assert "items" not in wrong_case.json()  # channel ids are case-sensitive
    none = fetch(base + CHANNELS, {"part": PARTS, "key": "k", "forUsername": "nobody"})
    assert none.status == 200
    assert none.json()["pageInfo"]["totalResults"] == 0 and "items" not in none.json()


def test_channel_statistics_are_strings_and_subscribers_rounded(
    sandbox: SandboxThread, fetch: Fetch
) -> None:
    truth = sandbox.world.truth()["accounts"].filter(platform="youtube")
    ids = truth["account_id"].to_list()
    body = fetch(sandbox.url("youtube") + CHANNELS,
                 {"part": PARTS, "key": "k", "id": ",".join(ids)}).json()  # fmt: skip
    assert len(body["items"]) == len(ids)
    rows = {r["account_id"]: r for r in truth.iter_rows(named=True)}
    for item in body["items"]:
        stats, row = item["statistics"], rows[item["id"]]
        assert stats["videoCount"] == str(row["posts_count"])
        assert isinstance(stats["viewCount"], str)
        if row["followers"] is None:
            assert stats["hiddenSubscriberCount"] is True and "subscriberCount" not in stats
        else:
            assert stats["subscriberCount"] == str(row["followers"])
            exact = sandbox.world.followers(
                sandbox.world.account_by_id(item["id"]), sandbox.clock.now()
            )
            assert int(stats["subscriberCount"]) <= exact and len(str(exact)) == len(
                stats["subscriberCount"]
            )
            assert stats["subscriberCount"][3:].strip("0") == ""


def test_hidden_subscriber_count(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    sb = make_sandbox()
    acc = sb.world.platform_accounts("youtube")[0]
    acc.hidden_followers = True
    query = {"part": "statistics", "key": "k", "id": acc.account_id}
    stats = fetch(sb.url("youtube") + CHANNELS, query).json()["items"][0]
    assert stats["statistics"]["hiddenSubscriberCount"] is True
    assert "subscriberCount" not in stats["statistics"]
    assert sb.world.truth()["accounts"].filter(account_id=acc.account_id)["followers"][0] is None


def test_uploads_pagination_and_videos_agree_with_truth(
    sandbox: SandboxThread, fetch: Fetch
) -> None:
    base = sandbox.url("youtube")
    truth = sandbox.world.truth()["posts"].filter(platform="youtube")
    for channel in truth["account_id"].unique().sort().to_list()[:5]:
        items = walk_uploads(fetch, base, "UU" + channel[2:], per_page=4)
        expected = truth.filter(account_id=channel).sort("created_at", descending=True)
        ids = [i["contentDetails"]["videoId"] for i in items]
        assert ids == expected["post_id"].to_list()
        assert [i["snippet"]["resourceId"]["videoId"] for i in items] == ids
        assert [i["snippet"]["position"] for i in items] == list(range(len(ids)))
        videos = []
        for start in range(0, len(ids), 50):
            r = fetch(
                base + VIDEOS, {"part": PARTS, "key": "k", "id": ",".join(ids[start : start + 50])}
            )
            videos += r.json()["items"]
        assert [v["id"] for v in videos] == ids
        for v, row in zip(videos, expected.iter_rows(named=True), strict=True):
            s = v["statistics"]
            assert all(isinstance(x, str) for x in s.values())
            assert (s["viewCount"], s["likeCount"], s["commentCount"], s["favoriteCount"]) == (
                str(row["views"]), str(row["likes"]), str(row["replies"]), "0",
            )  # fmt: skip
            assert v["snippet"]["channelId"] == channel
            assert v["contentDetails"]["duration"].startswith("PT")
            assert v["snippet"]["publishedAt"] == row["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_prev_page_token_leads_back(sandbox: SandboxThread, fetch: Fetch) -> None:
    channel = sandbox.world.platform_accounts("youtube")[0]
    q = {"part": "contentDetails", "playlistId": "UU" + channel.account_id[2:], "key": "k",
         "maxResults": 3}  # fmt: skip
    first = fetch(sandbox.url("youtube") + ITEMS, q).json()
    second = fetch(
        sandbox.url("youtube") + ITEMS, {**q, "pageToken": first["nextPageToken"]}
    ).json()
    back = fetch(sandbox.url("youtube") + ITEMS, {**q, "pageToken": second["prevPageToken"]}).json()
    assert back["items"] == first["items"]


def test_youtube_errors(sandbox: SandboxThread, fetch: Fetch) -> None:
    base = sandbox.url("youtube")
    r = fetch(base + ITEMS, {"part": "snippet", "playlistId": "UUnothere", "key": "k"})
    assert r.status == 404
    err = r.json()["error"]
    assert err["code"] == 404 and err["errors"][0]["reason"] == "playlistNotFound"
    assert err["errors"][0]["domain"] == "youtube.playlistItem"
    r = fetch(base + CHANNELS, {"part": PARTS, "id": "UC_NQ14VoXhmabaSZ4RWgKWw"})
    assert r.status == 403 and r.json()["error"]["errors"][0]["reason"] == "forbidden"
    for q, reason in (
        ({"part": "snippet", "playlistId": "UU" + "x" * 22, "maxResults": 51}, "invalidParameter"),
        ({"playlistId": "UU" + "x" * 22}, "required"),
        ({"part": "snippet,bogus", "playlistId": "UU" + "x" * 22}, "unknownPart"),
    ):
        r = fetch(base + ITEMS, {**q, "key": "k"})
        assert r.status == 400 and r.json()["error"]["errors"][0]["reason"] == reason
    r = fetch(base + VIDEOS, {"part": "id", "key": "k", "id": ",".join(["abc"] * 51)})
    assert r.status == 400
    r = fetch(base + VIDEOS, {"part": "id", "key": "k", "id": "doesnotexist"})
    assert r.status == 200 and r.json()["items"] == []
    assert "RateLimit-Limit" not in r.headers


def test_api_keys_and_daily_quota(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    sb = make_sandbox(limits={"youtube_api_keys": {"good-key"}, "youtube_daily_quota": 3})
    url = sb.url("youtube") + CHANNELS
    q = {"part": "id", "forUsername": "CDCstreamingHealth"}
    bad = fetch(url, {**q, "key": "other"})
    assert bad.status == 400
    err = {"domain": "usageLimits", "reason": "keyInvalid", "message": "Bad Request"}
    assert bad.json() == {"error": {"errors": [err], "code": 400, "message": "Bad Request"}}
    statuses = [fetch(url, {**q, "key": "good-key"}).status for _ in range(4)]
    assert statuses == [200, 200, 200, 403]
    r = fetch(url, {**q, "key": "good-key"})
    assert r.json() == QUOTA_BODY
    assert b"\\u003ca href" in r.body  # Google escapes < and > in its JSON
    stats = fetch(sb.base_url + "/_sandbox/stats").json()
    assert stats["quota_used"] == [{"key_suffix": "-key", "day": "2026-10-31", "units": 3}]
    # Quota resets at midnight Pacific time: 2026-11-01 07:00 UTC (still PDT until 2 a.m.).
    sb.clock.advance(timedelta(hours=6, minutes=59))
    assert fetch(url, {**q, "key": "good-key"}).status == 403
    sb.clock.advance(timedelta(minutes=1))
    assert fetch(url, {**q, "key": "good-key"}).status == 200
