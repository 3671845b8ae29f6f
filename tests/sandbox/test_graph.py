"""The simulated Facebook and Instagram Graph APIs: fields, paging, errors and usage headers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hhs_platform.sandbox import FaultProfile, SandboxThread
from hhs_platform.sandbox.graph import Field, GraphError, parse_fields
from hhs_platform.sandbox.platforms.instagram import likes_hidden

ROWS: list[dict[str, Any]] = [
    {"platform": "facebook", "handle": "CDC", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "facebook", "handle": "nih.gov", "platform_id": None, "agency": "NIH",
     "agency_name": "National Institutes of Health"},
    {"platform": "facebook", "handle": "130543856995834", "platform_id": "130543856995834",
     "agency": "CMS", "agency_name": "Centers for Medicare & Medicaid Services"},
    {"platform": "instagram", "handle": "CDCgov", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "instagram", "handle": "nihgov", "platform_id": None, "agency": "NIH",
     "agency_name": "National Institutes of Health"},
]  # fmt: skip
TOKEN = {"access_token": "tok"}
ASKER = "17841400000000001"
MEDIA = "id,caption,like_count,comments_count,media_type,timestamp,children{id,media_type}"


@pytest.fixture(scope="module")
def graph() -> Any:
    with SandboxThread(accounts=ROWS, seed=3, history_days=120) as sb:
        yield sb


def fb(graph: SandboxThread, fetch: Any, path: str, **params: Any) -> Any:
    return fetch(f"{graph.url('facebook')}/v21.0/{path}", {**TOKEN, **params})


def ig(graph: SandboxThread, fetch: Any, fields: str, **params: Any) -> Any:
    return fetch(f"{graph.url('instagram')}/v21.0/{ASKER}", {**TOKEN, "fields": fields, **params})


# -- field expansion -----------------------------------------------------------------------------


def test_field_expansion_parses_nested_modifiers() -> None:
    fields = parse_fields(
        "id,business_discovery.username(cdcgov){followers_count,"
        "media.limit(5).after(QVFIabc=){id,children{media_url}}},"
        "reactions.type(LOVE).limit(0).summary(total_count).as(love)"
    )
    assert [f.key for f in fields] == ["id", "business_discovery", "love"]
    bd = fields[1]
    assert bd.args == {"username": "cdcgov"}
    media = bd.children[1]  # type: ignore[index]
    assert media.args == {"limit": "5", "after": "QVFIabc="}
    assert media.children == (Field("id"), Field("children", {}, (Field("media_url"),)))
    assert fields[2].args["type"] == "LOVE" and fields[2].name == "reactions"
    with pytest.raises(GraphError) as err:
        parse_fields("media{id,caption")
    assert err.value.code == 2500


# -- Facebook ------------------------------------------------------------------------------------


def test_page_serves_only_requested_fields(graph: SandboxThread, fetch: Any) -> None:
    reply = fb(graph, fetch, "cdc", fields="id,name,username,followers_count,fan_count")
    page = reply.json()
    assert set(page) == {"id", "name", "username", "followers_count", "fan_count"}
    acc = graph.world.account("facebook", "cdc", "handle")
    assert acc is not None and page["id"] == acc.account_id and page["username"] == "CDC"
    assert page["followers_count"] == graph.world.followers(acc, graph.clock.now())
    assert set(fb(graph, fetch, acc.account_id).json()) == {"id", "name"}  # default fields
    # a page registered by id has no username: the key is left out
    assert "username" not in fb(graph, fetch, "130543856995834", fields="username").json()
    usage = json.loads(reply.headers["X-App-Usage"])
    assert set(usage) == {"call_count", "total_time", "total_cputime"}
    assert "X-Page-Usage" in reply.headers


def test_posts_cursor_paging_reaches_every_post_once(graph: SandboxThread, fetch: Any) -> None:
    acc = graph.world.account("facebook", "nih.gov", "handle")
    assert acc is not None
    fields = ("id,created_time,shares,parent_id,reactions.summary(total_count).limit(0),"
              "comments.summary(true).limit(0)")  # fmt: skip
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"fields": fields, "limit": 40}
    pages = 0
    while True:
        body = fb(graph, fetch, "nih.gov/posts", **params).json()
        seen += body["data"]
        pages += 1
        if "next" not in body.get("paging", {}):
            break
        assert body["paging"]["next"].startswith(graph.url("facebook") + "/v21.0/nih.gov/posts?")
        params["after"] = body["paging"]["cursors"]["after"]
    truth = graph.world.truth()["posts"].filter(platform="facebook", account_id=acc.account_id)
    assert (
        pages > 1
        and [p["id"] for p in seen]
        == truth.sort("created_at", descending=True)["post_id"].to_list()
    )
    by_id = {r["post_id"]: r for r in truth.to_dicts()}
    for item in seen:
        row = by_id[item["id"]]
        if row["post_type"] == "repost":
            assert item["parent_id"] in graph.world.posts
            continue
        assert "parent_id" not in item
        assert item["reactions"] == {"data": [], "summary": {"total_count": row["likes"]}}
        assert item["comments"]["summary"]["total_count"] == row["replies"]
        assert item["comments"]["summary"]["can_comment"] is True
        assert item.get("shares") == ({"count": row["reposts"]} if row["reposts"] else None)


def test_posts_time_paging_with_since(graph: SandboxThread, fetch: Any) -> None:
    now = graph.clock.now().timestamp()
    since = int(now - 30 * 86400)
    params: dict[str, Any] = {"fields": "id,created_time", "limit": 5, "since": since}
    ids: list[str] = []
    while True:
        body = fb(graph, fetch, "CDC/posts", **params).json()
        ids += [p["id"] for p in body["data"]]
        nxt = body.get("paging", {}).get("next")
        if not nxt:
            break
        assert "__paging_token=" in nxt and "until=" in nxt and "cursors" not in body["paging"]
        params = dict(p.split("=", 1) for p in nxt.split("?", 1)[1].split("&"))
        params.pop("access_token", None)
        params["since"] = str(since)
    acc = graph.world.account("facebook", "cdc", "handle")
    assert acc is not None
    want = [e for e in graph.world.visible_feed(acc, graph.clock.now()) if e.ts >= since]
    assert len(ids) == len(set(ids)) == len(want) > 5


def test_reaction_aliases_and_full_summaries(graph: SandboxThread, fetch: Any) -> None:
    types = ("LIKE", "LOVE", "WOW", "HAHA", "SAD", "ANGRY")
    fields = ",".join(f"reactions.type({t}).limit(0).summary(total_count).as({t.lower()})"
                      for t in types) + ",reactions.summary(true).limit(0)"  # fmt: skip
    body = fb(graph, fetch, "CDC/posts", fields=fields, limit=50).json()
    item = max(body["data"], key=lambda p: p["reactions"]["summary"]["total_count"])
    total = item["reactions"]["summary"]
    assert total["viewer_reaction"] == "NONE" and total["total_count"] > 0
    assert sum(item[t.lower()]["summary"]["total_count"] for t in types) <= total["total_count"]
    assert item["like"]["summary"]["total_count"] > 0


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("CDC", {"access_token": ""}, 400, 104),
        ("no.such.page", {}, 400, 100),
        ("CDC", {"fields": "id,nonsense"}, 400, 100),
        ("CDC", {"fields": "id,reactions{id"}, 400, 2500),
        ("CDC/likes", {}, 400, 2500),
    ],
)
def test_facebook_errors(
    graph: SandboxThread, fetch: Any, path: str, params: dict[str, Any], status: int, code: int
) -> None:
    reply = fb(graph, fetch, path, **params)
    error = reply.json()["error"]
    assert reply.status == status and error["code"] == code
    assert error["type"] in ("OAuthException", "GraphMethodException") and error["fbtrace_id"]
    if path == "no.such.page":
        assert error["error_subcode"] == 33 and "does not exist" in error["message"]


def test_invalid_token_and_throttling(make_sandbox: Any, fetch: Any) -> None:
    limits = {"facebook_access_tokens": {"good"}, "facebook_page_call_budget": 3,
              "instagram_buc_call_budget": 2}  # fmt: skip
    sb = make_sandbox(accounts=ROWS, limits=limits)
    bad = fetch(f"{sb.url('facebook')}/v21.0/CDC", {"access_token": "bad"})
    assert bad.json()["error"]["code"] == 190 and "WWW-Authenticate" in bad.headers
    calls = [fetch(f"{sb.url('facebook')}/v21.0/CDC", {"access_token": "good"}) for _ in range(4)]
    assert [json.loads(c.headers["X-Page-Usage"])["call_count"] for c in calls] == [33, 66, 100,
                                                                                     133]  # fmt: skip
    assert [c.status for c in calls] == [200, 200, 200, 400]
    assert calls[-1].json()["error"]["code"] == 32
    asks = [fetch(f"{sb.url('instagram')}/v21.0/{ASKER}",
                  {"access_token": "x", "fields": "business_discovery.username(nihgov){id}"})
            for _ in range(3)]  # fmt: skip
    assert asks[-1].json()["error"]["code"] == 80002
    buc = json.loads(asks[-1].headers["X-Business-Use-Case-Usage"])[ASKER][0]
    assert buc["type"] == "instagram" and buc["estimated_time_to_regain_access"] == 60
    assert sb.stats.rate_limited["facebook"] == 1


def test_injected_rate_limit_is_a_613_not_a_429(make_sandbox: Any, fetch: Any) -> None:
    sb = make_sandbox(accounts=ROWS, faults=FaultProfile(rate_limit=1.0))
    reply = fetch(f"{sb.url('facebook')}/v21.0/CDC", TOKEN)
    assert reply.status == 400 and reply.json()["error"]["code"] == 613


# -- Instagram -----------------------------------------------------------------------------------


def test_business_discovery_profile_and_media(graph: SandboxThread, fetch: Any) -> None:
    acc = graph.world.account("instagram", "cdcgov", "handle")
    assert acc is not None
    now = graph.clock.now()
    fields = (f"business_discovery.username(CDCgov){{id,username,followers_count,follows_count,"
              f"media_count,media.limit(20){{{MEDIA}}}}}")  # fmt: skip
    body = ig(graph, fetch, fields).json()
    assert body["id"] == ASKER
    bd = body["business_discovery"]
    assert bd["id"] == acc.account_id and bd["username"] == "cdcgov"
    assert bd["followers_count"] == graph.world.followers(acc, now)
    assert bd["media_count"] == len(graph.world.visible_posts(acc, now))
    assert "biography" not in bd  # only what was asked
    items = bd["media"]["data"]
    cursor = bd["media"]["paging"]["cursors"]["after"]
    while True:
        page = ig(graph, fetch, f"business_discovery.username(cdcgov){{media.limit(20)"
                  f".after({cursor}){{{MEDIA}}}}}").json()["business_discovery"]["media"]  # fmt: skip
        items += page["data"]
        if not page["data"]:
            break
        assert set(page["paging"]["cursors"]) == {"before", "after"}
        cursor = page["paging"]["cursors"]["after"]
    assert len(items) == bd["media_count"] == len({i["id"] for i in items})
    hidden = [i for i in items if likes_hidden(i["id"])]
    assert hidden and all("like_count" not in i for i in hidden)
    assert all("like_count" in i for i in items if not likes_hidden(i["id"]))
    carousels = [i for i in items if i["media_type"] == "CAROUSEL_ALBUM"]
    assert carousels and all(len(i["children"]["data"]) >= 2 for i in carousels)
    assert all("children" not in i for i in items if i["media_type"] != "CAROUSEL_ALBUM")


def test_business_discovery_unknown_username(graph: SandboxThread, fetch: Any) -> None:
    reply = ig(graph, fetch, "business_discovery.username(nobody_here){id}")
    error = reply.json()["error"]
    assert reply.status == 400 and (error["code"], error["error_subcode"]) == (110, 2207013)
    assert "X-Business-Use-Case-Usage" in reply.headers
