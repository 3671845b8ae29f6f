"""Threads and LinkedIn payloads against the documented ones: every sample key is in ours."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from hhs_platform.sandbox import SandboxThread

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"recorded API samples not found at {SAMPLES}"),
]
ROWS: list[dict[str, Any]] = [
    {"platform": "threads", "handle": "hhsgov", "platform_id": None, "agency": "HHS",
     "agency_name": "U.S. Department of Health and Human Services"},
    {"platform": "threads", "handle": "cdcgov", "platform_id": None, "agency": "CDC",
     "agency_name": "Centers for Disease Control and Prevention"},
    {"platform": "linkedin", "handle": "nchs", "platform_id": None, "agency": "CDC-NCHS",
     "agency_name": "National Center for Health Statistics (CDC)"},
    {"platform": "linkedin", "handle": "hrsagov", "platform_id": None, "agency": "HRSA",
     "agency_name": "Health Resources and Services Administration"},
]  # fmt: skip
LI = {
    "Authorization": "Bearer t",
    "LinkedIn-Version": "202610",
    "X-Restli-Protocol-Version": "2.0.0",
}
#: Sample keys of features no HHS page uses here: sponsored (dark) posts.
IGNORED = {"adContext"}


def missing(sample: Any, ours: Any, path: str = "") -> list[str]:
    """Paths of keys present in ``sample`` but absent from ``ours`` (lists: the closest item)."""
    if isinstance(sample, dict):
        if not isinstance(ours, dict):
            return [path or "."]
        out = []
        for k, v in sample.items():
            p = f"{path}.{k}" if path else k
            if k in IGNORED:
                continue
            out += [p] if k not in ours else missing(v, ours[k], p)
        return out
    if isinstance(sample, list) and sample and isinstance(ours, list) and ours:
        return min((missing(sample[0], o, path + "[0]") for o in ours), key=len)
    return []


def best(sample: Any, candidates: Iterable[Any]) -> list[str]:
    results = [missing(sample, c) for c in candidates]
    assert results, "no candidate payload of this kind was generated"
    return min(results, key=len)


def load(name: str) -> Any:
    text = (SAMPLES / name).read_text()
    if "VERBATIM" in name:  # the docs' examples are not valid JSON: repair, never change keys
        text = re.sub(r",(\s*[\]}])", r"\1", text)
        text = re.sub(r"}(\s*\n\s*\")", r"},\1", text)
    return json.loads(text)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    limits = {"threads_access_tokens": {"tok": "hhsgov"}}
    with SandboxThread(accounts=ROWS, seed=9, limits=limits, history_days=90) as sandbox:
        yield sandbox


def _threads(sb: SandboxThread, path: str, query: str = "") -> Any:
    status, body = get(f"{sb.url('threads')}/v1.0/{path}?access_token=tok&{query}")
    assert status == 200, body
    return body


def _all_threads(sb: SandboxThread, fields: Iterable[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = (
        f"{sb.url('threads')}/v1.0/me/threads?access_token=tok&limit=100&fields={','.join(fields)}"
    )
    while url:
        items += (page := get(url)[1])["data"]
        url = page.get("paging", {}).get("next")
    return items


def test_threads_profile_shape(sb: SandboxThread) -> None:
    sample = load("threads/docs_me_profile_example.json")
    assert missing(sample, _threads(sb, "me", "fields=" + ",".join(sample))) == []


def test_threads_feed_and_media_shapes(sb: SandboxThread) -> None:
    sample = load("threads/docs_me_threads_example_fixed_trailing_comma.json")
    fields = list(sample["data"][0])
    page = _threads(sb, "me/threads", "limit=3&fields=" + ",".join(fields))
    assert missing({k: v for k, v in sample.items() if k != "data"}, page) == []
    assert best(sample["data"][0], [i for i in _all_threads(sb, fields) if "topic_tag" in i]) == []
    media = load("threads/docs_media_object_example.json")
    tagged = next(i for i in _all_threads(sb, ["id", "topic_tag"]) if "topic_tag" in i)
    one = _threads(sb, tagged["id"], "fields=" + ",".join(media))
    assert missing(media, one) == []


def test_threads_insights_shapes(sb: SandboxThread) -> None:
    media_id = _threads(sb, "me/threads", "limit=1")["data"][0]["id"]
    sample = load("threads/docs_media_insights_example.json")
    ours = _threads(sb, f"{media_id}/insights", "metric=likes,replies")
    assert missing(sample, ours) == []
    assert ours["data"][0]["id"] == f"{media_id}/insights/likes/lifetime"
    series = load("threads/docs_user_insights_time_series_example.json")
    assert missing(series, _threads(sb, "me/threads_insights", "metric=views")) == []
    total = load("threads/docs_user_insights_total_value_example_VERBATIM.json")
    assert missing(total, _threads(sb, "me/threads_insights", "metric=likes")) == []


def test_threads_discovery_shapes(sb: SandboxThread) -> None:
    sample = load("threads/docs_profile_lookup_example.json")
    assert missing(sample, _threads(sb, "profile_lookup", "username=cdcgov")) == []
    posts = load("threads/docs_profile_posts_example_VERBATIM.json")
    fields = ",".join(posts["data"][0])
    ours = _threads(sb, "profile_posts", f"username=cdcgov&limit=100&fields={fields}")
    assert missing({k: v for k, v in posts.items() if k != "data"}, ours) == []
    quotes = [i for i in ours["data"] if i["is_quote_post"] and "topic_tag" in i]
    assert best(posts["data"][0], quotes or ours["data"]) == []


def test_threads_error_shape(sb: SandboxThread) -> None:
    sample = load("threads/error_500_code10_THApiException.json")
    status, body = get(f"{sb.url('threads')}/v1.0/12345/insights?metric=likes&access_token=tok")
    assert status == 400 and missing(sample, body) == []
    assert body["error"]["type"] == sample["error"]["type"]


def test_linkedin_post_shape(sb: SandboxThread) -> None:
    sample = load("linkedin/rest_posts_post_object.json")
    elements: list[dict[str, Any]] = []
    for acc in sb.world.platform_accounts("linkedin"):
        author = quote(f"urn:li:organization:{acc.account_id}", safe="")
        status, page = get(
            f"{sb.url('linkedin')}/rest/posts?q=author&author={author}&count=100", LI
        )
        assert status == 200
        elements += page["elements"]
    videos = [
        e for e in elements
        if str(e.get("content", {}).get("media", {}).get("id", "")).startswith("urn:li:video:")
    ]  # fmt: skip
    assert best(sample, videos) == []
    assert any("reshareContext" in e for e in elements)


def test_linkedin_429_shape() -> None:
    sample = load("linkedin/error_429_application_day_limit.json")
    limits = {"linkedin_daily_limits": {"organizations": 0}}
    with SandboxThread(accounts=ROWS[2:], seed=9, limits=limits) as small:
        status, body = get(
            f"{small.url('linkedin')}/rest/organizations?q=vanityName&vanityName=nchs", LI
        )
    assert status == 429 and missing(sample, body) == [] and "throttle" in body["message"]
