"""Reddit payloads against the recorded real ones (Flickr has no recordings: see test_flickr)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hhs_platform.sandbox import SandboxThread

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "api-samples" / "reddit"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"recorded API samples not found at {SAMPLES}"),
]
ROWS = [
    {"platform": "reddit", "handle": "u/HHSgov", "platform_id": None, "agency": "HHS",
     "agency_name": "U.S. Department of Health and Human Services"},
    {"platform": "reddit", "handle": "NIHgov", "platform_id": None, "agency": "NIH",
     "agency_name": "National Institutes of Health"},
]  # fmt: skip
AUTH = {"Authorization": "bearer token"}
#: Fields Reddit has since dropped: the 2016 recording's ``from*`` on t3 Things, and ``coins``
#: (Reddit Coins ended in 2023; the 2025 recording has none).
DROPPED = {"from", "from_id", "from_kind", "coins"}


def missing(sample: Any, ours: Any, path: str = "") -> list[str]:
    """Paths of keys present in ``sample`` but absent from ``ours`` (lists: closest element)."""
    if isinstance(sample, dict):
        if not isinstance(ours, dict):
            return [path or "."]
        out = []
        for k, v in sample.items():
            p = f"{path}.{k}" if path else k
            if k in DROPPED:
                continue
            out += [p] if k not in ours else missing(v, ours[k], p)
        return out
    if isinstance(sample, list) and sample and isinstance(ours, list) and ours:
        return min((missing(sample[0], o, path + "[0]") for o in ours), key=len)
    return []


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(scope="module")
def reddit() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=ROWS, seed=3, history_days=90) as sb:
        yield sb


def _get(fetch: Callable[..., Any], sb: SandboxThread, path: str, **params: Any) -> Any:
    return fetch(sb.url("reddit") + path, {"raw_json": 1, **params}, headers=AUTH)


def test_about_shape(reddit: SandboxThread, fetch: Callable[..., Any]) -> None:
    ours = _get(fetch, reddit, "/user/HHSgov/about").json()
    assert missing(load("user_about_2025_Lil_SpazBot.json"), ours) == []
    # the 2022 recording is the user's own view (prefs, features, coins): compare what others see
    own = load("user_about_2022_Watchful1.json")
    assert missing(own["data"]["subreddit"], ours["data"]["subreddit"]) == []


def test_listing_shapes(reddit: SandboxThread, fetch: Callable[..., Any]) -> None:
    ours = _get(fetch, reddit, "/user/HHSgov/submitted", sort="new", limit=100).json()
    modern = load("user_overview_listing_2021_sort_new_limit4.json")
    assert missing(modern, ours) == []
    old = load("user_submitted_listing_2016_spez_sort_new.json")
    assert missing(old, ours) == []
    crossposts = [c["data"] for c in ours["data"]["children"] if "crosspost_parent" in c["data"]]
    assert crossposts, "the world should hold crossposts"
    parent = crossposts[0]["crosspost_parent_list"][0]
    assert missing(modern["data"]["children"][0]["data"], parent) == []


def test_error_bodies_are_the_recorded_ones(
    reddit: SandboxThread, fetch: Callable[..., Any], make_sandbox: Callable[..., SandboxThread]
) -> None:
    r = _get(fetch, reddit, "/user/no_such_user_here/about")
    assert (r.status, r.json()) == (404, load("error_404_not_found.json"))
    r = _get(fetch, reddit, "/api/v1/user/no_such_user_here/trophies")
    assert (r.status, r.json()) == (400, load("error_400_user_doesnt_exist.json"))
    sb = make_sandbox(accounts=ROWS, limits={"reddit_rate_limit": 0})
    r = _get(fetch, sb, "/user/HHSgov/about")
    assert (r.status, r.json()) == (429, load("error_429_too_many_requests.json"))
    r = _get(fetch, reddit, "/user/HHSgov/saved")
    assert r.status == 404  # other users' private listings are not served at all
