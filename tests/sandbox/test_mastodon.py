"""The simulated Mastodon API (and Truth Social's) over a real socket: lookup, statuses, limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hhs_platform.sandbox import SandboxThread

Fetch = Callable[..., Any]
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples" / "mastodon"
STATUSES = "/api/v1/accounts/{}/statuses"
LOOKUP = "/api/v1/accounts/lookup"

ROWS: list[dict[str, Any]] = [
    {"platform": "mastodon", "handle": "@CDC@mastodon.social", "platform_id": None,
     "agency": "CDC", "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "mastodon", "handle": "nih", "platform_id": "109298761283457001",
     "agency": "NIH", "agency_name": "National Institutes of Health"},
    {"platform": "mastodon", "handle": "fda@hhs.social", "platform_id": None, "agency": "FDA",
     "agency_name": "U.S. Food and Drug Administration"},
    {"platform": "truthsocial", "handle": "HHSGov", "platform_id": None, "agency": "HHS",
     "agency_name": "U.S. Department of Health and Human Services"},
    {"platform": "truthsocial", "handle": "CMSGov", "platform_id": None, "agency": "CMS",
     "agency_name": "Centers for Medicare & Medicaid Services"},
]  # fmt: skip


@pytest.fixture(scope="module")
def msb() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=ROWS, seed=5, history_days=20) as sb:
        yield sb


def next_link(link: str | None) -> str | None:
    m = re.search(r'<([^>]+)>; rel="next"', link or "")
    return m.group(1) if m else None


def walk(fetch: Fetch, url: str, limit: int = 7, **params: Any) -> list[dict[str, Any]]:
    """Every status, following the Link header's rel="next"."""
    out: list[dict[str, Any]] = []
    r = fetch(url, {"limit": limit, **params})
    while True:
        assert r.status == 200, r.body
        page = r.json()
        assert len(page) <= limit
        out += page
        nxt = next_link(r.headers.get("Link"))
        if nxt is None:
            return out
        assert "max_id=" in nxt and f"limit={limit}" in nxt
        r = fetch(nxt)


@pytest.mark.parametrize("platform", ["mastodon", "truthsocial"])
def test_lookup_and_statuses_agree_with_truth(
    msb: SandboxThread, fetch: Fetch, platform: str
) -> None:
    truth = msb.world.truth()
    accounts = truth["accounts"].filter(platform=platform)
    assert accounts.height == (3 if platform == "mastodon" else 2)
    posts = truth["posts"].filter(platform=platform)
    base = msb.url(platform)
    for row in accounts.iter_rows(named=True):
        acct = row["handle"].lstrip("@")
        acc = fetch(base + LOOKUP, {"acct": acct}).json()
        assert acc["id"] == row["account_id"]
        assert (acc["followers_count"], acc["following_count"], acc["statuses_count"]) == (
            row["followers"], row["following"], row["posts_count"])  # fmt: skip
        statuses = walk(fetch, base + STATUSES.format(acc["id"]))
        ids = [s["id"] for s in statuses]
        assert len(ids) == len(set(ids)) and ids == sorted(ids, key=int, reverse=True)
        want = {r["post_id"]: r for r in posts.filter(account_id=acc["id"]).iter_rows(named=True)}
        assert set(ids) == set(want)
        for s in statuses:
            w = want[s["id"]]
            assert datetime.fromisoformat(s["created_at"]) == w["created_at"]
            if s["reblog"] is not None:
                assert w["post_type"] == "repost" and w["likes"] is None
                assert s["reblog"]["account"]["id"] != acc["id"] and s["content"] == ""
                continue
            kind = "reply" if s["in_reply_to_id"] else "original"
            assert kind == w["post_type"]
            assert (s["favourites_count"], s["reblogs_count"], s["replies_count"],
                    s["quotes_count"]) == (w["likes"], w["reposts"], w["replies"], w["quotes"])  # fmt: skip
            assert s["content"].startswith("<p>")
    assert set(posts["post_type"]) == {"original", "reply", "repost"}
    assert posts["views"].null_count() == posts.height


