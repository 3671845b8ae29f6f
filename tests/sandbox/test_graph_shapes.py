"""Our Graph payloads against the recorded Facebook and Instagram ones (same keys, same places)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_shapes import SAMPLES, best, load, missing

from hhs_platform.sandbox import SandboxThread

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"recorded API samples not found at {SAMPLES}"),
]
TOKEN = {"access_token": "tok"}
ASKER = "17841406338772941"
#: Attachment keys only set by mentions of other pages in link descriptions.
IGNORED_KEYS = {"description_tags"}


def _drop(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop(v) for k, v in obj.items() if k not in IGNORED_KEYS}
    if isinstance(obj, list):
        return [_drop(v) for v in obj]
    return obj


def _fields_of(sample_url: str) -> str:
    return parse_qs(urlsplit(sample_url).query)["fields"][0]


def _fb(sandbox: SandboxThread, fetch: Any, path: str, **params: Any) -> Any:
    return fetch(f"{sandbox.url('facebook')}/v21.0/{path}", {**TOKEN, **params})


def _all_posts(sandbox: SandboxThread, fetch: Any, fields: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for acc in sandbox.world.platform_accounts("facebook")[:6]:
        out += _fb(sandbox, fetch, f"{acc.account_id}/feed", fields=fields, limit=100).json()[
            "data"
        ]
    return out


def test_page_shapes(sandbox: SandboxThread, fetch: Any) -> None:
    sample = load("facebook/page_fields_fan_count.json")
    ours = _fb(sandbox, fetch, "CDC", fields=",".join(sample)).json()
    assert missing(sample, ours) == []
    wrapped = load("facebook/page_fields_fan_count_followers_count_WRAPPED.json")["page"]
    assert missing(wrapped, _fb(sandbox, fetch, "CDC", fields=",".join(wrapped)).json()) == []


def test_feed_with_summaries_shape(sandbox: SandboxThread, fetch: Any) -> None:
    sample = load("facebook/page_feed_reactions_comments_shares_summary_p1.json")
    fields = _fields_of(sample["paging"]["next"])
    posts = _all_posts(sandbox, fetch, fields)
    photo = next(i for i in sample["data"] if i["attachments"]["data"][0]["type"] == "photo")
    assert best(_drop(photo), posts) == []
    first = _fb(sandbox, fetch, "CDC/feed", fields=fields, limit=5).json()
    assert missing({k: v for k, v in sample.items() if k != "data"}, first) == []


def test_time_paging_and_single_post_shapes(sandbox: SandboxThread, fetch: Any) -> None:
    sample = load("facebook/page_posts_time_paging_p1.json")
    page = _fb(sandbox, fetch, "CDC/posts", fields="id,message,created_time", limit=5,
               since=1_700_000_000).json()  # fmt: skip
    assert missing({"paging": sample["paging"]}, page) == []
    assert best(sample["data"][0], page["data"]) == []
    single = load("facebook/post_single_reactions_summary.json")
    aliases = [k for k, v in single.items() if isinstance(v, dict) and k not in
               ("reactions", "comments")]  # fmt: skip
    fields = ",".join(
        [f"reactions.type({a.upper()}).limit(0).summary(total_count).as({a})" for a in aliases]
        + ["comments.summary(true).limit(0)", "reactions.summary(true).limit(0)", "created_time",
           "message", "permalink_url", "status_type", "updated_time"]
    )  # fmt: skip
    post_id = next(p["id"] for p in _all_posts(sandbox, fetch, "id,message") if "message" in p)
    assert missing(single, _fb(sandbox, fetch, post_id, fields=fields).json()) == []


def test_error_shapes(sandbox: SandboxThread, fetch: Any) -> None:
    ours = _fb(sandbox, fetch, "no.such.page").json()
    for name in ("error_100_missing_permission.json", "error_613_rate_limit_koala_issue642.json"):
        assert missing(load(f"facebook/{name}"), ours) == []
    body = fetch(f"{sandbox.url('instagram')}/v21.0/{ASKER}",
                 {**TOKEN, "fields": "business_discovery.username(nobody_here){id}"}).json()  # fmt: skip
    generic = load("facebook/error_docs_generic_example.json")
    assert missing(generic, body) == []  # subcode, user title and message included


def _discover(sandbox: SandboxThread, fetch: Any, fields: str) -> Any:
    return fetch(f"{sandbox.url('instagram')}/v21.0/{ASKER}", {**TOKEN, "fields": fields}).json()


def test_business_discovery_shapes(sandbox: SandboxThread, fetch: Any) -> None:
    user = load("instagram/business_discovery_user_fields.json")
    keys = ",".join(user["business_discovery"])
    assert (
        missing(user, _discover(sandbox, fetch, f"business_discovery.username(CDCgov){{{keys}}}"))
        == []
    )
    p1 = load("instagram/business_discovery_media_p1.json")
    media_keys = ",".join(p1["business_discovery"]["media"]["data"][0])
    first = _discover(
        sandbox, fetch, f"business_discovery.username(CDCgov){{media.limit(2){{{media_keys}}}}}"
    )
    assert missing({k: v for k, v in p1.items()}, first) == []
    after = first["business_discovery"]["media"]["paging"]["cursors"]["after"]
    p2 = load("instagram/business_discovery_media_p2.json")
    second = _discover(sandbox, fetch, f"business_discovery.username(CDCgov){{media.limit(20)"
                       f".after({after}){{{media_keys}}}}}")  # fmt: skip
    assert missing({k: v for k, v in p2.items() if k != "business_discovery"}, second) == []
    assert missing(p2["business_discovery"]["media"]["paging"],
                   second["business_discovery"]["media"]["paging"]) == []  # fmt: skip
    video = [i for i in p2["business_discovery"]["media"]["data"] if i["media_type"] == "VIDEO"]
    assert best(video[0], second["business_discovery"]["media"]["data"]) == []


def test_json_bodies_are_compact(sandbox: SandboxThread, fetch: Any) -> None:
    reply = _fb(sandbox, fetch, "CDC", fields="id")
    assert json.loads(reply.body) == {"id": json.loads(reply.body)["id"]}
    assert reply.headers["Content-Type"].startswith("application/json")