def test_paging_parameters(msb: SandboxThread, fetch: Fetch) -> None:
    acc = msb.world.platform_accounts("mastodon")[0]
    url = msb.url("mastodon") + STATUSES.format(acc.account_id)
    first = fetch(url, {"limit": 5})
    page = first.json()
    assert len(page) == 5
    prev = re.search(r'<([^>]+)>; rel="prev"', first.headers["Link"]).group(1)  # type: ignore[union-attr]
    assert f"min_id={page[0]['id']}" in prev
    assert fetch(prev).json() == []  # nothing newer yet
    older = fetch(url, {"limit": 5, "max_id": page[-1]["id"]}).json()
    back = fetch(url, {"limit": 5, "min_id": older[0]["id"]}).json()
    assert [s["id"] for s in back] == [s["id"] for s in page]  # newest first, just after min_id
    since = fetch(url, {"limit": 40, "since_id": page[2]["id"]}).json()
    assert [s["id"] for s in since] == [s["id"] for s in page[:2]]
    everything = walk(fetch, url, 40)
    assert len(fetch(url).json()) == 20
    assert len(fetch(url, {"limit": 100}).json()) == min(40, len(everything))
    no_boosts = walk(fetch, url, 40, exclude_reblogs="true")
    assert all(s["reblog"] is None for s in no_boosts)
    assert len(no_boosts) == sum(s["reblog"] is None for s in everything)
    no_replies = walk(fetch, url, 40, exclude_replies="true")
    assert all(s["in_reply_to_account_id"] in (None, acc.account_id) for s in no_replies)
    media = [s for s in everything if s["media_attachments"]]
    assert media and {m["type"] for s in media for m in s["media_attachments"]} <= {
        "image",
        "video",
    }


def test_errors_and_rate_limits(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    sb = make_sandbox(accounts=ROWS, history_days=3, limits={"mastodon_rate_limit": 5})
    base = sb.url("mastodon")
    missing = fetch(base + LOOKUP, {"acct": "nobody"})
    assert missing.status == 404 and missing.json() == {"error": "Record not found"}
    assert fetch(base + LOOKUP, {"acct": "cdc@other.example"}).status == 404
    assert fetch(base + STATUSES.format("1")).json() == {"error": "Record not found"}
    ok = fetch(base + LOOKUP, {"acct": "fda@hhs.social"})
    assert ok.status == 200 and ok.headers["X-RateLimit-Limit"] == "5"
    assert ok.headers["X-RateLimit-Remaining"] == "1"
    assert fetch(base + LOOKUP, {"acct": "nih"}).status == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ok.headers["X-RateLimit-Reset"])
    limited = fetch(base + LOOKUP, {"acct": "nih"})
    assert limited.status == 429 and limited.json() == {"error": "Too many requests"}
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # Truth Social has its own limits
    ts = fetch(sb.url("truthsocial") + LOOKUP, {"acct": "HHSGov"})
    assert ts.status == 200 and ts.headers["X-RateLimit-Limit"] == "300"


def test_determinism(make_sandbox: Callable[..., SandboxThread], fetch: Fetch) -> None:
    bodies = []
    for _ in range(2):
        sb = make_sandbox(accounts=ROWS, seed=9, history_days=5)
        acc = sb.world.platform_accounts("truthsocial")[0]
        bodies.append(fetch(sb.url("truthsocial") + STATUSES.format(acc.account_id),
                            {"limit": 40}).body)  # fmt: skip
    assert bodies[0] == bodies[1]


# -- shapes against the recorded samples ---------------------------------------------------------


def _sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"recorded Mastodon sample {path} not found")
    return json.loads(path.read_text())


def _missing(sample: Any, ours: Any, path: str = "") -> list[str]:
    if isinstance(sample, dict):
        if not isinstance(ours, dict):
            return (
                [] if ours is None and path.endswith(("card", "poll", "quote")) else [path or "."]
            )
        out: list[str] = []
        for k, v in sample.items():
            p = f"{path}.{k}" if path else k
            out += [p] if k not in ours else _missing(v, ours[k], p)
        return out
    if isinstance(sample, list) and sample and isinstance(ours, list) and ours:
        return min((_missing(sample[0], o, path + "[0]") for o in ours), key=len)
    return []


@pytest.mark.shared
def test_shapes_match_recorded_samples(msb: SandboxThread, fetch: Fetch) -> None:
    base = msb.url("mastodon")
    acc = fetch(base + LOOKUP, {"acct": "nih"}).json()
    assert _missing(_sample("accounts_lookup_200.json"), acc) == []
    assert _missing(_sample("docs_entity_account_example.json"), acc) == []
    statuses = walk(fetch, base + STATUSES.format(acc["id"]), 40)
    originals = [s for s in statuses if s["reblog"] is None]
    assert _missing(_sample("accounts_id_statuses_page1_limit5.json"), originals) == []
    with_media = [s for s in originals if s["media_attachments"]]
    sample = _sample("status_with_media_attachments_post_response.json")
    assert min(len(_missing(sample, s)) for s in with_media) == 0
    assert _missing([{"reblog": _sample("accounts_id_statuses_page1_limit5.json")[0]}],
                    [s for s in statuses if s["reblog"]]) == []  # fmt: skip
    meta = _sample("accounts_id_statuses_page1_limit5.meta.json")["headers"]
    page = fetch(base + STATUSES.format(acc["id"]), {"limit": 5})
    for name in ("link", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert name in meta and name in {k.lower() for k in page.headers}
    assert _sample("error_429_rate_limited_docs.json") == {"error": "Too many requests"}
